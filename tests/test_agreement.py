"""The estimator family side by side: α̂(k) curves (the Hill plot) against the scalar estimators and a
Pareto tail, the estimator agreement table against hand-computed ranges, and what the figures draw."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402

from sgnoise import aggregate as tables  # noqa: E402
from sgnoise import tail  # noqa: E402
from sgnoise.figures import agreement as agreement_plots  # noqa: E402
from sgnoise.figures import grid  # noqa: E402
from sgnoise.noise.dump import NoiseDumpWriter  # noqa: E402


def test_k_grid_spans_each_estimators_range():
    n = 10_000
    for method, (low, high) in {"hill": (1, n - 1), "moment": (2, n - 1), "pickands": (1, n // 4)}.items():
        ks = tail.k_grid(n, 40, method)
        assert ks[0] == low and ks[-1] == high and np.all(np.diff(ks) > 0), method
        assert 30 <= ks.size <= 40
    assert tail.k_grid(3, 10, "pickands").size == 0


@pytest.mark.parametrize("seed", [0, 1])
def test_curves_equal_the_scalar_estimators_at_every_k(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_t(1.5, size=5_000) * np.exp(rng.standard_normal(5_000))
    x[rng.random(x.size) < 0.05] = 0.0  # zeros dropped, as by the scalar estimators
    ks = {method: tail.k_grid(np.count_nonzero(x), 30, method) for method in tail.TOP_METHODS}
    curves = tail.tail_index_curves(x, ks)
    for method in tail.TOP_METHODS:
        expected = np.array([tail.ESTIMATORS[method](x, k=int(k)) for k in ks[method]])
        assert curves[method].shape == expected.shape
        same = np.isclose(curves[method], expected, rtol=1e-9, atol=0) | (np.isinf(curves[method]) & np.isinf(expected))
        assert same.all(), (method, ks[method][~same], curves[method][~same], expected[~same])


def test_hill_curve_of_a_pareto_sample_is_flat_at_its_index():
    """Exact Pareto(α = 1.5): Hill's 1/α̂(k) is an average of k Exp(1/α) log-spacings, so α̂ ≈ 1.5
    within a few standard errors (1.5/√k) at every k of the grid; the moment estimator too, within
    a few of its own (α²·√(1 + γ²)/√k, γ = 1/α)."""
    rng = np.random.default_rng(3)
    x = rng.pareto(1.5, size=200_000) + 1.0
    ks = np.array([200, 1_000, 5_000, 20_000])
    curves = tail.tail_index_curves(x, {"hill": ks, "moment": ks})
    assert np.all(np.abs(curves["hill"] - 1.5) < 4 * 1.5 / np.sqrt(ks)), curves["hill"]
    moment_se = 1.5**2 * math.sqrt(1 + (1 / 1.5) ** 2) / np.sqrt(ks)
    assert np.all(np.abs(curves["moment"] - 1.5) < 4 * moment_se), curves["moment"]


def test_curves_reject_unknown_methods_and_clip_k_as_the_estimators_do():
    x = np.random.default_rng(0).standard_normal(100)
    with pytest.raises(ValueError, match="method must be one of"):
        tail.tail_index_curves(x, {"mohammadi": [10]})
    with pytest.raises(ValueError, match="k must be a positive int"):
        tail.tail_index_curves(x, {"hill": [0]})
    clipped = tail.tail_index_curves(x, {"hill": [500]})["hill"]  # k > n − 1: clipped to n − 1, like hill()
    assert clipped[0] == pytest.approx(tail.hill(x, k=500))


def test_hill_plot_table_reads_the_last_checkpoint_of_a_dump(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "noise.h5"
    writer = NoiseDumpWriter(path, columns=np.arange(300), layers=[("w", 0, 300)], attrs={"run_id": "t", "config": {}})
    matrices = {}
    for iteration in (0, 7):
        matrices[iteration] = rng.standard_t(2.0, size=(20, 300)).astype(np.float32)
        matrices[iteration][0, :10] = 0.0
        writer.add_checkpoint(iteration, matrices[iteration], np.zeros(300), {"lr": 0.1})
    writer.close()
    table = tail.hill_plot_table(path, points=20)
    assert set(table["iteration"]) == {7} and set(table["method"]) == set(tail.TOP_METHODS)
    sample = matrices[7].astype(np.float64).reshape(-1)
    sample = sample[sample != 0]
    assert set(table["n_samples"]) == {sample.size}
    for method in tail.TOP_METHODS:
        rows = table[table["method"] == method]
        auto = rows[rows["k_auto"]]
        assert len(auto) == 1 and int(auto["k"].iloc[0]) == tail.TOP_K[method](sample.size)
        assert auto["alpha"].iloc[0] == pytest.approx(tail.ESTIMATORS[method](sample))
        k = int(rows["k"].iloc[len(rows) // 2])
        assert rows.loc[rows["k"] == k, "tail_fraction"].iloc[0] == pytest.approx(tail.top_count(method, sample.size, k) / sample.size)
    first = tail.hill_plot_table(path, iteration=0, points=20)
    assert set(first["iteration"]) == {0}
    with pytest.raises(ValueError, match="no checkpoint at iteration 3"):
        tail.hill_plot_table(path, iteration=3)


# ---------------------------------------------------------------------------- the agreement table


def _alpha_rows():
    """Two runs × two checkpoints: the pooled (all-P) mohammadi row and pooled_stored rows of 4 methods."""
    rows = []
    stored = {"mohammadi": 1.50, "mohammadi_order": 1.45, "mcculloch": 1.62, "hill": 3.1}
    for run, shift in (("a", 0.0), ("b", 0.2)):
        for iteration in (0, 10):
            base = dict(run=run, dataset="d", model="fcn", depth=2, width=8, loss="nll", batch_size=10, lr=0.1, seed=0,
                        status="ok", learned=run == "a", iteration=iteration)
            rows.append({**base, "method": "mohammadi", "view": "pooled", "alpha": 1.30 + shift, "ci_low": 1.28 + shift,
                         "ci_high": 1.32 + shift, "K1": 100, "N": 10_000})
            for method, value in stored.items():
                rows.append({**base, "method": method, "view": "pooled_stored", "alpha": value + shift, "ci_low": np.nan,
                             "ci_high": np.nan, "K1": np.nan, "N": 2_000})
            rows.append({**base, "method": "mohammadi", "view": "per_parameter", "alpha": 1.9, "ci_low": 1.8,
                         "ci_high": 2.0, "K1": np.nan, "N": 2_000})
    return pd.DataFrame(rows)


def _k1_rows():
    records = []
    k1s = [2, 10, 100, 1000, 5000, 8000]
    for run, shift in (("a", 0.0), ("b", 0.2)):
        for iteration in (0, 10):
            for k1, value in zip(k1s, [1.0, 1.1, 1.3, 1.4, 1.8, 1.9]):
                records.append(dict(run=run, iteration=iteration, view="pooled", k1=k1, alpha=value + shift, ci_low=np.nan,
                                    ci_high=np.nan, ci_method="analytic", n_samples=10_000, n_blocks=10_000 // k1,
                                    k1_reference=100))
    return pd.DataFrame(records)


def test_agreement_table_puts_every_estimate_side_by_side():
    methods = ["mohammadi", "mohammadi_order", "mcculloch", "hill"]
    table = tables.estimator_agreement(_alpha_rows(), _k1_rows(), methods, fixed_k1=1000, median_grid=[2, 10, 100, 5000, 8000, 9000])
    assert len(table) == 4 and list(table[["run", "iteration"]].itertuples(index=False, name=None)) == \
        [("a", 0), ("a", 10), ("b", 0), ("b", 10)]
    a = table.iloc[1]
    assert a["paper"] == pytest.approx(1.30) and a["paper_ci_low"] == pytest.approx(1.28) and a["K1"] == 100
    assert a["k1_reference"] == pytest.approx(1.3) and a["k1_fixed"] == pytest.approx(1.4)
    # median over the grid members in [2, N/2] that were measured: 2, 10, 100, 5000 (8000 > N/2; 9000 not measured)
    assert a["k1_median"] == pytest.approx(np.median([1.0, 1.1, 1.3, 1.8]))
    assert a["stored_hill"] == pytest.approx(3.1) and a["stored_mcculloch"] == pytest.approx(1.62)
    # the systematic range: the K1 policies and the stable-index estimators, not Hill
    assert a["sys_low"] == pytest.approx(1.2) and a["sys_high"] == pytest.approx(1.62)
    assert a["sys_spread"] == pytest.approx(0.42) and a["n_estimates"] == 7
    assert a["k1_low"] == pytest.approx(1.2) and a["k1_high"] == pytest.approx(1.4)
    assert a["tail_low"] == a["tail_high"] == pytest.approx(3.1)
    b = table.iloc[3]
    assert b["sys_low"] == pytest.approx(1.4) and b["sys_high"] == pytest.approx(1.82)
    assert not bool(b["learned"]) and bool(a["learned"])


def test_agreement_ranges_skip_infinite_and_missing_estimates():
    alpha = _alpha_rows()
    alpha.loc[(alpha["method"] == "mcculloch") & (alpha["view"] == "pooled_stored"), "alpha"] = np.inf
    table = tables.estimator_agreement(alpha, _k1_rows(), ["mohammadi", "mcculloch"], fixed_k1=777, median_grid=[2])
    row = table.iloc[0]
    assert np.isnan(row["k1_fixed"])  # K1 = 777 was not measured
    assert row["sys_high"] == pytest.approx(1.5)  # +inf left out, Hill not asked for
    assert row["n_estimates"] == 4 and np.isnan(row["tail_low"])


# ---------------------------------------------------------------------------- what the figures draw


@pytest.fixture
def agreement():
    return tables.estimator_agreement(_alpha_rows(), _k1_rows(), ["mohammadi", "mohammadi_order", "mcculloch", "hill"],
                                      fixed_k1=1000, median_grid=[2, 10, 100])


def test_agreement_figure_draws_the_last_checkpoint_of_each_estimate(agreement):
    fig = agreement_plots.estimator_agreement_figure(agreement, learned_margin=0.05)
    left, right = fig.axes[:2]
    drawn = {c.get_gid(): c.get_offsets() for c in left.collections if isinstance(c, PathCollection)}
    last = agreement[agreement["iteration"] == 10]
    learned, apart = last[last["learned"]], last[~last["learned"]]
    for estimate in ("k1_fixed", "k1_median", "stored_mohammadi", "stored_hill"):
        np.testing.assert_allclose(drawn[f"agreement:{estimate}"], learned[["paper", estimate]].to_numpy(dtype=float))
        np.testing.assert_allclose(drawn[f"agreement_apart:{estimate}"], apart[["paper", estimate]].to_numpy(dtype=float))
    differences = {c.get_gid(): c.get_offsets()[:, 0] for c in right.collections if isinstance(c, PathCollection)}
    np.testing.assert_allclose(differences["difference:stored_hill"], learned["stored_hill"] - learned["paper"])
    plt.close(fig)


def test_hill_plot_draws_the_curves_and_the_papers_value(tmp_path):
    curves = pd.DataFrame({"iteration": 5, "method": np.repeat(["hill", "moment", "pickands"], 3), "k": [1, 10, 100] * 3,
                           "alpha": [1.1, 1.2, 1.3, 2.1, 2.2, 2.3, 0.9, np.inf, 1.0], "n_samples": 1000,
                           "k_auto": [False, True, False] * 3, "tail_fraction": 0.01, "run": "r"})
    alpha = pd.DataFrame({"run": "r", "iteration": 5, "method": "mohammadi", "view": ["pooled", "pooled_stored"],
                          "alpha": [1.25, 1.4], "ci_low": [1.2, np.nan], "ci_high": [1.3, np.nan]})
    fig = agreement_plots.hill_plot_figure(curves, alpha)
    ax = fig.axes[0]
    lines = {line.get_gid(): line for line in ax.get_lines() if line.get_gid()}
    np.testing.assert_allclose(lines["curve:hill:r"].get_ydata(), [1.1, 1.2, 1.3])
    np.testing.assert_allclose(lines["curve:pickands:r"].get_ydata(), [0.9, 5.0, 1.0])  # +inf at the top edge
    np.testing.assert_allclose(lines["auto:moment:r"].get_xydata(), [[10, 2.2]])
    assert lines["paper:r"].get_ydata()[0] == pytest.approx(1.25) and lines["stored:r"].get_ydata()[0] == pytest.approx(1.4)
    assert any("drawn at the edge" in text.get_text() for text in fig.texts)
    plt.close(fig)


def test_alpha_figures_draw_the_systematic_range_and_the_sampling_interval(agreement):
    alpha = _alpha_rows()
    alpha.loc[alpha["run"] == "b", "width"] = 32  # a width sweep: two widths in one panel
    alpha["learned"] = True
    runs = alpha[["run", "status", "learned"]].drop_duplicates("run")
    agreement = agreement.assign(learned=True)
    fig = grid.alpha_vs_width(alpha, runs, agreement=agreement)
    bars = [c for c in fig.axes[0].collections if isinstance(c, LineCollection) and str(c.get_gid()).startswith("systematic:")]
    assert len(bars) == 1
    segments = np.array([segment[:, 1] for segment in bars[0].get_segments()])
    last = agreement[agreement["iteration"] == 10].sort_values("run")
    np.testing.assert_allclose(segments, last[["sys_low", "sys_high"]].to_numpy(dtype=float))
    assert "systematic range: estimators × K1 policies" in [t.get_text() for t in fig.legends[0].get_texts()]
    plt.close(fig)
    # without the agreement table, or for another estimator, no systematic range is drawn
    for figure in (grid.alpha_vs_width(alpha, runs), grid.alpha_vs_depth(alpha.assign(depth=alpha["run"].map({"a": 2, "b": 3})),
                                                                              method="hill", agreement=agreement)):
        assert not [c for c in figure.axes[0].collections if str(c.get_gid()).startswith("systematic:")]
        plt.close(figure)
    assert math.isfinite(float(last["sys_spread"].max()))


def test_alpha_by_architecture_compares_families_at_comparable_sizes():
    from sgnoise.models import layer_type_table
    from sgnoise.figures import architecture

    specs = {"f/small": dict(dataset="mnist5k", model=dict(model="fcn", depth=2, width=8)),
             "f/big": dict(dataset="mnist5k", model=dict(model="fcn", depth=2, width=512)),
             "v/vit": dict(dataset="mnist5k", model=dict(model="vit", depth=1, width=16, heads=2, patch=7))}
    layers = layer_type_table(specs)
    sizes = layers.drop_duplicates("run").set_index("run")["n_params"]
    assert sizes["f/small"] == 784 * 8 + 8 * 10  # FCN(784 → 8 → 10), no biases (as the paper's)
    assert set(layers.loc[layers["run"] == "v/vit", "layer_type"]) >= {"attention", "mlp", "embedding", "normalisation"}
    runs = pd.DataFrame({"run": list(specs), "model": ["fcn", "fcn", "vit"], "loss": "nll", "status": "ok", "learned": True})
    chosen = architecture.comparable_runs(runs, layers)
    assert set(chosen["family"]) == {"fcn", "vit"}
    # the FCN closest (in log) to the geometric mean of the family medians
    target = math.exp(np.mean(np.log([np.median([sizes["f/small"], sizes["f/big"]]), sizes["v/vit"]])))
    best = min(["f/small", "f/big"], key=lambda r: abs(math.log(sizes[r] / target)))
    assert chosen.loc[chosen["family"] == "fcn", "run"].item() == best
    rows = []
    for run in (best, "v/vit"):
        for iteration, value in ((0, 1.5), (10, 1.3)):
            rows.append(dict(run=run, iteration=iteration, method="mohammadi", view="pooled", layer="", alpha=value,
                             n_samples=10_000, excess_fraction=np.nan))
            rows.append(dict(run=run, iteration=iteration, method="mohammadi", view="per_parameter", layer="", alpha=1.9,
                             n_samples=40, excess_fraction=0.05 + iteration / 100))
        for layer in layers.loc[layers["run"] == run, "layer"]:
            rows.append(dict(run=run, iteration=10, method="mohammadi", view="per_layer", layer=layer, alpha=1.7,
                             n_samples=1000, excess_fraction=np.nan))
    fig = architecture.alpha_by_architecture(pd.DataFrame(rows), runs, layers)
    lines = {line.get_gid(): line for ax in fig.axes for line in ax.get_lines() if line.get_gid()}
    np.testing.assert_allclose(lines[f"pooled:{best}"].get_ydata(), [1.5, 1.3])
    np.testing.assert_allclose(lines["excess:v/vit"].get_ydata(), [0.05, 0.15])
    dots = {c.get_gid() for c in fig.axes[2].collections}
    assert {"layers:vit:attention", "layers:vit:mlp", "layers:fcn:mlp"} <= dots
    plt.close(fig)
