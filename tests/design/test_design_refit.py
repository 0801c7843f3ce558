"""The design's expected objective against real refits (NUTS, the discrepancy relearned).

Single runs: for a candidate inside the data and one a decade beyond it (a decade below the
target), the expected 90% predictive band width at the target, by either update, must agree with
the mean width after really refitting the runs plus that candidate, its loss drawn from the
current posterior predictive (discrepancy included), within 10%, and rank them alike (measured
with the linear update: within 1% for five candidates from inside the data to 3e21 FLOPs; one
refit's width varies by about ±5% with its outcome).

A batch: the linear update's expected width after a whole greedy batch against refits of the
runs plus every pick, their losses one joint draw of the predictive (measured: 0.267 predicted,
0.254 for the mean of three refits; the parameter part of the band, without the discrepancy,
0.176 predicted against 0.178).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.answers.bands import band_draws, resolve_sizes
from bayes_scaling.design.candidates import isoflop_grid
from bayes_scaling.design.selection import score_candidates

pytestmark = pytest.mark.slow
TARGET = [1e22]
TOLERANCE = 0.10
COLUMNS = ["run_id", "n_params", "n_tokens", "compute", "loss"]


def _refit_width(fit, params, tokens, seeds) -> float:
    """Mean width at the target after refitting with runs at (params, tokens), their losses one
    joint draw of the current predictive per seed."""
    params, tokens = np.atleast_1d(params), np.atleast_1d(tokens)
    sizes = resolve_sizes(fit, params=params, tokens=tokens)
    draws = band_draws(fit, sizes, seed=99).sel(band="predictive").values
    draws = draws.reshape(-1, len(params))
    rng = np.random.default_rng(0)
    widths = []
    for seed in seeds:
        new = pd.DataFrame(
            {
                "run_id": [f"new{seed}_{i}" for i in range(len(params))],
                "n_params": params,
                "n_tokens": tokens,
                "compute": 6 * params * tokens,
                "loss": draws[rng.integers(len(draws))],
            }
        )
        runs = pd.concat([fit.runs[COLUMNS], new], ignore_index=True)
        refit = bs.fit(runs, seed=seed, progress=False)
        band = refit.bands(compute=TARGET, prob=0.9, as_xarray=True).sel(band="predictive")
        widths.append(float(band["upper"].squeeze() - band["lower"].squeeze()))
    return float(np.mean(widths))


@pytest.fixture(scope="module")
def candidates(demo_fit):
    runs = demo_fit.runs
    inside = runs.iloc[int(np.argmax(runs["compute"]))]
    near_n = np.sqrt(1e21 / (6 * 20))
    return pd.DataFrame(
        {
            "params": [inside["n_params"] * 1.01, near_n],
            "tokens": [inside["n_tokens"], 1e21 / (6 * near_n)],
        }
    )


@pytest.fixture(scope="module")
def refits(demo_fit, candidates):
    return [
        _refit_width(demo_fit, n, d, seeds=(1, 2))
        for n, d in zip(candidates["params"], candidates["tokens"], strict=True)
    ]


@pytest.mark.parametrize("update", ["linear", "reweight"])
def test_expected_width_after_one_run_agrees_with_refits(demo_fit, candidates, refits, update):
    predicted = score_candidates(demo_fit, candidates, compute=TARGET, seed=2, update=update)
    for p, r in zip(predicted["objective"], refits, strict=True):
        assert p == pytest.approx(r, rel=TOLERANCE)
    assert refits[1] < refits[0] and predicted["objective"].iloc[1] < predicted["objective"].iloc[0]


def test_expected_width_after_a_batch_agrees_with_refits(demo_fit):
    pool = isoflop_grid(demo_fit.runs, 1e21, n_budgets=4, per_budget=5)
    d = bs.design(demo_fit, pool, budget=8e20, compute=TARGET, seed=3)
    assert len(d.picks) >= 3 and d.settings["update"] == "linear"
    refit = _refit_width(demo_fit, d.picks["params"], d.picks["tokens"], seeds=(1, 2))
    assert d.final == pytest.approx(refit, rel=TOLERANCE)
    assert refit < d.initial  # the batch is worth training, as the design expected
