"""Study tables across estimators: the excess heavy-tail fraction and every estimate of a checkpoint side by side."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sgnoise import tail

EXCESS_COLUMNS = ["run", "iteration", "method", "source", "n_minibatches", "n_coordinates", "alpha", "q10", "q90",
                  "null_median", "null_q05", "null_q10", "null_q90", "excess_fraction", "reject_fraction", "learned"]


def excess_heavy_tail(alpha: pd.DataFrame) -> pd.DataFrame:
    """Per run, checkpoint and method: the per-parameter view beside its Gaussian null band and the
    excess fraction (coordinates whose α̂ is below the null's 5 % quantile; 5 % for Gaussian noise)."""
    rows = alpha[alpha["view"] == "per_parameter"]
    columns = [column for column in EXCESS_COLUMNS if column in rows.columns]
    return rows[columns].sort_values(["run", "iteration", "method"]).reset_index(drop=True)


AGREEMENT_ID_COLUMNS = ["run", "dataset", "model", "depth", "width", "scale", "loss", "batch_size", "lr", "seed",
                        "status", "learned", "iteration"]
K1_POLICY_COLUMNS = ("k1_reference", "k1_fixed", "k1_median")


def estimator_agreement(alpha: pd.DataFrame, alpha_k1: pd.DataFrame, methods, fixed_k1: int, median_grid,
                        paper_method: str = "mohammadi") -> pd.DataFrame:
    """Every estimate of one checkpoint side by side, per run and checkpoint (the estimator_agreement
    table): ``paper`` = the pooled view's ``paper_method`` α̂ over all P coordinates with its interval
    (``paper_ci_low``, ``paper_ci_high``) and K1; the same statistic under the three K1 policies
    (``k1_reference``: the largest divisor of N not above √N; ``k1_fixed``: ``fixed_k1``; ``k1_median``:
    the median over the members of ``median_grid`` in [2, N/2]; from the alpha_k1 records, NaN where a
    K1 was not measured); ``stored_<method>`` = each estimator of ``methods`` on the pooled entries of
    the stored columns (view pooled_stored). Three ranges of the finite estimates (``*_low``,
    ``*_high``): ``k1_`` over the K1 policies of ``paper``; ``sys_`` over every estimate of the stable
    index α ∈ (0, 2] (the K1 policies and the stored-column mohammadi, mohammadi_order, mcculloch): the
    systematic range drawn beside the sampling interval in the α figures, with ``sys_spread`` and
    ``n_estimates``; ``tail_`` over the upper-order-statistic estimators (hill, moment, pickands: the
    tail index of |x|, not bounded by 2, shown in the estimator_agreement figure)."""
    ids = [c for c in AGREEMENT_ID_COLUMNS if c in alpha.columns]
    pooled = alpha[(alpha["view"] == "pooled") & (alpha["method"] == paper_method)]
    frame = pooled.reindex(columns=ids + ["alpha", "ci_low", "ci_high", "K1", "N"]).rename(
        columns={"alpha": "paper", "ci_low": "paper_ci_low", "ci_high": "paper_ci_high"})
    stored = alpha[alpha["view"] == "pooled_stored"]
    if len(stored):
        wide = stored.pivot_table(index=["run", "iteration"], columns="method", values="alpha", aggfunc="first")
        wide = wide.reindex(columns=[m for m in methods if m in wide.columns]).add_prefix("stored_").reset_index()
        frame = frame.merge(wide, on=["run", "iteration"], how="outer") if len(frame) else \
            stored[ids].drop_duplicates(["run", "iteration"]).merge(wide, on=["run", "iteration"])
    records = alpha_k1[alpha_k1["view"] == "pooled"] if len(alpha_k1) else alpha_k1
    policies = []
    for (run, iteration), group in (records.groupby(["run", "iteration"]) if len(records) else []):
        by_k1 = dict(zip(group["k1"].astype(int), group["alpha"]))
        n_used = int(group["n_samples"].iloc[0])
        median = [by_k1[k] for k in tail.median_grid_members(median_grid, n_used) if k in by_k1]
        policies.append({"run": run, "iteration": iteration,
                         "k1_reference": by_k1.get(int(group["k1_reference"].iloc[0]), np.nan),
                         "k1_fixed": by_k1.get(int(fixed_k1), np.nan),
                         "k1_median": float(np.median(median)) if median else np.nan})
    frame = frame.merge(pd.DataFrame(policies, columns=["run", "iteration", *K1_POLICY_COLUMNS]),
                        on=["run", "iteration"], how="left")
    ranges = {"k1": ["paper", *K1_POLICY_COLUMNS],
              "sys": ["paper", *K1_POLICY_COLUMNS, *(f"stored_{m}" for m in methods if m not in tail.TOP_METHODS)],
              "tail": [f"stored_{m}" for m in methods if m in tail.TOP_METHODS]}
    for name, estimates in ranges.items():
        values = frame.reindex(columns=estimates).apply(pd.to_numeric, errors="coerce")
        values = values.where(np.isfinite(values))
        frame[f"{name}_low"], frame[f"{name}_high"] = values.min(axis=1), values.max(axis=1)
        if name == "sys":
            frame["sys_spread"] = frame["sys_high"] - frame["sys_low"]
            frame["n_estimates"] = values.notna().sum(axis=1)
    return frame.sort_values(["run", "iteration"]).reset_index(drop=True)
