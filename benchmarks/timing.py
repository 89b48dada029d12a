"""Shared timing helper of the benchmarks (run them from the repository root or benchmarks/)."""

import statistics
import time


def timed_interleaved(repeats, *functions):
    """Median wall time of each function over ``repeats`` rounds, the functions interleaved within a
    round (so a slow phase of a shared machine hits all of them alike)."""
    times = [[] for _ in functions]
    for _ in range(repeats):
        for function, bucket in zip(functions, times):
            start = time.perf_counter()
            function()
            bucket.append(time.perf_counter() - start)
    return [statistics.median(bucket) for bucket in times]
