"""The simulated two-recipe ladder (issue 5/5's test bed): its true crossover and multiplier."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_scaling import load_runs
from bayes_scaling.model.simulate import (
    DEMO_BUDGETS,
    RECIPE_TRUTHS,
    optimal_loss,
    true_crossover,
    true_multiplier,
    two_recipe_ladder,
)

A, B = RECIPE_TRUTHS["A"], RECIPE_TRUTHS["B"]


def test_the_true_crossover_lies_inside_the_ladder_and_b_wins_above_it():
    c = true_crossover(A, B)
    assert DEMO_BUDGETS[0] < c < DEMO_BUDGETS[-1]
    assert optimal_loss(B, c / 10) > optimal_loss(A, c / 10)
    assert optimal_loss(B, c * 10) < optimal_loss(A, c * 10)
    assert optimal_loss(A, c) == pytest.approx(optimal_loss(B, c), abs=1e-9)
    assert np.isnan(true_crossover(A, A))  # identical recipes never cross


def test_the_multiplier_is_one_at_the_crossover_and_grows_beyond_it():
    c = true_crossover(A, B)
    k = true_multiplier(A, B, [c / 100, c, c * 100, c * 1e4])
    assert k[1] == pytest.approx(1.0, abs=1e-6)
    assert k[0] < 1 < k[2] < k[3]
    # its definition: A at k·C reaches B's loss at C
    assert optimal_loss(A, k[2] * c * 100) == pytest.approx(optimal_loss(B, c * 100), rel=1e-9)


def test_the_ladder_is_a_valid_runs_table_with_a_group_per_recipe():
    table = load_runs(two_recipe_ladder(seed=3))
    assert table.groupby("group").size().to_dict() == {"A": 48, "B": 48}
    assert table["run_id"].is_unique
    again = two_recipe_ladder(seed=3)
    assert np.array_equal(again["loss"].to_numpy(), table["loss"].to_numpy())
