"""The residual GP of bayes_scaling.discrepancy.local: it carries a local bias to nearby new
points and forgets it far away, is linear in per-draw residuals, and type-II maximum likelihood
recovers the hyper-parameters of simulated residuals; the fit's LocalMisfit predicts the exact
GP, draws one smooth curve per posterior draw, is learned from a fit's residuals and saved with
its discrepancy."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling.discrepancy.local import (
    LocalMisfit,
    ResidualGP,
    fit_hyper,
    kernel,
    learn,
    noise_by_ml,
    positions,
    predict,
)
from bayes_scaling.discrepancy.record import Discrepancy
from bayes_scaling.laws import get_law


def ladder_positions():
    """A small grid of (N, D): 5 sizes x 4 token multiples (1-40 tokens per parameter)."""
    n = np.repeat(np.geomspace(1e8, 1e10, 5), 4)
    d = n * np.tile([1.0, 5.0, 20.0, 40.0], 5)
    return n, d


def test_local_bias_is_carried_near_and_forgotten_far():
    n, d = ladder_positions()
    x = positions(n, d)
    # the law under-predicts the largest models on few tokens by 1.5%, fits elsewhere
    r = np.where((n >= 3e9) & (d / n <= 5), 0.015, 0.0)
    gp = ResidualGP(s=0.01, ell_n=0.5, ell_r=0.5, noise=0.002)
    new = positions([1.5e10, 2e8, 1e14], [1.5e10 * 2, 2e8 * 20, 1e14 * 20])
    mean, cov = predict(r, x, new, gp)
    assert mean[0] > 0.008  # next to the biased corner, just beyond the data
    assert abs(mean[1]) < 0.002  # inside the well-fitted region
    assert abs(mean[2]) < 1e-6 and np.isclose(cov[2, 2], gp.s**2)  # far: prior again
    assert cov[0, 0] < gp.s**2
    assert np.allclose(cov, cov.T) and np.linalg.eigvalsh(cov).min() > -1e-12


def test_mean_is_linear_in_per_draw_residuals():
    n, d = ladder_positions()
    x = positions(n, d)
    rng = np.random.default_rng(1)
    draws = 0.01 * rng.standard_normal((7, len(n)))
    gp = ResidualGP(s=0.01, ell_n=0.4, ell_r=0.8, noise=0.003)
    new = positions([2e10], [4e10])
    mean_draws, cov = predict(draws, x, new, gp)
    mean_avg, cov_avg = predict(draws.mean(axis=0), x, new, gp)
    assert mean_draws.shape == (7, 1)
    assert np.allclose(mean_draws.mean(axis=0), mean_avg) and np.allclose(cov, cov_avg)


def test_kernel_is_isotropic_in_n_and_tokens_per_parameter():
    gp = ResidualGP(s=1.0, ell_n=1.0, ell_r=0.25, noise=0.0)
    origin = np.zeros((1, 2))
    along_n_fixed_ratio = np.array([[0.5, 0.5]])  # N and D both x10^0.5
    along_ratio = np.array([[0.0, 0.5]])  # D alone: tokens per parameter x10^0.5
    assert np.isclose(kernel(origin, along_n_fixed_ratio, gp)[0, 0], np.exp(-0.5 * 0.25))
    assert np.isclose(kernel(origin, along_ratio, gp)[0, 0], np.exp(-0.5 * 4.0))


def test_type_ii_ml_recovers_simulated_hyper_parameters():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.uniform(8, 10, 80), rng.uniform(9, 12, 80)])
    truth = ResidualGP(s=0.01, ell_n=0.6, ell_r=0.6, noise=0.002)
    cov = kernel(x, x, truth) + truth.noise**2 * np.eye(80)
    r = np.linalg.cholesky(cov) @ rng.standard_normal(80)
    gp = fit_hyper(r, x, noise_floor=0.001)
    assert 0.004 < gp.s < 0.025
    assert 0.25 < np.sqrt(gp.ell_n * gp.ell_r) < 1.5
    assert 0.001 <= gp.noise < 0.004


def test_noise_by_ml_respects_the_floor_and_finds_plain_noise():
    rng = np.random.default_rng(2)
    n, d = ladder_positions()
    x = positions(n, d)
    noisy = 0.02 * rng.standard_normal(len(n))
    gp = noise_by_ml(noisy, x, s=0.001, ell_n=0.5, ell_r=0.5, noise_floor=0.003)
    assert 0.01 < gp.noise < 0.04 and (gp.s, gp.ell_n) == (0.001, 0.5)
    quiet = noise_by_ml(np.zeros(len(n)), x, s=0.01, ell_n=0.5, ell_r=0.5, noise_floor=0.003)
    assert np.isclose(quiet.noise, 0.003)


def biased_misfit():
    n, d = ladder_positions()
    r = np.where((n >= 3e9) & (d / n <= 5), 0.015, 0.0)
    return LocalMisfit(ResidualGP(s=0.01, ell_n=0.5, ell_r=0.5, noise=0.002), positions(n, d), r)


def test_misfit_moments_are_the_exact_gp_and_draws_follow_them():
    misfit = biased_misfit()
    n, d = np.array([1.5e10, 2e8, 1e14]), np.array([3e10, 4e9, 2e15])
    mean, cov = predict(misfit.residuals, misfit.positions, positions(n, d), misfit.gp)
    m, v = misfit.moments({"n_params": n, "n_tokens": d})
    np.testing.assert_allclose(m.values, mean, atol=1e-12)
    np.testing.assert_allclose(v.values, np.diag(cov), atol=1e-12)
    g = misfit.error({"n_params": n, "n_tokens": d}, draws_shape=(4, 2000), seed=3)
    assert g.dims[:2] == ("chain", "draw") and g.shape == (4, 2000, 3)
    flat = g.values.reshape(-1, 3)
    np.testing.assert_allclose(flat.mean(0), mean, atol=4 * misfit.gp.s / np.sqrt(8000))
    # joint: one curve a draw (4 sd of a variance estimated from 8000 draws)
    np.testing.assert_allclose(np.cov(flat.T), cov, atol=4 * misfit.gp.s**2 * np.sqrt(2 / 8000))
    same = misfit.error({"n_params": n, "n_tokens": d}, draws_shape=(4, 2000), seed=3)
    np.testing.assert_array_equal(g.values, same.values)
    # plain arrays (read in numpy) and labelled ones (through xarray) give the same draws
    labelled = {
        "n_params": xr.DataArray(n, dims="point"),
        "n_tokens": xr.DataArray(d, dims="point"),
    }
    also = misfit.error(labelled, draws_shape=(4, 2000), seed=3)
    assert also.dims == ("chain", "draw", "point")
    np.testing.assert_allclose(also.values, g.values, rtol=1e-12)
    one = misfit.error({"n_params": n[0], "n_tokens": d[0]}, draws_shape=(4, 2000), seed=3)
    assert one.dims == ("chain", "draw")


def test_points_that_move_with_the_draw_take_their_median_position():
    misfit = biased_misfit()
    n = xr.DataArray(
        np.full((2, 5, 1), 1.5e10) * np.linspace(0.9, 1.1, 5)[None, :, None],
        dims=("chain", "draw", "point"),
    )
    g = misfit.error({"n_params": n, "n_tokens": 2 * n}, draws_shape=(2, 5), seed=0)
    fixed = misfit.error(
        {"n_params": np.array([1.5e10]), "n_tokens": np.array([3e10])}, draws_shape=(2, 5), seed=0
    )
    assert g.dims == ("chain", "draw", "point")
    np.testing.assert_allclose(g.values, fixed.values)
    assert misfit.error({"compute": np.array([1e21])}, draws_shape=(2, 5), seed=0) == 0


def test_a_fit_learns_the_misfit_of_its_runs():
    law = get_law("chinchilla")
    truth = {"E": 1.7, "log_A": np.log(400.0), "alpha": 0.34, "log_B": np.log(400.0), "beta": 0.28}
    n, d = ladder_positions()
    runs = pd.DataFrame({"n_params": n, "n_tokens": d})
    bump = np.where((n >= 3e9) & (d / n <= 5), 0.015, 0.0)  # the law misses one corner
    clean = law.fn({"n_params": n, "n_tokens": d}, truth, np)
    runs["loss"] = np.asarray(clean) * np.exp(bump)
    rng = np.random.default_rng(0)
    post = xr.Dataset(
        {k: (("chain", "draw"), v + 1e-4 * rng.standard_normal((2, 50))) for k, v in truth.items()}
        | {"sigma": (("chain", "draw"), np.full((2, 50), 0.002))}
    )
    misfit = learn(runs, law, post)
    assert misfit.gp.noise >= 0.002 and misfit.gp.s == 0.01
    m, _ = misfit.moments({"n_params": np.array([1e10, 1e8]), "n_tokens": np.array([2e10, 4e9])})
    assert m.values[0] > 0.008 and abs(m.values[1]) < 0.003
    one_input = SimpleNamespace(inputs=("compute",))  # a law of compute alone: no (N, D) misfit
    assert learn(runs, one_input, post) is None


def test_the_misfit_is_saved_with_its_discrepancy_and_old_records_load_without():
    grid = np.ones((1, 2, 1)) / 2
    base = dict(
        drift=np.zeros(1),
        tau=np.array([0.01, 0.02]),
        gamma=np.ones(1),
        weights=grid,
        reference={"compute": 1e21},
        cut_on="compute",
        cuts=(),
        n_checked=0,
    )
    record = Discrepancy(**base, local=biased_misfit())
    back = Discrepancy.from_dataset(record.to_dataset())
    np.testing.assert_array_equal(back.local.residuals, record.local.residuals)
    np.testing.assert_array_equal(back.local.positions, record.local.positions)
    assert back.local.gp == record.local.gp
    assert "local misfit" in back.describe()
    assert Discrepancy.from_dataset(Discrepancy(**base).to_dataset()).local is None
