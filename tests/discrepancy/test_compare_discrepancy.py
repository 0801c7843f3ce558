"""Comparisons that carry the discrepancy (issue 2/5, item 6): real NUTS on small bent ladders.

Two simulated two-recipe ladders whose true loss bends beyond the Chinchilla law: both recipes
the same way (a law error they share), or recipe B alone (an error particular to B).
"""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.answers.difference import loss_difference
from bayes_scaling.answers.gap import _flat
from bayes_scaling.discrepancy.grouped import GroupDiscrepancy
from bayes_scaling.discrepancy.protocol import KNEE
from bayes_scaling.inference.grouped import fit_groups
from bayes_scaling.laws import frontier_loss
from bayes_scaling.model.simulate import RECIPE_TRUTHS, simulate_runs

BUDGETS = np.geomspace(1e17, 3e20, 8)
FAR = [3e22]  # 100x the largest run
QUICK = {"draws": 300, "chains": 2, "tune": 500, "target_accept": 0.95, "progress": False}
QUICK["rescue"] = False  # short fits fail the gate by design; no escalation


def _ladder(bend_a: float, bend_b: float, seed: int = 5):
    """Two recipes, each an isoFLOP ladder whose loss bends as exp(bend·log10(C/1e17)²)."""
    tables = []
    for i, (name, bend) in enumerate((("A", bend_a), ("B", bend_b))):
        t = simulate_runs(
            RECIPE_TRUTHS[name], budgets=BUDGETS, sizes_per_budget=6, sigma=0.004, seed=seed + i
        )
        t["loss"] *= np.exp(bend * np.log10(t["compute"] / 1e17) ** 2)
        tables.append(t.assign(group=name, run_id=name + "-" + t["run_id"]))
    return pd.concat(tables, ignore_index=True)


