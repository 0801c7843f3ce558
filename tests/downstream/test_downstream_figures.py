"""Downstream figures from the session's real small fit (tests/conftest.py): the link, the metric
fan and the step shares draw the numbers the answers compute, and a fan of a fit that did not
converge is stamped."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PolyCollection

from bayes_scaling.downstream.answers import link_bands, metric_bands
from bayes_scaling.downstream.plots import link_plot, metric_fan, step_shares
from bayes_scaling.downstream.report import downstream_section


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _line(ax, label):
    return next(line for line in ax.get_lines() if line.get_label() == label)


def _bands(ax):
    return {c.get_label(): c for c in ax.collections if isinstance(c, PolyCollection)}


def test_link_plot_draws_the_link_posterior_and_the_runs(downstream_fit, tmp_path):
    runs = downstream_fit.runs
    lo, hi = runs["via"].min(), runs["via"].max()
    grid = np.linspace(lo - 0.5 * (hi - lo), hi, 40)
    curve = link_bands(downstream_fit, grid, prob=[0.5, 0.9])
    fig = link_plot(runs, "via", "metric", curve, {"target": (lo - 0.2, 0.9)}, chance=0.25)
    (ax,) = fig.axes
    assert set(_bands(ax)) == {"50% band of the link", "90% band of the link"}
    median = _line(ax, "posterior median")
    order = np.argsort(grid)
    np.testing.assert_allclose(median.get_xdata(), grid[order])
    np.testing.assert_allclose(median.get_ydata(), curve["median"].isel(prob=0).values[order])
    # the link rises as the loss falls, from chance towards the ceiling
    y = median.get_ydata()[np.argsort(-median.get_xdata())]
    assert np.all(np.diff(y) >= -1e-12) and 0.25 <= y.min() < y.max() <= 1
    assert len([ln for ln in ax.get_lines() if ln.get_alpha() == 0.25]) == 30  # draws of it
    assert ax.xaxis_inverted() and _line(ax, "chance").get_ydata()[0] == 0.25
    (dots,) = [c for c in ax.collections if c.get_label() == "runs"]
    np.testing.assert_allclose(dots.get_offsets(), runs[["via", "metric"]].to_numpy())
    # the runs sit near the median curve (the link fits them)
    near = np.interp(runs["via"], grid, curve["median"].isel(prob=1).values)
    assert np.abs(near - runs["metric"]).max() < 0.05
    fig.savefig(tmp_path / "link.png")
    assert (tmp_path / "link.png").stat().st_size > 10_000
    # the figure of a fit that failed the gate says so
    assert curve.attrs["converged"] == int(downstream_fit.converged)
    texts = [t.get_text() for t in ax.texts]
    assert ("NOT CONVERGED" in texts) is (not downstream_fit.converged)
    failed = link_plot(runs, "via", "metric", curve.assign_attrs(converged=0)).axes[0]
    assert "NOT CONVERGED" in [t.get_text() for t in failed.texts]


def test_metric_fan_draws_the_chain_bands_and_rises_with_compute(downstream_fit):
    runs = downstream_fit.runs
    budgets = np.geomspace(runs["compute"].min(), 1e24, 12)
    fan = metric_bands(downstream_fit, compute=budgets, prob=[0.5, 0.9])
    fig = metric_fan(runs, "metric", fan, {"7B": 2e23, "13B": (5e23, 0.85)})
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and set(_bands(ax)) == {"50% band", "90% band"}
    median = _line(ax, "median")
    np.testing.assert_allclose(median.get_xdata(), budgets)
    np.testing.assert_allclose(median.get_ydata(), fan["median"].isel(prob=0).values)
    assert np.all(np.diff(median.get_ydata()) > 0)
    assert "NOT CONVERGED" not in [t.get_text() for t in ax.texts + fig.texts]
    assert any(t.get_text() == "7B" for t in ax.texts)  # a compute alone: a vertical line
    assert any(c.get_label() == "13B" for c in ax.collections)  # (compute, metric): a cross


def test_metric_fan_of_a_fit_that_did_not_converge_is_stamped_plumbing(downstream_fit):
    runs = downstream_fit.runs
    fan = metric_bands(downstream_fit, compute=[1e21, 1e22], prob=0.9)
    fan.attrs["converged"] = False
    fig = metric_fan(runs, "metric", fan)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]
    assert any("NOT CONVERGED" in t for t in texts)


def test_step_shares_draws_each_task_share(downstream_fit):
    section, facts = downstream_section(
        {"task a": downstream_fit, "task b": downstream_fit}, params=[5e10], tokens=[1e12]
    )
    assert section.figures == ("shares",) and list(facts["task"]) == ["task a", "task b"]
    fig = step_shares(facts.rename(columns={"task": "label"}))
    (ax,) = fig.axes
    bars = ax.patches
    assert len(bars) == 4  # a step-1 and a step-2 bar for each task
    first = [b.get_width() for b in bars[:2]]
    second = [b.get_width() for b in bars[2:]]
    np.testing.assert_allclose(first, np.clip(facts["step1_share"], 0, 1))
    np.testing.assert_allclose(np.add(first, second), 1.0)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["task a", "task b"]
