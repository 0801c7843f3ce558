"""pass@k's logit-normal mixture (difficulty="logit-normal-mixture"): the quadrature against
direct integration, the model's likelihood against the numpy forms, the prior predictive check,
a real fit of a benchmark whose problems spread over decades of p, save/load, the CLI, SBC."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats
from scipy.special import expit, gammaln

from bayes_scaling.passk import logit
from bayes_scaling.passk.families import PRIOR_KS, prior_pass_at_k

#: A benchmark of problems spread over six decades of p: a body at logit p ~ N(−3, 1.5²) and 35%
#: hard ones at N(−9, 2²), none unsolvable; a third unsolved in 100 samples, yet pass@k keeps
#: rising, from 0.65 at k = 100 to 0.81 at 1e3 and 0.93 at 1e4.
TRUE = dict(mu=-3.0, sigma=1.5, hard=(0.35, -9.0, 2.0))
PROBLEMS, SAMPLES = 150, 100


def simulate(seed=0, problems=PROBLEMS) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    w, mu_h, sd_h = TRUE["hard"]
    hard = rng.random(problems) < w
    eta = np.where(
        hard, rng.normal(mu_h, sd_h, problems), rng.normal(TRUE["mu"], TRUE["sigma"], problems)
    )
    p = expit(eta)
    counts = pd.DataFrame(
        {
            "model": "m",
            "problem": [f"q{j}" for j in range(problems)],
            "samples": SAMPLES,
            "correct": rng.binomial(SAMPLES, p),
        }
    )
    return counts, p


def _density(eta, mu, sigma, hard):
    w, mu_h, sd_h = hard
    return (1 - w) * stats.norm.pdf(eta, mu, sigma) + w * stats.norm.pdf(eta, mu_h, sd_h)


def _quad(fn):
    pieces = np.linspace(-120, 60, 91)  # quad over pieces: the integrands are narrow
    return sum(
        integrate.quad(fn, lo, hi, limit=200, epsabs=0)[0]
        for lo, hi in zip(pieces[:-1], pieces[1:], strict=True)
    )


def _col(*values):
    return [np.array([[float(v)]]) for v in values]


# --- quadrature -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, c, hard",
    [
        (100, 0, (0.3, -9.0, 2.0)),
        (100, 3, (0.3, -9.0, 2.0)),
        (100, 57, (0.3, -9.0, 2.0)),
        (10_000, 4_871, (0.3, -9.0, 2.0)),  # narrow: its own nodes
        (10_020, 1, (0.5, -12.0, 1.5)),
        (60, 60, (0.2, -5.0, 0.6)),
        (100, 0, (0.4, -80.0, 2.0)),  # a hard component far below the grid: its mass at p = 0
    ],
)
def test_log_marginal_matches_direct_integration(n, c, hard):
    mu, sigma, pi = -2.0, 1.7, 0.05

    log_choose = gammaln(n + 1) - gammaln(c + 1) - gammaln(n - c + 1)

    def integrand(eta):  # the binomial's probability of c at p = expit(η), times f(η)
        log_p, log_q = -np.logaddexp(0, -eta), -np.logaddexp(0, eta)
        return np.exp(log_choose + c * log_p + (n - c) * log_q) * _density(eta, mu, sigma, hard)

    exact = (1 - pi) * _quad(integrand) + (pi if c == 0 else 0.0)
    got = logit.log_marginal(*_col(mu, sigma, pi), np.array([n]), np.array([c]), hard=_col(*hard))
    assert float(got[0, 0]) == pytest.approx(np.log(exact), abs=1e-6)


def test_pass_at_k_matches_direct_integration_and_monte_carlo():
    mu, sigma, pi, hard = -3.0, 2.0, 0.1, (0.4, -11.0, 2.5)
    for k in (1.0, 100.0, 1e4, 1e8):
        exact = 1 - _quad(
            lambda e, k=k: np.exp(k * np.log1p(-expit(e))) * _density(e, mu, sigma, hard)
        )
        got = logit.population_pass_at_k(*_col(mu, sigma, pi), k, hard=_col(*hard))
        assert float(got[0, 0]) == pytest.approx((1 - pi) * exact, abs=1e-6)
    # per problem, given its counts, against the conditional Monte Carlo
    rng = np.random.default_rng(3)
    draws = 600_000
    w, mu_h, sd_h = hard
    eta = np.where(
        rng.random(draws) < w, rng.normal(mu_h, sd_h, draws), rng.normal(mu, sigma, draws)
    )
    p = expit(eta)
    never = rng.random(draws) < pi
    p[never] = 0.0
    c = rng.binomial(40, p)
    for seen in (0, 2, 20):
        mc = 1 - np.mean((1 - p[c == seen]) ** 500)
        got = logit.problems_pass_at_k(
            *_col(mu, sigma, pi), np.array([40]), np.array([seen]), 500, hard=_col(*hard)
        )
        assert float(got[0, 0]) == pytest.approx(mc, abs=0.01)
        unsolvable = logit.unsolvable_weight(
            *_col(mu, sigma, pi), np.array([40]), np.array([seen]), hard=_col(*hard)
        )
        assert float(unsolvable[0, 0]) == pytest.approx(np.mean(never[c == seen]), abs=0.01)


def test_benchmark_pass_is_the_mean_of_the_problems_and_rows_keep_their_order():
    mu, sigma, pi = (
        np.array([[-2.0], [-4.0]]),
        np.array([[1.5], [2.5]]),
        np.array([[0.01], [0.2]]),
    )
    hard = (np.array([[0.3], [0.6]]), np.array([[-8.0], [-12.0]]), np.array([[2.0], [1.0]]))
    n = np.array([100.0, 100, 60, 100, 5000])
    c = np.array([0.0, 7, 60, 0, 2500])  # a repeated count, a narrow one, all solved
    k = np.array([10.0, 1e3, 1e5])
    bench = logit.benchmark_pass_at_k(mu, sigma, pi, n, c, k, hard=hard)
    each = np.stack([logit.problems_pass_at_k(mu, sigma, pi, n, c, kk, hard=hard) for kk in k], -1)
    np.testing.assert_allclose(bench, each.mean(axis=1), rtol=1e-10)
    assert (np.diff(bench, axis=1) > 0).all()
    assert each[:, 0, 0] == pytest.approx(each[:, 3, 0])  # same counts, same answer
    # the counts' probabilities over c = 0..n sum to one
    cs = np.arange(41.0)
    total = np.exp(logit.log_marginal(mu, sigma, pi, np.full_like(cs, 40), cs, hard=hard)).sum(-1)
    np.testing.assert_allclose(total, 1.0, atol=1e-8)


def test_the_models_likelihood_is_the_numpy_forms():
    from bayes_scaling.passk.model import build_logit, compress, logit_data, priors_key

    counts, _ = simulate(seed=1)
    counts.loc[:4, "samples"] = 5000  # some narrow counts too
    counts.loc[:4, "correct"] = [2500, 900, 4000, 30, 0]
    packed = compress(counts["samples"], counts["correct"])
    model = build_logit(*logit_data(packed).values(), priors_key(None, "logit-normal-mixture"))
    point = {
        "logit_mean": -1.5, "log_sigma": 0.3, "unsolvable_logit": -3.0, "hard_logit": 0.5,
        "log_hard_depth": 1.2, "log_sigma_hard": 0.8,
    }  # fmt: skip
    got = float(
        model.compile_logp(vars=model.potentials)({k: np.asarray(v) for k, v in point.items()})
    )
    log_w, _, mu_h, sd_h = logit.hard_terms(
        point["hard_logit"], point["log_hard_depth"], point["log_sigma_hard"],
        point["logit_mean"], point["log_sigma"],
    )  # fmt: skip
    n, c = counts["samples"].to_numpy(float), counts["correct"].to_numpy(float)
    args = _col(point["logit_mean"], np.exp(point["log_sigma"]), expit(point["unsolvable_logit"]))
    full = logit.log_marginal(*args, n, c, hard=_col(np.exp(log_w), mu_h, sd_h))
    log_choose = gammaln(n + 1) - gammaln(c + 1) - gammaln(n - c + 1)
    assert got == pytest.approx(float(np.sum(full - log_choose)), abs=1e-6)


def test_a_spike_narrower_than_the_grid_is_a_point_mass_not_a_reward():
    from bayes_scaling.passk.model import build_logit, compress, logit_data, priors_key

    # the grid's masses sum to 1; for a component as wide as the grid's step the trapezoid
    # rule already gave that, so normalising changed nothing there
    wide, spike = _col(-3.0, 0.8), _col(-8.0, 1e-13)  # (μ, σ); -8 is a node of the grid
    for mu, sigma in (wide, spike):
        masses = np.exp(logit.log_grid_masses(mu, sigma))
        assert masses.sum() == pytest.approx(1.0, abs=1e-12)
    raw = np.log(logit.STEP) + stats.norm.logpdf(logit.GRID, -3.0, 0.8)
    np.testing.assert_allclose(logit.log_grid_masses(*wide)[0, 1:-1], raw, atol=1e-9)
    # a body of σ = 1e-13 on a node gained −log σ for every zero count before (a spurious mode
    # NUTS found on a GSM8K model); now the spike scores below a sensible body
    counts = pd.DataFrame({"samples": 100, "correct": [0] * 40 + [3, 10, 30, 60]})
    packed = compress(counts["samples"], counts["correct"])
    model = build_logit(*logit_data(packed).values(), priors_key(None, "logit-normal-mixture"))
    logp = model.compile_logp()
    point = {
        "logit_mean": -5.0, "log_sigma": 0.7, "unsolvable_logit": -6.0, "hard_logit": -1.0,
        "log_hard_depth": 1.0, "log_sigma_hard": 0.7,
    }  # fmt: skip
    at_spike = {**point, "logit_mean": -8.0, "log_sigma": np.log(1e-13)}
    assert logp({k: np.asarray(v) for k, v in at_spike.items()}) < logp(
        {k: np.asarray(v) for k, v in point.items()}
    )


# --- the prior predictive check ----------------------------------------------------------------


def test_prior_predictive_pass_at_k_rises_over_decades_without_a_step():
    curves = prior_pass_at_k("logit-normal-mixture", draws=4000, seed=2)
    assert curves.shape == (4000, len(PRIOR_KS))
    assert (np.diff(curves, axis=1) >= -1e-12).all()
    decades = [int(np.flatnonzero(PRIOR_KS == k)[0]) for k in (1, 10, 100, 1000, 10_000)]
    median = np.median(curves[:, decades], axis=0)
    # the median rises by at least 1.3x a decade, from below 0.05 at k = 1 to above 0.3
    assert (np.diff(median) > 0.004).all() and (median[1:] / median[:-1] > 1.3).all()
    assert median[0] < 0.05 and median[-1] > 0.3
    assert np.mean(curves[:, 0] > 0.5 * curves[:, -1]) < 0.2
    # more models still rising between k = 1,000 and 10,000 than under one Beta
    beta = prior_pass_at_k("beta", draws=4000, seed=2)
    late = [np.mean(cv[:, -1] - cv[:, -5] > 0.01) for cv in (beta, curves)]
    assert late[1] > late[0]


# --- a real fit -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def logit_fit():
    from bayes_scaling.passk.fit import fit_passk

    counts, p = simulate(seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return counts, p, fit_passk(counts, seed=7, chains=4, draws=250, tune=400)


def test_auto_fits_the_logit_mixture_and_covers_the_tail(logit_fit):
    counts, p, fit = logit_fit
    assert fit.difficulty == "logit-normal-mixture"  # no N and D: the auto choice
    assert fit.converged
    assert (counts["correct"] == 0).mean() > 0.3  # many problems unsolved in 100 samples
    assert {"mu", "sigma", "mu_hard", "sigma_hard", "hard_share", "pi"} <= set(fit.parameters)
    assert float(fit.posterior["pi"].quantile(0.95)) < 0.05  # hard, not impossible
    # these problems' pass@k at 10× and 100× the samples seen, from their own rates: inside the
    # 98% band (one simulated benchmark: a 90% band misses one of two truths one time in ten)
    band = fit.bands(k=[1000, 10_000], prob=0.98)
    truth = np.array([np.mean(1 - (1 - p) ** k) for k in (1000, 10_000)])
    assert ((band["lower"].to_numpy() <= truth) & (truth <= band["upper"].to_numpy())).all()
    assert (band["upper"] - band["lower"]).max() < 0.5


def test_a_model_that_solves_nothing_gets_the_smaller_steps(monkeypatch):
    import nutpie

    from bayes_scaling.passk.fit import fit_passk

    sample, adaptations = nutpie.sample, []

    def watched(*args, **kwargs):  # the real sampler, its adaptation noted
        adaptations.append(kwargs.get("adaptation"))
        return sample(*args, **kwargs)

    monkeypatch.setattr(nutpie, "sample", watched)
    solved, _ = simulate(seed=5)
    none = solved.assign(model="none", correct=0)
    counts = pd.concat([solved.assign(model="some"), none], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short chain: the gate is not what is tested
        fit = fit_passk(
            counts, seed=1, chains=2, draws=100, tune=100, rescue=False, pooling="independent"
        )
    used = {m: fit.settings["rescue"][m][0]["target_accept"] for m in ("some", "none")}
    assert used == {"some": 0.9, "none": 0.95}  # the wall of a model with no success
    # the mixture's correlated parameters: low-rank mass matrix, for both models, as recorded
    assert adaptations == ["low_rank", "low_rank"] and fit.settings["adaptation"] == "low_rank"
    assert fit.settings["target_accept"] == 0.9
    assert fit.settings["target_accept_no_success"] == 0.95
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        asked = fit_passk(counts, seed=1, chains=2, draws=100, tune=100, rescue=False,
                          target_accept=0.8, pooling="independent")  # fmt: skip
    assert {r[0]["target_accept"] for r in asked.settings["rescue"].values()} == {0.8}


def test_logit_answers_save_and_load(logit_fit, tmp_path):
    import bayes_scaling as bs

    _, _, fit = logit_fit
    back = bs.load(fit.save(tmp_path / "logit.nc"))
    assert back.difficulty == "logit-normal-mixture"
    pd.testing.assert_frame_equal(back.bands(k=[10, 1000]), fit.bands(k=[10, 1000]))
    need = back.samples_for(0.8, prob=[0.5, 0.9])  # beyond the 100 samples seen
    assert 100 < need["samples"].iloc[0] <= need["samples"].iloc[1]
    ex = back.exponent()
    assert list(ex["quantity"]) == ["exponent"]  # no asymptotic Beta exponent
    table = back.summary()
    assert set(table["parameter"]) >= {"mu", "sigma", "hard_share"}


def test_report_of_the_logit_mixture(logit_fit, tmp_path):
    _, _, fit = logit_fit
    fit.report(tmp_path / "page.md", k=(100, 1000))
    page = (tmp_path / "page.md").read_text(encoding="utf-8")
    assert "m: pass@k" in page and "The decision" in page
    assert (tmp_path / "figures" / "difficulty.png").exists()


def test_loo_compares_it_with_the_beta_mixture(logit_fit):
    from bayes_scaling.passk.comparison import compare_difficulties, log_likelihood
    from bayes_scaling.passk.fit import fit_passk

    counts, _, fit = logit_fit
    ll = log_likelihood(fit)
    assert ll.sizes["row"] == len(counts) and np.isfinite(ll.values).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        beta = fit_passk(counts, seed=7, chains=2, draws=400, tune=400, difficulty="beta-mixture")
    table = compare_difficulties({"beta-mixture": beta, "logit-normal-mixture": fit})
    assert set(table.index) == {"beta-mixture", "logit-normal-mixture"}


def test_cli_fits_the_logit_mixture_with_unchanged_columns(tmp_path, capsys):
    from bayes_scaling.cli import main

    counts, _ = simulate(seed=2, problems=40)
    csv = tmp_path / "s.csv"
    counts.to_csv(csv, index=False)
    out = tmp_path / "f.nc"
    args = ["passk", "fit", str(csv), "--out", str(out), "--draws", "200", "--tune", "300"]
    assert main([*args, "--seed", "1", "--difficulty", "logit-normal-mixture"]) in (0, 3)
    capsys.readouterr()
    assert main(["passk", "bands", str(out), "--k", "1000", "10", "--format", "csv"]) in (0, 3)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "model,k,prob,lower,median,upper"
    ks = [ln.split(",")[1] for ln in lines[1:]]
    half = len(ks) // 2
    assert half >= 2 and ks == ["1000"] * half + ["10"] * half  # rows in the order of --k
    assert main([*args, "--difficulty", "logit-normal-mixture", "--pooling", "partial"]) == 2


def test_sbc_of_the_logit_mixture_has_uniform_ranks():
    from bayes_scaling.passk.sbc import prior_draw, sbc_passk, sbc_uniformity

    theta = prior_draw(10_000, "independent", np.random.default_rng(0), "logit-normal-mixture")
    assert list(theta.columns) == list(logit.LOGIT_PARAMS)
    ranks, sims, n_draws = sbc_passk(
        16, models=1, problems=40, samples=100, difficulty="logit-normal-mixture", draws=200,
        tune=300, thin=4, rescue=False, seed=5,
    )  # fmt: skip
    assert list(ranks.columns) == [f"{p}[m0]" for p in logit.LOGIT_PARAMS]
    test = sbc_uniformity(ranks, n_draws, bins=4)
    assert (test["p_adjusted"] >= 0.01).all(), test
