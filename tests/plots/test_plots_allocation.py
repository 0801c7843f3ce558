"""Plumbing tests of bayes_scaling.plots.allocation on hand-built, seeded Datasets (no sampling)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

from bayes_scaling.plots import allocation_frontier, optimum_posterior
from bayes_scaling.plots.allocation import _count, _log_ticks

BUDGETS = np.array([1e23, 1e24])
K = 6.0


def make_opt(seed: int = 0, chains: int = 2, draws: int = 400) -> xr.Dataset:
    """An ``optimal_allocation``-like Dataset: lognormal N*, D* = C/(kN*)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0.51, 0.01, (chains, draws))
    g = np.exp(rng.normal(0.0, 0.12, (chains, draws)))
    n = 0.25 * g[..., None] * (BUDGETS / K) ** a[..., None]  # N* grows with the budget
    d = BUDGETS / (K * n)
    dims = ("chain", "draw", "budget")
    return xr.Dataset(
        {
            "n_params": (dims, n),
            "n_tokens": (dims, d),
            "tokens_per_param": (dims, d / n),
            "loss": (dims, 1.8 + rng.normal(0.1, 0.01, n.shape)),
            "allocation_exponent": (("chain", "draw"), a),
        },
        coords={"chain": np.arange(chains), "draw": np.arange(draws), "budget": BUDGETS},
    )


def make_frontier(converged: int = 1, compute: float = 1e24) -> xr.Dataset:
    """A ``frontier``-like Dataset: a parabola in log N with bands of constant width."""
    n = np.geomspace(2e10, 5e11, 40)
    x = np.log(n / 9.4e10)
    centre = 1.954 + 0.012 * x**2
    probs = np.array([0.5, 0.9])
    half = np.array([0.0055, 0.013])[:, None]
    return xr.Dataset(
        {
            "expected_loss": ("n_params", centre),
            "median": ("n_params", centre - 0.0003),
            "lower": (("prob", "n_params"), centre - half),
            "upper": (("prob", "n_params"), centre + half),
        },
        coords={"n_params": n, "n_tokens": ("n_params", compute / (K * n)), "prob": probs},
        attrs={
            "compute": compute,
            "bayes_n": 9.42e10,
            "n_star_median": 9.43e10,
            "converged": converged,
        },
    )


def all_texts(fig: Figure) -> list[str]:
    texts = [t.get_text() for t in fig.texts] + [fig.get_suptitle()]
    for ax in fig.axes:
        texts += [t.get_text() for t in ax.texts] + [ax.get_title(), ax.get_xlabel()]
        texts += [t.get_text() for t in ax.get_xticklabels()]
        if ax.get_legend() is not None:
            texts += [t.get_text() for t in ax.get_legend().get_texts()]
    return texts


def saved(fig: Figure, path) -> int:
    fig.savefig(path, dpi=50)
    return path.stat().st_size


# --- helpers ------------------------------------------------------------------------------------


def test_count_format():
    assert [_count(x) for x in (9.43e10, 1.77e12, 5e6, 2500.0, 12.0)] == [
        "94.3B",
        "1.77T",
        "5M",
        "2.5K",
        "12",
    ]


@pytest.mark.parametrize("lo, hi", [(7e10, 1.3e11), (1.8e10, 4.9e11), (1e9, 1e13), (9.9e10, 1e11)])
def test_log_ticks_are_inside_and_several(lo, hi):
    ticks = _log_ticks(lo, hi)
    assert np.all((ticks >= lo) & (ticks <= hi))
    assert 2 <= ticks.size <= 8


# --- optimum_posterior --------------------------------------------------------------------------


