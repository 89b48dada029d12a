import numpy as np
import pytest
from scipy import stats

from sgnoise.noise.summaries import coordinate_sample, gaussian_reference_norms, noise_norms, sas_scale_from_log_moment
from sgnoise.tail.phases import detect_phase_change


def test_phase_change_found_at_minimum_before_jump():
    iterations = [0, 1, 3, 10, 30, 100, 300, 1000]
    alpha = [1.6, 1.4, 1.25, 1.2, 1.45, 1.5, 1.48, 1.5]
    assert detect_phase_change(iterations, alpha) == (10, pytest.approx(0.3))
    # shuffled input gives the same answer
    order = np.random.default_rng(0).permutation(8)
    assert detect_phase_change(np.array(iterations)[order], np.array(alpha)[order])[0] == 10


def test_no_phase_change_for_monotone_or_flat_series():
    assert detect_phase_change([0, 1, 2, 3], [1.5, 1.4, 1.3, 1.2])[0] is None
    assert detect_phase_change([0, 1, 2, 3], [1.5, 1.51, 1.49, 1.5])[0] is None
    assert detect_phase_change([0, 1, 2, 3], [1.2, 1.5, 1.6, 1.7])[0] is None  # rises from the start: no drop
    assert detect_phase_change([0, 1], [1.5, 1.0])[0] is None


def test_noise_norms_match_gaussian_reference_for_gaussian_noise():
    rng = np.random.default_rng(0)
    scales = np.exp(rng.normal(size=300))
    noise = rng.standard_normal((400, 300)) * scales
    np.testing.assert_allclose(noise_norms(noise[:3]), [np.sqrt((row**2).sum()) for row in noise[:3]])
    reference = gaussian_reference_norms(noise, 400, np.random.default_rng(1))
    assert stats.ks_2samp(noise_norms(noise), reference).pvalue > 0.01


def test_noise_norms_differ_from_reference_for_heavy_tailed_noise():
    noise = stats.levy_stable.rvs(1.2, 0, size=(400, 300), random_state=2)
    reference = gaussian_reference_norms(noise, 400, np.random.default_rng(1))
    assert stats.ks_2samp(noise_norms(noise), reference).pvalue < 1e-6


@pytest.mark.parametrize("alpha,scale", [(1.2, 2.0), (1.7, 0.5), (2.0, 1.0)])
def test_sas_scale_from_log_moment_recovers_scipy_scale(alpha, scale):
    x = stats.levy_stable.rvs(alpha, 0, scale=scale, size=200_000, random_state=3)
    assert sas_scale_from_log_moment(x, alpha) == pytest.approx(scale, rel=0.03)


def test_coordinate_sample_drops_zeros_and_is_seeded():
    noise = np.array([[0.0, 1.0, 2.0], [3.0, 0.0, 4.0]])
    assert sorted(coordinate_sample(noise, 10, np.random.default_rng(0))) == [1, 2, 3, 4]
    a = coordinate_sample(np.arange(1, 1001.0), 10, np.random.default_rng(5))
    assert np.array_equal(a, coordinate_sample(np.arange(1, 1001.0), 10, np.random.default_rng(5))) and len(a) == 10


def test_all_zero_noise_is_summarised_and_drawn_without_a_fit(tmp_path):
    """A checkpoint whose noise is exactly zero (a perfectly fitted hinge run) has no α̂ to fit: its fit
    row is NaN with n = 0 (noise_summary used to stop with "need at least 4 samples"), and the
    coordinate figure draws the last checkpoint that has noise."""
    import pandas as pd

    from sgnoise.noise.summaries import summarise_dump
    from sgnoise.figures.noise import coordinate_distribution
    from sgnoise.noise.dump import NoiseDumpWriter

    path = tmp_path / "noise.h5"
    writer = NoiseDumpWriter(path, columns=np.arange(50), layers=[("w", 0, 50)], attrs={"run_id": "r", "config": {}})
    rng = np.random.default_rng(0)
    writer.add_checkpoint(0, rng.standard_normal((10, 50)).astype(np.float32), np.zeros(50), {"lr": 0.1})
    writer.add_checkpoint(5, np.zeros((10, 50), dtype=np.float32), np.zeros(50), {"lr": 0.1})
    writer.close()
    norms, coordinates, fits = summarise_dump(path, n_coordinates=100)
    last = fits[fits["iteration"] == 5].iloc[0]
    assert np.isnan(last["alpha"]) and np.isnan(last["sas_scale"]) and last["n"] == 0
    assert np.isfinite(fits.loc[fits["iteration"] == 0, "alpha"].iloc[0])
    assert set(coordinates["iteration"]) == {0}  # zeros are dropped from the coordinate sample
    fig = coordinate_distribution(coordinates.assign(run="r"), fits.assign(run="r"))  # the last checkpoint with noise
    assert len(fig.axes) == 2 and "iteration 0" in fig.axes[0].get_title()
