"""pass@k's joint fit (pooling="partial"): stable likelihood, borrowing, law, LOO, save/load."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import PASSK_SIZES, simulate_counts
from scipy.special import gammaln

from bayes_scaling.errors import ArgumentError

#: The joint fit's benchmark: the six (N, D) of the shared law fixture, 40 problems, 200 samples,
#: except the last model, which saw only 8 samples a problem (few successes). With five law
#: terms on six models the law is nearly saturated: no claim is made here of how much the
#: corner model borrows (benchmarks/passk_validation.py measures what pooling does).
FEW = 8


def ladder_counts() -> pd.DataFrame:
    parts = []
    for i, (n, d) in enumerate(PASSK_SIZES):
        b = 40.0 / (np.log10(n) - 7) / (np.log10(d) - 9)
        samples = FEW if i == len(PASSK_SIZES) - 1 else 200
        part = simulate_counts(40, samples, seed=30 + i, model=f"m{i}", b=b)
        parts.append(part.assign(n_params=n, n_tokens=d))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def joint_pair():
    from bayes_scaling.passk.fit import fit_passk

    counts = ladder_counts()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kw = dict(seed=6, chains=2, draws=600, tune=600)
        return (
            fit_passk(counts, pooling="partial", **kw),
            fit_passk(counts, pooling="independent", law=False, difficulty="beta", **kw),
        )


def test_log_gamma_steps_are_exact_small_and_stable_large():
    import pytensor
    import pytensor.tensor as pt

    from bayes_scaling.passk.model import _lgamma_step

    y, x = pt.dvector(), pt.dvector()
    f = pytensor.function([y, x], _lgamma_step(y, x))
    ys = np.array([0.01, 1.0, 10.0, 999.0, 1001.0, 1e5])
    xs = np.array([3.0, 100.0, 0.0, 100.0, 100.0, 60.0])
    np.testing.assert_allclose(f(ys, xs), gammaln(ys + xs) - gammaln(ys), rtol=1e-12, atol=1e-9)
    # b = 1e13 (a Beta of ~1e-12 successes a sample): x·log(y) to first order, no lost digits
    big = f(np.array([1e13]), np.array([7.0]))[0]
    assert big == pytest.approx(7 * np.log(1e13) + 7 * 6 / 2 / 1e13, rel=1e-14)


def test_pooling_is_checked_before_sampling(no_sampling):
    from bayes_scaling.passk.fit import fit_passk

    with pytest.raises(ArgumentError, match="pooling"):
        fit_passk(ladder_counts(), pooling="joint")


def test_joint_fit_recovers_the_ladder_and_borrows(joint_pair):
    partial, independent = joint_pair
    assert partial.converged, partial.diagnostics.reason()
    assert partial.pooling == "partial" and independent.pooling == "independent"
    assert partial.models == [f"m{i}" for i in range(6)]  # the table's order
    # one unsolvable share for the benchmark, covering the truth
    pi = partial.posterior["pi"]
    np.testing.assert_array_equal(pi.isel(model=0).values, pi.isel(model=5).values)
    s = partial.summary(prob=0.95).set_index(["parameter", "model"])
    lo, hi = s.loc[("pi", "m0"), ["lower", "upper"]]
    assert lo <= 0.3 <= hi
    # each model's b inside its 95% interval (the truth of the simulation)
    for i, (n, d) in enumerate(PASSK_SIZES):
        b = 40.0 / (np.log10(n) - 7) / (np.log10(d) - 9)
        lo, hi = s.loc[("b", f"m{i}"), ["lower", "upper"]]
        assert lo <= b <= hi, (i, lo, b, hi)
    # borrowing: the share of each model's scatter about the law its own counts left open
    from bayes_scaling.passk.report import borrowing

    share = borrowing(partial)
    assert list(share) == partial.models
    assert all(0 <= v < 2 for v in share.values())
    assert borrowing(independent) is None  # each model alone, no law: nothing borrowed


def test_joint_law_answers_new_sizes_and_saves(joint_pair, tmp_path):
    import bayes_scaling as bs
    from bayes_scaling.passk.decisions import decision_table, law_theta

    partial, _ = joint_pair
    law = partial.law_posterior
    assert list(law["param"].values) == ["log_a", "log_b_over_a", "unsolvable_logit"]
    assert law["coef"].dims[-2:] == ("param", "term")
    theta = law_theta(partial, [1e8, 1e10], 1e11)  # in the Beta's log b, not log(b/a)
    assert list(theta.data_vars) == ["log_a", "log_b", "unsolvable_logit"]
    assert theta["log_b"].sizes["point"] == 2 and np.isfinite(theta.to_array()).all()
    table = decision_table(partial.size_vs_samples(2e13, tokens_per_sample=100))
    assert table["prob_best"].sum() == pytest.approx(1.0)
    back = bs.load(partial.save(tmp_path / "joint.nc"))
    assert back.pooling == "partial" and back.converged
    pd.testing.assert_frame_equal(back.bands(k=[10, 1000]), partial.bands(k=[10, 1000]))
    assert back.pool_posterior is not None


def test_poolings_compared_by_loo(joint_pair):
    from bayes_scaling.passk.comparison import compare_poolings, log_likelihood

    partial, independent = joint_pair
    ll = log_likelihood(partial)
    assert ll.dims == ("chain", "draw", "row") and ll.sizes["row"] == len(partial.counts)
    assert np.isfinite(ll.values).all()
    table = compare_poolings({"partial": partial, "independent": independent})
    assert set(table.index) == {"partial", "independent"}
    assert {"elpd", "weight", "n_high_k"} <= set(table.columns)


def test_one_model_is_fitted_alone_whatever_the_pooling(passk_fit):
    # tests/conftest.py: the session's one-model fit, with the default pooling
    assert passk_fit.pooling == "independent" and passk_fit.pool_posterior is None


@pytest.mark.parametrize(("m", "c", "sigma"), [(0.0, 0.5, 0.3), (-1.0, 0.0, 1.0)])
def test_a_one_sided_bound_is_recovered_from_its_posterior(m, c, sigma):
    """Draws of t ~ N(m, 1) kept with probability Φ((c − t)/σ) (an upper bound), or
    Φ((t − c)/σ) (a lower bound): :func:`one_sided_term` recovers c and 1/σ in the oriented
    coordinate from their mean and variance alone."""
    from scipy.stats import norm

    from bayes_scaling.passk.joint import one_sided_term

    rng = np.random.default_rng(7)
    t = rng.normal(m, 1.0, 1_000_000)
    for flip in (1.0, -1.0):
        kept = t[rng.uniform(size=t.size) < norm.cdf(flip * (c - t) / sigma)]
        got_flip, got_c, got_precision = one_sided_term(m, kept)
        assert got_flip == flip
        assert got_c == pytest.approx(flip * c, abs=0.05)
        assert got_precision == pytest.approx(1 / sigma, rel=0.08)
    # nothing one-sided to fit: the draws are the prior's (no shift) or wider than it
    assert one_sided_term(m, rng.normal(m, 1.0, 100_000)) is None
    assert one_sided_term(m, rng.normal(m - 1, 1.5, 100_000)) is None


def test_a_model_that_solved_nothing_enters_the_law_through_bounds():
    """The zero-success model's informed direction becomes a one-sided term (kind 1), oriented
    so that its likelihood falls along it; a Gaussian posterior keeps its Gaussian term."""
    import xarray as xr

    from bayes_scaling.passk.joint import likelihood_directions

    prior = (("x", 0.0, 1.0), ("y", 0.0, 1.0))
    rng = np.random.default_rng(3)
    x = rng.normal(0.0, 1.0, 400_000)
    x = x[rng.uniform(size=x.size) < 1 - np.exp(-np.exp(-3 * x))]  # falls as x grows
    y = rng.normal(0.0, 1.0, x.size)
    post = xr.Dataset({"x": ("draw", x), "y": ("draw", y)})
    block = likelihood_directions(post, prior, one_sided=True)
    assert block.shape == (5, 1) and block[-1, 0] == 1.0
    assert abs(block[0, 0]) > 0.99 and block[0, 0] > 0  # along +x, where the likelihood falls
    gaussian = likelihood_directions(post, prior)
    assert gaussian.shape == (5, 1) and gaussian[-1, 0] == 0.0
