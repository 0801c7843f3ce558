"""The residual GP of bayes_scaling.discrepancy.local (maths only; not yet wired into fits): it
carries a local bias to nearby new points and forgets it far away, is linear in per-draw
residuals, and type-II maximum likelihood recovers the hyper-parameters of simulated residuals."""

from __future__ import annotations

import numpy as np

from bayes_scaling.discrepancy.local import (
    ResidualGP,
    fit_hyper,
    kernel,
    noise_by_ml,
    positions,
    predict,
)


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
