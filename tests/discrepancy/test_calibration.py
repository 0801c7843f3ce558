"""The discrepancy prior learned across ladders: the shipped file and its provenance, the
shared-error likelihood against brute-force integration, empirical Bayes on simulated ladders, a
misspecified ladder whose bands cover the truth only with the discrepancy (real NUTS), and
leave-one-out end to end on two small ladders (real NUTS)."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace

import numpy as np
import pytest
from scipy import integrate, stats

from bayes_scaling import fit, load_runs
from bayes_scaling.data.corpus import corpus
from bayes_scaling.discrepancy import evidence as evidence_module
from bayes_scaling.discrepancy.evidence import shared_loglik
from bayes_scaling.discrepancy.population import fit_population
from bayes_scaling.discrepancy.prior import (
    DRIFT_GRID,
    GAMMAS,
    GAMMAS_BEFORE,
    TAU_GRID,
    DiscrepancyPrior,
    population_log_weights,
    resolve_prior,
    shipped_prior,
    within_table_prior,
)
from bayes_scaling.errors import ArgumentError
from bayes_scaling.model.simulate import DEMO_TRUTH, optimal_loss, simulate_runs
from bayes_scaling.trust.calibration import (
    calibration_summary,
    ladder_evidence,
    learn_prior,
    leave_one_out,
)


@pytest.mark.parametrize("local", [True, False])
def test_shipped_prior_loads_with_its_provenance(local):
    prior = shipped_prior(local)
    assert prior.name == "learned" and prior.evidence == "shared"
    # one learned with the local misfit at the held-out runs, one without (fits without one)
    assert prior.local is local and prior.provenance["local_misfit"] is local
    assert prior.log_weights.shape == (len(DRIFT_GRID), len(TAU_GRID), len(GAMMAS))
    assert np.exp(prior.log_weights).sum() == pytest.approx(1.0)
    prov = prior.provenance
    families = {name.split("/")[0] for name in prov["ladders"]}
    assert {"chinchilla-epoch", "gemstones", "datablations", "olmo-ladder"} <= families
    assert {"loss-to-loss", "llama3-isoflops", "step-law"} <= families
    # every ladder in three directions of extrapolation: its own protocol, N and tokens
    assert len(prov["units"]) == 3 * len(prov["ladders"]) == 36
    for name in prov["ladders"]:
        assert set(prov["protocol"][f"{name} (compute)"]) == {"cut_on", "fit_below", "predict"}
        assert prov["protocol"][f"{name} (n_tokens)"] == {"direction": "n_tokens"}
    assert prov["created_at"] and prov["package_version"]
    assert set(prov["hyper"]) >= {"mu", "s", "gamma_weights", "drift_log_weights", "nu"}
    # the drift runs along compute; N counts twice in d(x); τ's population is a log-t(10)
    assert prior.drift_on == "compute" and prior.axis_weights == {"n_params": 2.0}
    assert prov["hyper"]["nu"] == 10.0 and "drift_sd" not in prov["hyper"]
    lo, med, hi = prior.quantiles()
    assert 1e-3 < lo < med < hi < 1.0
    assert resolve_prior(None, local) is prior and resolve_prior("learned", local) is prior
    # written compactly as its hyper-parameters, and rebuilt exactly
    again = DiscrepancyPrior.from_json(prior.to_json())
    assert '"population": true' in prior.to_json() and '"log_weights"' not in prior.to_json()
    np.testing.assert_allclose(again.log_weights, prior.log_weights)
    np.testing.assert_allclose(again.drift, DRIFT_GRID)
    assert -0.03 < prior.drift_mean() < 0.0  # the ladders' extrapolations erred low


def test_the_local_prior_says_less_error_beyond_the_misfit_and_old_files_still_load():
    with_local, without = shipped_prior(), shipped_prior(local=False)
    # the misfit carries part of what τ carried: the error beyond it is smaller
    assert with_local.quantiles()[1] < without.quantiles()[1]
    # a population file written before the γ grid reached 2 (four γ weights) loads on its grid
    old = json.loads(with_local.to_json())
    old["provenance"]["hyper"]["gamma_weights"] = [0.2, 0.3, 0.2, 0.3]
    before = DiscrepancyPrior.from_json(json.dumps(old))
    np.testing.assert_allclose(before.gamma, GAMMAS_BEFORE)
    assert before.log_weights.shape == (len(DRIFT_GRID), len(TAU_GRID), 4)
    old["provenance"]["hyper"]["gamma_weights"] = [1.0, 1.0]
    with pytest.raises(ArgumentError, match="gamma_weights"):
        DiscrepancyPrior.from_json(json.dumps(old))


def test_prior_round_trips_and_bad_priors_are_argument_errors(tmp_path):
    prior = within_table_prior()
    again = resolve_prior(prior.save(tmp_path / "p.json"))
    np.testing.assert_allclose(again.log_weights, prior.log_weights)
    assert again.evidence == "independent"
    # a user's reweighting of the shipped prior (a grid) and a population prior with other cuts
    # keep the settings a fit's backtests follow: cuts, the drift's distance, axis weights
    shipped = shipped_prior()
    for mine in (
        replace(shipped, name="mine", log_weights=shipped.log_weights - np.log(2.0)),
        replace(shipped, fractions=(0.6, 0.9)),
    ):
        back = resolve_prior(mine.save(tmp_path / "mine.json"))
        assert (back.fractions, back.drift_on, back.axis_weights, back.local) == (
            mine.fractions, "compute", {"n_params": 2.0}, True
        )  # fmt: skip
        np.testing.assert_allclose(back.log_weights, mine.log_weights)
    with pytest.raises(ArgumentError, match="discrepancy_prior"):
        resolve_prior("no-such-prior")
    with pytest.raises(ArgumentError, match="discrepancy_prior"):
        resolve_prior(3.0)
    # the evidence interpolates along τ and the drift: their grids must increase
    for bad in (
        dict(drift=shipped.drift[::-1]),
        dict(tau=np.r_[shipped.tau[:-1], np.nan]),
        dict(tau=shipped.tau - shipped.tau[1]),  # a negative sd
    ):
        with pytest.raises(ArgumentError, match="tau|drift"):
            replace(shipped, **bad)


def _brute_force(y, mu, sigma, nu, d, tau, gamma):
    """∫∫ Π_i N(y_i; μ_i + τ·d_i^γ·z, σ²/w) φ(z) Gamma(w; ν/2, ν/2) dz dw, numerically."""
    a = d**gamma

    def inner(w):
        f = lambda z: np.prod(stats.norm.pdf(y, mu + tau * a * z, sigma / np.sqrt(w)))  # noqa: E731
        return integrate.quad(lambda z: f(z) * stats.norm.pdf(z), -10, 10, limit=200)[0]

    if nu is None:
        return np.log(inner(1.0))
    # over w: the midpoint rule on 400 quantiles of Gamma(ν/2, ν/2); over z: a fine trapezoid
    # (vectorised: within 5e-4 of nested adaptive quadrature, in 0.2 s instead of 9 s a point)
    w = stats.gamma(nu / 2, scale=2 / nu).ppf((np.arange(400) + 0.5) / 400)[:, None, None]
    z = np.linspace(-10, 10, 2001)
    dens = stats.norm.pdf(y, mu + tau * a * z[None, :, None], sigma / np.sqrt(w)).prod(axis=-1)
    return np.log(integrate.trapezoid(dens * stats.norm.pdf(z), z, axis=1).mean())


@pytest.mark.parametrize("nu", [None, 4.0])
def test_shared_error_likelihood_matches_numerical_integration(nu):
    rng = np.random.default_rng(0)
    d = np.array([0.3, 0.6, 1.0])
    mu = np.log([2.3, 2.2, 2.1])
    y = mu + 0.02 * d + rng.normal(0, 0.004, 3)
    tau, gamma = np.array([0.005, 0.02, 0.08]), np.array([0.5, 1.0])
    got = shared_loglik(
        "normal" if nu is None else "student_t",
        y,
        mu[None, :],
        np.array([[0.004]]),
        None if nu is None else np.array([[nu]]),
        d,
        tau,
        gamma,
    )
    for i, t in enumerate(tau):
        for j, g in enumerate(gamma):
            want = _brute_force(y, mu, 0.004, nu, d, t, g)
            assert got[0, i, j] == pytest.approx(want, abs=0.02 if nu else 1e-6)
    # a drift m shifts the error curve's mean: the same as shifting the data by −m·d^γ
    moved = shared_loglik(
        "normal", y, mu[None, :], np.array([[0.004]]), None, d, tau, gamma, drift=[0.01]
    )
    for j, g in enumerate(gamma):
        base = shared_loglik(
            "normal", y - 0.01 * d**g, mu[None, :], np.array([[0.004]]), None, d, tau, [g]
        )
        np.testing.assert_allclose(moved[0, :, j], base[0, :, 0])


@pytest.mark.parametrize("nu", [None, 4.0])
def test_shared_likelihood_with_the_local_misfit_is_the_multivariate_density(nu):
    # y ~ N(μ_s + ḡ + m·b, σ²/w·I + Σ + τ²·a·aᵀ), w ~ Gamma(ν/2, ν/2): exact for a Normal, and
    # over w by 400 Gamma quantiles for a Student-t (the package integrates w by quadrature)
    rng = np.random.default_rng(3)
    m = 4
    d, c = np.array([0.2, 0.5, 0.8, 1.1]), np.array([0.1, 0.4, 0.9, 1.3])
    mu = np.log([2.4, 2.3, 2.2, 2.1]) + rng.normal(0, 0.002, (2, m))  # two draws
    sigma = np.array([[0.004], [0.006]])
    x = rng.normal(size=(m, 2))
    cov = 1e-4 * np.exp(-0.5 * ((x[:, None] - x[None]) ** 2).sum(-1))
    g_mean = rng.normal(0, 0.005, m)
    y = mu[0] + 0.01 * d + rng.normal(0, 0.006, m)
    tau, gamma, drift = np.array([0.004, 0.03]), np.array([0.5, 1.0]), np.array([-0.01, 0.02])
    nus = None if nu is None else np.array([[nu], [nu]])
    likelihood = "normal" if nu is None else "student_t"
    got = shared_loglik(
        likelihood, y, mu, sigma, nus, d, tau, gamma, drift, c, gp_mean=g_mean, gp_cov=cov
    )
    w = (
        np.ones(1)
        if nu is None
        else stats.gamma(nu / 2, scale=2 / nu).ppf((np.arange(400) + 0.5) / 400)
    )
    for k, shift in enumerate(drift):
        for i, t in enumerate(tau):
            for j, g in enumerate(gamma):
                a, b = d**g, c**g
                dens = [
                    stats.multivariate_normal.pdf(
                        y,
                        mu[s] + g_mean + shift * b,
                        sigma[s, 0] ** 2 / wi * np.eye(m) + cov + t**2 * np.outer(a, a),
                    )
                    for s in range(2)
                    for wi in w
                ]
                assert got[k, i, j] == pytest.approx(
                    np.log(np.mean(dens)), abs=0.02 if nu else 1e-8
                )
    # no misfit: the same as before it existed
    plain = shared_loglik(likelihood, y, mu, sigma, nus, d, tau, gamma, drift, c)
    zero = shared_loglik(
        likelihood, y, mu, sigma, nus, d, tau, gamma, drift, c, np.zeros(m), np.zeros((m, m))
    )
    np.testing.assert_allclose(zero, plain, atol=1e-4 if nu else 1e-10)


@pytest.mark.parametrize("nu", [None, 4.0, 40.0])
def test_shared_likelihood_on_the_coarse_grid_moves_the_posterior_below_1e3(nu, monkeypatch):
    # shared_loglik computes every STRIDE-th τ and drift exactly and splines between: on the
    # shipped grids, the discrepancy's posterior weights stay within 1e-3 in total variation of
    # the exact ones (the docstring's promise), for held-out runs near and far, with a local misfit
    rng = np.random.default_rng(11)
    m, draws = 8, 60
    d = np.linspace(0.1, 1.3, m)
    c = d * 0.8
    mu = np.log(np.linspace(2.6, 2.2, m)) + rng.normal(0, 0.004, (draws, m))
    sigma = rng.uniform(0.002, 0.008, (draws, 1))
    nus = None if nu is None else np.full((draws, 1), nu)
    x = rng.normal(size=(m, 2))
    cov = 4e-5 * np.exp(-0.5 * ((x[:, None] - x[None]) ** 2).sum(-1))
    prior = shipped_prior(True)
    likelihood = "normal" if nu is None else "student_t"
    # held-out runs off the law, with a local misfit, and close to it (tight noise: the weights'
    # sharpest case)
    for slope, local, noise in ((0.03, False, 0.006), (-0.01, True, 0.006), (0.0, False, 0.002)):
        y = mu[0] + slope * c**0.7 + rng.normal(0, noise, m)
        extra = {"gp_mean": rng.normal(0, 0.003, m), "gp_cov": cov} if local else {}
        args = (likelihood, y, mu, sigma, nus, d, prior.tau, prior.gamma, prior.drift, c)
        coarse = shared_loglik(*args, **extra)
        monkeypatch.setattr(evidence_module, "STRIDE", (1, 1))
        exact = shared_loglik(*args, **extra)
        monkeypatch.undo()
        weights = [
            np.exp(prior.log_weights + ll - (prior.log_weights + ll).max())
            for ll in (coarse, exact)
        ]
        tv = 0.5 * np.abs(weights[0] / weights[0].sum() - weights[1] / weights[1].sum()).sum()
        assert tv < 1e-3


def test_empirical_bayes_recovers_a_simulated_population():
    rng = np.random.default_rng(1)
    mu_true, s_true, drift_true = np.log(0.02), 0.5, -0.02
    grids = []
    for _ in range(60):
        tau = np.exp(mu_true + s_true * rng.standard_t(3))
        d = np.linspace(0.2, 1.2, 12)
        mu = np.zeros((1, 12))
        y = (drift_true + tau * rng.standard_normal()) * d + rng.normal(0, 0.003, 12)
        grids.append(
            shared_loglik(
                "normal", y, mu, np.array([[0.003]]), None, d, TAU_GRID, GAMMAS, DRIFT_GRID
            )
        )
    hyper = fit_population(grids)
    assert hyper["mu"] == pytest.approx(mu_true, abs=0.35)
    assert 0.2 < hyper["s"] < 1.2
    assert hyper["gamma_weights"][GAMMAS.index(1.0)] == max(hyper["gamma_weights"])  # γ = 1: truth
    drift_post = np.exp(hyper["drift_log_weights"])
    assert drift_post.sum() == pytest.approx(1.0)
    assert drift_post @ DRIFT_GRID == pytest.approx(drift_true, abs=0.008)
    log_w = population_log_weights(hyper["mu"], hyper["s"], hyper["gamma_weights"])
    assert np.exp(log_w).sum() == pytest.approx(1.0)


def _bending_ladder(seed):
    """Runs of a Chinchilla law; beyond them the truth bends down by 1.5% of loss per decade."""
    budgets = np.geomspace(1e17, 1e20, 7)
    runs = simulate_runs(DEMO_TRUTH, budgets=budgets, sizes_per_budget=7, seed=seed, sigma=0.004)
    return load_runs(runs)


def test_misspecified_ladder_is_covered_with_the_discrepancy_and_not_without():
    runs = _bending_ladder(2)
    result = fit(runs, seed=5, draws=500)
    assert result.converged and result.discrepancy.prior == "learned"
    largest = float(runs["compute"].max())
    compute = largest * np.array([10.0, 30.0])
    bands = result.bands(compute=compute, prob=0.9, as_xarray=True)
    plain = result.bands(compute=compute, prob=0.9, as_xarray=True, discrepancy=False)
    truth = optimal_loss(DEMO_TRUTH, compute) * np.exp(-0.015 * np.log10(compute / largest))
    inside = lambda b: (  # noqa: E731
        (b.sel(band="predictive")["lower"].values.ravel() <= truth)
        & (truth <= b.sel(band="predictive")["upper"].values.ravel())
    )
    assert inside(bands).all()
    assert not inside(plain).any()


@pytest.fixture(scope="module")
def two_ladders(shared_data):
    ladders = corpus(shared_data)
    return [ladders["datablations"], ladders["llama3-isoflops"]]


#: Short fits for the plumbing test below: what it checks is the tables' shape, not the numbers.
SHORT = dict(draws=300, tune=300, chains=2, rescue=False)


def test_leave_one_out_runs_end_to_end_on_two_small_ladders(two_ladders):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short chains may fail the gate: not what is tested
        evidence = [ladder_evidence(ladder, seed=0, **SHORT) for ladder in two_ladders]
        evidence.append(ladder_evidence(two_ladders[1], direction="n_tokens", seed=0, **SHORT))
    assert all(e.n_held > 0 and np.isfinite(e.loglik).all() for e in evidence)
    assert [e.unit for e in evidence][-1] == "llama3-isoflops (n_tokens)"
    prior = learn_prior(evidence, exclude={"datablations"})
    assert prior.provenance["ladders"] == ["llama3-isoflops"]
    assert prior.provenance["drift_on"] == "compute" and prior.drift_on == "compute"
    assert isinstance(prior, DiscrepancyPrior)
    spread = learn_prior(evidence, drift_spread=True, nu=10.0)
    hyper = spread.provenance["hyper"]
    assert hyper["nu"] == 10.0 and hyper["drift_sd"] > 0
    assert np.isclose(np.exp(hyper["drift_log_weights"]).sum(), 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = leave_one_out(
            two_ladders, evidence, huber=False, directions=("compute", "n_tokens"), **SHORT
        )
    assert set(table["method"]) == {
        "learned prior (default)",
        "within-table prior (before)",
        "parameters only",
    }
    assert set(table["direction"]) == {"compute", "n_tokens"}
    assert set(table["bin"]) <= {"~3x", "~10x", "~30x"}
    summary = calibration_summary(table)
    per_ladder, average = summary["per_ladder"], summary["average"]
    assert set(per_ladder["ladder"]) == {"datablations", "llama3-isoflops"}
    cover = per_ladder.filter(like="cover_")
    assert ((cover >= 0) & (cover <= 1)).all().all()
    assert list(cover.columns) == ["cover_50", "cover_80", "cover_90", "cover_95"]
    assert len(average) == 3 and np.isfinite(average["interval_score_90"]).all()
    # families weighted equally: the average is the mean of the two families' means
    by_family = summary["by_family"].set_index(["method", "family"])["cover_90"]
    for method, value in average.set_index("method")["cover_90"].items():
        assert value == pytest.approx(by_family[method].mean())
    assert set(summary["by_direction"]["direction"]) == {"compute", "n_tokens"}
