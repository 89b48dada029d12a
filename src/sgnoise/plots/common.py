"""Shared figure helpers: house style and atomic saving to several formats."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from sgnoise.atomic import atomic_path  # noqa: E402


def set_style() -> None:
    import seaborn as sns  # imported here: it pulls in scipy.stats (≈ 1.5 s), which not every figure needs

    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)


def save_figure(fig, paths) -> None:
    """Save ``fig`` to every path in ``paths`` (format from the suffix), atomically, then close it."""
    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        paths = [paths]
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=150, bbox_inches="tight", format=str(path).rsplit(".", 1)[-1])
    plt.close(fig)
