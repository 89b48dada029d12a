"""Compare two study result folders: every CSV byte for byte, every PNG pixel for pixel.

    python tests/compare_outputs.py BEFORE/results AFTER/results

Used to check that a refactor leaves a study's numbers unchanged (docs/architecture.md records one run).
Exits 1 and lists the differing files when any differ or are missing on one side.
"""

from __future__ import annotations

import sys
from pathlib import Path


def png_pixels(path: Path):
    import matplotlib.image

    return matplotlib.image.imread(path)


def compare(before: Path, after: Path) -> tuple[list, list]:
    """(identical, differing) relative paths of the CSV and PNG files under either folder."""
    import numpy as np

    names = sorted({p.relative_to(root) for root in (before, after) for p in root.rglob("*") if p.suffix in (".csv", ".png")})
    same, different = [], []
    for name in names:
        a, b = before / name, after / name
        if not (a.exists() and b.exists()):
            different.append(f"{name} (only in {'before' if a.exists() else 'after'})")
        elif name.suffix == ".csv":
            (same if a.read_bytes() == b.read_bytes() else different).append(str(name))
        else:
            pa, pb = png_pixels(a), png_pixels(b)
            (same if pa.shape == pb.shape and np.array_equal(pa, pb) else different).append(str(name))
    return same, different


if __name__ == "__main__":
    same, different = compare(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"{len(same)} identical, {len(different)} differing")
    for name in different:
        print("  differs:", name)
    sys.exit(1 if different else 0)
