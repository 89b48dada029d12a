"""sgnoise.tail.alpha_table (sgnoise.tail.dump_table, .streaming): the views of a noise dump, streaming
equal to in-memory, exact streamed order statistics, the scale-mixture acceptance check, and the alpha
config schema."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sgnoise import tail
from sgnoise.study.config import alpha_table_options
from sgnoise.tail import streaming
from sgnoise.noise.dump import NoiseDumpWriter

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "alpha.schema.yaml"
K, R, M = 40, 100, 600
LAYERS = [("layers.0.weight", 0, 800), ("layers.1.weight", 800, 400)]


def _noise(rng, rows):
    scales = np.exp(rng.standard_normal(M))
    matrix = stats.levy_stable.rvs(1.4, 0.0, size=(rows, M), random_state=rng) * scales
    matrix[rng.random(matrix.shape) < 0.1] = 0.0
    matrix[:, 5] = 0.0  # a dead coordinate
    return matrix.astype(np.float32)


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    """Two checkpoints; only the first stores random mini-batches. Columns: every other parameter."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("dump") / "noise.h5"
    writer = NoiseDumpWriter(path, columns=np.arange(0, 1200, 2), layers=LAYERS, attrs={"run_id": "test", "config": {}})
    matrices = {}
    for iteration, random in ((0, True), (100, False)):
        matrices[iteration] = _noise(rng, K), _noise(rng, R) if random else None
        writer.add_checkpoint(iteration, matrices[iteration][0], np.zeros(M), {"lr": 0.1}, noise_random=matrices[iteration][1])
    writer.close()
    return path, matrices


@pytest.fixture(scope="module")
def full_table(dump):
    return tail.alpha_table(dump[0], methods=tail.METHODS, views=tail.VIEWS, return_per_parameter=True)


def column_omnibus_brute_force(matrix):
    """K² of the column omnibus from scipy's skewness and kurtosis of each column's nonzero entries."""
    from scipy import stats

    z_skew = z_kurtosis = var_skew = var_kurtosis = 0.0
    for column in np.asarray(matrix, dtype=np.float64).T:
        values = column[column != 0]
        n = values.size
        if n < 8:
            continue
        z_skew += stats.skew(values)
        z_kurtosis += stats.kurtosis(values, fisher=False) - 3 * (n - 1) / (n + 1)
        var_skew += 6 * (n - 2) / ((n + 1) * (n + 3))
        var_kurtosis += 24 * n * (n - 2) * (n - 3) / ((n + 1) ** 2 * (n + 3) * (n + 5))
    return z_skew**2 / var_skew + z_kurtosis**2 / var_kurtosis


def _sample(matrix):
    return matrix.astype(np.float64).reshape(-1)


def test_stored_pooled_view_is_the_estimator_on_the_stored_matrix(dump):
    path, matrices = dump
    table = tail.alpha_table(path, views=("pooled_stored",))
    assert list(table.columns) == tail.COLUMNS
    assert list(table["iteration"]) == [0, 100] and set(table["view"]) == {"pooled_stored"} and set(table["method"]) == {"mohammadi"}
    for row, (noise, _) in zip(table.itertuples(), matrices.values()):
        assert row.alpha == tail.estimate_alpha(noise, "mohammadi")
        assert row.n_samples == np.count_nonzero(noise)
        assert row.zero_fraction == pytest.approx(np.mean(noise == 0))
        assert row.ci_low < row.alpha < row.ci_high and row.ci_method == "analytic"
        assert row.normality_test == "column_omnibus"
        assert row.normality_statistic == pytest.approx(column_omnibus_brute_force(noise), rel=1e-9)


def test_rows_per_view_layer_and_method(full_table):
    table, per_parameter = full_table
    counts = table.groupby(["iteration", "view"]).size()
    assert (counts.xs("per_layer", level="view") == 2 * len(tail.METHODS)).all()
    for view in ("pooled_stored", "pooled_normalised", "per_parameter"):
        assert (counts.xs(view, level="view") == len(tail.METHODS)).all()
    assert sorted(table.loc[table["view"] == "per_layer", "layer"].unique()) == ["layers.0.weight", "layers.1.weight"]
    assert list(per_parameter.columns) == tail.PER_PARAMETER_COLUMNS
    assert len(per_parameter) == 2 * len(tail.METHODS) * M


