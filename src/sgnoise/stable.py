"""Deprecated alias of :mod:`sgnoise.sde.levy` (SαS sampling); import from :mod:`sgnoise.sde` instead."""
import warnings

from sgnoise.sde.levy import *  # noqa: F401,F403
from sgnoise.sde.levy import __all__  # noqa: F401

warnings.warn("sgnoise.stable is deprecated: import from sgnoise.sde", DeprecationWarning, stacklevel=2)
