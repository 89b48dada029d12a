"""sgnoise.figures.style.label_overlaps: the layout check run on every figure kind of the tiny study
(tests/test_workflow.py) finds overlapping labels, and only those."""

import matplotlib.pyplot as plt
import numpy as np

from sgnoise.figures.style import label_overlaps


def test_crowded_tick_labels_are_found():
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot(np.arange(30), np.arange(30))
    ax.set_xticks(np.arange(30))
    ax.set_xticklabels([f"label {i}" for i in range(30)])
    overlaps = label_overlaps(fig)
    assert overlaps and all("xtick" in line for line in overlaps)
    plt.close(fig)


def test_panels_whose_labels_collide_are_found_and_a_clean_figure_has_none():
    fig, axes = plt.subplots(1, 2, figsize=(6, 3))
    for ax in axes:
        ax.plot([0, 1], [0, 1])
        ax.set_xlabel("x")
    fig.tight_layout()
    assert label_overlaps(fig) == []
    axes[1].set_position(axes[0].get_position())  # the second panel drawn over the first
    assert any("panel 0" in line and "panel 1" in line for line in label_overlaps(fig))
    plt.close(fig)


def test_ticks_outside_the_view_are_not_counted():
    fig, ax = plt.subplots(figsize=(3, 3))
    ax.plot([0, 1], [0, 1])
    ax.set_xticks([-5, 0, 0.5, 1, 5])  # -5 and 5 lie outside the limits set below: not drawn
    ax.set_xlim(0, 1)
    assert label_overlaps(fig) == []
    plt.close(fig)