def test_per_layer_and_normalised_views_match_brute_force(dump, full_table):
    path, matrices = dump
    table, _ = full_table
    noise = matrices[0][0].astype(np.float64)
    rows = table[(table["iteration"] == 0) & (table["method"] == "hill")]
    first_layer = noise[:, :400]  # stored columns 0, 2, …, 798 are layer 0
    assert rows.loc[rows["layer"] == "layers.0.weight", "alpha"].item() == tail.estimate_alpha(first_layer, "hill")
    scales = []
    for column in noise.T:
        values = column[column != 0]
        scales.append(np.median(np.abs(values - np.median(values))) if values.size >= 2 else np.nan)
    scales = np.array(scales)
    keep = np.isfinite(scales) & (scales > 0)
    normalised = noise[:, keep] / scales[keep]
    row = rows[rows["view"] == "pooled_normalised"].iloc[0]
    assert row.alpha == tail.estimate_alpha(normalised, "hill")
    assert row.n_coordinates == keep.sum() == M - 1


def test_per_parameter_view_uses_random_minibatches_when_stored(dump, full_table):
    path, matrices = dump
    table, per_parameter = full_table
    rows = table[(table["view"] == "per_parameter") & (table["method"] == "mohammadi")].set_index("iteration")
    assert rows.loc[0, "source"] == "random" and rows.loc[0, "n_minibatches"] == R
    assert rows.loc[100, "source"] == "partition" and rows.loc[100, "n_minibatches"] == K
    for iteration, matrix in ((0, matrices[0][1]), (100, matrices[100][0])):
        expected = np.array([tail.estimate_alpha(matrix[:, j], "mohammadi") if np.count_nonzero(matrix[:, j]) >= 4 else np.nan
                             for j in range(M)])
        side = per_parameter[(per_parameter["iteration"] == iteration) & (per_parameter["method"] == "mohammadi")]
        np.testing.assert_allclose(side["alpha"], expected, rtol=1e-10)
        assert list(side["column"]) == list(range(0, 1200, 2))
        finite = expected[~np.isnan(expected)]
        assert rows.loc[iteration, "alpha"] == pytest.approx(np.quantile(finite, 0.5, method="inverted_cdf"))
        assert rows.loc[iteration, "q10"] == pytest.approx(np.quantile(finite, 0.1, method="inverted_cdf"))
        assert rows.loc[iteration, "ci_low"] <= rows.loc[iteration, "alpha"] <= rows.loc[iteration, "ci_high"]
        pvalues = tail.normality_per_column(matrix)[1]
        assert rows.loc[iteration, "reject_fraction"] == pytest.approx(np.mean(pvalues[~np.isnan(pvalues)] < 0.01))


def test_per_parameter_source_options(dump):
    path, _ = dump
    table = tail.alpha_table(path, views=["per_parameter"], per_parameter_source="partition")
    assert set(table["source"]) == {"partition"} and set(table["n_minibatches"]) == {K}
    with pytest.raises(ValueError, match="noise_random"):
        tail.alpha_table(path, views=["per_parameter"], per_parameter_source="random")


@pytest.mark.parametrize("ci", ("analytic", "bootstrap"))
def test_streamed_equals_in_memory(dump, full_table, ci):
    path, _ = dump
    options = dict(methods=tail.METHODS, views=tail.VIEWS, ci={"method": ci, "replicates": 30})
    in_memory = full_table[0] if ci == "analytic" else tail.alpha_table(path, **options)
    streamed = tail.alpha_table(path, memory_budget_mb=0.2, **options)
    assert streaming.max_block_entries(0.2) < K * M  # really streamed, several blocks
    pd.testing.assert_series_equal(streamed["alpha"], in_memory["alpha"], check_exact=True)
    np.testing.assert_allclose(streamed["normality_statistic"], in_memory["normality_statistic"], rtol=1e-9)
    same_interval = (streamed["ci_method"] == in_memory["ci_method"]).to_numpy()
    intervals = ["ci_low", "ci_high"]
    np.testing.assert_allclose(streamed.loc[same_interval, intervals], in_memory.loc[same_interval, intervals], rtol=1e-12)
    if ci == "bootstrap":  # streamed bootstrap only for mohammadi; others fall back to analytic and say so
        pooled = streamed["view"] != "per_parameter"
        assert set(streamed.loc[pooled & (streamed["method"] != "mohammadi"), "ci_method"]) == {"analytic"}
        assert set(streamed.loc[streamed["method"] == "mohammadi", "ci_method"]) == {"bootstrap"}


def test_order_statistics_are_exact_with_refinement():
    rng = np.random.default_rng(1)
    stream = np.concatenate([rng.standard_cauchy(5000), np.full(300, 2.5), -np.full(200, 2.5), rng.normal(size=3000)])
    chunks = np.array_split(stream, 17)
    requests = [("signed", stream.size, 1), ("signed", stream.size, stream.size), ("signed", stream.size, 4321),
                ("abs", stream.size, 5100), ("abs", 6000, 3000), ("signed", 7000, 5200)]
    statistics = streaming.OrderStatistics(requests, limit=50)
    passes = 0
    while statistics.pending:
        statistics.begin()
        for chunk in chunks:
            statistics.update(chunk, chunk.size)
        statistics.end()
        passes += 1
    expected = [np.sort(stream)[0], np.sort(stream)[-1], np.sort(stream)[4320], np.sort(np.abs(stream))[5099],
                np.sort(np.abs(stream[:6000]))[2999], np.sort(stream[:7000])[5199]]
    assert statistics.values() == expected
    assert passes > 1