def _fit(runs, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short fits: what the posterior says, not the gate
        return fit_groups(runs, seed=7, **QUICK, **kwargs)


@pytest.fixture(scope="module")
def both():
    return _fit(_ladder(0.012, 0.012))


@pytest.fixture(scope="module")
def only_b():
    return _fit(_ladder(0.0, 0.012))


def _widths(gfit) -> dict:
    """90% widths far out, with the discrepancy over without: group A's loss, group B's, ΔL."""
    out = {}
    for disc in (True, False):
        row = gfit.compare(compute=FAR, prob=0.9, discrepancy=disc).table().iloc[0]
        out[disc] = {
            n: row[f"{n}_upper"] - row[f"{n}_lower"] for n in ("loss_a", "loss_b", "difference")
        }
    return {n: out[True][n] / out[False][n] for n in out[True]}


def test_a_shared_bend_widens_each_group_but_cancels_in_the_difference(both, only_b):
    disc = both.discrepancy
    assert isinstance(disc, GroupDiscrepancy) and disc.shared.learned and disc.specific.learned
    assert len(disc.shared.cuts) >= 2 and both.settings["discrepancy_prior"] == "learned"
    shared_tau, specific_tau = disc.shared.quantiles([0.5])[0], disc.specific.quantiles([0.5])[0]
    assert shared_tau > 3 * specific_tau, disc.describe()
    ratio = _widths(both)
    # each group's band far out is much wider than parameter-only; ΔL's less so (11.6, 8.4 and
    # 5.7 here with the shipped prior, whose τ population (ν = 10) has fewer near-zero errors
    # than the earlier ν = 3 one, so the group-specific part, ρ·τ, is larger: 14.9, 10.7 and 5.4
    # before; the bound keeps each group's lower tail above its E)
    assert ratio["loss_a"] > 2.5 and ratio["loss_b"] > 2.5, ratio
    assert ratio["difference"] < 0.8 * min(ratio["loss_a"], ratio["loss_b"]), ratio
    # B alone bends: the groups' held-out runs disagree, the specific error grows, ΔL widens
    bent = only_b.discrepancy
    assert bent.specific.quantiles([0.5])[0] > 2 * specific_tau, bent.describe()
    ratio_b = _widths(only_b)
    assert ratio_b["difference"] > 1.5 * ratio["difference"], (ratio, ratio_b)


def _unbent(draws, law_only, e_a, e_b) -> np.ndarray:
    """Draws whose two group losses the bound leaves as L·e^δ (above the knee, see
    :func:`bayes_scaling.discrepancy.protocol.with_error`)."""
    keep = True
    for g, e in (("a", e_a), ("b", e_b)):
        keep = keep & (draws[f"loss_{g}"] - e >= KNEE * (law_only[f"loss_{g}"] - e) * (1 - 1e-12))
    return np.asarray(keep)


def test_the_shared_draw_cancels_exactly_from_the_sign(both):
    """P(B better) and the crossover do not move when the shared error is made ten times larger,
    wherever the bound leaves both groups' losses as L·e^δ; the group bands do move. Where a
    downward error bends a draw towards its E, each group stays above its own E."""
    disc = both.discrepancy
    wide = dataclasses.replace(disc.shared, tau=10 * disc.shared.tau)
    twin = type(both)(
        both.idata, both.law, both.priors, both.pooling, both.diagnostics, both.runs, both.settings
    )
    twin.__dict__["discrepancy"] = dataclasses.replace(disc, shared=wide)
    budgets = [3e20, 3e21, 3e22]
    c1, c2 = both.compare(compute=budgets), twin.compare(compute=budgets)
    plain = both.compare(compute=budgets, discrepancy=False).draws
    e_a, e_b = (both.group_posterior(g)["E"] for g in ("A", "B"))
    keep = _unbent(c1.draws, plain, e_a, e_b) & _unbent(c2.draws, plain, e_a, e_b)
    assert keep[..., :2].mean() > 0.6  # most draws within two decades are not bent
    sign1, sign2 = (np.asarray(c.draws["difference"] < 0) for c in (c1, c2))
    np.testing.assert_array_equal(sign1[keep], sign2[keep])
    np.testing.assert_array_equal(c1.draws["outcome"], c2.draws["outcome"])
    np.testing.assert_allclose(c1.draws["crossover"], c2.draws["crossover"], rtol=1e-9)
    for c in (c1, c2):  # the bound: no group's draw below its own E
        assert bool((c.draws["loss_a"] > e_a).all()) and bool((c.draws["loss_b"] > e_b).all())
    t1, t2 = c1.table(), c2.table()
    width = t2["loss_a_upper"] - t2["loss_a_lower"]
    assert (width.iloc[1:] > 2 * (t1["loss_a_upper"] - t1["loss_a_lower"]).iloc[1:]).all()
    # at given sizes too: both groups at one distance, one shared draw
    kw = dict(params=[3e9, 1e10], tokens=[3e11, 1e12])
    d1, d2 = loss_difference(both, **kw), loss_difference(twin, **kw)
    d0 = loss_difference(both, **kw, discrepancy=False)
    keep = _unbent(d1, d0, e_a, e_b) & _unbent(d2, d0, e_a, e_b)
    assert keep.mean() > 0.3
    np.testing.assert_array_equal(
        np.asarray(d1["difference"] < 0)[keep], np.asarray(d2["difference"] < 0)[keep]
    )
    assert d1.attrs["discrepancy"].startswith("shared by the groups")


def test_save_and_load_keep_it_and_a_group_fit_carries_both_parts(both, tmp_path):
    back = bs.load(both.save(tmp_path / "g.nc"))
    assert back.discrepancy.describe() == both.discrepancy.describe()
    np.testing.assert_array_equal(
        back.discrepancy.specific.weights, both.discrepancy.specific.weights
    )
    t1, t2 = both.compare(compute=FAR).table(), back.compare(compute=FAR).table()
    np.testing.assert_allclose(t1.to_numpy(float), t2.to_numpy(float))
    # a group's own fit: the shared draws (the same for A and B) plus its own, saved with it
    a, b = both.group_fit("A"), both.group_fit("B")
    assert a.discrepancy.group == "A" and "shared by the groups" in a.discrepancy.describe()
    sizes = {"compute": np.array(FAR)}
    shape = (a.posterior.sizes["chain"], a.posterior.sizes["draw"])
    ea = a.discrepancy.error(sizes, draws_shape=shape, seed=7)
    eb = b.discrepancy.error(sizes, draws_shape=shape, seed=7)
    shared = both.discrepancy.shared.error(sizes, draws_shape=shape, seed=7)
    assert not np.allclose(ea, eb)
    assert np.corrcoef(np.ravel(ea - shared), np.ravel(eb - shared))[0, 1] < 0.2  # independent
    again = bs.load(a.save(tmp_path / "a.nc"))
    bands = a.bands(compute=FAR, prob=0.9, as_xarray=True)
    np.testing.assert_allclose(
        bands["upper"], again.bands(compute=FAR, prob=0.9, as_xarray=True)["upper"]
    )
    plain = a.bands(compute=FAR, prob=0.9, as_xarray=True, discrepancy=False)
    assert float((bands["upper"] - bands["lower"]).sel(band="law").max()) > 2 * float(
        (plain["upper"] - plain["lower"]).sel(band="law").max()
    )


def test_discrepancy_false_gives_the_parameter_only_answers(both):
    off = _fit(both.runs, discrepancy=False)
    assert off.discrepancy is None and "discrepancy" not in off.idata.children
    np.testing.assert_array_equal(off.posterior["alpha"], both.posterior["alpha"])  # same seed
    c_off = off.compare(compute=FAR)
    table = c_off.table()
    np.testing.assert_allclose(
        table.to_numpy(float), both.compare(compute=FAR, discrepancy=False).table().to_numpy(float)
    )
    assert c_off.discrepancy == "off" and table.attrs["discrepancy"] == "off"
    # today's formula: each group's L*(C) from its own parameters, nothing added
    names = list(off.law.params)
    la = frontier_loss(off.law, _flat(off.group_posterior("A"), names), FAR[0], 6.0)
    lb = frontier_loss(off.law, _flat(off.group_posterior("B"), names), FAR[0], 6.0)
    assert table.loc[0, "loss_a"] == pytest.approx(np.median(la))
    assert table.loc[0, "p_b_better"] == pytest.approx(np.mean(lb < la))


def test_cli_report_and_plot_say_what_the_bands_carry(both, tmp_path, capsys):
    from bayes_scaling.cli import main
    from bayes_scaling.plots import comparison_plot
    from bayes_scaling.report.comparison import comparison_content

    path = str(both.save(tmp_path / "g.nc"))
    out = {}
    for flag in ([], ["--no-discrepancy"]):
        assert main(["compare", path, "--compute", "3e22", "--format", "json", *flag]) in (0, 3)
        out[bool(flag)] = json.loads(capsys.readouterr().out)
    assert out[False]["discrepancy"].startswith("shared by the groups")
    assert out[True]["discrepancy"] == "off"
    width = {
        k: v["budgets"][0]["loss_a_upper"] - v["budgets"][0]["loss_a_lower"] for k, v in out.items()
    }
    assert width[False] > 2 * width[True]
    comparison = both.compare(compute=FAR)
    title = comparison_plot(comparison)._suptitle.get_text()
    assert "with the law's error beyond the data" in title
    content = comparison_content(comparison)
    assert "with the law's error beyond the data" in content.subtitle
    plain = comparison_content(both.compare(compute=FAR, discrepancy=False))
    assert "parameter-only" in plain.subtitle
