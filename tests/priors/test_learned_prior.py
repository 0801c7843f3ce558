"""The learned population prior on the Chinchilla law's parameters (``priors="learned"``)."""

from __future__ import annotations

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling import datasets, get_law
from bayes_scaling.errors import ArgumentError, PriorError
from bayes_scaling.model.simulate import DEMO_BUDGETS, DEMO_TRUTH, simulate_runs
from bayes_scaling.priors import draw_priors, learned_prior, resolve_priors, runs_stats
from bayes_scaling.priors.learned import JOINT, PARAMS, learn_population


@pytest.fixture(scope="module")
def small():
    """12 simulated runs over three budgets: a sparse table."""
    return simulate_runs(DEMO_TRUTH, budgets=DEMO_BUDGETS[1:4], sizes_per_budget=4, seed=3)


def test_shipped_file_loads_with_provenance():
    prior = learned_prior()
    assert prior.mean.shape == (5,) and prior.cov.shape == (5, 5)
    assert np.all(np.linalg.eigvalsh(prior.cov) > 0)
    info = prior.provenance
    for key in ("ladders", "created_at", "package_version", "method", "fit", "data"):
        assert info[key], key
    families = {lad["family"] for lad in prior.ladders}
    assert {"chinchilla-epoch", "loss-to-loss"} <= families
    # families weigh equally: the six loss-to-loss corpora share one family's weight
    weights = {}
    for lad in prior.ladders:
        weights[lad["family"]] = weights.get(lad["family"], 0) + lad["weight"]
    assert np.allclose(list(weights.values()), 1 / len(families))
    assert 0.1 < prior.mean[PARAMS.index("alpha")] < 0.6


def test_leave_one_family_out_drops_the_family_and_keeps_provenance():
    prior = learned_prior(exclude={"loss-to-loss"})
    assert all(lad["family"] != "loss-to-loss" for lad in prior.ladders)
    assert prior.provenance["excluded_families"] == ["loss-to-loss"]
    assert prior.name == "learned without loss-to-loss"
    with pytest.raises(PriorError, match="two families"):
        learn_population(learned_prior().ladders[:1])


def test_population_spread_includes_between_ladder_spread():
    prior = learned_prior()
    w = np.array([lad["weight"] for lad in prior.ladders])
    means = np.array([lad["mean"] for lad in prior.ladders])
    within = np.einsum("l,lii->i", w, np.array([lad["cov"] for lad in prior.ladders]))
    between = w @ (means - w @ means) ** 2
    # each variance is a ladder's typical posterior variance plus the ladders' spread, inflated
    assert np.all(prior.sd**2 > within + between)
    assert np.all(prior.sd**2 < 1.5 * (within + between))


def test_learned_priors_are_scaled_to_the_table_and_drawn_jointly():
    runs = datasets.demo()
    priors = resolve_priors(get_law("chinchilla"), runs, "learned", "student_t")
    prior = learned_prior()
    level = np.log(runs_stats(runs)["median_loss"])
    assert priors["E"].dist == "LogNormal"
    assert priors["E"].params["mu"] == pytest.approx(prior.mean[0] + level)
    assert priors["alpha"].params["mu"] == pytest.approx(prior.mean[2])
    assert priors[JOINT].dist == "MvNormal" and {"sigma", "nu"} <= set(priors)
    draws = draw_priors(priors, 20000, seed=0)
    z = np.column_stack(
        [np.log(draws["E"].values.ravel())] + [draws[n].values.ravel() for n in PARAMS[1:]]
    )
    assert (draws["alpha"] > 0).all() and (draws["beta"] > 0).all()
    corr = np.corrcoef(z, rowvar=False)
    # log A and alpha move together across ladders, and the draws say so
    assert corr[1, 2] == pytest.approx(prior.correlation[1, 2], abs=0.05)


