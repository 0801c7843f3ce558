"""The pool: read and checked with row and column, costs, the proposed isoFLOP grid, already-run
candidates; the objectives' arithmetic, and an objective the law cannot answer (no sampling
here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.data import datasets
from bayes_scaling.design.candidates import already_run, isoflop_grid, read_pool
from bayes_scaling.design.objectives import check_law, get_objective, weighted_quantiles, width
from bayes_scaling.errors import ArgumentError, RunsError
from bayes_scaling.laws import get_law


def test_pool_costs_order_and_cost_column():
    pool = read_pool(pd.DataFrame({"tokens": [2e9, 1e9], "params": [1e8, 3e8], "x": ["a", "b"]}))
    assert pool["candidate"].tolist() == [0, 1]
    assert pool["cost"].tolist() == pytest.approx([6 * 1e8 * 2e9, 6 * 3e8 * 1e9])
    own = read_pool(pd.DataFrame({"params": [1e8], "tokens": [2e9], "cost": [5.0]}))
    assert own["cost"].tolist() == [5.0] and own["compute"].tolist() == [1.2e18]
    # names are matched as the runs table's are: any case, spaces, the short N and D
    for names in (["Params", "Tokens", "Cost"], [" PARAMS ", "tokens", "COST"], ["N", "D", "cost"]):
        other = read_pool(pd.DataFrame(dict(zip(names, ([1e8], [2e9], [5.0]), strict=True))))
        assert other[["params", "tokens", "cost"]].values.tolist() == [[1e8, 2e9, 5.0]]


@pytest.mark.parametrize(
    ("table", "where"),
    [
        (pd.DataFrame({"params": [1e8]}), "column 'tokens'"),
        (pd.DataFrame({"tokens": [1e8]}), "column 'params'"),
        (pd.DataFrame({"params": [1e8, -1], "tokens": [1e9, 1e9]}), "row 1, column 'params'"),
        (pd.DataFrame({"params": [np.nan], "tokens": [1e9]}), "'params': nan is not"),
        (pd.DataFrame({"params": [1e8, 1e8], "tokens": [1e9, "x"]}), "row 1, column 'tokens'"),
        (pd.DataFrame({"params": [], "tokens": []}), "empty"),
    ],
)
def test_bad_pool_names_row_and_column(table, where):
    with pytest.raises(RunsError, match=where):
        read_pool(table)


def test_already_run_matches_same_n_and_d():
    pool = read_pool(pd.DataFrame({"params": [1e8, 1e8], "tokens": [2e9, 3e9]}))
    runs = pd.DataFrame({"n_params": [1e8], "n_tokens": [2e9]})
    assert already_run(pool, runs).tolist() == [True, False]


def test_isoflop_grid_reaches_the_cap_with_sweeps():
    grid = isoflop_grid(pd.DataFrame({"compute": [1e17, 1e19]}), 1e21, n_budgets=3, per_budget=5)
    assert len(grid) == 15
    assert grid["compute"].max() == pytest.approx(1e21)
    assert grid["compute"].min() == pytest.approx(1e17)
    assert np.unique(np.round(np.log10(grid["compute"]), 6)).size == 3


def test_weighted_quantiles_uniform_is_hazen_and_weights_move_them():
    rng = np.random.default_rng(0)
    x = rng.normal(size=401)
    uniform = np.full((1, x.size), 1 / x.size)
    got = weighted_quantiles(x, uniform, (0.05, 0.5, 0.95))[0]
    assert got == pytest.approx(np.quantile(x, (0.05, 0.5, 0.95), method="hazen"), abs=1e-12)
    upper_half = np.where(x > np.median(x), 1.0, 0.0)[None] / (x > np.median(x)).sum()
    assert weighted_quantiles(x, upper_half, (0.5,))[0, 0] > got[1]


def test_objective_factories_check_their_arguments():
    with pytest.raises(ArgumentError, match="prob"):
        width(1.5)
    with pytest.raises(ArgumentError, match="objective"):
        get_objective("entropy")
    assert get_objective("regret").needs_compute


def test_a_pool_with_two_columns_for_one_size_is_refused():
    # the first alias used to win silently; as in a runs table, equal columns are no choice
    both = pd.DataFrame({"n_params": [1e8], "params": [2e8], "tokens": [1e9]})
    with pytest.raises(RunsError, match="'params' and 'n_params' both give params; keep one"):
        read_pool(both)
    same = read_pool(both.assign(params=[1e8]))
    assert same["params"].tolist() == [1e8]


def test_regret_needs_a_law_in_n_and_d_before_any_fit(no_sampling):
    # a law in compute alone has no split to regret: refused before the table is fitted
    runs = datasets.demo()
    pool = pd.DataFrame({"params": [1e8], "tokens": [2e9]})
    with pytest.raises(ArgumentError, match="compares splits of a budget between N and D"):
        bs.design(runs, pool, budget=5e20, compute=[1e22], objective="regret", law="power:compute")
    with pytest.raises(ArgumentError, match="reads unique_tokens"):  # and more than N and D
        bs.design(runs, pool, budget=5e20, compute=[1e22], law="data_constrained")
    from types import SimpleNamespace

    from bayes_scaling.design.selection import score_candidates

    power = SimpleNamespace(law=get_law("power:compute"), settings={})  # only its law is read
    with pytest.raises(ArgumentError, match="compares splits of a budget"):
        score_candidates(power, pool, compute=[1e22], objective="regret")
    with pytest.raises(ArgumentError, match="give compute= alone"):
        score_candidates(power, pool, params=[1e9], tokens=[1e10], objective="regret")
    check_law(get_objective("regret"), get_law("chinchilla"))  # a law in N and D passes
    check_law(get_objective("width"), get_law("power:compute"))  # and any law for the width
