"""pass@k's crossed fit (pooling="crossed"): the problems' difficulty shared by the models."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayes_scaling.errors import ArgumentError

#: The simulated benchmark: three models on the same 60 problems, 50 samples each, η_jm =
#: μ_m + λ_m·z_j + s·e_jm, and a share π of problems that model m never solves.
TRUTH = dict(mu=(-1.0, -3.0, -5.0), loading=(1.5, 1.2, 1.8), within=0.7, pi=0.05)
PROBLEMS, SAMPLES = 60, 50


def crossed_counts(seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=PROBLEMS)
    rows = []
    for m, (mu, lam) in enumerate(zip(TRUTH["mu"], TRUTH["loading"], strict=True)):
        eta = mu + lam * z + TRUTH["within"] * rng.normal(size=PROBLEMS)
        p = np.where(rng.random(PROBLEMS) < TRUTH["pi"], 0.0, 1 / (1 + np.exp(-eta)))
        for j in range(PROBLEMS):
            rows.append((f"m{m}", f"q{j}", SAMPLES, int(rng.binomial(SAMPLES, p[j]))))
    return pd.DataFrame(rows, columns=["model", "problem", "samples", "correct"])


@pytest.fixture(scope="module")
def crossed_fit():
    from bayes_scaling.passk.fit import fit_passk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # target_accept 0.99: on this small table the scatter s_m mixes slowly at 0.9 and the
        # rescue climbs four rungs (32 s) where 0.99 passes after "longer" (13 s)
        return fit_passk(
            crossed_counts(), seed=3, chains=4, draws=500, tune=500, target_accept=0.99
        )


def test_shared_problems_are_fitted_crossed_by_default_and_recover_the_models(crossed_fit):
    fit = crossed_fit
    assert fit.pooling == "crossed" and fit.difficulty == "logit-normal"
    assert fit.converged, fit.diagnostics.reason()
    assert fit.models == ["m0", "m1", "m2"]
    post = fit.posterior
    for m, (mu, lam) in enumerate(zip(TRUTH["mu"], TRUTH["loading"], strict=True)):
        for name, true in (("mu", mu), ("sigma", np.hypot(lam, TRUTH["within"]))):
            draws = post[name].isel(model=m).values.ravel()
            lo, hi = np.quantile(draws, [0.005, 0.995])
            assert lo < true < hi, (name, m, lo, true, hi)
    # the models are ordered by difficulty as simulated
    means = post["mu"].mean(("chain", "draw")).values
    assert means[0] > means[1] > means[2]
    assert fit.pool_posterior["problem_effect"].sizes["problem"] == PROBLEMS


def test_crossed_answers_rows_in_order_and_survive_a_save(crossed_fit, tmp_path):
    from bayes_scaling.results.io import load

    fit = crossed_fit
    bands = fit.bands(k=[1000, 10], models=["m2", "m0"])
    assert list(bands["model"].unique()) == ["m2", "m0"]
    assert list(bands[bands["model"] == "m2"]["k"].unique()) == [1000, 10]
    row = bands[(bands["model"] == "m0") & (bands["k"] == 10)].iloc[0]
    assert 0 < row["lower"] <= row["median"] <= row["upper"] < 1
    path = tmp_path / "crossed.nc"
    fit.save(path)
    back = load(path)
    assert back.pooling == "crossed" and back.difficulty == "logit-normal" and back.converged
    pd.testing.assert_frame_equal(back.bands(k=[1000, 10]), fit.bands(k=[1000, 10]))
    assert "log_loading" in back.summary()["parameter"].values


def test_auto_pooling_picks_crossed_only_for_shared_problems_without_a_law(no_sampling):
    from bayes_scaling.passk.data import model_table
    from bayes_scaling.passk.fit import auto_pooling

    counts = crossed_counts()
    info = model_table(counts)
    assert auto_pooling(None, "auto", counts, info) == "crossed"
    assert auto_pooling(None, "logit-normal-mixture", counts, info) == "independent"
    assert auto_pooling(True, "auto", counts, info) == "independent"
    apart = counts.assign(problem=counts["model"] + counts["problem"])  # no problem shared
    assert auto_pooling(None, "auto", apart, model_table(apart)) == "independent"
    one = counts[counts["model"] == "m0"]
    assert auto_pooling(None, "auto", one, model_table(one)) == "independent"


def test_crossed_refuses_what_it_cannot_fit_before_sampling(no_sampling, monkeypatch):
    from bayes_scaling.passk import crossed
    from bayes_scaling.passk.fit import fit_passk

    counts = crossed_counts()
    with pytest.raises(ArgumentError, match="difficulty"):
        fit_passk(counts, pooling="crossed", difficulty="beta")
    with pytest.raises(ArgumentError, match="law"):
        fit_passk(counts, pooling="crossed", law=True)
    with pytest.raises(ArgumentError, match="one"):
        fit_passk(counts[counts["model"] == "m0"], pooling="crossed")
    apart = counts.assign(problem=counts["model"] + counts["problem"])
    with pytest.raises(ArgumentError, match="no problem is shared"):
        fit_passk(apart, pooling="crossed")
    with pytest.raises(ArgumentError, match="log_a"):
        fit_passk(counts, pooling="crossed", priors={"log_a": (0.0, 1.0)})
    monkeypatch.setattr(crossed, "CROSSED_MAX_CELLS", 100)
    with pytest.raises(ArgumentError, match="at most 100"):
        fit_passk(counts, pooling="crossed")


def test_cli_refuses_a_difficulty_with_the_crossed_pooling(no_sampling, tmp_path, capsys):
    from bayes_scaling.cli import main

    table = tmp_path / "counts.csv"
    crossed_counts().to_csv(table, index=False)
    args = ["passk", "fit", str(table), "--out", str(tmp_path / "f.nc"), "--pooling", "crossed"]
    assert main([*args, "--difficulty", "beta"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--pooling" in err[0]


def test_sbc_simulates_the_crossed_prior_with_problems_shared(no_sampling):
    from bayes_scaling.passk.crossed import CROSSED_PARAMS
    from bayes_scaling.passk.sbc import prior_draw, simulate_benchmark

    rng = np.random.default_rng(2)
    theta = prior_draw(4, "crossed", rng)
    assert list(theta.columns) == list(CROSSED_PARAMS) and len(theta) == 4
    # a large loading for every model, little scatter: the models agree on which problems
    theta = theta.assign(logit_mean=-1.0, log_loading=np.log(3.0), log_sigma_within=np.log(0.1))
    counts = simulate_benchmark(theta.assign(unsolvable_logit=-20.0), 80, 200, rng)
    wide = counts.pivot(index="problem", columns="model", values="correct")
    assert wide.corr(method="spearman").min().min() > 0.8


def test_a_crossed_fit_has_a_report_that_names_what_the_models_share(crossed_fit, tmp_path):
    from bayes_scaling.passk.report import borrowing

    share = borrowing(crossed_fit)
    assert list(share) == ["m0", "m1", "m2"] and all(0 < v < 1 for v in share.values())
    # simulated: loadings 1.5, 1.2, 1.8 against a scatter of 0.7, so most is shared
    assert min(share.values()) > 0.5
    out = tmp_path / "crossed.html"
    crossed_fit.report(out)
    page = out.read_text()
    assert "in the crossed fit" in page and "a difficulty per problem shared" in page


def test_crossed_loo_conditions_each_count_on_its_problem_effect(crossed_fit):
    # the pointwise term is log P(c_jm | θ_m, z_j), the count's own effect integrated out: it
    # matches a direct integration, and predicts a left-out count better than the model's
    # marginal N(μ_m, λ_m² + s_m²) alone (the other models' counts of the problem inform z_j).
    # Every 4th draw (the quadrature runs a count at a time)
    from types import SimpleNamespace

    import arviz_stats as azs
    from scipy import integrate, special, stats

    from bayes_scaling.passk.comparison import log_likelihood
    from bayes_scaling.passk.logit import log_marginal

    every = {"draw": slice(None, None, 4)}
    post, pool = crossed_fit.posterior.isel(every), crossed_fit.pool_posterior.isel(every)
    counts = crossed_fit.counts
    ll = log_likelihood(SimpleNamespace(posterior=post, pool_posterior=pool, counts=counts))
    assert ll.dims == ("chain", "draw", "row") and ll.sizes["row"] == len(counts)
    assert np.isfinite(ll.values).all() and (ll.values <= 0).all()
    z = pool["problem_effect"]
    for r in (int(np.argmax(counts["correct"] > 0)), int(np.argmax(counts["correct"] == 0))):
        m, j, n, c = counts.iloc[r][["model", "problem", "samples", "correct"]]
        th, zj = post.sel(model=m).isel(chain=1, draw=7), z.sel(problem=j).isel(chain=1, draw=7)
        centre = float(th["logit_mean"] + np.exp(th["log_loading"]) * zj)
        s, pi = float(np.exp(th["log_sigma_within"])), float(th["pi"])

        def integrand(e, centre, s, n, c):
            return stats.norm.pdf(e) * stats.binom.pmf(c, n, special.expit(centre + s * e))

        args = (centre, s, n, c)
        direct = (1 - pi) * integrate.quad(
            integrand, -12, 12, args, points=[0], limit=200, epsabs=0, epsrel=1e-10
        )[0]
        direct += pi * (c == 0)
        assert float(ll.isel(chain=1, draw=7, row=r)) == pytest.approx(np.log(direct), abs=1e-6)
    marginal = np.empty_like(ll.values)
    for name in crossed_fit.models:
        rows = np.flatnonzero(counts["model"] == name)
        th = post.sel(model=name)
        marginal[..., rows] = log_marginal(
            *(th[v].values[..., None] for v in ("mu", "sigma", "pi")),
            counts["samples"].to_numpy(float)[rows],
            counts["correct"].to_numpy(float)[rows],
        )
    elpd = {}
    for label, values in (("crossed", ll.values), ("marginal", marginal)):
        tree = xr.DataTree.from_dict(
            {
                "posterior": post[["logit_mean"]],
                "log_likelihood": xr.Dataset({"counts": (("chain", "draw", "row"), values)}),
            }
        )
        elpd[label] = azs.loo(tree).elpd
    assert elpd["crossed"] > elpd["marginal"] + 20, elpd


def test_counts_that_only_bound_eta_are_sampled_non_centred(no_sampling):
    # 0 < c < n pins η down (centred, first); c = 0 and c = n only bound it (non-centred)
    from bayes_scaling.passk.crossed import cells

    counts = pd.DataFrame(
        {
            "model": ["a", "a", "b", "b", "a"],
            "problem": ["q1", "q2", "q1", "q2", "q3"],
            "samples": [10, 10, 10, 10, 5],
            "correct": [0, 10, 3, 5, 5],
        }
    )
    data = cells(counts, ["a", "b"])
    assert data["pinned"] == 2 and data["problems"] == ["q1", "q2", "q3"]
    assert data["cells"][3].tolist() == [3, 5, 0, 10, 5]  # pinned first, then in table order
    assert data["cells"][0].tolist() == [1, 1, 0, 0, 0]
