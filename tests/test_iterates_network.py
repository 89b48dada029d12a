"""sgnoise.iterates, the network study (issue 17): stacked FCNs against sgnoise.models' FCN and per-network
autograd, the fluctuation α̂ on SαS samples of known α; plus the figures, the config checks and the rules."""

import numpy as np
import pandas as pd
import pytest
import torch

from sgnoise import iterates as it
from sgnoise.sde import sample_sas

torch.set_num_threads(1)


# --------------------------------------------------------------------------- networks


@pytest.fixture(scope="module")
def small_data():
    g = torch.Generator().manual_seed(0)
    return dict(train_x=torch.randn(200, 1, 4, 4, generator=g), train_y=torch.randint(0, 3, (200,), generator=g),
                num_classes=3)


def test_stacked_forward_matches_build_model_fcn(small_data):
    from sgnoise.models import build_model

    nets = []
    for seed in range(3):
        torch.manual_seed(seed)
        nets.append(build_model(dict(model="fcn", depth=3, width=5), (1, 4, 4), 3))
    weights = it.stacked_fcn_weights(nets)
    x = small_data["train_x"][:7]
    outputs = it.stacked_fcn_forward(weights, x.unsqueeze(0).expand(3, -1, -1, -1, -1))
    for k, net in enumerate(nets):
        torch.testing.assert_close(outputs[k], net(x))


@pytest.mark.parametrize("loss", ["nll", "hinge"])
def test_stacked_sgd_step_matches_one_network_at_a_time(small_data, loss):
    from sgnoise.models.losses import get_loss
    from sgnoise.models import build_model

    torch.manual_seed(0)
    net = build_model(dict(model="fcn", depth=2, width=6), (1, 4, 4), 3)
    etas = [0.05, 0.3]
    weights = it.stacked_fcn_weights([net, net])
    batch = torch.randint(0, 200, (2, 8), generator=torch.Generator().manual_seed(1))
    losses = it.stacked_sgd_step(weights, small_data["train_x"], small_data["train_y"], batch, torch.tensor(etas), loss)
    for k, eta in enumerate(etas):
        reference = [layer.weight.detach().clone().requires_grad_(True) for layer in net.layers]
        x = small_data["train_x"][batch[k]].flatten(1)
        h = torch.relu(x @ reference[0].T)
        value = get_loss(loss)(h @ reference[1].T, small_data["train_y"][batch[k]])
        grads = torch.autograd.grad(value, reference)
        assert float(losses[k]) == pytest.approx(float(value.detach()), rel=1e-6)
        for stacked, w, grad in zip(weights, reference, grads):
            torch.testing.assert_close(stacked[k].detach(), (w - eta * grad).detach())


def test_train_fcn_iterates_records_the_last_iterations_and_is_seeded(small_data):
    model = dict(model="fcn", depth=2, width=6)
    run = it.train_fcn_iterates(small_data, model, 4, [0.05, 0.1], iterations=30, record=12, max_coords=20, seed=3)
    again = it.train_fcn_iterates(small_data, model, 4, [0.05, 0.1], iterations=30, record=12, max_coords=20, seed=3)
    assert run.layer_names == ["layers.0.weight", "layers.1.weight"] and run.layer_sizes == [96, 18]
    assert [c.size for c in run.coordinates] == [20, 18]
    assert run.recorded[0].shape == (12, 2, 20)
    for a, b in zip(run.recorded, again.recorded):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(run.recorded[0][:, 0], run.recorded[0][:, 1])  # the step sizes differ
    assert np.all(np.abs(np.diff(run.recorded[1], axis=0)).sum(axis=(0, 2)) > 0)  # every network moves
    short = it.train_fcn_iterates(small_data, model, 4, [0.05, 0.1], iterations=29, record=12, max_coords=20, seed=3)
    np.testing.assert_array_equal(short.recorded[0][1:], run.recorded[0][:-1])  # iteration-indexed rows
    assert run.diverged == [False, False]
    exploded = it.train_fcn_iterates(small_data, model, 4, [1e6], iterations=30, record=5, max_coords=None, seed=3)
    assert exploded.diverged == [True]


def test_running_mean_fluctuations_against_a_loop():
    series = np.random.default_rng(0).standard_normal((40, 3))
    u = it.running_mean_fluctuations(series, 7)
    expected = np.array([series[t] - series[t - 7:t].mean(axis=0) for t in range(7, 40)])
    np.testing.assert_allclose(u, expected, atol=1e-12)
    with pytest.raises(ValueError, match="window"):
        it.running_mean_fluctuations(series, 40)


