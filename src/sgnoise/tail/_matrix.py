"""A noise matrix read in blocks: from an array in memory or a noise dump, in row blocks (C order)
or column blocks, each within a memory budget.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sgnoise.noise.dump import NoiseDump

BYTES_PER_ENTRY = 64  # float32 read + float64 copy + logs, masks and sort keys while a block is processed


class MatrixSource:
    """Block reads ``read(rows, columns)`` of a (rows × columns) matrix held in memory or in a dump."""

    def __init__(self, read, shape):
        self.read = read
        self.shape = tuple(int(s) for s in shape)

    @classmethod
    def from_array(cls, matrix):
        """A source over a 2-D real array in memory (rows = mini-batches, columns = coordinates)."""
        matrix = np.asarray(matrix)
        if matrix.ndim != 2:
            raise ValueError(f"noise matrix must be 2-D (mini-batches × coordinates), got shape {matrix.shape}")
        if not (np.issubdtype(matrix.dtype, np.floating) or np.issubdtype(matrix.dtype, np.integer)):
            raise TypeError(f"noise matrix must be real numeric, got dtype {matrix.dtype}")
        return cls(lambda rows, columns: matrix[rows, columns], matrix.shape)

    @classmethod
    def from_dump(cls, dump: NoiseDump, iteration: int, name: str = "noise"):
        """A source over checkpoint ``iteration``'s matrix ``name`` of an open dump: "noise" (the
        partition) or "noise_random" (the independently drawn mini-batches)."""
        shape = dump.noise(iteration).shape if name == "noise" else dump.noise_random(iteration).shape
        return cls(lambda rows, columns: dump.read(iteration, name, rows, columns), shape)


def max_block_entries(memory_budget_mb: float) -> int:
    """Matrix entries processed at once within ``memory_budget_mb`` (at least 16)."""
    if isinstance(memory_budget_mb, bool) or not isinstance(memory_budget_mb, (int, float)) or not memory_budget_mb > 0:
        raise ValueError(f"memory_budget_mb must be a positive number, got {memory_budget_mb!r}")
    return max(16, int(memory_budget_mb * 2**20 // BYTES_PER_ENTRY))


def row_blocks(shape, max_entries: int):
    """(rows, columns) slices covering a matrix in C order, each at most ``max_entries`` entries
    (whole rows when a row fits, else pieces of one row)."""
    n_rows, n_columns = shape
    rows_per_block = max_entries // max(n_columns, 1)
    if rows_per_block >= 1:
        for start in range(0, n_rows, rows_per_block):
            yield slice(start, min(start + rows_per_block, n_rows)), slice(0, n_columns)
        return
    for row in range(n_rows):
        for start in range(0, n_columns, max_entries):
            yield slice(row, row + 1), slice(start, min(start + max_entries, n_columns))


def column_blocks(shape, max_entries: int):
    """Column slices of whole columns, each block at most ``max_entries`` entries (at least one column)."""
    n_rows, n_columns = shape
    width = max(1, max_entries // max(n_rows, 1))
    for start in range(0, n_columns, width):
        yield slice(start, min(start + width, n_columns))

