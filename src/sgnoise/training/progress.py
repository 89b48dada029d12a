"""Progress lines of a training loop: iteration / total, mini-batch loss and accuracy since the last
line, iterations per second, ETA, at most every ``interval_s`` seconds, and one line per checkpoint.

Losses and correct counts are summed as tensors on the training device and read (one device sync)
only when a line is written, so reporting costs nothing per step on a GPU.
"""

from __future__ import annotations

import math
import time


def format_duration(seconds: float) -> str:
    """``h:mm:ss`` (``?`` when unknown)."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _value(x) -> float:
    return float(x.item()) if hasattr(x, "item") else float(x)


def _spread(values, digits) -> str:
    low, high = min(values), max(values)
    return f"{low:.{digits}f}" if high - low < 0.5 * 10 ** -digits else f"{low:.{digits}f}–{high:.{digits}f}"


class Progress:
    """Reports a loop over iterations ``start … total`` through ``log`` (a callable taking a line).

    ``record(key, loss_sum, correct, count)`` adds one step's mini-batch loss sum (or mean × count),
    correct predictions and sample count for ``key`` (a run; a bundle records one key per member);
    ``tick(done)`` after each step writes a line when ``interval_s`` has passed since the last one;
    ``checkpoint(iteration, rows, seconds)`` writes the checkpoint's metrics (``rows``: key → the
    metrics row with train_loss, train_accuracy, test_accuracy)."""

    def __init__(self, name: str, total: int, start: int = 0, log=None, interval_s: float | None = 10.0,
                 clock=time.monotonic):
        self.name, self.total, self.start = name, int(total), int(start)
        self.log = log or (lambda line: None)
        self.interval_s = interval_s
        self.clock = clock
        self.began = self.last = clock()
        self.sums: dict = {}

    def record(self, key, loss_sum, correct, count) -> None:
        """One step of ``key``; or of several runs at once: ``key`` a tuple of names and ``loss_sum``,
        ``correct`` 1-D tensors with one entry per name."""
        loss, right, n = self.sums.get(key, (0.0, 0, 0))
        self.sums[key] = (loss + loss_sum, right + correct, n + count)

    def _measured(self) -> list:
        out = []
        for key, (loss, right, n) in self.sums.items():
            if not n:
                continue
            if isinstance(key, tuple):
                out += [(float(l) / n, float(r) / n) for l, r in zip(loss.tolist(), right.tolist())]
            else:
                out.append((_value(loss) / n, _value(right) / n))
        return out

    def rate(self, done: int) -> float:
        elapsed = self.clock() - self.began
        return (done - self.start) / elapsed if elapsed > 0 else float("nan")

    def line(self, done: int) -> str:
        rate = self.rate(done)
        eta = (self.total - done) / rate if rate and rate > 0 else float("nan")
        parts = [f"{self.name}: it {done}/{self.total} ({100 * done / max(self.total, 1):.0f} %)"]
        measured = self._measured()
        if measured:
            losses, accuracies = zip(*measured)
            runs = f" over {len(measured)} runs" if len(measured) > 1 else ""
            parts.append(f"batch loss {_spread(losses, 4)} acc {_spread(accuracies, 3)}{runs}")
        parts += [f"{rate:.1f} it/s" if math.isfinite(rate) else "? it/s", f"ETA {format_duration(eta)}"]
        return " | ".join(parts)

    def tick(self, done: int) -> None:
        if self.interval_s is None or self.clock() - self.last < self.interval_s:
            return
        self.log(self.line(done))
        self.sums.clear()
        self.last = self.clock()

    def checkpoint(self, iteration: int, rows: dict, seconds: float | None = None) -> None:
        if self.interval_s is None:
            return
        metrics = []
        for key, row in rows.items():
            label = f"{key}: " if len(rows) > 1 else ""
            metrics.append(f"{label}train loss {row.get('train_loss', float('nan')):.4g} "
                           f"acc {row.get('train_accuracy', float('nan')):.3f}, test acc {row.get('test_accuracy', float('nan')):.3f}")
        took = f" ({seconds:.1f} s with the noise pass)" if seconds is not None else ""
        self.log(f"{self.name}: checkpoint at it {iteration}/{self.total}{took}: " + "; ".join(metrics))
        self.last = self.clock()
