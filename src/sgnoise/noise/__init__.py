"""Gradient noise: the HDF5 dump of a run's noise (write and read) and its summaries.

Torch-free at import. The measurement itself (mini-batch gradients minus the full gradient, on a torch
model) is :mod:`sgnoise.noise.measure`, imported explicitly by the training code.
"""

from sgnoise.noise.dump import FORMAT, FORMAT_VERSION, NoiseDump, NoiseDumpError, NoiseDumpWriter, checkpoint_key
from sgnoise.noise.summaries import summarise_dump

__all__ = ["FORMAT", "FORMAT_VERSION", "NoiseDump", "NoiseDumpError", "NoiseDumpWriter", "checkpoint_key",
           "summarise_dump"]
