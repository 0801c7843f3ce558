"""The two updates a design judges picks with, on plain arrays (no sampler): the linear update's
square-root filter gives exactly the Gaussian conditional covariance, repeats of one run gain
less each time, and both updates share one interface with the greedy search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.design.candidates import read_pool
from bayes_scaling.design.objectives import TargetDraws, variance
from bayes_scaling.design.selection import greedy, updater
from bayes_scaling.design.updates import Linear, Reweighting, reweight
from bayes_scaling.design.worlds import Worlds
from bayes_scaling.errors import ArgumentError

S, J, T = 4000, 5, 2
NOISE = 0.01**2


def _worlds(seed=0, loglik=None) -> Worlds:
    """A Gaussian 'posterior' over the law at J candidates and T targets, no discrepancy."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(3, J + T)) * 0.05
    x = rng.normal(size=(S, 3)) @ mix + np.log(2.5)
    targets = TargetDraws(
        log_law=x[:, J:], terms=(), floor=np.zeros((S, 1)), noise=np.zeros((S, T)), sizes={}
    )
    return Worlds(targets, loglik, None, {}, S, 2, x[:, :J], NOISE)


def _cov(z):
    return z.T @ z / (len(z) - 1)


def test_square_root_update_is_the_gaussian_conditional():
    up = Linear(_worlds(), variance())
    z0 = up.start()
    c = _cov(z0)
    for j in range(J):
        after = _cov(up.pick(z0, j))
        expected = c - np.outer(c[j], c[j]) / (c[j, j] + NOISE)
        np.testing.assert_allclose(after, expected, atol=1e-12)
    # the expected objective (population variance at the targets) follows the same formula
    values, ess, tempered = up.score(z0, None, np.arange(J))
    for j in range(J):
        tt = np.arange(J, J + T)
        post = c[tt, tt] - c[tt, j] ** 2 / (c[j, j] + NOISE)
        assert values[j] == pytest.approx((S - 1) / S * post.mean(), rel=1e-10)
    assert (ess == S).all() and (tempered == 0).all()


def test_repeats_of_one_run_gain_less_each_time():
    up = Linear(_worlds(1), variance())
    z, ref = up.start(), None
    gains, current = [], up.value(z, ref)
    for _ in range(3):
        value = up.score(z, ref, np.array([0]))[0][0]
        gains.append(current - value)
        z, current = up.pick(z, 0), value
    assert gains[0] > gains[1] > gains[2] > 0


def test_both_updates_drive_the_same_greedy_search():
    rng = np.random.default_rng(3)
    base = _worlds(2)
    # outcomes in K worlds for the reweighting: y_kj = h_kj (a spare draw) + noise
    k = 16
    truth = base.log_cand[rng.choice(S, k)] + rng.normal(0, NOISE**0.5, (k, J))
    resid = truth.T[:, :, None] - base.log_cand.T[:, None, :]
    loglik = (-0.5 * resid**2 / NOISE).astype(np.float32)
    worlds = Worlds(base.targets, loglik, None, {}, S, k, base.log_cand, NOISE)
    pool = read_pool(pd.DataFrame({"params": np.linspace(1e8, 5e8, J), "tokens": 2e9}))
    budget = pool["cost"].nsmallest(3).sum()
    for name, kind in (("linear", Linear), ("reweight", Reweighting)):
        up = updater(worlds, variance(), name, None)
        assert isinstance(up, kind)
        rows, initial, _, _, _ = greedy(up, pool, budget)
        assert rows and sum(r["cost"] for r in rows) <= budget
        assert len({r["candidate"] for r in rows}) == len(rows)
        assert rows[-1]["objective"] < initial
    with pytest.raises(ArgumentError, match="update"):
        updater(worlds, variance(), "laplace", None)


def test_reweighting_tempers_a_collapsing_world():
    logw = np.zeros((1, 200))
    sharp = np.zeros((1, 200))
    sharp[0, 0] = 50.0  # one draw explains the run far better than all others
    w, _, ess, tempered = reweight(logw, sharp, min_ess=20)
    assert tempered.all() and ess[0] >= 20  # raised to a power until 20 draws carry weight
    assert np.isclose(w.sum(), 1.0) and w[0, 0] < 0.5
