"""pass@k's Beta mixture (difficulty="beta-mixture"): closed forms, the rare-unsolvable prior, the
prior predictive check, a real fit chosen by LOO, the CLI flag."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import comb

from bayes_scaling.errors import ArgumentError
from bayes_scaling.passk.families import PRIOR_KS, prior_pass_at_k
from bayes_scaling.passk.law import (
    benchmark_pass_at_k,
    log_marginal,
    population_pass_at_k,
    problems_pass_at_k,
)

#: A benchmark of hard problems that are not impossible: a body of easy problems (p ≈ 0.4) and
#: 70% hard ones around p ≈ 1e-3 (most unsolved in 100 samples), none unsolvable.
BODY, HARD, SHARE = (4.0, 6.0), (1.0, 1000.0), 0.7
PROBLEMS, SAMPLES = 150, 100


def simulate_mixture(seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hard = rng.random(PROBLEMS) < SHARE
    p = np.where(hard, rng.beta(*HARD, PROBLEMS), rng.beta(*BODY, PROBLEMS))
    return pd.DataFrame(
        {
            "model": "m",
            "problem": [f"q{j}" for j in range(PROBLEMS)],
            "samples": SAMPLES,
            "correct": rng.binomial(SAMPLES, p),
        }
    )


def true_population(k) -> np.ndarray:
    hard = (SHARE, np.array(HARD[0]), np.array(HARD[1]))
    return population_pass_at_k(np.array(BODY[0]), np.array(BODY[1]), 0.0, np.asarray(k, float),
                                hard=hard)  # fmt: skip


# --- closed forms -------------------------------------------------------------------------------


def test_mixture_closed_forms_match_monte_carlo():
    rng = np.random.default_rng(1)
    pi, (a, b), (w, a2, b2) = 0.1, (2.0, 5.0), (0.6, 0.5, 300.0)
    draws = 400_000
    p = np.where(rng.random(draws) < w, rng.beta(a2, b2, draws), rng.beta(a, b, draws))
    p[rng.random(draws) < pi] = 0.0
    for k in (1, 30, 3000):
        mc = 1 - np.mean((1 - p) ** k)
        assert population_pass_at_k(a, b, pi, k, hard=(w, a2, b2)) == pytest.approx(mc, abs=3e-3)
    # per problem, given its counts: the posterior mixes the components by their likelihoods
    n = 40
    c = rng.binomial(n, p)
    for seen in (0, 1, 12):
        kept = p[c == seen]
        mc = 1 - np.mean((1 - kept) ** 500)
        col = [np.array([[v]]) for v in (a, b, pi)]
        got = problems_pass_at_k(*col, np.array([n]), np.array([seen]), 500, hard=(w, a2, b2))
        assert float(got[0, 0]) == pytest.approx(mc, abs=0.01)
    # the marginal likelihood is a distribution over c = 0..n
    cs = np.arange(n + 1.0)
    total = np.exp(log_marginal(a, b, pi, np.full_like(cs, n), cs, hard=(w, a2, b2))).sum()
    assert total == pytest.approx(1.0, abs=1e-9)


def test_a_mixture_with_no_hard_share_is_the_beta():
    a, b, pi = (np.array([[v]]) for v in (0.4, 8.0, 0.2))
    n, c, k = np.array([50.0, 50.0, 20.0]), np.array([0.0, 3.0, 20.0]), np.array([10.0, 1e4])
    hard = (np.zeros((1, 1)), np.full((1, 1), 0.1), np.full((1, 1), 1e5))
    np.testing.assert_allclose(
        benchmark_pass_at_k(a, b, pi, n, c, k, hard=hard), benchmark_pass_at_k(a, b, pi, n, c, k)
    )
    np.testing.assert_allclose(
        log_marginal(a, b, pi, n, c, hard=hard), log_marginal(a, b, pi, n, c), rtol=1e-12
    )
    assert comb(5, 2) == 10  # the binomial coefficient is in log_marginal, not in the ratio


# --- the prior predictive check -----------------------------------------------------------------


@pytest.mark.parametrize("difficulty", ["beta", "beta-mixture"])
def test_prior_predictive_pass_at_k_rises_over_decades_without_a_step(difficulty):
    curves = prior_pass_at_k(difficulty, draws=4000, seed=2)
    assert curves.shape == (4000, len(PRIOR_KS)) and PRIOR_KS[0] == 1 and PRIOR_KS[-1] == 1e4
    assert (np.diff(curves, axis=1) >= -1e-12).all()  # pass@k never falls with k
    decades = [int(np.flatnonzero(PRIOR_KS == k)[0]) for k in (1, 10, 100, 1000, 10_000)]
    median = np.median(curves[:, decades], axis=0)
    # the typical model's pass@k rises in every decade of k, by a third or more, from well
    # below its value at 1e4 (power-law-like growth, not a step)
    assert (np.diff(median) > 0.01).all() and (median[1:] / median[:-1] > 1.3).all()
    assert median[0] < 0.05 < 0.4 < median[-1]
    # no step at k = 1: few models have half of pass@10,000 at k = 1, most still rise at the end
    assert np.mean(curves[:, 0] > 0.5 * curves[:, -1]) < 0.2
    assert np.mean(curves[:, -1] - curves[:, decades[-2]] > 0.01) > 0.7


def test_the_mixture_prior_rises_longer_and_keeps_the_unsolvable_share_small():
    from bayes_scaling.passk.families import prior_draws

    beta, mixture = (prior_pass_at_k(d, draws=4000, seed=3) for d in ("beta", "beta-mixture"))
    late = [np.mean(c[:, -1] - c[:, -5] > 0.01) for c in (beta, mixture)]
    assert late[1] > late[0]  # more models still rising from k = 1,000 to 10,000
    pi = prior_draws("beta-mixture", draws=4000, seed=3)[2]
    assert np.quantile(pi, 0.975) < 0.02


# --- a real fit ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixture_pair():
    from bayes_scaling.passk.fit import fit_passk

    counts = simulate_mixture(seed=4)
    kw = dict(seed=7, chains=2, draws=400, tune=400)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        beta = fit_passk(counts, difficulty="beta", **kw)
        return counts, beta, fit_passk(counts, difficulty="beta-mixture", **kw)


def test_mixture_fit_converges_and_does_not_call_hard_problems_impossible(mixture_pair):
    counts, _, mixture = mixture_pair
    assert mixture.converged and mixture.difficulty == "beta-mixture"
    assert (counts["correct"] == 0).mean() > 0.4  # most hard problems unsolved in 100 samples
    post = mixture.posterior.sel(model="m")
    assert float(post["pi"].quantile(0.95)) < 0.05  # the zeros went to the hard component
    assert float(post["hard_share"].quantile(0.05)) > 0.5  # most problems are hard (truth 0.7)
    assert {"a_hard", "b_hard", "hard_share"} <= set(mixture.parameters)
    # the population's pass@k at 10,000 (ten times n beyond the data) inside the 90% band
    band = mixture.bands(k=[1000, 10_000], prob=0.9, kind="population")
    truth = true_population([1000, 10_000])
    assert ((band["lower"] <= truth) & (truth <= band["upper"])).all()


def test_loo_chooses_the_mixture_on_a_benchmark_of_two_kinds_of_problem(mixture_pair):
    from bayes_scaling.passk.comparison import compare_difficulties

    _, beta, mixture = mixture_pair
    table = compare_difficulties({"beta": beta, "beta-mixture": mixture})
    assert table.index[0] == "beta-mixture"
    assert abs(table.loc["beta", "elpd_diff"]) > 2 * table.loc["beta", "dse"]


def test_mixture_answers_save_and_load(mixture_pair, tmp_path):
    import bayes_scaling as bs

    _, _, mixture = mixture_pair
    back = bs.load(mixture.save(tmp_path / "mix.nc"))
    assert back.difficulty == "beta-mixture"
    pd.testing.assert_frame_equal(back.bands(k=[10, 1000]), mixture.bands(k=[10, 1000]))
    need = back.samples_for(0.5, prob=[0.5])
    assert need["samples"].iloc[0] > 1
    ex = back.exponent()
    assert set(ex["quantity"]) == {"exponent", "a"}


def test_mixture_arguments_are_checked_before_sampling(no_sampling):
    from bayes_scaling.passk.fit import fit_passk

    two = pd.concat([simulate_mixture().assign(model=m) for m in ("x", "y")], ignore_index=True)
    with pytest.raises(ArgumentError, match="difficulty"):
        fit_passk(two, difficulty="gamma")
    with pytest.raises(ArgumentError, match="pooling"):
        fit_passk(two, difficulty="beta-mixture", pooling="partial")
    with pytest.raises(ArgumentError, match="log_a_hard"):
        fit_passk(two, difficulty="beta", priors={"log_a_hard": (0.0, 1.0)})  # a mixture prior
    sized = [
        simulate_mixture().assign(model=f"m{i}", n_params=1e8 * 2**i, n_tokens=1e10 * (1 + i % 2))
        for i in range(6)
    ]
    with pytest.raises(ArgumentError, match="law.*beta.*logit-normal-mixture"):
        fit_passk(pd.concat(sized, ignore_index=True), difficulty="beta-mixture", law=True)
    with pytest.raises(ArgumentError, match="log_a_hard"):  # auto: the Beta, for the pooling
        fit_passk(
            two.assign(n_params=1e9, n_tokens=1e11),
            law=False,
            pooling="partial",
            priors={"log_a_hard": (0.0, 1.0)},
        )


def test_cli_difficulty_flag_and_unchanged_bands_columns(mixture_pair, tmp_path, capsys):
    from bayes_scaling.cli import main

    _, _, mixture = mixture_pair
    path = mixture.save(tmp_path / "mix.nc")
    capsys.readouterr()
    bands = ["passk", "bands", str(path), "--k", "1000", "10", "--prob", "0.5", "0.9"]
    assert main([*bands, "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "model,k,prob,lower,median,upper"
    assert [ln.split(",")[1:3] for ln in lines[1:]] == [
        ["1000", "0.5"],
        ["1000", "0.9"],
        ["10", "0.5"],
        ["10", "0.9"],
    ]
    csv = tmp_path / "s.csv"
    simulate_mixture().to_csv(csv, index=False)
    args = ["passk", "fit", str(csv), "--out", str(tmp_path / "x.nc")]
    assert main([*args, "--difficulty", "beta-mixture", "--pooling", "partial"]) == 2
    assert "--pooling" in capsys.readouterr().err
    assert main([*args, "--difficulty", "gamma"]) == 2


def test_difficulty_figure_draws_both_components(mixture_pair):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bayes_scaling.passk.plots import difficulty_posterior

    _, _, mixture = mixture_pair
    fig = difficulty_posterior(mixture, draws=10, seed=1)
    (ax,) = fig.axes
    curves = [ln for ln in ax.get_lines() if ln.get_alpha() == 0.15]
    assert len(curves) == 10
    # each curve is the density of log10 p of the solvable problems: it integrates to 1 − π,
    # and it has mass around both the body (p ≈ 0.4) and the hard component (p ≈ 1e-3)
    x, y = curves[0].get_data()
    assert np.trapezoid(y, x) == pytest.approx(1.0, abs=0.05)
    assert y[np.argmin(abs(x - np.log10(0.4)))] > 0.1 and y[np.argmin(abs(x + 3))] > 0.1
    plt.close(fig)


def test_auto_difficulty_is_the_beta_where_the_pooling_needs_it():
    from bayes_scaling.passk.data import model_table
    from bayes_scaling.passk.fit import LAW_MIN_MODELS, auto_difficulty

    plain = pd.concat([simulate_mixture().assign(model=m) for m in ("x", "y")], ignore_index=True)
    info = model_table(plain)
    assert auto_difficulty(None, "independent", info) == "logit-normal-mixture"  # no N, D: no law
    assert auto_difficulty(None, "partial", info) == "beta"  # pooled models: the Beta
    sizes = {f"m{i}": (1e8 * 2**i, 3e11 * (1 + i % 2)) for i in range(LAW_MIN_MODELS)}
    ladder = pd.concat(
        [simulate_mixture().assign(model=m, n_params=n, n_tokens=d) for m, (n, d) in sizes.items()],
        ignore_index=True,
    )
    laddered = model_table(ladder)
    # the law across models is fitted over the logit-normal mixture too
    assert auto_difficulty(None, "independent", laddered) == "logit-normal-mixture"
    assert auto_difficulty(False, "independent", laddered) == "logit-normal-mixture"
    assert auto_difficulty(None, "partial", laddered) == "beta"
