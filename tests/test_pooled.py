"""sgnoise.tail.pooled: the paper's pooled α over all P coordinates, streamed in the noise pass, against an
independent brute-force port of the reference estimator on the whole K × P noise matrix."""

import math

import numpy as np
import pytest
import torch

from sgnoise.tail import pooled
from sgnoise import tail
from sgnoise.training.bundle import train_bundle
from sgnoise.models import build_model
from sgnoise.noise.measure import measure_noise, partition_batches, select_columns
from sgnoise.noise.dump import NoiseDump
from sgnoise.training import RunSpec, train_run


# ----------------------------------------------------------------------------- the brute-force port


def reference_alpha(matrix, zeros="exclude", k1=None):
    """The reference code's estimator, written out: flatten row-major, (drop zeros | add eps), K1 = the
    largest divisor of N not above √N (⌊√N⌋ when that divisor is below max(2, √N/2): the one declared
    deviation), sum consecutive blocks, 1/α = [mean log|Y| − mean log|X|] / log K1."""
    x = np.asarray(matrix, dtype=np.float64).reshape(-1)
    eps = 0.0
    if zeros == "exclude":
        x = x[x != 0]
    else:
        eps = np.spacing(1)
    n = x.size
    if k1 is None:
        k1 = 1
        for i in range(1, math.isqrt(n) + 1):
            if n % i == 0:
                k1 = i
        if k1 < max(2.0, math.isqrt(n) / 2):
            k1 = math.isqrt(n)
    k2 = n // k1
    x = x[: k1 * k2]
    y = x.reshape(k2, k1).sum(axis=1)
    if zeros == "exclude":
        y = y[y != 0]  # (never happens on continuous data; the streamed estimate drops such blocks too)
    inverse = (np.log(np.abs(y) + eps).mean() - np.log(np.abs(x) + eps).mean()) / math.log(k1)
    return 1 / inverse, k1


def brute_force_noise(model, loss_fn, x, y, batch_size):
    """K × P noise by one autograd call per mini-batch, mean in float64."""
    rows = []
    for index in partition_batches(len(x), batch_size):
        grads = torch.autograd.grad(loss_fn(model(x[index]), y[index]), list(model.parameters()))
        rows.append(torch.cat([g.reshape(-1) for g in grads]).double())
    matrix = torch.stack(rows)
    return (matrix - matrix.mean(0)).numpy()


def stream_alpha(statistics, **policy):
    return pooled.pooled_estimate(statistics, dict(method="analytic", level=0.95), **policy)


# ----------------------------------------------------------------------------- the stream itself


@pytest.mark.parametrize("zeros", ["exclude", "eps"])
@pytest.mark.parametrize("shape", [(40, 600), (7, 13), (3, 2000)])
def test_stream_equals_reference_port_on_random_matrices(zeros, shape):
    rng = np.random.default_rng(sum(shape))
    matrix = (rng.standard_t(1.5, size=shape) * np.exp(2 * rng.standard_normal(shape[1]))).astype(np.float32)
    matrix[:, rng.random(shape[1]) < 0.1] = 0  # dead coordinates
    matrix[rng.random(shape) < 0.02] = 0
    statistics = pooled.pooled_statistics(lambda: iter(torch.from_numpy(matrix)), shape[0], [2, 3, 50, 700], zeros)
    expected, k1 = reference_alpha(matrix, zeros)
    estimate = stream_alpha(statistics)
    assert estimate["k1"] == k1 == statistics["k1_reference"]
    assert estimate["alpha"] == pytest.approx(expected, rel=1e-9)
    for k in (2, 3, 50, 700):  # blocks that run across row ends (700 > 600 columns), incomplete tails dropped
        if k <= statistics["n_used"] // 2:
            got = stream_alpha(statistics, policy="fixed", fixed=k)["alpha"]
            assert got == pytest.approx(reference_alpha(matrix, zeros, k1=k)[0], rel=1e-9)
    n_used = np.count_nonzero(matrix) if zeros == "exclude" else matrix.size
    assert statistics["n_used"] == n_used and statistics["n_entries"] == matrix.size


