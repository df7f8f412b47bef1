"""The period search kernel (``ops.periodogram``) against its least-squares reference."""

import numpy as np
import pytest

from itnet_ts.ops.periodogram import best_frequency, best_frequency_reference, gls_power


def _light_curves(B=5, N=60, C=3, seed=0, noise=0.3):
    rng = np.random.default_rng(seed)
    tau = np.sort(rng.uniform(-150.0, 0.0, (B, N)), axis=1)
    period = np.exp(rng.uniform(np.log(0.2), np.log(0.9), B))
    wave = np.sin(2 * np.pi * tau / period[:, None]) + 0.4 * np.sin(
        4 * np.pi * tau / period[:, None]
    )
    vals = wave[..., None] * rng.uniform(0.5, 1.5, (B, 1, C)) + noise * rng.normal(size=(B, N, C))
    mask = rng.random((B, N, C)) < 0.6
    valid = np.ones((B, N), bool)
    return tau, vals, mask, valid, period


def test_kernel_matches_reference_and_finds_planted_periods():
    tau, vals, mask, valid, period = _light_curves()
    valid[1, 45:] = False  # a shorter history (padding)
    grid = (1 / 100.0, 1 / 600.0, 3500)  # up to ~5.8 cycles per unit; > 256 steps: re-anchoring
    got = best_frequency(tau, vals, mask, valid, *grid)
    want = best_frequency_reference(tau, vals, mask, valid, *grid)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got, 1 / period, atol=2 * grid[1])


def test_power_is_the_least_squares_fraction_of_variance():
    rng = np.random.default_rng(1)
    t = np.sort(rng.uniform(0, 30, 40))
    y = 2.0 + np.cos(2 * np.pi * 0.7 * t + 0.3) + 0.01 * rng.normal(size=40)
    p = gls_power(t, y, np.array([0.7, 0.31]))
    assert p[0] > 0.99 and p[1] < 0.5


@pytest.mark.parametrize("case", ["no-valid", "too-few", "constant"])
def test_rows_without_a_usable_channel_get_zero(case):
    tau, vals, mask, valid, _ = _light_curves(B=2, N=12, C=2, seed=2)
    if case == "no-valid":
        valid[0] = False
    elif case == "too-few":
        mask[0] = False
        mask[0, :4, 0] = True  # 4 < min_obs = 5
    else:
        vals[0] = 1.5
    grid = (0.05, 0.01, 300)
    got = best_frequency(tau, vals, mask, valid, *grid)
    assert got[0] == 0.0 and got[1] > 0
    np.testing.assert_array_equal(got, best_frequency_reference(tau, vals, mask, valid, *grid))


def test_a_bad_grid_is_refused():
    tau, vals, mask, valid, _ = _light_curves(B=1, N=8, C=1)
    with pytest.raises(ValueError, match="f_min > 0"):
        best_frequency(tau, vals, mask, valid, 0.0, 0.01, 10)