def test_mad_normalise_and_shuffle():
    matrix = np.column_stack([3 + 2 * np.arange(9.0), np.ones(9), -np.arange(9.0)])
    out = it.mad_normalise(matrix)
    assert out.shape == (9, 2)  # the constant column is dropped
    np.testing.assert_allclose(np.median(out, axis=0), 0)
    np.testing.assert_allclose(np.median(np.abs(out), axis=0), 1)
    shuffled = it.pooled_shuffled(out, 1)
    np.testing.assert_array_equal(np.sort(shuffled), np.sort(out.reshape(-1)))
    np.testing.assert_array_equal(shuffled, it.pooled_shuffled(out, 1))


def _iterates_of(samples):
    """A NetworkIterates whose one 'layer' records ``samples`` (record, G, m) as the weights."""
    g = samples.shape[1]
    return it.NetworkIterates([0.1] * g, ["layers.0.weight"], [samples.shape[2]], [np.arange(samples.shape[2])],
                              [samples.astype(np.float32)], [False] * g, [1.0] * g, [0.5] * g)


def test_fluctuation_alpha_of_stable_weights():
    """Weights w_t iid SαS(α) per coordinate with coordinate scales spread over two decades: the fluctuations
    w_t − trailing mean have tail index α, recovered (MAD-normalised) within 0.12, inside the batch-means
    interval; α = 2 (Gaussian) gives ≈ 2."""
    rng = np.random.default_rng(0)
    scales = np.geomspace(0.01, 1, 300)
    for alpha in (1.2, 2.0):
        weights = sample_sas(alpha, (1000, 1, 300), rng=rng) * scales
        rows = it.fluctuation_alpha_rows(_iterates_of(weights), window=20, methods=("mohammadi",), seed=0)
        row = rows[0]
        assert abs(row["alpha"] - alpha) < 0.12, row
        assert row["ci_low"] < row["alpha"] < row["ci_high"] and row["ci_low"] - 0.05 < alpha < row["ci_high"] + 0.05
    raw = it.fluctuation_alpha_rows(_iterates_of(sample_sas(2.0, (1000, 1, 300), rng=rng) * scales), window=20,
                                    normalise="none", ci="analytic")[0]
    assert raw["alpha"] < 1.7  # pooling Gaussian coordinates of unequal scales mimics a heavy tail


def test_fluctuation_rows_mark_diverged_networks():
    iterates = _iterates_of(np.random.default_rng(0).standard_normal((50, 2, 30)))
    iterates.diverged = [False, True]
    rows = it.fluctuation_alpha_rows(iterates, window=5, methods=("mohammadi", "hill"))
    assert len(rows) == 4 and [r["note"] for r in rows if r["diverged"]] == ["diverged", "diverged"]


# --------------------------------------------------------------------------- config


def _settings(**changes):
    import yaml

    from workflow import REPO

    schema = yaml.safe_load((REPO / "schemas/iterates.schema.yaml").read_text())["properties"]
    settings = {part: {k: v["default"] for k, v in schema[part]["properties"].items()} for part in ("linear", "networks")}
    for key, value in changes.items():
        part, name = key.split("__")
        settings[part][name] = value
    return settings


