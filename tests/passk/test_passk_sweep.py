"""An early-stopped sweep (best-of-N jailbreaking): the loader, the thinning that respects the
stopping, and the per-prompt truth at k. The thinning's validity is checked against simulated
sweeps with known success probabilities; the loader against the reference table when present."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.errors import BayesScalingError, RunsError
from bayes_scaling.passk.data import thin_counts
from bayes_scaling.passk.reference import locate
from bayes_scaling.passk.sweep import (
    BON_BLOCK,
    BON_BUDGET,
    BON_PATH,
    bon_jailbreaking,
    sweep_pass_at_k,
    thin_sweep,
)

BLOCK, BUDGET = 60, 10_020


def simulate_sweep(p, seed, block=BLOCK, budget=BUDGET) -> pd.DataFrame:
    """Prompts with success probabilities ``p``, attacked in blocks of ``block`` until a block has
    a success or ``budget`` attempts: the first success at G ~ Geometric(p), the sweep stops at
    the end of G's block, and the rest of that block succeeds with probability p each."""
    rng = np.random.default_rng(seed)
    p = np.asarray(p, float)
    first = rng.geometric(p)
    stop = np.ceil(first / block) * block
    hit = first <= budget
    n = np.where(hit, stop, budget).astype(np.int64)
    rest = rng.binomial(np.maximum(n - first, 0), p)
    c = np.where(hit, 1 + rest, 0).astype(np.int64)
    return pd.DataFrame({"model": "m", "problem": np.arange(len(p)).astype(str), "samples": n,
                         "correct": c})  # fmt: skip


def test_thinned_sweep_is_a_fresh_run_of_that_many_attempts():
    # prompts from easy (broken in the first block) to hard (broken after thousands of attempts)
    p = np.repeat([0.2, 0.02, 3e-3, 5e-4, 1e-4], 4000)
    sweep = simulate_sweep(p, seed=1)
    thin = thin_sweep(sweep, 100, seed=2, block=BLOCK)
    whole = sweep["samples"] <= 100
    assert thin[whole].equals(sweep[whole])  # stopped within 100: kept as it is
    assert (thin.loc[~whole, "samples"] == 100).all()
    assert (thin["correct"] <= sweep["correct"]).all()
    # what a budget-100 sweep records: stop at 60 when the first block succeeds, else 100 attempts
    fresh = simulate_sweep(p, seed=3, budget=100)
    for q in np.unique(p):
        a, b = thin[p == q], fresh[p == q]
        solved, expect = (a["correct"] > 0).mean(), 1 - (1 - q) ** 100
        assert solved == pytest.approx(expect, abs=4 * np.sqrt(expect * (1 - expect) / 4000) + 1e-3)
        assert (a["samples"] == 60).mean() == pytest.approx((b["samples"] == 60).mean(), abs=0.04)
        assert a["correct"].mean() == pytest.approx(b["correct"].mean(), rel=0.1, abs=0.01)
    # plain hypergeometric thinning ignores the stopping and overstates the hard prompts
    naive = thin_counts(sweep[~whole], 100, seed=2)
    hard = p[~whole.to_numpy()] == 5e-4
    assert (naive["correct"][hard] > 0).mean() > 1.5 * (1 - (1 - 5e-4) ** 100)


def test_sweep_truth_is_unbiased_at_any_k():
    p = np.repeat([0.02, 1e-3, 1e-4], 5000)
    sweep = simulate_sweep(p, seed=4)
    for k in (100, 1000, 10_000):
        y = sweep_pass_at_k(sweep, k, block=BLOCK)
        assert np.isfinite(y).all() and ((y >= 0) & (y <= 1)).all()
        for q in np.unique(p):
            expect = 1 - (1 - q) ** k
            got = y[p == q].mean()
            assert got == pytest.approx(
                expect, abs=4 * np.sqrt(expect * (1 - expect) / 5000) + 1e-3
            )
    # a thinned record is a sweep too (its last block cut to 40): the same truth below 100
    thin = thin_sweep(sweep, 100, seed=5, block=BLOCK)
    for k in (30, 80, 100):
        short, full = (sweep_pass_at_k(t, k, block=BLOCK) for t in (thin, sweep))
        assert np.isfinite(short).all()
        assert short.mean() == pytest.approx(full.mean(), abs=0.01)
    # beyond the budget an unbroken prompt's outcome is unknown
    assert np.isnan(sweep_pass_at_k(sweep, 20_000, block=BLOCK)[sweep["correct"] == 0]).all()


@pytest.fixture(scope="module")
def bon():
    file = locate(None, BON_PATH)
    if not file.exists():
        pytest.skip(f"reference data absent: {file} (set BAYES_SCALING_DATA to /work/shared/data)")
    return bon_jailbreaking()


def test_loader_reads_the_sweep_and_its_stopping_rule(bon):
    assert len(bon) == 7 * 159 and bon["model"].nunique() == 7
    assert list(bon.columns) == ["model", "problem", "samples", "correct"]
    assert bon.attrs["block"] == BON_BLOCK and bon.attrs["budget"] == BON_BUDGET
    n, c = bon["samples"], bon["correct"]
    assert n.min() == 60 and n.max() == BON_BUDGET and (n % BON_BLOCK == 0).all()
    assert (c[n < BON_BUDGET] > 0).all()
    # the thinned counts' share broken in 100 attempts, over seeds, is the truth at k = 100
    solved = np.mean([(thin_sweep(bon, 100, s, block=BON_BLOCK)["correct"] > 0).mean()
                      for s in range(100)])  # fmt: skip
    assert solved == pytest.approx(np.mean(sweep_pass_at_k(bon, 100, block=BON_BLOCK)), abs=0.01)


def test_loader_rejects_counts_the_sweep_could_not_give_and_names_a_missing_file(tmp_path):
    raw = pd.DataFrame({"Model": ["a", "a"], "Problem Idx": [0, 1], "Num. Samples": [60, 130],
                        "Num. Samples Correct": [1, 0], "Scaling Parameter": [1, 1]})  # fmt: skip
    raw.to_parquet(tmp_path / "bon.parquet")
    with pytest.raises(RunsError, match="130 attempts with 0 successes"):
        bon_jailbreaking(tmp_path / "bon.parquet")
    with pytest.raises(BayesScalingError, match="BAYES_SCALING_DATA"):
        bon_jailbreaking(tmp_path / "nowhere")