def test_median_policy_and_intervals():
    rng = np.random.default_rng(3)
    matrix = rng.standard_cauchy((50, 400)).astype(np.float32)
    statistics = pooled.pooled_statistics(lambda: iter(torch.from_numpy(matrix)), 50, pooled.MEDIAN_K1_GRID)
    median = stream_alpha(statistics, policy="median")
    values = [reference_alpha(matrix, k1=k)[0] for k in pooled.MEDIAN_K1_GRID]
    assert median["alpha"] == pytest.approx(np.median(values), rel=1e-9)
    lower_middle = pooled.MEDIAN_K1_GRID[int(np.argsort(values)[(len(values) - 1) // 2])]
    assert median["k1"] == lower_middle  # the interval and the recorded K1 are the lower median member's
    # analytic interval: the delta method over the block terms, as sgnoise.tail's on the sample in memory
    from sgnoise import tail
    x = matrix.astype(np.float64).reshape(-1)
    k1 = int(statistics["k1_reference"])
    expected = tail.mohammadi_analytic_interval(tail.mohammadi_block_terms(x, k1), k1, 0.95)
    reference = stream_alpha(statistics)
    assert (reference["ci_low"], reference["ci_high"]) == pytest.approx(expected, rel=1e-9)
    assert reference["ci_low"] < 1.0 < reference["ci_high"]  # Cauchy: α = 1
    boot = pooled.pooled_estimate(statistics, dict(method="bootstrap", level=0.95, replicates=300, seed=0))
    assert boot["ci_method"] == "bootstrap" and boot["ci_low"] < boot["alpha"] < boot["ci_high"]
    with pytest.raises(ValueError, match="noise.pooled_k1_grid"):
        stream_alpha(statistics, policy="fixed", fixed=7)


def test_stream_rejects_bad_options():
    with pytest.raises(ValueError, match="zero policy"):
        pooled.PooledStream([10], 2, zeros="keep")
    with pytest.raises(ValueError, match=">= 2"):
        pooled.PooledStream([1], 2)
    stream = pooled.PooledStream([2], 1)
    stream.update(torch.ones(4))
    with pytest.raises(ValueError, match="rows"):
        stream.update(torch.ones(4))


# ----------------------------------------------------------------------------- in the noise pass


def mnist_like(n=400, seed=0):
    """784-pixel inputs with a border of pixels that are 0 in every image (dead first-layer weights,
    hence exact zeros in the noise, as in MNIST)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 28, 28, generator=g).clamp(min=0)
    x[:, :, :3, :] = 0
    y = (x.flatten(1)[:, 300:310].argmax(1)).long()
    return dict(train_x=x[:320], train_y=y[:320], test_x=x[320:], test_y=y[320:], num_classes=10)


MODEL = {"model": "fcn", "depth": 2, "width": 64}  # 784·64 + 64·10 = 50 816 parameters


def test_measure_noise_held_and_recomputed_are_identical():
    data = mnist_like()
    torch.manual_seed(0)
    model = build_model(MODEL, (1, 28, 28), 10)
    loss_fn = torch.nn.CrossEntropyLoss()
    columns = torch.from_numpy(select_columns(50816, 1000, 0))
    options = dict(k1_grid=[2, 10, 1000], zeros="exclude")
    held = measure_noise(model, loss_fn, data["train_x"], data["train_y"], 20, columns, pooled=options)
    streamed = measure_noise(model, loss_fn, data["train_x"], data["train_y"], 20, columns, pooled=options,
                             matrix_memory_mb=0.1)
    assert held.held and not streamed.held
    assert torch.equal(held.stored, streamed.stored) and torch.equal(held.full_gradient, streamed.full_gradient)
    for key in pooled.STATISTICS:
        np.testing.assert_array_equal(held.pooled[key], streamed.pooled[key], err_msg=key)
    expected, k1 = reference_alpha(brute_force_noise(model, loss_fn, data["train_x"], data["train_y"], 20))
    assert stream_alpha(held.pooled)["alpha"] == pytest.approx(expected, rel=1e-6)


def run_spec(max_coords, **changes):
    values = dict(run_id=f"toy/fcn-d2-w64/s0/m{max_coords}", dataset="toy", model=MODEL, loss="nll", batch_size=20,
                  lr=0.05, iterations=40, seed=0, checkpoints=[0, 40], max_coords=max_coords, noise_test_set=True)
    values.update(changes)
    return RunSpec(**values)


def final_model(spec, parameters):
    model = build_model(spec.model, (1, 28, 28), 10)
    torch.nn.utils.vector_to_parameters(parameters, model.parameters())
    return model


@pytest.mark.parametrize("max_coords", [1000, None])
def test_single_run_pooled_is_the_reference_estimate_over_all_coordinates(tmp_path, max_coords):
    data = mnist_like()
    spec = run_spec(max_coords, checkpoints=[0])
    out = tmp_path / "run"
    train_run(spec, data, out / "noise.h5", out / "metrics.csv", out / "status.json")
    torch.manual_seed(0)  # train_run seeds torch with the run's seed before building the model
    model = build_model(spec.model, (1, 28, 28), 10)
    loss_fn = torch.nn.CrossEntropyLoss()
    matrix = brute_force_noise(model, loss_fn, data["train_x"], data["train_y"], spec.batch_size)
    assert matrix.shape == (16, 50816) and np.mean(matrix == 0) > 0.05  # dead pixels: exact zeros to exclude
    expected, k1 = reference_alpha(matrix)
    table, by_k1 = tail.alpha_table(out / "noise.h5", views=("pooled", "pooled_test", "pooled_stored"), return_k1=True)
    row = table[table["view"] == "pooled"].iloc[0]
    assert row["alpha"] == pytest.approx(expected, rel=1e-6)
    assert (row["N"], row["K1"], row["k1_policy"]) == (np.count_nonzero(matrix), k1, "reference")
    test_matrix = brute_force_noise(model, loss_fn, data["test_x"], data["test_y"], spec.batch_size)
    test_row = table[table["view"] == "pooled_test"].iloc[0]
    assert test_row["alpha"] == pytest.approx(reference_alpha(test_matrix)[0], rel=1e-6) and test_row["n_minibatches"] == 4
    at_1000 = by_k1[(by_k1["view"] == "pooled") & (by_k1["k1"] == 1000)].iloc[0]
    assert at_1000["alpha"] == pytest.approx(reference_alpha(matrix, k1=1000)[0], rel=1e-6)
    stored = table[table["view"] == "pooled_stored"].iloc[0]
    if max_coords is None:
        assert stored["alpha"] == pytest.approx(row["alpha"], rel=1e-6)
    else:  # the stored-subset estimate is another number: its own view
        assert stored["N"] < row["N"] / 40 and abs(stored["alpha"] - row["alpha"]) > 1e-3


def test_bundle_members_pooled_is_the_reference_estimate(tmp_path):
    data = mnist_like()
    specs = [run_spec(1000, run_id="toy/a/s0", seed=0), run_spec(1000, run_id="toy/b/s1", seed=1, loss="hinge", lr=0.02)]
    paths = [dict(noise=tmp_path / f"m{i}" / "noise.h5", metrics=tmp_path / f"m{i}" / "metrics.csv",
                  status=tmp_path / f"m{i}" / "status.json") for i in range(2)]
    _, parameters = train_bundle(specs, data, paths, max_members=2, return_parameters=True)
    small = tmp_path / "recomputed"
    small_paths = [{key: small / f"m{i}" / Path_name for key, Path_name in
                    (("noise", "noise.h5"), ("metrics", "metrics.csv"), ("status", "status.json"))} for i in range(2)]
    train_bundle(specs, data, small_paths, max_members=2, matrix_memory_mb=0.1)
    from sgnoise.models.losses import get_loss
    for i, spec in enumerate(specs):
        model = final_model(spec, parameters[i])
        matrix = brute_force_noise(model, get_loss(spec.loss), data["train_x"], data["train_y"], spec.batch_size)
        with NoiseDump(paths[i]["noise"]) as dump, NoiseDump(small_paths[i]["noise"]) as other:
            statistics = dump.pooled_statistics(40)
            for key in pooled.STATISTICS:  # the (B, K, P) gradients held or recomputed: the same statistics
                np.testing.assert_array_equal(statistics[key], other.pooled_statistics(40)[key], err_msg=key)
            assert dump.pooled_statistics(40, "pooled_test") is not None
        assert stream_alpha(statistics)["alpha"] == pytest.approx(reference_alpha(matrix)[0], rel=1e-6)


def test_k1_grids_and_the_torch_operations_equal_numpy():
    """The default grids as documented, and the stream's torch operations (used on CUDA devices), here on
    CPU tensors: the same statistics as the numpy ones, with zero-sum blocks and zeros in the rows."""
    assert pooled.DEFAULT_K1_GRID == tuple(m * 10**e for e in range(6) for m in (1, 2, 5) if 2 <= m * 10**e <= 100_000)
    assert pooled.MEDIAN_K1_GRID == (2, 5, 10, 20, 50, 100, 500, 1000)
    rng = np.random.default_rng(4)
    rows = rng.standard_cauchy((5, 37))
    rows[rng.random(rows.shape) < 0.2] = 0.0
    rows[1, :4] = [1.0, -1.0, 2.0, -2.0]  # a block of K1 = 2 that sums to zero
    for zeros in pooled.ZERO_POLICIES:
        numpy_stream, torch_stream = (pooled.PooledStream([2, 3, 7, 50], 5, zeros) for _ in range(2))
        torch_stream.ops = pooled._Torch(torch.device("cpu"))
        for row in rows:
            numpy_stream.update(torch.from_numpy(row))
            torch_stream.update(torch.from_numpy(row))
        expected, result = numpy_stream.result(), torch_stream.result()
        for key in expected:
            np.testing.assert_allclose(result[key], expected[key], rtol=1e-12, err_msg=f"{zeros} {key}")
        np.testing.assert_array_equal(expected["row_count"].sum(axis=1), expected["count"])
        assert (expected["row_count"][:3] > 0).all()  # K1 = 2, 3, 7: blocks end in every row
        with pytest.raises(ValueError, match="more than the announced 5 rows"):
            numpy_stream.update(torch.from_numpy(rows[0]))
    # the smallest N with a reference K1 (4 entries: K1 = 2), predicted right: one pass over the rows
    passes = []

    def rows4():
        passes.append(1)
        return iter([np.array([1.0, -3.0, 2.0, 5.0])])

    assert int(pooled.pooled_statistics(rows4, 1, [3], expected_used=4)["k1_reference"]) == 2 and len(passes) == 1
    many = pooled.pooled_statistics_many(lambda feed: feed(0, np.array([1.0, 2.0, 3.0, 4.0])), 1,
                                         [dict(k1_grid=[2], zeros="exclude")], [None])  # default device
    assert int(many[0]["count"][0]) == 2
    # two block terms are enough for the analytic interval, the one sgnoise.tail gives in memory
    record = pooled.k1_table(many[0], dict(method="analytic", level=0.9))[0]
    expected = tail.mohammadi_analytic_interval(tail.mohammadi_block_terms(np.array([1.0, 2.0, 3.0, 4.0]), 2), 2, 0.9)
    assert (record["ci_low"], record["ci_high"]) == pytest.approx(expected, rel=1e-12)
    few = pooled.pooled_statistics(lambda: iter([np.array([1.0, 2.0, 3.0])]), 1, [2])  # no reference K1 for N = 3
    assert pooled.pooled_estimate(few, dict(method="analytic", level=0.95)).keys() == pooled.pooled_estimate(
        many[0] | dict(k1_reference=np.int64(2)), dict(method="analytic", level=0.95)).keys()
    # the pooled Gaussianity test from the power sums is the in-memory one on the same entries
    sample = rng.standard_normal(200) * 3 + 1
    statistics = pooled.pooled_statistics(lambda: iter([sample]), 1, [2])
    for test in ("dagostino", "jarque_bera"):
        assert pooled.normality_from_statistics(statistics, test) == pytest.approx(tail.normality_test(sample, test), rel=1e-8)
    # a block summing to exactly 0 is dropped when zeros are excluded, kept (log eps) with the eps policy
    for zeros, count in (("exclude", 1), ("eps", 2)):
        stream = pooled.PooledStream([2], 1, zeros)
        stream.update(np.array([1.0, -1.0, 3.0, 5.0]))
        assert stream.result()["count"][0] == count
