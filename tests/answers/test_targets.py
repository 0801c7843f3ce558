"""Targets: a target below the irreducible loss E is not reachable, the one "needed with
probability p, else not reachable" helper and its wording, and the one interval helper."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from bayes_scaling import _format as fmt
from bayes_scaling.answers.intervals import central_interval, needed_quantiles
from bayes_scaling.answers.targets import (
    SEARCH_MULTIPLES,
    _first_crossing,
    compute_to_reach,
    prob_reach,
    run_loss_at,
    target_answer,
)


def test_a_target_below_the_whole_posterior_of_e_is_not_reachable(demo_fit):
    e = demo_fit.posterior["E"].values.ravel()
    target = float(e.min()) - 0.05  # below every draw of E
    answer = target_answer(demo_fit, target, prob=(0.5, 0.9))
    assert answer.prob_irreducible_above == 1.0
    assert answer.prob_unreachable == 1.0
    assert answer.compute_needed == {0.5: None, 0.9: None}
    assert answer.multiple_of_largest == {0.5: None, 0.9: None}
    text = " ".join(answer.sentences())
    assert fmt.not_reachable(0.5, 1.0) in text and "FLOPs" not in text
    largest = float(demo_fit.runs["compute"].max())
    assert prob_reach(demo_fit, largest * 1e6, target) == 0.0
    table = demo_fit.allocate(largest * 100, target=target).set_index("quantity")
    assert np.isnan(table.loc["compute_needed_p50", "estimate"])
    assert table.loc["compute_needed_p90", "note"] == fmt.not_reachable(0.9, 1.0)


def test_a_target_above_every_loss_is_said_to_be_reached_from_the_start(demo_fit):
    """A target above the law's loss at the smallest compute searched is not given a compute
    "needed" as if it were a finding: the page says it is reached there already."""
    answer = target_answer(demo_fit, 100.0, prob=(0.5, 0.9))
    assert answer.multiple_of_largest == pytest.approx({0.5: 1e-6, 0.9: 1e-6}, rel=1e-9)
    assert SEARCH_MULTIPLES[0] == 1e-6
    text = " ".join(answer.sentences())
    assert "already at the smallest compute searched" in text and "needs about" not in text
    largest = float(demo_fit.runs["compute"].max())
    table = demo_fit.allocate(largest * 10, target=100.0).set_index("quantity")
    assert "the search's lower end" in table.loc["compute_needed_p90", "note"]


def test_no_draw_reaches_a_target_at_or_below_its_own_e(demo_fit):
    e = demo_fit.posterior["E"]
    target = float(e.quantile(0.5))  # half the draws have E at or above it
    c = compute_to_reach(demo_fit, target)
    finite = np.isfinite(c.values)
    assert finite.any() and not finite.all()
    assert (e.values[finite] < target).all()
    answer = target_answer(demo_fit, target, prob=(0.25, 0.9))
    assert answer.prob_unreachable >= answer.prob_irreducible_above >= 0.49
    assert answer.compute_needed[0.9] is None
    assert answer.compute_needed[0.25] == pytest.approx(
        float(np.quantile(c.values.ravel(), 0.25, method="inverted_cdf"))
    )
    largest = float(demo_fit.runs["compute"].max())
    assert prob_reach(demo_fit, largest * 1e8, target) <= 1 - answer.prob_irreducible_above


def test_compute_to_reach_agrees_with_prob_reach_at_every_budget(demo_fit):
    # P(C_reach <= C) = P(loss <= target at C): the root finder carries the local misfit g as the
    # bands do (it once left g out, and at 10x the largest run gave 0.36 against 0.50)
    assert demo_fit.discrepancy.local is not None
    largest = float(demo_fit.runs["compute"].max())
    target = float(run_loss_at(demo_fit, 10 * largest).quantile(0.3))
    c = compute_to_reach(demo_fit, target).values
    for multiple in (1, 3, 10, 100):
        p = prob_reach(demo_fit, multiple * largest, target)
        # g per draw at the draw's own split, against g at the draws' median split: close
        assert float((c <= multiple * largest).mean()) == pytest.approx(p, abs=0.02)


def test_the_first_crossing_is_found_where_the_loss_turns_up_again():
    # a draw below the target only between log C = 2 and 5 (a drift turning the loss up far out)
    # reaches it at 2, though it misses at both ends of the search
    grid = np.linspace(0.0, 10.0, 21)

    def misses(log_c, g):
        return ~((log_c >= 2.2 + g) & (log_c < 5.0))

    g = np.array([0.0, 0.1, 9.0])  # the last draw's window is empty: never reached
    found = _first_crossing(misses, grid, g)
    assert found[:2] == pytest.approx([2.2, 2.3], abs=1e-8)
    assert np.isinf(found[2])


def test_needed_quantiles_counts_unreachable_draws_as_infinite():
    needs = [4.0, 1.0, np.inf, 3.0, 2.0, np.nan, 5.0, 6.0, 7.0, 8.0]
    out = needed_quantiles(needs, [0.1, 0.5, 0.8, 0.81])
    assert out.prob_unreachable == pytest.approx(0.2) and out.prob_reachable == pytest.approx(0.8)
    # the smallest amount with P(need <= amount) >= p; +inf beyond 1 - q: None
    assert out.values == {0.1: 1.0, 0.5: 5.0, 0.8: 8.0, 0.81: None}
    assert needed_quantiles([np.inf] * 3, [0.5]).values == {0.5: None}
    assert fmt.not_reachable(0.9, 0.004) == (
        "not reachable with probability 90% (unreachable with probability <1%)"
    )


def test_central_interval_is_the_equal_tailed_quantiles_in_the_order_given():
    rng = np.random.default_rng(0)
    draws = xr.DataArray(rng.normal(size=(4, 250, 3)), dims=("chain", "draw", "point"))
    ci = central_interval(draws, [0.9, 0.5])
    assert list(ci["prob"].values) == [0.9, 0.5] and ci["lower"].dims == ("prob", "point")
    flat = draws.values.reshape(-1, 3)
    for i, p in enumerate((0.9, 0.5)):
        expect = np.quantile(flat, [(1 - p) / 2, 0.5, (1 + p) / 2], axis=0)
        got = [ci[v].isel(prob=i).values for v in ("lower", "median", "upper")]
        np.testing.assert_allclose(got, expect)
    one = central_interval(flat[:, 0], 0.9)  # a plain array: draws along the first axis
    assert "prob" not in one.dims
    np.testing.assert_allclose(float(one["upper"]), np.quantile(flat[:, 0], 0.95))
