"""Grouped fits and comparisons (issue 5/5): real NUTS on simulated two-recipe ladders."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.answers.difference import difference_table, loss_difference
from bayes_scaling.answers.gap import check_request, crossover, multiplier
from bayes_scaling.cli import main
from bayes_scaling.errors import BayesScalingError, PriorError, RunsError
from bayes_scaling.inference.grouped import fit_groups, gate_names, resolve_group_priors
from bayes_scaling.laws import get_law
from bayes_scaling.model.pooling import Pooling, pooling_modes
from bayes_scaling.model.simulate import (
    DEMO_TRUTH,
    RECIPE_TRUTHS,
    true_crossover,
    true_multiplier,
    two_recipe_ladder,
)
from bayes_scaling.results import GroupedFit

BUDGETS = [1e20, 1e22, 1e24]
#: Shorter than fit_groups' defaults (4 chains, 2000 draws, 1500 tuning steps, target_accept
#: 0.98), which are for the gate; these tests check what the posterior says, not that it passes
#: the gate (so no rescue ladder either: it would refit with 2000+ draws whenever the gate fails).
#: 2 chains run side by side on a 2-core machine: half the wall time of 4 for the same draws each.
QUICK = {"draws": 1000, "tune": 1000, "chains": 2, "target_accept": 0.95, "rescue": False}
#: The simulated ladders follow the law exactly, so tests of the parameter posterior's
#: calibration use parameter-only fits (no internal refits: ~6 s less a fit); the discrepancy's
#: comparisons are tested in test_compare_discrepancy.py.
PARAMS_ONLY = {**QUICK, "discrepancy": False}
ACROSS_SEEDS = {**PARAMS_ONLY, "tune": 500}
TRUTH_A, TRUTH_B = RECIPE_TRUTHS["A"], RECIPE_TRUTHS["B"]


@pytest.fixture(scope="module")
def grouped():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_groups(two_recipe_ladder(seed=11), seed=11, **QUICK)


def _one_draw(truth):
    return {k: np.array([v]) for k, v in truth.items()}


def test_crossover_and_multiplier_solvers_match_the_known_truth():
    """The per-draw solvers, fed the true laws as a single draw, give the simulator's answers."""
    law = get_law("chinchilla")
    where, outcome = crossover(law, _one_draw(TRUTH_A), _one_draw(TRUTH_B), 1e17, 1e25, 6.0)
    assert outcome[0] == "crossover"
    assert where[0] == pytest.approx(true_crossover(TRUTH_A, TRUTH_B), rel=1e-6)
    k = multiplier(law, _one_draw(TRUTH_A), _one_draw(TRUTH_B), np.array(BUDGETS), 6.0)
    np.testing.assert_allclose(k[0], true_multiplier(TRUTH_A, TRUTH_B, BUDGETS), rtol=1e-6)
    # B's loss below A's irreducible loss: no multiplier can match it
    better_floor = {**TRUTH_B, "E": TRUTH_A["E"] - 0.5}
    k = multiplier(law, _one_draw(TRUTH_A), _one_draw(better_floor), np.array([1e26]), 6.0)
    assert np.isinf(k[0, 0])
    # B worse everywhere: A ahead throughout, no crossover
    worse = {**TRUTH_A, "E": TRUTH_A["E"] + 0.1}
    where, outcome = crossover(law, _one_draw(TRUTH_A), _one_draw(worse), 1e17, 1e25, 6.0)
    assert outcome[0] == "A ahead throughout" and np.isnan(where[0])
    # the other way round: B ahead lower down, A overtakes it (not a crossover of B over A)
    where, outcome = crossover(law, _one_draw(TRUTH_B), _one_draw(TRUTH_A), 1e17, 1e25, 6.0)
    assert outcome[0] == "A overtakes B" and np.isnan(where[0])
    where, outcome = crossover(law, _one_draw(TRUTH_A), _one_draw(TRUTH_B), 1e20, 1e25, 6.0)
    assert outcome[0] == "B ahead throughout"


