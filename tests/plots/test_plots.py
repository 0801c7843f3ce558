"""Plumbing tests of bayes_scaling.plots on hand-built, seeded Datasets (no sampling, fast)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.figure import Figure

from bayes_scaling.plots import compute_grid, fan_chart, posterior_pairs, prior_posterior

PROBS = (0.5, 0.8, 0.95)


@pytest.fixture
def runs() -> pd.DataFrame:
    compute = np.repeat([1e18, 1e19, 1e20], 3)
    loss = 2.0 + 40.0 * compute**-0.08 + np.random.default_rng(0).normal(0, 0.02, compute.size)
    n = np.sqrt(compute / (6 * 20))
    return pd.DataFrame(
        {
            "run_id": [f"r{i}" for i in range(compute.size)],
            "n_params": n,
            "n_tokens": 20 * n,
            "compute": compute,
            "loss": loss,
        }
    )


def make_bands(compute: np.ndarray, converged: int = 1) -> xr.Dataset:
    """A ``loss_bands``-like Dataset: intervals widen with the probability and past 1e20."""
    centre = 2.0 + 40.0 * compute**-0.08
    spread = 0.02 + 0.05 * np.log10(np.maximum(compute / 1e20, 1.0))
    probs = np.asarray(PROBS)
    z = np.array([0.67, 1.28, 1.96])[:, None]
    bands = np.array([1.0, 1.5])[:, None, None]  # law, predictive
    lower = centre - bands * z * spread
    upper = centre + bands * z * spread
    median = np.broadcast_to(centre, lower.shape)
    n = np.sqrt(compute / 120)
    return xr.Dataset(
        {
            name: (("band", "prob", "point"), val)
            for name, val in (("lower", lower), ("median", median), ("upper", upper))
        },
        coords={
            "band": ["law", "predictive"],
            "prob": probs,
            "params": ("point", n),
            "tokens": ("point", 20 * n),
            "compute": ("point", compute),
        },
        attrs={"converged": converged, "law": "chinchilla", "split": "per-draw optimum"},
    )


def draws(
    spec: dict[str, tuple[float, float]], seed: int, chains: int = 2, n: int = 500
) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    return xr.Dataset(
        {k: (("chain", "draw"), rng.normal(mu, sd, (chains, n))) for k, (mu, sd) in spec.items()},
        coords={"chain": np.arange(chains), "draw": np.arange(n)},
    )


@pytest.fixture
def posterior() -> xr.Dataset:
    return draws(
        {
            "E": (1.9, 0.1),
            "alpha": (0.33, 0.02),
            "beta": (0.29, 0.02),
            "log_A": (6.0, 0.3),
            "sigma": (0.013, 0.002),
        },
        seed=1,
    )


@pytest.fixture
def prior() -> xr.Dataset:
    return draws(
        {
            "E": (1.7, 1.0),
            "alpha": (0.3, 0.2),
            "beta": (0.3, 0.2),
            "log_A": (5.7, 3.0),
            "sigma": (0.1, 0.02),
            "nu": (20.0, 10.0),
        },
        seed=2,
        chains=1,
        n=1000,
    )


def all_texts(fig: Figure) -> list[str]:
    texts = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        texts += [t.get_text() for t in ax.texts] + [ax.get_title()]
        if ax.get_legend() is not None:
            texts += [t.get_text() for t in ax.get_legend().get_texts()]
            texts.append(ax.get_legend().get_title().get_text())
    for legend in fig.legends:
        texts += [t.get_text() for t in legend.get_texts()]
    return texts


def saved(fig: Figure, path) -> int:
    fig.savefig(path, dpi=50)
    return path.stat().st_size


# --- compute_grid -------------------------------------------------------------------------------


def test_compute_grid_spans_runs_to_ten_times_largest(runs):
    grid = compute_grid(runs, n=7)
    assert grid.shape == (7,)
    assert grid[0] == pytest.approx(1e18) and grid[-1] == pytest.approx(1e21)
    assert np.allclose(np.diff(np.log(grid)), np.log(grid[1] / grid[0]))


def test_compute_grid_reaches_target(runs):
    assert compute_grid(runs, 1e23)[-1] == pytest.approx(1e23)
    assert compute_grid(runs, 1e19)[-1] == pytest.approx(1e21)  # target inside: 10× largest wins


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan])
def test_compute_grid_rejects_bad_target(runs, bad):
    with pytest.raises(ValueError):
        compute_grid(runs, bad)


# --- fan_chart ----------------------------------------------------------------------------------


@pytest.mark.parametrize("band, words", [("predictive", "a new run's loss"), ("law", "mean curve")])
def test_fan_chart_returns_figure_that_names_its_band(runs, band, words):
    bands = make_bands(compute_grid(runs, 1e22, n=20))
    fig = fan_chart(runs, bands, band=band, target_compute=1e22)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    texts = all_texts(fig)
    assert any(words in t for t in texts)
    assert any("largest run" in t for t in texts)
    assert any("budget (1.0e+22 FLOPs)" in t for t in texts)
    assert not any("NOT CONVERGED" in t for t in texts)
    assert len(ax.collections) >= len(PROBS) + 1  # one fill per interval + the runs


def test_fan_chart_stamps_not_converged(runs, tmp_path):
    fig = fan_chart(runs, make_bands(compute_grid(runs, n=10), converged=0), title="custom")
    texts = all_texts(fig)
    assert "NOT CONVERGED" in texts
    assert "custom" in texts
    assert saved(fig, tmp_path / "fan_nc.png") > 0


def test_fan_chart_draws_into_given_axes(runs):
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2)
    try:
        out = fan_chart(runs, make_bands(compute_grid(runs, n=10)), ax=ax2)
        assert out is fig and len(ax2.collections) > 0 and len(ax1.collections) == 0
    finally:
        plt.close(fig)


def test_fan_chart_rejects_unknown_band(runs):
    with pytest.raises(ValueError, match="band"):
        fan_chart(runs, make_bands(compute_grid(runs, n=10)), band="posterior")


# --- posterior_pairs ----------------------------------------------------------------------------

HOFFMANN = {"alpha": 0.34, "beta": 0.28, "E": 1.69}


def reference_markers(fig: Figure) -> list:
    """Scatter collections with a single point: the reference markers."""
    return [c for ax in fig.axes for c in ax.collections if len(c.get_offsets()) == 1]


def test_posterior_pairs_single_reference(posterior):
    fig = posterior_pairs(
        posterior, reference=HOFFMANN, reference_label="Hoffmann et al. 2022", max_points=300
    )
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 6  # 3 diagonal + 3 below it
    assert len(reference_markers(fig)) == 3  # one per scatter panel
    assert any("Hoffmann et al. 2022" in t for t in all_texts(fig))
    thinned = [c for ax in fig.axes for c in ax.collections if len(c.get_offsets()) > 1]
    assert thinned and all(len(c.get_offsets()) == 300 for c in thinned)


def test_posterior_pairs_several_references(posterior, tmp_path):
    refs = {
        "Hoffmann": HOFFMANN,
        "Epoch": {"alpha": 0.35, "beta": 0.37, "E": 1.82},
        "alpha only": {"alpha": 0.3},
    }
    fig = posterior_pairs(posterior, reference=refs, max_points=500)
    assert len(fig.axes) == 6
    markers = reference_markers(fig)
    assert len(markers) == 2 * 3  # two references give alpha, beta and E: 3 panels each
    colours = {tuple(np.round(m.get_facecolor()[0], 3)) for m in markers}
    assert len(colours) == 2
    texts = all_texts(fig)
    assert {"Hoffmann", "Epoch", "alpha only"} <= set(texts)
    assert saved(fig, tmp_path / "pairs_refs.png") > 0


def test_posterior_pairs_without_reference_and_errors(posterior):
    assert len(posterior_pairs(posterior, var_names=("alpha", "beta", "E", "log_A")).axes) == 10
    with pytest.raises(ValueError, match="nope"):
        posterior_pairs(posterior, var_names=("alpha", "nope"))
    with pytest.raises(TypeError):
        posterior_pairs(posterior, reference={"a": {"alpha": 0.3}, "alpha": 0.3})


# --- prior_posterior ----------------------------------------------------------------------------


def test_prior_posterior_defaults_to_shared_vars(prior, posterior, tmp_path):
    fig = prior_posterior(prior, posterior)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 5  # E, alpha, beta, log_A, sigma (nu has no posterior)
    assert [ax.get_title().split()[0] for ax in fig.axes] == [
        "E",
        "alpha",
        "beta",
        "log_A",
        "sigma",
    ]
    assert saved(fig, tmp_path / "priors.png") > 0


def test_prior_posterior_keeps_a_narrow_posterior_visible(prior, posterior):
    fig = prior_posterior(prior, posterior, var_names=["log_A"])
    (ax,) = fig.axes
    lo, hi = ax.get_xlim()
    post = posterior["log_A"].values
    width = np.quantile(post, 0.995) - np.quantile(post, 0.005)
    assert hi - lo <= 7.5 * width  # prior (sd 3) capped at 3 posterior widths either side
    assert any("extends beyond" in t for t in all_texts(fig))


def test_prior_posterior_unknown_var(prior, posterior):
    with pytest.raises(ValueError, match="nu"):
        prior_posterior(prior, posterior, var_names=["nu"])


def test_posterior_pairs_default_to_the_laws_parameters_and_stamp_a_failed_fit(posterior):
    # a Kaplan posterior has no alpha, beta or E: its own first four parameters are shown
    kaplan = draws({"log_Nc": (30.0, 0.5), "alpha_N": (0.08, 0.01), "log_Dc": (31.0, 0.5),
                    "alpha_D": (0.1, 0.01), "sigma": (0.01, 0.001)}, seed=0)  # fmt: skip
    fig = posterior_pairs(kaplan, converged=False)
    assert len(fig.axes) == 10 and "NOT CONVERGED" in [t.get_text() for t in fig.texts]
    assert len(posterior_pairs(posterior).axes) == 6  # alpha, beta, E
    assert "NOT CONVERGED" not in [t.get_text() for t in posterior_pairs(posterior).texts]


def test_error_by_distance_shows_each_methods_own_errors():
    from bayes_scaling.errors import ArgumentError
    from bayes_scaling.plots import error_by_distance

    rows = []
    for method, error in (("bayes", 0.01), ("huber", 0.05)):
        for d in (0.2, 0.5, 1.0):
            rows.append(dict(method=method, prob=0.9, distance=d, log_error=error,
                             lower=np.exp(-0.1), upper=np.exp(0.1)))  # fmt: skip
    table = pd.DataFrame(rows)
    ax = error_by_distance(table).axes[0]
    dots = [c.get_offsets()[:, 1] for c in ax.collections if "log error" in c.get_label()]
    assert sorted(float(np.mean(d)) for d in dots) == pytest.approx([0.01, 0.05])
    with pytest.raises(ArgumentError, match="no 0.5 intervals"):
        error_by_distance(table, prob=0.5)


def test_backtest_figures_stamp_a_cut_whose_fit_did_not_converge():
    from bayes_scaling.errors import ArgumentError
    from bayes_scaling.plots import coverage_plot, error_by_distance, pit_histogram

    rows = [
        dict(method="bayes", cut=cut, run_id=f"r{i}", compute=1e21 + i, prob=prob, covered=True,
             pit=0.1 * (i + 1), distance=0.3 * (i + 1), log_error=0.01,
             lower=np.exp(-0.1), upper=np.exp(0.1))
        for cut in (1e20, 1e21) for i in range(4) for prob in (0.5, 0.9)
    ]  # fmt: skip
    table = pd.DataFrame(rows)
    draw = (coverage_plot, pit_histogram, error_by_distance)

    def stamped(fig):
        texts = [t.get_text() for t in fig.texts] + [fig.get_suptitle()]
        return any("NOT CONVERGED" in t for t in texts)

    table.attrs["converged"] = {1e20: True, 1e21: True}
    assert not any(stamped(f(table)) for f in draw)
    table.attrs["converged"] = {1e20: True, 1e21: False}
    for f in draw:
        fig = f(table)
        assert stamped(fig) and "1e+21" in fig.get_suptitle()
    # a table filtered to the converged cut keeps the attrs but shows no failed fit
    assert not any(stamped(f(table[table["cut"] == 1e20])) for f in draw)
    table.attrs["converged"] = False  # one flag for the whole table
    assert all(stamped(f(table)) for f in draw)
    table.attrs["converged"] = "no"
    with pytest.raises(ArgumentError, match="converged"):
        coverage_plot(table)