def test_the_models_joint_density_is_the_mvnormal():
    """The potential added to the marginals makes the density of z the MvNormal's."""
    import pytensor
    from scipy import stats

    from bayes_scaling.model.builder import build_model

    runs = datasets.demo()
    law = get_law("chinchilla")
    priors = resolve_priors(law, runs, "learned", "student_t")
    with_joint = build_model(runs, law, priors)
    without = build_model(runs, law, {k: v for k, v in priors.items() if k != JOINT})
    point = with_joint.initial_point()
    point = {k: v + 0.1 for k, v in point.items()}
    gap = with_joint.compile_logp()(point) - without.compile_logp()(point)
    outputs = with_joint.replace_rvs_by_values([with_joint[n] for n in PARAMS])
    inputs = with_joint.value_vars
    evaluate = pytensor.function(inputs, outputs, on_unused_input="ignore")
    values = evaluate(*(point[v.name] for v in inputs))
    z = np.array([np.log(values[0]), *values[1:]], float)
    mu = np.array([priors[n].params["mu"] for n in PARAMS])
    sd = np.array([priors[n].params["sigma"] for n in PARAMS])
    prior = learned_prior()
    cov = prior.correlation * np.outer(sd, sd)
    expected = stats.multivariate_normal(mu, cov).logpdf(z) - stats.norm(mu, sd).logpdf(z).sum()
    assert gap == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_fit_with_learned_prior_says_so_and_loads(small, tmp_path):
    result = bs.fit(
        small, priors="learned", chains=2, draws=300, tune=300, seed=1, discrepancy=False
    )
    assert result.settings["priors"] == "learned"
    assert result.priors[JOINT].dist == "MvNormal"
    assert np.all(np.isfinite(result.posterior["alpha"].values))
    loaded = bs.load(result.save(tmp_path / "fit.nc"))
    assert loaded.settings["priors"] == "learned"
    assert loaded.priors[JOINT] == result.priors[JOINT]


def test_learned_is_the_default_below_the_small_table_threshold(small):
    from bayes_scaling.inference.sampling import SMALL_TABLE

    quick = dict(chains=2, draws=100, tune=100, seed=1, discrepancy=False, rescue=False)
    assert len(small) < SMALL_TABLE <= len(datasets.demo())
    chosen = bs.fit(small, **quick)
    assert (
        chosen.settings["priors"] == "learned"
        and "default below" in chosen.settings["priors_chosen"]
    )
    assert bs.fit(small, priors="default", **quick).settings["priors"] == "default"
    assert JOINT not in bs.fit(small, priors="default", **quick).priors
    large = bs.fit(datasets.demo(), **quick)
    assert large.settings["priors"] == "default" and "priors_chosen" not in large.settings


@pytest.mark.parametrize("bad", ["informed", "Learned", 3, ["learned"]])
def test_bad_priors_name_the_argument(small, bad):
    with pytest.raises(ArgumentError, match="priors") as err:
        bs.fit(small, priors=bad, chains=2, draws=50, tune=50)
    assert err.value.argument == "priors"


def test_learned_prior_is_for_the_chinchilla_law_only(small):
    with pytest.raises(ArgumentError, match="chinchilla") as err:
        bs.fit(small, law="power:compute", priors="learned", chains=2, draws=50, tune=50)
    assert err.value.argument == "priors"


def test_cli_fit_takes_priors_learned(small, tmp_path, capsys):
    from bayes_scaling.cli import main

    runs = tmp_path / "runs.csv"
    small.to_csv(runs, index=False)
    out = tmp_path / "fit.nc"
    short = ["--chains", "2", "--draws", "200", "--tune", "200", "--seed", "2"]
    code = main(
        ["fit", str(runs), "--out", str(out), "--priors", "learned", "--no-discrepancy"] + short
    )
    assert code in (0, 3) and bs.load(out).settings["priors"] == "learned"
    capsys.readouterr()
    assert main(["fit", str(runs), "--out", str(out), "--priors", "informed"] + short) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_the_joint_term_of_the_log_prior_completes_the_multivariate_normal():
    # marginals (in z = log E, log A, alpha, log B, beta) + the correction = MvNormal(mu, S R S)
    from scipy import stats

    from bayes_scaling.priors.joint import joint_cholesky, joint_log_correction
    from bayes_scaling.priors.learned import LOG_PARAMS, PARAMS, learned_prior

    priors = learned_prior().priors(
        {"median_loss": 2.5, "min_loss": 2.0, "sd_log_loss": 0.1}
        | {"ref_log_n_params": 20.0, "ref_log_n_tokens": 22.0}
    )
    k, chol = len(PARAMS), joint_cholesky(priors)
    mu = np.array([priors[n].params["mu"] for n in PARAMS])
    sd = np.array([priors[n].params["sigma"] for n in PARAMS])
    z = mu + np.random.default_rng(0).standard_normal((6, k)) * sd
    values = {n: np.exp(z[:, i]) if n in LOG_PARAMS else z[:, i] for i, n in enumerate(PARAMS)}
    marginals = sum(stats.norm.logpdf(z[:, i], mu[i], sd[i]) for i in range(k))
    full = stats.multivariate_normal.logpdf(z, mu, np.diag(sd) @ chol @ chol.T @ np.diag(sd))
    np.testing.assert_allclose(marginals + joint_log_correction(priors, values), full, atol=1e-8)
