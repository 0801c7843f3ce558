"""The design on a real NUTS fit of the demo table: budget, order, no repeats, reproducible, a
batch that spreads, a run near the target worth more than one inside the data, the band before
the picks equal to the fit's own band."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.design.candidates import isoflop_grid
from bayes_scaling.design.result import PICK_COLUMNS
from bayes_scaling.design.selection import score_candidates

pytestmark = pytest.mark.slow
TARGET = [1e22]


@pytest.fixture(scope="module")
def pool(demo_fit):
    return isoflop_grid(demo_fit.runs, 1e21, n_budgets=5, per_budget=7)


@pytest.fixture(scope="module")
def result(demo_fit, pool):
    return bs.design(demo_fit, pool, budget=1e21, compute=TARGET, seed=5, n_worlds=16)


def test_picks_respect_budget_order_and_no_repeats(result, pool):
    picks = result.picks
    assert list(picks.columns) == PICK_COLUMNS
    assert len(picks) >= 1
    assert picks["cumulative_cost"].iloc[-1] <= 1e21 * (1 + 1e-12)
    assert np.allclose(picks["cumulative_cost"], picks["cost"].cumsum())
    assert picks["candidate"].is_unique
    assert (picks["gain"] > 0).all()
    # the objective after each pick is the one before minus the pick's gain
    before = np.r_[result.initial, picks["objective"].to_numpy()[:-1]]
    assert np.allclose(before - picks["gain"], picks["objective"])
    chosen = pool.set_index("candidate").loc[picks["candidate"]]
    assert np.allclose(chosen["params"], picks["params"])
    assert result.converged and picks["converged"].all()


def test_same_seed_same_picks(demo_fit, pool, result):
    again = bs.design(demo_fit, pool, budget=1e21, compute=TARGET, seed=5, n_worlds=16)
    pd.testing.assert_frame_equal(again.picks, result.picks)


def test_band_before_is_the_fits_predictive_band(demo_fit, result):
    fits = demo_fit.bands(compute=TARGET, prob=0.9, as_xarray=True).sel(band="predictive")
    before = result.bands[result.bands["stage"] == "before"].iloc[0]
    width = float(fits["upper"].squeeze() - fits["lower"].squeeze())
    assert before["upper"] - before["lower"] == pytest.approx(width, rel=0.08)
    after = result.bands[result.bands["stage"] == "after"].iloc[0]
    assert after["upper"] - after["lower"] < before["upper"] - before["lower"]


def test_a_run_near_the_target_gains_more_than_one_inside_the_data(demo_fit):
    runs = demo_fit.runs
    inside = runs.iloc[int(np.argmax(runs["compute"]))]
    near_c = 1e21  # one decade below the target, a decade beyond the largest run (1e20)
    n = np.sqrt(near_c / (6 * 20))
    candidates = pd.DataFrame(
        {"params": [inside["n_params"] * 1.01, n], "tokens": [inside["n_tokens"], near_c / (6 * n)]}
    )
    scores = score_candidates(demo_fit, candidates, compute=TARGET, seed=2)
    assert scores["gain"].iloc[1] > scores["gain"].iloc[0] > -0.05 * scores.attrs["initial"]


def test_a_batch_does_not_pile_onto_one_spot(demo_fit, pool):
    # eight copies of the first pick's spot: the fantasies of the first pick there make every
    # later copy worth far less than it was, so runs elsewhere come in between (scored
    # independently, each copy would gain as much as the first and the nine would go first)
    first = bs.design(demo_fit, pool, budget=1e21, compute=TARGET, seed=5, n_worlds=16)
    spot = first.picks.iloc[0]
    copies = pd.DataFrame(
        {"params": spot["params"] * (1 + 1e-3 * np.arange(1, 9)), "tokens": spot["tokens"]}
    )
    crowded = pd.concat([pool[["params", "tokens"]], copies], ignore_index=True)
    budget = 8 * spot["cost"] * 1.5
    d = bs.design(demo_fit, crowded, budget=budget, compute=TARGET, seed=5, n_worlds=16)
    at_spot = np.isclose(d.picks["params"], spot["params"], rtol=1e-2) & np.isclose(
        d.picks["tokens"], spot["tokens"], rtol=1e-2
    )
    assert len(d.picks) >= 3 and 1 <= at_spot.sum() < len(d.picks)
    gains = d.picks["gain"].to_numpy()[at_spot]
    assert (gains[1:] < 0.5 * gains[0]).all()
    first, second = np.flatnonzero(at_spot)[:2]  # another run comes between the first two
    assert second > first + 1


def test_other_objectives_and_point_targets(demo_fit, pool):
    reg = bs.design(
        demo_fit, pool, budget=3e20, compute=TARGET, objective="regret", seed=1, n_worlds=8
    )
    assert reg.objective == "regret" and len(reg.picks) and (reg.picks["gain"] > 0).all()
    # the picks narrow the expected regret by a share that matters, not by rounding
    assert reg.picks["gain"].sum() > 0.02 * reg.initial
    var = bs.design(
        demo_fit,
        pool,
        budget=3e20,
        params=[3e9],
        tokens=[6e10],
        objective="variance",
        seed=1,
        n_worlds=8,
    )
    assert var.final < var.initial
    with pytest.raises(bs.ArgumentError, match="objective"):
        bs.design(demo_fit, pool, budget=3e20, params=[3e9], tokens=[6e10], objective="regret")
    with pytest.raises(bs.ArgumentError, match="budget"):
        bs.design(demo_fit, pool, budget=0, compute=TARGET)


def test_already_run_candidates_are_skipped(demo_fit, pool):
    runs = demo_fit.runs
    both = pd.concat(
        [
            runs[["n_params", "n_tokens"]]
            .rename(columns={"n_params": "params", "n_tokens": "tokens"})
            .iloc[:2],
            pool[["params", "tokens"]],
        ],
        ignore_index=True,
    )
    d = bs.design(demo_fit, both, budget=1e20, compute=TARGET, seed=1, n_worlds=8)
    assert d.skipped == [0, 1]
    assert not set(d.picks["candidate"]) & {0, 1}


def test_report_page_and_figure(result, tmp_path):
    from bayes_scaling.design.plots import design_plot

    fig = design_plot(result)
    assert len(fig.axes) == 2
    result.report(tmp_path / "design.html")
    built = result.report(tmp_path / "md" / "design.md")
    html = (tmp_path / "design.html").read_text()
    assert "Which runs to train next" in html and "design-picks" in html
    assert (tmp_path / "md" / "design.md").exists() and "design" in built.figures
    ds = result.to_xarray()
    assert ds.sizes["pick"] == len(result.picks) and ds.attrs["objective"] == "width"


def test_runs_are_fitted_first(pool):
    d = bs.design(
        bs.datasets.demo(),
        pool,
        budget=3e20,
        compute=TARGET,
        seed=2,
        n_worlds=8,
        draws=300,
        tune=300,
        chains=2,
    )
    assert d.settings["law"] == "chinchilla" and d.settings["seed"] == 2
    assert d.picks["cost"].sum() <= 3e20 * (1 + 1e-12)


@pytest.mark.parametrize("target", [{"compute": TARGET}, {"params": [1e8], "tokens": [2e9]}])
def test_the_designs_law_band_at_a_target_is_the_bands_one(demo_fit, pool, target):
    # the same discrepancy curves and local misfit draws (seeded alike), all draws kept
    from bayes_scaling.design.worlds import build_worlds

    assert demo_fit.discrepancy is not None and demo_fit.discrepancy.local is not None
    worlds = build_worlds(demo_fit, pool, seed=3, max_draws=10**6, likelihoods=False, **target)
    law = np.exp(worlds.targets.log_mean(worlds.reference))[:, 0]
    bands = demo_fit.bands(prob=0.9, seed=3, **target).set_index("band").loc["law"]
    assert np.quantile(law, 0.05) == pytest.approx(bands["lower"], rel=1e-9)
    assert np.quantile(law, 0.95) == pytest.approx(bands["upper"], rel=1e-9)


class _GrowingGains:
    """A stand-in update (plumbing, no fit) whose gains are not submodular: the last candidate
    gains 1 before the first pick and 3 after it, while those that gained most fall to 2."""

    def __init__(self):
        class Worlds:
            reference = None

            @staticmethod
            def extended(reference, j):
                return reference

        self.worlds = Worlds()

    def start(self):
        return ()

    def value(self, state, reference):  # the objective before any pick, then after the first
        return 10.0 if not state else 5.0

    def _gain(self, state, j):
        if not state:
            return 5.0 if j == 0 else 4.0 if j <= 24 else 1.5 if j <= 28 else 1.0
        return 2.0 if 1 <= j <= 24 else 1.5 if j <= 28 else 3.0 if j == 29 else 0.0

    def score(self, state, reference, idx):
        base = self.value(state, reference)
        values = np.array([base - self._gain(state, int(j)) for j in idx])
        return values, np.full(len(idx), 1e3), np.zeros(len(idx))

    def pick(self, state, j):
        return (*state, j)


def test_plumbing_greedy_rescores_every_candidate_at_every_pick():
    # a search that re-scored only the candidates whose last score could still win would take
    # one of 1..24 (now 2) second, and miss 29, which grew from 1 to 3
    from bayes_scaling.design.selection import _greedy

    pool = pd.DataFrame({"candidate": range(30), "params": 1e8, "tokens": 1e9, "cost": 1.0})
    pool["compute"] = 6e17
    rows, *_ = _greedy(_GrowingGains(), pool, 2.0, None, per_flop=True)
    assert [r["candidate"] for r in rows] == [0, 29]


class _OneNaN(_GrowingGains):
    """A stand-in whose candidate 2 scores NaN: the others must still be weighed."""

    def _gain(self, state, j):
        return {0: 1.0, 1: 2.0, 2: np.nan, 3: 4.0}[j] if not state else 0.0


def test_plumbing_a_nan_score_is_no_gain_not_the_end_of_the_search():
    from bayes_scaling.design.selection import _greedy

    pool = pd.DataFrame({"candidate": range(4), "params": 1e8, "tokens": 1e9, "cost": 1.0})
    pool["compute"] = 6e17
    rows, *_ = _greedy(_OneNaN(), pool, np.float32(1.0), None, per_flop=True)
    assert [r["candidate"] for r in rows] == [3]


def test_the_picks_cost_at_most_the_budget_exactly(demo_fit):
    # in floats 1e20 + 1000 + 4000 == 1e20: the three would "fit" a budget of 1e20
    from fractions import Fraction

    pool = pd.DataFrame(
        {"params": [1e9, 1e8, 3e8], "tokens": [2e10, 2e9, 6e9], "cost": [1e20, 1000.0, 4000.0]}
    )
    d = bs.design(demo_fit, pool, budget=1e20, compute=TARGET, seed=1, n_worlds=8)
    assert len(d.picks) >= 1
    assert sum(Fraction(c) for c in d.picks["cost"]) <= Fraction(1e20)
