"""The seeds of each setting of the ``iterates:`` studies (the block's checks: sgnoise.study.iterates_config)."""

from __future__ import annotations

import zlib

import numpy as np


def setting_seed(seed: int, part: str, **values) -> np.random.SeedSequence:
    """A SeedSequence from (seed, part name, setting values): reproducible and independent of the order
    in which settings are run."""
    key = part + "|" + "|".join(f"{name}={values[name]!r}" for name in sorted(values))
    return np.random.SeedSequence([int(seed), zlib.crc32(key.encode())])
