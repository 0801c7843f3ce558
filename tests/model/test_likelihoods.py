"""The pointwise log density and the residuals of every draw, in blocks of draws, against the
same numbers computed at once with xarray (bayes_scaling.model.likelihoods)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from bayes_scaling.laws import get_law
from bayes_scaling.model import likelihoods


def _posterior(rng, chains=3, draws=7):
    def d(loc, scale):
        return (("chain", "draw"), loc + scale * rng.standard_normal((chains, draws)))

    return xr.Dataset(
        {
            "E": d(1.7, 0.05),
            "log_A": d(6.0, 0.2),
            "alpha": d(0.34, 0.02),
            "log_B": d(6.0, 0.2),
            "beta": d(0.28, 0.02),
            "sigma": (("chain", "draw"), np.exp(-4 + 0.1 * rng.standard_normal((chains, draws)))),
            "nu": (("chain", "draw"), 3 + rng.gamma(2.0, size=(chains, draws))),
        },
        coords={"chain": np.arange(chains), "draw": np.arange(draws)},
    )


@pytest.mark.parametrize("likelihood", ["student_t", "normal"])
@pytest.mark.parametrize("block", [1, 11, 24, 10_000])
def test_blocks_of_draws_give_the_same_numbers_as_all_draws_at_once(monkeypatch, likelihood, block):
    rng = np.random.default_rng(4)
    law, post = get_law("chinchilla"), _posterior(rng)
    inputs = {"n_params": 10 ** rng.uniform(7, 9, 5), "n_tokens": 10 ** rng.uniform(9, 11, 5)}
    y = np.log(law.evaluate(post, inputs).mean(("chain", "draw")).values) + 0.01
    # 1, 2 or 4 draws a block (a partial last one), or all 21 at once
    monkeypatch.setattr(likelihoods, "BLOCK_ELEMENTS", block)
    mu = np.log(law.evaluate(post, inputs))
    expected = likelihoods.log_density(likelihood, post, mu, xr.DataArray(y, dims="point"))
    got = likelihoods.pointwise_log_density(likelihood, law, post, inputs, y)
    assert got.dims == ("chain", "draw", "run")
    expected = expected.transpose("chain", "draw", "point")
    np.testing.assert_allclose(got.values, expected.values, rtol=1e-12)
    residuals = likelihoods.residual_draws(law, post, inputs, y)
    np.testing.assert_allclose(residuals, (y - mu).values.reshape(-1, len(y)), rtol=1e-12)


def test_noise_draws_stay_finite_on_the_loss_scale():
    # a Student-t with nu < 1 draws log noise whose exponential overflows; the draws are clipped
    post = xr.Dataset(
        {
            "sigma": (("chain", "draw"), np.full((1, 4000), 0.5)),
            "nu": (("chain", "draw"), np.full((1, 4000), 0.3)),
        }
    )
    noise = likelihoods.draw_noise(post, "student_t", (1, 4000, 3), seed=0)
    assert np.abs(noise).max() == likelihoods.NOISE_LIMIT  # some draws were that far out
    assert np.isfinite(np.exp(noise)).all() and np.isfinite(np.quantile(np.exp(noise), 0.99))