def test_optimum_posterior_default_budget(tmp_path):
    fig = optimum_posterior(make_opt())
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    n_ax, d_ax, r_ax = fig.axes
    assert n_ax.get_xlabel() == "parameters N*"
    assert d_ax.get_xlabel() == "tokens D*"
    assert "D*/N*" in r_ax.get_xlabel()
    assert n_ax.get_xscale() == "log" and d_ax.get_xscale() == "log"
    texts = all_texts(fig)
    assert any("compute-optimal split at 1e+23 FLOPs (posterior)" in t for t in texts)
    assert any("Chinchilla rule ~20" in t for t in texts)
    assert sum(t.startswith("median ") and "90%:" in t for t in texts) == 3
    assert any("P(a > 0.5)" in t for t in texts)
    assert "NOT CONVERGED" not in texts
    ref_lines = [ln for ln in r_ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(ref_lines) == 1 and ref_lines[0].get_xdata()[0] == pytest.approx(20.0)
    assert any(t.endswith("B") for t in (t.get_text() for t in n_ax.get_xticklabels()))
    assert saved(fig, tmp_path / "optimum.png") > 0


def test_optimum_posterior_picks_budget_and_median():
    opt = make_opt()
    fig = optimum_posterior(opt, 1e24, reference_tokens_per_param=None)
    texts = all_texts(fig)
    assert any("at 1e+24 FLOPs" in t for t in texts)
    assert not any("Chinchilla" in t for t in texts)
    n_ax = fig.axes[0]
    solid = [ln for ln in n_ax.get_lines() if ln.get_color() == "black"]
    median = float(opt["n_params"].sel(budget=1e24).median())
    assert solid and solid[0].get_xdata()[0] == pytest.approx(median)


def test_optimum_posterior_not_converged(tmp_path):
    fig = optimum_posterior(make_opt(), converged=False)
    assert "NOT CONVERGED" in all_texts(fig)
    assert saved(fig, tmp_path / "optimum_nc.png") > 0


def test_optimum_posterior_without_budget_dim():
    fig = optimum_posterior(make_opt().isel(budget=1))  # budget left as a scalar coordinate
    assert any("at 1e+24 FLOPs" in t for t in all_texts(fig))


def test_optimum_posterior_errors():
    with pytest.raises(ValueError, match="budget"):
        optimum_posterior(make_opt(), 5e22)
    with pytest.raises(ValueError, match="tokens_per_param"):
        optimum_posterior(make_opt().drop_vars("tokens_per_param"))


# --- allocation_frontier ------------------------------------------------------------------------


def marker_lines(ax) -> dict[str, float]:
    """Vertical lines (legend label -> x)."""
    out = {}
    for ln in ax.get_lines():
        x = np.asarray(ln.get_xdata(), float)
        if x.size == 2 and x[0] == x[1]:
            out[ln.get_label()] = float(x[0])
    return out


def test_allocation_frontier_basics(tmp_path):
    fig = allocation_frontier(make_frontier())
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    assert ax.get_title() == "allocation frontier at C = 1e+24 FLOPs: loss of each N (law-only)"
    assert len(ax.collections) == 2  # one band per prob
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:2] == ["50% interval of the loss", "90% interval of the loss"]
    markers = marker_lines(ax)
    assert len(markers) == 2
    assert any(
        k.startswith("Bayes-optimal N") and v == pytest.approx(9.42e10) for k, v in markers.items()
    )
    assert any(k.startswith("median of per-draw N*") for k in markers)
    assert "NOT CONVERGED" not in all_texts(fig)
    assert ax.child_axes  # the tokens axis on top
    assert saved(fig, tmp_path / "frontier.png") > 0


def test_allocation_frontier_bands_widest_lightest_and_visible():
    ds = make_frontier()
    fig = allocation_frontier(ds)
    (ax,) = fig.axes
    wide, narrow = ax.collections  # drawn widest first
    assert np.mean(wide.get_facecolor()[0][:3]) > np.mean(narrow.get_facecolor()[0][:3])
    lo, hi = ax.get_ylim()
    assert lo <= float(ds["lower"].min()) and hi >= float(ds["upper"].max())
    curvature = float(ds["expected_loss"].max() - ds["expected_loss"].min())
    assert hi - lo < 6 * curvature  # the curve's shape is not squashed flat


def test_allocation_frontier_optional_markers_and_not_converged(tmp_path):
    fig = allocation_frontier(make_frontier(converged=0), chosen_n=6e10, mean_fit_n=9.4e10)
    (ax,) = fig.axes
    markers = marker_lines(ax)
    assert len(markers) == 4
    assert any(k.startswith("chosen N") and v == pytest.approx(6e10) for k, v in markers.items())
    assert any(k.startswith("N* of posterior-mean") for k in markers)
    texts = all_texts(fig)
    assert "NOT CONVERGED" in texts
    assert any("mnats" in t and "Bayes-optimal" in t for t in texts)
    assert saved(fig, tmp_path / "frontier_nc.png") > 0


def test_allocation_frontier_without_prob_dim_or_median():
    ds = make_frontier().sel(prob=0.9).drop_vars("median")
    fig = allocation_frontier(ds)
    assert len(fig.axes[0].collections) == 1


def test_allocation_frontier_missing_variable():
    with pytest.raises(ValueError, match="expected_loss"):
        allocation_frontier(make_frontier().drop_vars("expected_loss"))