@pytest.mark.parametrize("change,expected", [
    (dict(linear__cases=[{"dim": 1, "batch_sizes": [1], "alphas": [1.0], "etas": [0.5]}]), "cases[0]: give exactly one"),
    (dict(linear__cases=[{"dim": 1, "batch_sizes": [1]}]), "cases[0]: give exactly one"),
    (dict(linear__cases=[{"dim": 1, "batch_sizes": [1], "etas": [1.0]}, {"dim": 1, "batch_sizes": [2], "etas": [1.0]}]),
     "cases[1].dim"),
    (dict(networks__running_mean=900), "iterates.networks.running_mean"),
    (dict(networks__record=5000), "iterates.networks.record"),
    (dict(linear__curve_alphas=[3.0, 1.0]), "iterates.linear.curve_alphas"),
    (dict(networks__models=[{"depth": 2, "width": 8}, {"depth": 2, "width": 8}]), "models[1]"),
])
def test_config_check_names_the_key(change, expected):
    with pytest.raises(ValueError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        it.check_iterates_config(_settings(**change))


def test_config_check_passes_the_defaults():
    checked = it.check_iterates_config(_settings())
    assert checked["dims"] == [1, 10, 100] and list(checked["networks"]) == ["fcn-d2-w32", "fcn-d3-w32"]


# --------------------------------------------------------------------------- figures


def _linear_tables():
    settings = dict(noise_sd=1.0, n_chains=60, n_snapshots=4, burn_in=3, min_burn_in=10, thin=1, max_steps=2000,
                    methods=["mohammadi", "hill"], ci="analytic", level=0.95, theory_samples=2000, curve_points=6,
                    curve_alphas=[0.5, 5.0], device="cpu")
    parts = [it.linear_study(case, settings) for case in (dict(dim=1, batch_sizes=[1, 2], alphas=[1.0, 3.0]),
                                                         dict(dim=100, batch_sizes=[5], alphas=[1.0]))]
    return [pd.concat(frames, ignore_index=True) for frames in zip(*parts)]


def test_linear_figure_draws_theory_lines_and_measured_points():
    from sgnoise.figures.style import label_overlaps
    from sgnoise.figures.iterates import iterate_alpha_vs_eta_over_b

    measured, theory, curves = _linear_tables()
    fig = iterate_alpha_vs_eta_over_b(measured, theory, curves, methods=["mohammadi", "hill"])
    axes = fig.axes
    assert len(axes) == 4 and [ax.get_title() for ax in axes[:2]] == ["d = 1  ·  mohammadi", "d = 100  ·  mohammadi"]
    assert axes[0].get_xscale() == "log" and axes[0].get_ylabel() == "tail index α (mohammadi)"
    assert len(axes[0].lines) >= 2 and len(axes[0].containers) == 4  # 2 theory lines, coordinates + norm per b
    assert len(axes[1].containers) == 0 and "theory only" in " ".join(t.get_text() for t in axes[1].texts)
    assert not label_overlaps(fig)


def test_network_figure_draws_layers_and_sets_apart_what_did_not_learn():
    from sgnoise.figures.style import is_not_learned_style, label_overlaps
    from sgnoise.figures.iterates import iterate_alpha_nn

    rows = []
    for model, depth in (("fcn-d2-w8", 2), ("fcn-d3-w8", 3)):
        for b in (1, 5):
            for eta in (0.01, 0.1):
                for layer in range(depth):
                    rows.append(dict(model=model, depth=depth, width=8, batch_size=b, eta=eta, eta_over_b=eta / b, layer=layer,
                                     method="mohammadi", alpha=1.5 - eta, ci_low=1.2, ci_high=1.8, diverged=False,
                                     final_train_accuracy=0.12 if (b, eta) == (1, 0.1) else 0.9, chance_accuracy=0.1))
    fig = iterate_alpha_nn(pd.DataFrame(rows), learned_margin=0.05)
    assert len(fig.axes) == 5  # 2 + 3 layers, the empty sixth panel removed
    assert fig.axes[0].get_title() == "fcn-d2-w8, layer 1" and fig.axes[1].get_title() == "fcn-d2-w8, output layer"
    assert any(is_not_learned_style(line) for line in fig.axes[0].lines)
    assert not label_overlaps(fig)


# --------------------------------------------------------------------------- rules


@pytest.mark.workflow
def test_tiny_study_draws_both_figures(tmp_path):
    from workflow import snakemake

    targets = ["results/figures/iterate_alpha_vs_eta_over_b.png", "results/figures/iterate_alpha_nn.png"]
    snakemake(tmp_path, "--cores", "2", *targets)
    for target in targets:
        assert (tmp_path / target).stat().st_size > 0 and (tmp_path / target.replace(".png", ".pdf")).stat().st_size > 0
    theory = pd.read_csv(tmp_path / "results/iterates/linear_theory_d1.csv")
    measured = pd.read_csv(tmp_path / "results/iterates/linear_d1.csv")
    assert theory["simulated"].all() and set(measured["method"]) == {"mohammadi", "hill"}
    network = pd.read_csv(tmp_path / "results/iterates/network_fcn-d2-w8.csv")
    assert set(network["layer"]) == {0, 1} and network["alpha"].notna().all()
    assert "Nothing to be done" in snakemake(tmp_path, "-n", *targets).stdout


@pytest.mark.workflow
@pytest.mark.parametrize("change,expected", [
    (dict(iterates={"linear": {"n_chains": "many"}}), "iterates.linear.n_chains"),
    (dict(iterates={"linear": {"cases": [{"dim": 1, "batch_sizes": [1]}]}}), "iterates.linear.cases[0]"),
    (dict(iterates={"networks": {"lr": 0.1}}), "iterates.networks"),
])
def test_bad_iterates_config_stops_naming_the_key(tmp_path, change, expected):
    from workflow import snakemake, write_config

    config = write_config(tmp_path / "bad.yaml", **change)
    result = snakemake(tmp_path, "-n", configfile=config, check=False)
    assert result.returncode != 0 and expected in result.stdout + result.stderr


def test_public_face():
    assert len(it.__all__) == len(set(it.__all__)) and all(hasattr(it, name) for name in it.__all__)
