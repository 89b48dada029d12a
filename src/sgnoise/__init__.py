"""sgnoise: tail-index analysis of stochastic gradient noise (Şimşekli et al., ICML 2019) and beyond."""

__version__ = "0.1.0"


def use_source_tree() -> str:
    """Put the directory this package was imported from first on ``PYTHONPATH``, so that every
    process started from here (the workflow's job scripts, in whatever environment) imports this
    same library, installed or not. Returns that directory."""
    import os

    source = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    others = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != source]
    os.environ["PYTHONPATH"] = os.pathsep.join([source, *others])
    return source
