"""sgnoise: tail-index analysis of stochastic gradient noise (Şimşekli et al., ICML 2019) and beyond."""

__version__ = "0.1.0"
