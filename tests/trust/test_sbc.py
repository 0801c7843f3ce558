"""Simulation-based calibration: the rank tests can fail, and real NUTS on Chinchilla passes them.

The first tests need no sampler: ranks from a conjugate Normal model, whose exact posterior is
known, pass the uniformity test, and ranks from posteriors made too narrow, too wide or shifted
fail it.
The slow tests run the harness with nutpie: it passes with the fit's own prior, and it fails when
the fits use a noise prior that is too narrow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import bayes_scaling.inference.sampling as sampling
from bayes_scaling.plots import rank_histograms
from bayes_scaling.priors import Prior
from bayes_scaling.trust.sbc import (
    SBC_TOKENS_PER_PARAM,
    rank_histogram,
    rank_statistic,
    sbc,
    sbc_priors,
    sbc_table,
    uniformity,
)

N_DRAWS = 99


def conjugate_ranks(n_sims: int, scale: float = 1.0, shift: float = 0.0, seed: int = 0):
    """Ranks of θ ~ N(0, 1) among L draws of its posterior after 4 observations y_i ~ N(θ, 1).

    The exact posterior is N(Σy / 5, 1/5); ``scale`` and ``shift`` (in posterior sds) distort it.
    """
    rng = np.random.default_rng(seed)
    ranks = []
    for _ in range(n_sims):
        theta = rng.normal()
        y = rng.normal(theta, 1.0, 4)
        mean, sd = y.sum() / 5, np.sqrt(1 / 5)
        draws = rng.normal(mean + shift * sd, scale * sd, N_DRAWS)
        ranks.append(rank_statistic(draws, theta, rng))
    return pd.DataFrame({"theta": ranks})


def test_uniformity_accepts_exact_posteriors_and_rejects_wrong_ones():
    exact = uniformity(conjugate_ranks(200), N_DRAWS)
    assert exact["p_adjusted"].iloc[0] > 0.05
    for distortion in ({"scale": 0.5}, {"scale": 2.0}, {"shift": 0.5}):
        wrong = uniformity(conjugate_ranks(200, **distortion), N_DRAWS)
        assert wrong["p_adjusted"].iloc[0] < 0.01, (distortion, wrong)


def test_ranks_bins_and_binomial_band():
    rng = np.random.default_rng(0)
    assert rank_statistic([0.1, 0.2, 0.3], 0.25, rng) == 2
    assert rank_statistic([0.1, 0.2, 0.3], -1.0, rng) == 0
    assert rank_statistic([0.1, 0.2, 0.3], 9.0, rng) == 3
    assert {rank_statistic([0.5, 0.5], 0.5, rng) for _ in range(50)} == {0, 1, 2}  # ties split

    ranks = pd.DataFrame({"a": rng.integers(0, 10, 60), "b": np.full(60, 9)})
    hist = rank_histogram(ranks, n_draws=9, bins=4)
    assert list(hist["rank_lower"][:4]) == [0, 2, 5, 8] and hist["rank_upper"].iloc[3] == 10
    assert hist.groupby("parameter")["count"].sum().tolist() == [60, 60]
    assert hist["expected"][:4].tolist() == pytest.approx([12, 18, 18, 12])  # 2, 3, 3, 2 of 10
    assert (hist["band_lower"] < hist["expected"]).all()
    assert (hist["expected"] < hist["band_upper"]).all()
    table = uniformity(ranks, n_draws=9, bins=4).set_index("parameter")
    assert table.loc["b", "p_adjusted"] < 1e-6  # every rank at the top: a biased posterior


def test_sbc_priors_are_fixed_and_tables_follow_the_design():
    priors = sbc_priors()
    assert set(priors) == {"E", "log_A", "alpha", "log_B", "beta", "sigma", "nu"}
    assert (priors["E"].dist, priors["E"].params) == ("Uniform", {"lower": 1.0, "upper": 2.5})
    assert "nu" not in sbc_priors(likelihood="normal")
    truth = {"E": 1.8, "log_A": 6.2, "alpha": 0.35, "log_B": 7.6, "beta": 0.37, "sigma": 0.01}
    runs = sbc_table({**truth, "nu": 5.0}, 23, seed=3)
    assert len(runs) == 23 and runs["compute"].nunique() <= 6
    # centred on D/N = 20 whatever the truth: the same seed gives the same design
    other = sbc_table({**truth, "alpha": 0.6, "nu": 5.0}, 23, seed=3)
    pd.testing.assert_frame_equal(runs.drop(columns="loss"), other.drop(columns="loss"))
    ratio = np.exp(np.median(np.log(runs["n_tokens"] / runs["n_params"])))
    assert 0.2 * SBC_TOKENS_PER_PARAM < ratio < 5 * SBC_TOKENS_PER_PARAM


@pytest.fixture(scope="module")
def chinchilla_sbc():
    """40 simulated tables of 20-80 runs, each fitted with real NUTS (2 chains x 400 draws)."""
    before = sampling.COMPILE_COUNT
    result = sbc("chinchilla", n_sims=40, seed=0)
    return result, sampling.COMPILE_COUNT - before


@pytest.mark.slow
def test_chinchilla_sbc_ranks_are_uniform(chinchilla_sbc):
    result, _ = chinchilla_sbc
    table = result.uniformity()
    print(table.to_string())
    print(f"gate passed by {int(result.sims['converged'].sum())} of {len(result.sims)} fits")
    assert result.passed(alpha=0.01), table
    assert list(result.ranks.columns) == ["E", "log_A", "alpha", "log_B", "beta", "sigma", "nu"]
    assert result.n_draws == 99 and result.ranks.to_numpy().max() <= 99
    assert result.sims["n_runs"].between(20, 80).all() and result.sims["n_runs"].nunique() > 10
    assert (result.sims["n_divergent"] >= 0).all() and "converged" in result.sims


@pytest.mark.slow
def test_sbc_does_not_recompile_between_simulations(chinchilla_sbc):
    result, compilations = chinchilla_sbc
    assert compilations <= 1 and result.settings["compilations"] == compilations
    assert result.sims["seconds"].iloc[1:].max() < 10  # a recompile takes ~5-30 s


@pytest.mark.slow
def test_sbc_detects_fits_with_a_wrong_noise_prior(chinchilla_sbc):
    before = sampling.COMPILE_COUNT
    wrong = sbc(
        "chinchilla", n_sims=20, seed=1, fit_priors={"sigma": Prior("HalfNormal", {"sigma": 0.004})}
    )
    assert sampling.COMPILE_COUNT == before  # same prior families: same compiled model
    table = wrong.uniformity().set_index("parameter")
    assert not wrong.passed(alpha=0.01)
    assert table["p_adjusted"].idxmin() == "sigma" and table.loc["sigma", "p_adjusted"] < 1e-3


@pytest.mark.slow
def test_rank_histograms_figure(chinchilla_sbc):
    result, _ = chinchilla_sbc
    fig = rank_histograms(result)
    assert isinstance(fig, Figure)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 7 and "α" in panels[2].get_title()
