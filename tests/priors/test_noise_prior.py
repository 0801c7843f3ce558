"""The learned prior of the run noise σ (``priors="learned"``): an InverseGamma floor learned
across the corpus ladders' full tables, which keeps σ off 0 on tables of a few runs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import bayes_scaling as bs
from bayes_scaling import datasets, get_law
from bayes_scaling.errors import PriorError
from bayes_scaling.model.simulate import DEMO_BUDGETS, DEMO_TRUTH, simulate_runs
from bayes_scaling.priors import learned_prior, resolve_priors
from bayes_scaling.priors.learned import LearnedLawPrior, with_noise
from bayes_scaling.priors.noise import (
    FLOOR_QUANTILE,
    NOISE_KEY,
    SHAPES,
    log_score,
    log_sigma_population,
    noise_population,
    shape_scores,
)


def test_shipped_noise_prior_has_every_ladder_and_its_provenance():
    prior = learned_prior()
    assert set(prior.noise) == {"mu", "sigma", "shape", "beta", "shape_scores"}
    assert all(NOISE_KEY in lad for lad in prior.ladders)
    for key in ("noise_method", "noise_fit", "noise_created_at"):
        assert prior.provenance[key], key
    # full ladders' run noise of log loss lies between 0.1% and 10%, and so does the prior's bulk
    sigmas = np.exp([lad[NOISE_KEY]["mean"] for lad in prior.ladders])
    assert np.all((sigmas > 1e-3) & (sigmas < 0.1))
    ig = stats.invgamma(prior.noise["shape"], scale=prior.noise["beta"])
    # the floor: 5% of the prior below the population's 5% quantile, about the cleanest ladder
    floor = np.exp(prior.noise["mu"] - stats.norm.ppf(0.95) * prior.noise["sigma"])
    assert ig.cdf(floor) == pytest.approx(FLOOR_QUANTILE)
    assert floor < sigmas.min() < 2 * floor
    # a heavy upper tail: the noisiest ladder (datablations) is inside the central 95%
    assert ig.sf(sigmas.max()) > 0.025


def test_noise_population_is_the_family_weighted_mixture_inflated():
    """Step 1: log σ's population, the mixture of the ladders' posteriors."""
    prior = learned_prior()
    w = np.array([lad["weight"] for lad in prior.ladders])
    m = np.array([lad[NOISE_KEY]["mean"] for lad in prior.ladders])
    v = np.array([lad[NOISE_KEY]["sd"] ** 2 for lad in prior.ladders])
    assert prior.noise["mu"] == pytest.approx(w @ m)
    within, between = w @ v, w @ (m - w @ m) ** 2
    n = 1 / np.sum(w**2)
    assert prior.noise["sigma"] ** 2 == pytest.approx(within + between * n / (n - 1) * (1 + 1 / n))
    assert log_sigma_population(prior.ladders) == pytest.approx(
        (prior.noise["mu"], prior.noise["sigma"])
    )
    # a ladder without its noise summary: no noise prior rather than a biased one
    assert noise_population([*prior.ladders[:-1], {"family": "x", "mean": [0] * 5}]) == {}


def test_shape_is_chosen_by_the_leave_one_family_out_log_score():
    prior = learned_prior()
    scores = shape_scores(prior.ladders)
    assert set(scores) == {f"{a:g}" for a in SHAPES}
    assert scores == pytest.approx(prior.noise["shape_scores"])
    assert prior.noise["shape"] == float(max(scores, key=scores.get))
    # the score of one ladder is the InverseGamma's density of log σ averaged over its posterior
    lad = prior.ladders[0][NOISE_KEY]
    shape, beta = prior.noise["shape"], prior.noise["beta"]
    z = np.random.default_rng(0).normal(lad["mean"], lad["sd"], 200_000)
    mc = np.log(np.mean(stats.invgamma(shape, scale=beta).pdf(np.exp(z)) * np.exp(z)))
    assert log_score(lad, shape, beta) == pytest.approx(mc, abs=0.01)
    # too few families to leave one out: the fallback shape, still a floor
    two = [lad for lad in prior.ladders if lad["family"] in ("gemstones", "step-law")]
    assert noise_population(two)["shape"] == 1.0 and noise_population(two)["shape_scores"] == {}


def test_leave_one_family_out_relearns_the_noise_prior():
    full = learned_prior()
    without = learned_prior(exclude={"datablations"})
    # datablations is the noisiest family: without it the prior is lower and tighter, and the
    # shape is chosen again among the other families
    assert without.noise["mu"] < full.noise["mu"]
    assert without.noise["sigma"] < full.noise["sigma"]
    assert without.noise["shape_scores"] != full.noise["shape_scores"]
    assert without.provenance["noise_method"] == full.provenance["noise_method"]


def test_learned_uses_the_noise_prior_and_default_does_not():
    runs = datasets.demo()
    law = get_law("chinchilla")
    learned = resolve_priors(law, runs, "learned", "student_t")
    noise = learned_prior().noise
    assert learned["sigma"].dist == "InverseGamma"
    expected = {"alpha": noise["shape"], "beta": noise["beta"]}
    assert learned["sigma"].params == pytest.approx(expected)
    assert learned["nu"].dist == "Gamma"
    assert resolve_priors(law, runs, "default", "student_t")["sigma"].dist == "HalfNormal"
    # a user's own σ still wins over the learned one
    mine = resolve_priors(law, runs, {"sigma": {"dist": "HalfNormal", "sigma": 0.1}}, "normal")
    assert mine["sigma"].dist == "HalfNormal"


def test_a_prior_file_without_noise_keeps_the_default_sigma_and_round_trips():
    shipped = learned_prior()
    d = shipped.to_dict()
    assert LearnedLawPrior.from_dict(d).noise == shipped.noise
    d.pop("noise")
    old = LearnedLawPrior.from_dict(d)
    assert old.noise == {} and "sigma" not in old.priors({"median_loss": 3.0})
    runs = datasets.demo()
    assert resolve_priors(get_law("chinchilla"), runs, old, "student_t")["sigma"].dist == (
        "HalfNormal"
    )


def test_with_noise_keeps_the_law_part_and_needs_every_ladder():
    shipped = learned_prior()
    summaries = {lad["name"]: {"mean": -5.0, "sd": 0.1} for lad in shipped.ladders}
    redone = with_noise(shipped, summaries, {"noise_fit": "test"})
    assert np.array_equal(redone.mean, shipped.mean) and np.array_equal(redone.cov, shipped.cov)
    assert redone.noise["mu"] == pytest.approx(-5.0)
    assert redone.noise["sigma"] == pytest.approx(0.1)  # no spread between equal ladders
    assert redone.provenance["noise_fit"] == "test"
    summaries.pop(shipped.ladders[0]["name"])
    with pytest.raises(PriorError, match="noise summary"):
        with_noise(shipped, summaries)


def test_six_clean_runs_keep_sigma_off_zero():
    """Six runs the law nearly passes through (noise sd 0.05%): under the HalfNormal prior σ
    slides towards 0, a funnel (measured on this table, 3 seeds of 2 x 400 draws: sd of log σ
    1.2-1.3, 1% quantile 2.2e-4 to 2.7e-4, R-hat of σ 1.06-1.45); the learned floor keeps the
    posterior off 0 and narrow (sd of log σ 0.57-0.59, 1% quantile 6.2e-4 to 7.0e-4)."""
    runs = simulate_runs(
        DEMO_TRUTH, budgets=DEMO_BUDGETS[1:4], sizes_per_budget=2, sigma=5e-4, nu=None, seed=4
    )
    assert len(runs) == 6
    result = bs.fit(runs, chains=2, draws=400, tune=400, seed=3, discrepancy=False, rescue=False)
    assert result.settings["priors"] == "learned"
    assert result.priors["sigma"].dist == "InverseGamma"
    sigma = result.posterior["sigma"].values.ravel()
    assert np.mean(sigma < 1e-4) < 0.01
    assert np.quantile(sigma, 0.01) > 4e-4
    assert np.log(sigma).std() < 0.8