def test_sortable_keys_order_like_values():
    values = np.array([-np.inf, -3.5, -1e-300, 0.0, 1e-300, 2.0, 7.25, np.inf])
    keys = streaming.sortable_keys(values)
    assert np.all(np.diff(keys.astype(object)) > 0)
    assert [streaming.value_of_key(int(k)) for k in keys] == list(values)


@pytest.mark.parametrize("shape, entries", [((7, 10), 25), ((3, 10), 4), ((5, 5), 100)])
def test_row_and_column_blocks_cover_in_order(shape, entries):
    matrix = np.arange(shape[0] * shape[1]).reshape(shape)
    flat = np.concatenate([matrix[rows, columns].reshape(-1) for rows, columns in streaming.row_blocks(shape, entries)])
    np.testing.assert_array_equal(flat, matrix.reshape(-1))
    for rows, columns in streaming.row_blocks(shape, entries):
        assert (rows.stop - rows.start) * (columns.stop - columns.start) <= entries
    assert sum(c.stop - c.start for c in streaming.column_blocks(shape, entries)) == shape[1]


def test_scale_mixture_pooling_fakes_heavy_tails():
    rng = np.random.default_rng(2)
    matrix = rng.standard_normal((600, 5000)) * np.exp(2 * rng.standard_normal(5000))
    table = tail.alpha_views(matrix, views=("pooled", "pooled_normalised", "per_parameter")).set_index("view")
    assert table.loc["pooled", "alpha"] < 1.3
    assert abs(table.loc["pooled_normalised", "alpha"] - 2) < 0.1
    assert abs(table.loc["per_parameter", "alpha"] - 2) < 0.1
    assert 1.6 < table.loc["per_parameter", "q10"] and table.loc["per_parameter", "q90"] < 2.6


def test_array_views_check_their_input():
    with pytest.raises(ValueError, match="2-D"):
        tail.alpha_views(np.ones(10))
    with pytest.raises(ValueError, match="column_layer"):
        tail.alpha_views(np.ones((10, 4)), column_layer=[0, 1])
    with pytest.raises(ValueError, match="zeros='keep'"):
        tail.alpha_views(np.zeros((10, 4)), zeros="keep")


@pytest.mark.parametrize("options, match", [
    (dict(views=["pooled", "per_neuron"]), "unknown view"),
    (dict(methods=["pareto"]), "unknown method"),
    (dict(methods=[]), "at least one"),
    (dict(ci={"method": "auto", "reps": 3}), "unknown ci option"),
    (dict(ci={"block_size": "batch"}), "block_size"),
    (dict(ci={"level": 1.5}), "level"),
    (dict(normality={"level": 0}), "normality level"),
    (dict(normality={"test": "shapiro"}), "normality test"),
    (dict(memory_budget_mb=0), "memory_budget_mb"),
    (dict(zeros="drop"), "zeros policy"),
    (dict(per_parameter_source="sometimes"), "per_parameter_source"),
    (dict(method_options={"pareto": {}}), "unknown method"),
    (dict(per_parameter_methods=["hill"]), "per_parameter_methods"),
])
def test_bad_settings_fail_before_reading(tmp_path, options, match):
    with pytest.raises(ValueError, match=match):
        tail.alpha_table(tmp_path / "missing.h5", **options)


def test_schema_defaults_drive_alpha_table(dump):
    from snakemake.utils import WorkflowError, validate

    config = {}
    validate(config, str(SCHEMA))
    options = alpha_table_options(config)
    assert options["methods"] == list(tail.METHODS)  # every estimator by default
    assert options["views"] == list(tail.VIEWS) and options["memory_budget_mb"] == 2048
    assert options["method_options"]["hill"] == {"exponent": 0.6}  # null k → the default rule
    assert options["per_parameter_methods"] == ["mohammadi"]  # null → the first method
    table, per_parameter = tail.alpha_table(dump[0], return_per_parameter=True, **options)
    assert len(table) == 2 * len(tail.METHODS) * 5
    assert set(per_parameter["method"]) == {"mohammadi"} and len(per_parameter) == 2 * M
    for typo in ({"method": ["hill"]}, {"ci": {"level": 2}}, {"method_options": {"hill": {"kk": 3}}}):
        with pytest.raises(WorkflowError):
            validate(typo, str(SCHEMA))
