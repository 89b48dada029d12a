"""Exact order statistics of a stream too large to hold: radix selection on the IEEE bits of float64
values (a 16-bit histogram per pass, then exact selection among the few values left).
"""

from __future__ import annotations

import numpy as np

from sgnoise.tail._samples import kth_smallest

_SIGN = np.uint64(1 << 63)
_DIGITS = 16


def sortable_keys(values: np.ndarray) -> np.ndarray:
    """uint64 keys ordered like the float64 ``values`` (IEEE bits; negatives flipped)."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    return np.where(bits >> np.uint64(63) == 1, ~bits, bits | _SIGN)


def value_of_key(key: int) -> float:
    """The float64 whose ``sortable_keys`` key is ``key`` (the inverse map)."""
    key = np.uint64(key)
    bits = key ^ _SIGN if key & _SIGN else ~key
    return float(np.array([bits], dtype=np.uint64).view(np.float64)[0])


class OrderStatistics:
    """Exact order statistics of a stream too large to hold (radix selection).

    Each request (transform "abs" or "signed", length L, rank r) asks for the r-th smallest of the
    first L stream values. A pass either histograms the next 16 bits of the sortable keys that
    share the prefix found so far, or, once at most ``limit`` values share it, collects them and
    selects exactly. ``pending`` says whether another pass is needed.
    """

    def __init__(self, requests, limit):
        self.limit = limit
        self.requests = [dict(transform=t, length=int(length), rank=int(rank), prefix=0, shift=64, count=int(length),
                              value=None) for t, length, rank in requests]
        for request in self.requests:
            if not 1 <= request["rank"] <= request["length"]:
                raise ValueError(f"rank {request['rank']} outside [1, {request['length']}]")

    @property
    def pending(self):
        """Whether some request still needs a pass."""
        return any(r["value"] is None for r in self.requests)

    def values(self):
        """The order statistics found, in request order (None where still pending)."""
        return [r["value"] for r in self.requests]

    def begin(self):
        """Start a pass: each pending request collects its candidates (at most ``limit`` share the
        prefix) or histograms their next 16 bits."""
        self.seen = 0
        for r in self.requests:
            if r["value"] is None:
                r["collect"] = r["count"] <= self.limit
                r["found"] = []
                r["histogram"] = np.zeros(2**_DIGITS, dtype=np.int64)

    def update(self, sample, n_entries):
        """Feed the pass's next stream values ``sample`` (``n_entries`` is not used)."""
        start = self.seen
        self.seen += sample.size
        cache = {}
        for r in self.requests:
            stop = min(sample.size, r["length"] - start)
            if r["value"] is not None or stop <= 0:
                continue
            if (r["transform"], stop) not in cache:
                values = np.abs(sample[:stop]) if r["transform"] == "abs" else np.ascontiguousarray(sample[:stop])
                cache[(r["transform"], stop)] = values, sortable_keys(values)
            values, keys = cache[(r["transform"], stop)]
            if r["shift"] < 64:
                match = (keys >> np.uint64(r["shift"])) == np.uint64(r["prefix"])
                values, keys = values[match], keys[match]
            if r["collect"]:
                r["found"].append(values)
            else:
                digits = (keys >> np.uint64(r["shift"] - _DIGITS)) & np.uint64(2**_DIGITS - 1)
                r["histogram"] += np.bincount(digits.astype(np.intp), minlength=2**_DIGITS)

    def end(self):
        """Finish a pass: select exactly among the collected values, or fix the next 16-bit digit of
        the prefix (the bucket holding the rank; the rank becomes the rank within it)."""
        for r in self.requests:
            if r["value"] is not None:
                continue
            if r["collect"]:
                r["value"] = kth_smallest(np.concatenate(r["found"]), r["rank"])
            else:
                cumulative = np.cumsum(r["histogram"])
                digit = int(np.searchsorted(cumulative, r["rank"], side="left"))
                r["rank"] -= int(cumulative[digit - 1]) if digit else 0
                r["prefix"] = (r["prefix"] << _DIGITS) | digit
                r["shift"] -= _DIGITS
                r["count"] = int(r["histogram"][digit])
                if r["shift"] == 0:
                    r["value"] = value_of_key(r["prefix"])
            r.pop("found"), r.pop("histogram")

