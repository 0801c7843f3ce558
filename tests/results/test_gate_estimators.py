"""The gate's R-hat and ESS and the summary's numbers, computed in NumPy, are ArviZ's."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from bayes_scaling.results import diagnostics as d

az = pytest.importorskip("arviz_stats")


def _posterior(seed: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    slow = rng.normal(size=(4, 1000)).cumsum(axis=1) * 0.05 + rng.normal(size=(4, 1000))
    grouped = rng.gamma(2.0, size=(4, 1000, 3))
    grouped[1] += 0.3  # one chain off: R-hat must see it
    return xr.Dataset(
        {
            "slow": (("chain", "draw"), slow),
            "ties": (("chain", "draw"), np.round(rng.normal(size=(4, 1000)), 1)),
            "g": (("chain", "draw", "group"), grouped),
        },
        coords={"group": ["A", "B", "C"]},
    )


def test_rhat_and_ess_equal_arviz():
    post = _posterior()
    names = list(post.data_vars)
    ours = d.parameter_health(post, names)
    theirs = {
        "rhat": az.rhat(post),
        "bulk": az.ess(post, method="bulk"),
        "tail": az.ess(post, method="tail"),
    }
    for key in ("rhat", "bulk", "tail"):
        for name in names:
            np.testing.assert_allclose(ours[key][name], theirs[key][name], rtol=1e-10)
    assert list(ours["rhat"]["g"].coords["group"].values) == ["A", "B", "C"]


def test_estimators_on_odd_lengths_and_degenerate_draws():
    rng = np.random.default_rng(3)
    odd = rng.normal(size=(2, 101))
    ds = xr.Dataset({"x": (("chain", "draw"), odd)})
    np.testing.assert_allclose(d.rhat(odd), float(az.rhat(ds)["x"]), rtol=1e-10)
    np.testing.assert_allclose(d.ess_bulk(odd), float(az.ess(ds)["x"]), rtol=1e-10)
    assert d.ess_bulk(np.ones((2, 50))) == 100.0  # constant draws: every draw counts
    assert np.isnan(d.rhat(rng.normal(size=(1, 100))))  # one chain: no R-hat
    assert np.isnan(d.rhat(np.full((2, 50), np.nan)))


def test_the_gate_fails_on_a_statistic_it_cannot_compute():
    # a constant element (a stuck coordinate) has no R-hat: the gate fails on it, naming it,
    # instead of skipping the NaN beside a healthy parameter
    rng = np.random.default_rng(4)
    healthy = rng.normal(size=(4, 1000))
    grouped = np.stack([rng.normal(size=(4, 1000)), np.full((4, 1000), 0.3)], axis=-1)
    post = xr.Dataset(
        {"a": (("chain", "draw"), healthy), "c": (("chain", "draw", "group"), grouped)},
        coords={"group": ["x", "y"]},
    )
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((4, 1000), bool))})
    assert d.check(post, stats, ["a"]).converged
    diag = d.check(post, stats, ["a", "c"])
    assert not diag.converged and np.isnan(diag.max_rhat)
    assert diag.failures == ("R-hat not computable for c (constant or non-finite draws)",)
    assert d.failing_parameters(d.parameter_health(post, ["a", "c"])) == ["c"]


def test_posterior_table_equals_arviz_summary():
    post = _posterior(1)
    labels, cols = d.posterior_table(post, 0.9)
    stats = az.summary(post, ci_prob=0.9, ci_kind="eti", round_to="none")
    median = az.summary(post, kind="stats_median", ci_prob=0.9, ci_kind="eti", round_to="none")
    lower, upper = (c for c in stats.columns if c.startswith("eti"))
    assert labels == list(stats.index)
    expected = {
        "mean": stats["mean"],
        "sd": stats["sd"],
        "median": median["median"],
        "lower": stats[lower],
        "upper": stats[upper],
        "r_hat": stats["r_hat"],
        "ess_bulk": stats["ess_bulk"],
        "ess_tail": stats["ess_tail"],
    }
    for key, column in expected.items():
        np.testing.assert_allclose(cols[key], column.to_numpy(float), rtol=1e-10, err_msg=key)
