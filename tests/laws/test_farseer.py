"""The reduced Farseer law: its maths (Chinchilla at κ = 0, a positive N-dependent data exponent),
numpy = pytensor, registration and priors; real NUTS for recovery of κ on simulated ladders and
for convergence of the default fit on chinchilla-epoch and a loss-to-loss ladder."""

from __future__ import annotations

import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from bayes_scaling import fit, get_law
from bayes_scaling.answers.allocation import law_loss, optimal_allocation
from bayes_scaling.laws import FARSEER, known_laws
from bayes_scaling.laws.farseer import N_REF
from bayes_scaling.model.simulate import DEMO_TRUTH, simulate_runs
from bayes_scaling.priors import runs_stats

TRUTH = {**DEMO_TRUTH, "kappa": -0.03}
POINTS = {"n_params": np.array([1e7, 1e9, 3e10]), "n_tokens": np.array([2e8, 2e10, 1e12])}


def test_registered_by_name():
    assert get_law("farseer") is FARSEER
    assert "farseer" in known_laws()
    assert FARSEER.params == ("E", "log_A", "alpha", "log_B", "beta", "kappa")
    assert FARSEER.optimum is not None  # found numerically (tests/laws/test_laws.py)


def test_kappa_zero_is_the_chinchilla_law():
    chinchilla = get_law("chinchilla")
    p = {**DEMO_TRUTH, "kappa": 0.0}
    np.testing.assert_allclose(FARSEER.fn(POINTS, p, np), chinchilla.fn(POINTS, p, np), rtol=1e-12)


def test_data_exponent_depends_on_n_and_stays_positive():
    n, d = POINTS["n_params"], POINTS["n_tokens"]
    got = FARSEER.fn(POINTS, TRUTH, np)
    beta_n = TRUTH["beta"] * (n / N_REF) ** TRUTH["kappa"]
    want = (
        TRUTH["E"]
        + np.exp(TRUTH["log_A"]) * n ** -TRUTH["alpha"]
        + np.exp(TRUTH["log_B"]) * d**-beta_n
    )
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # far beyond any ladder the exponent is still positive: more data never raises the loss
    huge = {"n_params": np.full(2, 1e15), "n_tokens": np.array([1e12, 1e13])}
    loss = FARSEER.fn(huge, {**TRUTH, "kappa": 0.1}, np)
    assert loss[1] < loss[0]


def test_numpy_and_pytensor_agree():
    x = {k: pt.dvector(k) for k in POINTS}
    p = {k: pt.dscalar(k) for k in TRUTH}
    f = pytensor.function([*x.values(), *p.values()], FARSEER.fn(x, p, pt))
    got = f(*POINTS.values(), *TRUTH.values())
    np.testing.assert_allclose(got, FARSEER.fn(POINTS, TRUTH, np), rtol=1e-10)


def test_default_priors_extend_chinchilla():
    runs = simulate_runs(DEMO_TRUTH, seed=0)
    stats = runs_stats(runs)
    priors = FARSEER.default_priors(stats)
    assert set(priors) == set(FARSEER.params)
    chinchilla = get_law("chinchilla").default_priors(stats)
    assert all(priors[k] == chinchilla[k] for k in chinchilla)
    assert priors["kappa"].dist == "Normal" and priors["kappa"].params["mu"] == 0.0


@pytest.mark.parametrize(("kappa", "excludes_zero"), [(0.0, False), (-0.03, True)])
def test_recovers_the_drift_of_the_data_exponent(kappa, excludes_zero):
    runs = simulate_runs({**DEMO_TRUTH, "kappa": kappa}, law="farseer", seed=2, sigma=0.005)
    result = fit(runs, law="farseer", seed=5, draws=500, discrepancy=False, progress=False)
    assert result.converged
    draws = result.posterior["kappa"].values.ravel()
    lo, hi = np.quantile(draws, [0.05, 0.95])
    assert lo <= kappa <= hi
    assert (not lo <= 0 <= hi) is excludes_zero
    # the allocation answers per draw: each draw's N* is its own minimum along the budget
    opt = optimal_allocation(result, [1e21])
    loss = law_loss(result, opt["n_params"], opt["n_tokens"])
    for step in (0.95, 1.05):
        n = opt["n_params"] * step
        assert (law_loss(result, n, 1e21 / (6 * n)) >= loss - 1e-12).all()
    assert np.isfinite(opt["allocation_exponent"]).all()


@pytest.mark.parametrize("name", ["chinchilla-epoch", "loss-to-loss/fineweb-100b"])
def test_default_fit_converges_on_real_ladders(shared_data, name):
    from bayes_scaling.data.corpus import corpus

    runs = corpus(shared_data)[name].load()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(runs, law="farseer", seed=1, progress=False)
    assert result.converged, result.settings["rescue"]
    assert result.discrepancy is not None