def test_true_crossover_and_multiplier_inside_90_intervals_across_seeds():
    """Five seeded ladders. With calibrated 90% intervals, each quantity is covered at least 4
    times in 5 with probability 0.92; a biased comparison fails this."""
    truth_x, truth_k = true_crossover(TRUTH_A, TRUTH_B), true_multiplier(TRUTH_A, TRUTH_B, BUDGETS)
    hits = {"crossover": 0, **{b: 0 for b in BUDGETS}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(5):
            # 2 chains x 1000 draws place a 90% interval's ends well enough for coverage (as
            # 4 x 500 did, in half the wall time on 2 cores); 500 tuning steps suffice here
            g = fit_groups(two_recipe_ladder(seed=seed), seed=seed, **ACROSS_SEEDS)
            c = g.compare(compute=BUDGETS)
            x, table = c.crossover_summary(), c.table()
            hits["crossover"] += x["crossover_lower"] <= truth_x <= x["crossover_upper"]
            for i, b in enumerate(BUDGETS):
                lo, hi = table.loc[i, "multiplier_lower"], table.loc[i, "multiplier_upper"]
                hits[b] += lo <= truth_k[i] <= hi
            assert x["p_crossover_in_range"] > 0.9  # the true crossover is inside the range
    assert all(n >= 4 for n in hits.values()), hits


def test_partial_pooling_narrows_exponents_that_are_truly_shared():
    shared = {
        "A": DEMO_TRUTH,
        "B": {**DEMO_TRUTH, "log_A": DEMO_TRUTH["log_A"] + 0.4, "log_B": DEMO_TRUTH["log_B"] + 0.4},
    }
    runs = two_recipe_ladder(shared, seed=100, sizes_per_budget=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = {
            pool: fit_groups(runs, pool=pool, seed=1, **PARAMS_ONLY)
            for pool in ("exponents", "none")
        }
    for name in ("alpha", "beta"):
        width = {
            pool: float(
                (
                    f.posterior[name].quantile(0.95, ("chain", "draw"))
                    - f.posterior[name].quantile(0.05, ("chain", "draw"))
                ).mean()
            )
            for pool, f in fits.items()
        }
        assert width["exponents"] < 0.9 * width["none"], (name, width)
    # the same exponents and larger coefficients: B is worse at every budget and almost surely
    # never overtakes A (evidence for P(no crossover in range))
    c = fits["exponents"].compare(compute=BUDGETS)
    x = c.crossover_summary()
    assert x["p_no_crossover_in_range"] > 0.8, x
    assert x["p_a_ahead_throughout"] > 0.5, x
    assert (c.table()["p_b_better"] < 0.2).all()


def test_grouped_fit_checks_every_group_and_population_parameter(grouped):
    assert isinstance(grouped, GroupedFit) and grouped.groups == ("A", "B")
    names = gate_names(grouped.law, grouped.priors, grouped.pooling)
    assert {"alpha_mu", "alpha_tau", "beta_mu", "beta_tau", "E", "sigma"} <= set(names)
    assert grouped.posterior["alpha"].dims == ("chain", "draw", "group")
    assert grouped.posterior["E"].dims == ("chain", "draw")  # shared by default
    summary = grouped.summary()
    assert set(summary.loc[summary.parameter == "alpha", "group"]) == {"A", "B"}
    assert summary.attrs["converged"] == grouped.converged
    assert grouped.idata["log_likelihood"]["log_loss"].shape[-1] == len(grouped.runs)


def test_grouped_fit_saves_and_loads_without_pickle(grouped, tmp_path):
    path = grouped.save(tmp_path / "grouped.nc")
    back = bs.load(path)
    assert isinstance(back, GroupedFit)
    assert back.pooling == grouped.pooling and back.converged == grouped.converged
    np.testing.assert_array_equal(back.posterior["alpha"], grouped.posterior["alpha"])
    assert list(back.runs["group"]) == list(grouped.runs["group"])
    t1, t2 = grouped.compare(compute=[1e22]).table(), back.compare(compute=[1e22]).table()
    np.testing.assert_allclose(t1.to_numpy(float), t2.to_numpy(float))


def test_one_group_as_a_scaling_fit(grouped):
    b = grouped.group_fit("B")
    assert len(b.runs) == 48 and set(b.runs["group"]) == {"B"}
    bands = b.bands(compute=[1e21], discrepancy=False, as_xarray=True)
    assert bands.attrs.get("converged", grouped.converged) == grouped.converged
    assert float(b.posterior["alpha"].mean()) > float(
        grouped.group_fit("A").posterior["alpha"].mean()
    )


def test_comparison_outputs(grouped):
    c = grouped.compare(compute=BUDGETS, compute_range=(1e17, 1e25))
    table = c.table()
    assert list(table["compute"]) == BUDGETS
    assert (table["multiplier_lower"] <= table["multiplier"]).all()
    assert table["p_b_better"].between(0, 1).all()
    assert set(c.parameters["parameter"]) >= {"alpha", "beta", "log_A", "log_B"}
    assert "E" not in set(c.parameters["parameter"])  # shared: no difference
    assert c.headline(1e24).startswith("B beats A at 1e+24 FLOPs with probability")
    parsed = json.loads(c.to_json())
    assert parsed["crossover"]["range_upper"] == 1e25
    assert parsed["law"] == "chinchilla" and parsed["pool"] == "exponents"
    assert c.table().attrs["converged"] == grouped.converged
    # repeated budgets are one row
    assert len(grouped.compare(compute=[1e22, 1e22, 1e20]).table()) == 2
    # at given sizes, both recipes at the same N and D
    at = loss_difference(grouped, "A", "B", params=[1e9, 1e10], tokens=[2e10, 2e11])
    assert at["difference"].dims == ("chain", "draw", "point")
    rows = difference_table(at)
    assert list(rows["n_params"]) == [1e9, 1e10] and rows["p_b_better"].between(0, 1).all()
    with pytest.raises(BayesScalingError, match="^tokens: law 'chinchilla' compares at"):
        loss_difference(grouped, "A", "B", params=[1e9])


def test_infinite_multipliers_keep_their_quantiles_and_json_stays_strict(grouped):
    """Draws where B's loss is below A's floor have k = +inf: the intervals must say so (not
    nan), and the JSON must be strict (null, not Infinity)."""
    from dataclasses import replace

    c = grouped.compare(compute=[1e24])
    draws = c.draws.copy()
    k = draws["multiplier"].to_numpy()
    k[:, : k.shape[1] // 2] = np.inf  # half the draws beyond the range searched
    c = replace(c, draws=draws.assign(multiplier=(draws["multiplier"].dims, k)))
    row = c.table().iloc[0]
    assert np.isfinite(row["multiplier_lower"]) and np.isinf(row["multiplier_upper"])
    assert ">1e+06×" in c.headline()
    text = c.to_json()
    assert "Infinity" not in text and "NaN" not in text
    assert json.loads(text)["budgets"][0]["multiplier_upper"] is None


def test_comparison_and_pooling_errors(grouped):
    runs = two_recipe_ladder(seed=0)
    with pytest.raises(RunsError, match="'recipe'"):
        fit_groups(runs, group_col="recipe")
    with pytest.raises(RunsError, match="one group only"):
        fit_groups(runs[runs.group == "A"])
    three = runs.assign(group=np.where(runs.index < 3, "C", runs.group))
    with pytest.raises(RunsError, match="group 'C' \\(3 runs\\)"):
        fit_groups(three)
    with pytest.raises(BayesScalingError, match="no group 'Z'"):
        grouped.compare("A", "Z")
    law = get_law("chinchilla")
    with pytest.raises(PriorError, match="pooling mode"):
        pooling_modes(law, "exponents", {"E": "pooled"})
    with pytest.raises(PriorError, match="log_A is shared but its exponent alpha varies"):
        pooling_modes(law, "exponents", {"log_A": "shared"})
    with pytest.raises(PriorError, match="unknown pooling preset"):
        pooling_modes(law, "some")
    with pytest.raises(BayesScalingError, match="^prob: must be strictly between 0 and 1"):
        grouped.compare(prob=90)
    with pytest.raises(BayesScalingError, match="no compute-optimal split"):
        check_request(get_law("data_constrained"), ["A", "B"], None, None)


def test_varying_e_gets_a_bound_every_group_satisfies():
    """E < lowest loss must hold for each group's own E: with E per group, the Uniform bound is
    the largest of the groups' lowest losses, not the lowest loss overall."""
    runs = two_recipe_ladder(seed=0).assign(
        loss=lambda t: t.loss + np.where(t.group == "A", 0.3, 0)
    )
    law = get_law("chinchilla")
    for pool, expected in (
        ("exponents", runs.loss.min()),
        ("none", runs.groupby("group").loss.min().max()),
    ):
        spec = Pooling(("A", "B"), pooling_modes(law, pool))
        priors = resolve_group_priors(law, runs, None, "student_t", spec)
        assert priors["E"].params["upper"] == pytest.approx(expected), pool


def test_cli_compare(tmp_path, capsys):
    path = tmp_path / "ladder.csv"
    two_recipe_ladder(seed=2).rename(columns={"group": "recipe"}).to_csv(path, index=False)
    args = [str(path), "--group-col", "recipe", "--compute", "1e20", "1e24", "--seed", "2"]
    args += ["--draws", "500", "--tune", "500", "--chains", "2", "--target-accept", "0.95"]
    args += ["--no-discrepancy"]
    code = main(["compare", *args, "--format", "json", "--out", str(tmp_path / "g.nc")])
    out = json.loads(capsys.readouterr().out)
    assert code == (0 if out["converged"] else 3)
    assert [r["compute"] for r in out["budgets"]] == [1e20, 1e24]
    assert bs.load(tmp_path / "g.nc").groups == ("A", "B")
    assert main(["compare", str(path), "--compute", "1e20"]) == 2  # no 'group' column
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "group" in err
    assert main(["compare", *args, "--pool-param", "E"]) == 2
    assert "NAME=MODE" in capsys.readouterr().err
    # a saved grouped fit is compared again without refitting; single-fit commands refuse it
    code = main(["compare", str(tmp_path / "g.nc"), "--compute", "1e22", "--format", "csv"])
    out = capsys.readouterr().out
    assert code in (0, 3) and "p_crossover_in_range" in out and "converged" in out
    assert main(["bands", str(tmp_path / "g.nc"), "--compute", "1e22"]) == 2
    assert "grouped fit" in capsys.readouterr().err
    # a request that cannot be answered fails before any sampling
    three = two_recipe_ladder(seed=2)
    three.loc[three.index[:10], "group"] = "C"
    three.to_csv(tmp_path / "three.csv", index=False)
    assert main(["compare", str(tmp_path / "three.csv"), "--compute", "1e22"]) == 2
    assert "name the two to compare" in capsys.readouterr().err


def test_public_groupings(shared_data):
    from bayes_scaling.data.recipes import datablations_by_unique_tokens, gemstones_by_shape

    gem = gemstones_by_shape(shared_data)
    models = gem.groupby("group")["run_id"].nunique().to_dict()
    assert models == {"deep": 10, "wide": 10}, models
    assert "width/depth" in gem.attrs["grouping"]
    dat = datablations_by_unique_tokens(shared_data)
    assert dat.groupby("group").size().to_dict() == {"ample": 55, "scarce": 127}
    assert dat.loc[dat.group == "scarce", "unique_tokens"].max() <= 1.5e9
