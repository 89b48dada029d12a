"""sgnoise.tail.synthetic (synthetic estimator study, scale-mixture demonstration) and the tail
figures of sgnoise.figures.tail."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

from sgnoise import tail  # noqa: E402
from sgnoise.tail import synthetic  # noqa: E402
from sgnoise.figures import tail as tail_plots  # noqa: E402
from sgnoise.figures.style import save_figure  # noqa: E402


@pytest.fixture(scope="module")
def study():
    return synthetic.estimator_validation(alphas=(1.0, 1.8), sizes=(5000, 1000), methods=tail.METHODS, repeats=3, seed=4)


@pytest.fixture(scope="module")
def mixture():
    return synthetic.scale_mixture(log_scale_sds=(0.0, 2.0), n_minibatches=200, n_coordinates=1000,
                                   methods=("mohammadi", "hill"), seed=1)


def test_validation_table_is_tidy_and_reproducible(study):
    assert list(study.columns) == synthetic.VALIDATION_COLUMNS
    assert len(study) == 2 * 2 * 3 * len(tail.METHODS)
    assert sorted(study["n_samples"].unique()) == [1000, 5000]
    again = synthetic.estimator_validation(alphas=(1.0, 1.8), sizes=(1000, 5000), methods=tail.METHODS, repeats=3, seed=4)
    pd.testing.assert_frame_equal(study, again)


def test_validation_estimates_come_from_nested_scipy_draws(study):
    # repeat 2 of α = 1.8 (index 1): redraw independently and re-estimate on the leading 1000 samples
    draw = stats.levy_stable.rvs(1.8, 0.0, size=5000, random_state=np.random.default_rng([4, 1, 2]))
    rows = study[(study["alpha"] == 1.8) & (study["repeat"] == 2) & (study["n_samples"] == 1000)].set_index("method")
    for method in tail.METHODS:
        assert rows.loc[method, "alpha_hat"] == tail.estimate_alpha(draw[:1000], method)


def test_summary_matches_hand_computation():
    frame = pd.DataFrame({"alpha": [1.5] * 4, "n_samples": [100] * 4, "method": ["hill"] * 4, "repeat": range(4),
                          "alpha_hat": [1.4, 1.7, 1.6, np.inf]})
    row = synthetic.validation_summary(frame).iloc[0]
    errors = np.array([-0.1, 0.2, 0.1])
    assert row["bias"] == pytest.approx(errors.mean())
    assert row["rmse"] == pytest.approx(np.sqrt(np.mean(errors**2)))
    assert row["sd"] == pytest.approx(np.std([1.4, 1.7, 1.6], ddof=1))
    assert (row["n_repeats"], row["n_infinite"]) == (4, 1)
    with pytest.raises(ValueError, match="lacks columns"):
        synthetic.validation_summary(frame.drop(columns="alpha_hat"))


def test_summary_shows_hill_bias_near_two(study):
    summary = synthetic.validation_summary(study).set_index(["method", "alpha", "n_samples"])
    assert summary.loc[("hill", 1.8, 5000), "bias"] > 0.1  # Hill overestimates α = 1.8 (known; shown in the figure)
    assert abs(summary.loc[("mohammadi", 1.0, 5000), "bias"]) < 0.05


def test_scale_mixture_separates_pooled_from_normalised(mixture):
    assert list(mixture.columns) == synthetic.MIXTURE_COLUMNS
    rows = mixture[mixture["method"] == "mohammadi"].set_index(["log_scale_sd", "view"])["alpha"]
    assert rows[(2.0, "pooled")] < rows[(0.0, "pooled")] - 0.5
    for view in ("pooled_normalised", "per_parameter"):
        assert abs(rows[(2.0, view)] - 2.0) < 0.15


def test_scale_mixture_matrix_scales_columns():
    matrix = synthetic.scale_mixture_matrix(1.0, 4000, 3, np.random.default_rng([0, 0]))
    scales = np.exp(1.0 * np.random.default_rng([0, 0]).standard_normal(3))
    np.testing.assert_allclose(matrix.std(axis=0), scales, rtol=0.05)


@pytest.mark.parametrize("call, error, match", [
    (lambda: synthetic.estimator_validation(alphas=()), ValueError, "alphas"),
    (lambda: synthetic.estimator_validation(alphas=(2.5,)), ValueError, "alphas"),
    (lambda: synthetic.estimator_validation(sizes=(8,)), ValueError, "sizes"),
    (lambda: synthetic.estimator_validation(sizes=(1000.0,)), TypeError, "sizes"),
    (lambda: synthetic.estimator_validation(repeats=0), ValueError, "repeats"),
    (lambda: synthetic.estimator_validation(methods=("pareto",)), ValueError, "unknown method"),
    (lambda: synthetic.scale_mixture(n_minibatches=4), ValueError, "n_minibatches"),
    (lambda: synthetic.scale_mixture(log_scale_sds=(-1.0,)), ValueError, "log_scale_sds"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ----------------------------------------------------------------------------- figures


@pytest.fixture(scope="module")
def alpha_tables():
    rng = np.random.default_rng(5)
    tables, per_parameter = [], []
    for run in ("mnist/fcn-d2-w8/nll/b100-lr0.1/s0", "mnist/fcn-d2-w8/nll/b100-lr0.1/s1", "cifar10/fcn-d2-w8/nll/b100-lr0.1/s0"):
        for iteration in (0, 50):
            table, side = tail.alpha_views(rng.standard_t(3, size=(40, 300)), column_layer=np.repeat([0, 1], 150),
                                           layer_names=["a", "b"], iteration=iteration, views=tail.VIEWS,
                                           methods=("mohammadi", "hill"), return_per_parameter=True)
            tables.append(table.assign(run=run))
            per_parameter.append(side.assign(run=run))
    return pd.concat(tables, ignore_index=True), pd.concat(per_parameter, ignore_index=True)


def _visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def test_alpha_views_figure(alpha_tables, tmp_path):
    fig = tail_plots.alpha_views_figure(alpha_tables[0], method="hill")
    assert len(_visible_axes(fig)) == 3
    labels = fig.axes[0].get_legend_handles_labels()[1]
    # the streamed all-P pooled view is Mohammadi's only; Hill's pooled estimate is the stored columns'
    shown = [v for v in tail_plots.VIEW_ORDER if v != "pooled"]
    with_null = [tail_plots.VIEW_LABELS[v] for v in shown]
    with_null.insert(with_null.index(tail_plots.VIEW_LABELS["per_parameter"]) + 1, tail_plots.NULL_BAND_LABEL)
    assert labels == with_null
    labels = tail_plots.alpha_views_figure(alpha_tables[0], method="mohammadi").axes[0].get_legend_handles_labels()[1]
    assert labels == [tail_plots.VIEW_LABELS["pooled"]] + with_null
    # the hatched null band is the table's null 10-90 % of the per-parameter view, at every checkpoint
    run = sorted(alpha_tables[0]["run"].unique())[0]
    rows = alpha_tables[0][(alpha_tables[0]["run"] == run) & (alpha_tables[0]["method"] == "hill")
                           & (alpha_tables[0]["view"] == "per_parameter")].sort_values("iteration")
    ax = [a for a in fig.axes if a.get_title().replace("\n", "/") == run][0]
    assert ax.get_xscale() == "log"  # log-spaced checkpoints on a log axis of iteration + 1
    per_parameter_line = [line for line in ax.lines if line.get_label() == tail_plots.VIEW_LABELS["per_parameter"]][0]
    np.testing.assert_array_equal(per_parameter_line.get_xdata(), rows["iteration"] + 1)
    np.testing.assert_array_equal(per_parameter_line.get_ydata(), rows["alpha"])
    band = [c for c in ax.collections if c.get_label() == tail_plots.NULL_BAND_LABEL]
    assert len(band) == 1 and band[0].get_hatch() == "////"
    vertices = band[0].get_paths()[0].vertices
    np.testing.assert_allclose(sorted(set(np.round(vertices[:, 1], 9))),
                               sorted(set(np.round(np.r_[rows["null_q10"], rows["null_q90"]], 9))))
    save_figure(fig, [tmp_path / "views.png"])
    assert (tmp_path / "views.png").stat().st_size > 0
    with pytest.raises(ValueError, match="no rows for method"):
        tail_plots.alpha_views_figure(alpha_tables[0], method="mcculloch")


def test_per_parameter_alpha_figure(alpha_tables, tmp_path):
    side = alpha_tables[1].copy()
    side.loc[side.index[:5], "alpha"] = np.inf
    fig = tail_plots.per_parameter_alpha_figure(side)
    assert len(_visible_axes(fig)) == 3
    assert len(fig.axes[0].patches) == 2  # first and last checkpoint
    save_figure(fig, [tmp_path / "per_parameter.pdf"])
    # with the α table: the last checkpoint's null 10-90 % band, its 5 % quantile and the excess fraction
    alpha = alpha_tables[0]
    with_null = tail_plots.per_parameter_alpha_figure(side, alpha_table=alpha)
    ax = with_null.axes[0]
    run = ax.get_title()
    last = alpha[(alpha["run"] == run) & (alpha["view"] == "per_parameter") & (alpha["method"] == "mohammadi")]
    last = last[last["iteration"] == last["iteration"].max()].iloc[0]
    span = [p for p in ax.patches if p.get_label() == "Gaussian null 10–90 %"][0]
    np.testing.assert_allclose([span.get_x(), span.get_x() + span.get_width()], [last["null_q10"], last["null_q90"]])
    assert [line.get_xdata()[0] for line in ax.lines if line.get_label() == "Gaussian null 5 %"] == [last["null_q05"]]
    assert f"{last['excess_fraction']:.0%} below null 5 %" in " ".join(t.get_text() for t in ax.texts)
    with pytest.raises(ValueError, match="lacks columns"):
        tail_plots.per_parameter_alpha_figure(side.drop(columns="alpha"))


def test_estimator_validation_figure(study, mixture, tmp_path):
    fig = tail_plots.estimator_validation_figure(synthetic.validation_summary(study), mixture)
    assert len(_visible_axes(fig)) == 2 * len(tail.METHODS) + 2
    save_figure(fig, [tmp_path / "validation.png"])
    assert (tmp_path / "validation.png").exists()
