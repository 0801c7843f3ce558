"""The data-constrained law (Muennighoff et al. 2023) on the authors' own 182 C4 runs.

The published procedure fixes the base Chinchilla law (A = 521.0, B = 1488.4, E = 1.869,
α = β = 0.3526596, fitted to Chinchilla's C4 isoFLOP points) and fits R*_D and R*_N to the 182
runs with a Huber loss (δ = 1e-3) on log loss: R*_D = 15.387756, R*_N = 5.309743. Our law on our
parse of their table reproduces their objective at that point to 8 digits. The posterior with the
same fixed base does *not* centre on their point, and these tests say why, with numbers:

- their point is a local minimum of their own objective, not the global one: the same objective is
  lower at R*_D ≈ 95, R*_N ≈ 1.71 (found with Nelder-Mead in float64; L-BFGS from their grid of
  starts stops at ≈ (15, 5.3), as theirs did);
- the data barely identify R*_D: their objective differs by 0.13% between the two points, and the
  posterior of R*_D spans a factor of ~15 (95%: about [16, 235], median ~50), with 15.39 in its
  lower 2.5% tail. R*_N is better identified: 95% about [0.9, 3.1], so 5.31 is excluded;
- it is not the noise model: Student-t and normal likelihoods give the same intervals (the
  residuals are misfit of the small models, 7M–44M parameters, to the fixed base law, not noise).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bayes_scaling import datasets, fit, get_law

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
FIT182 = DATA / "datablations" / "datablations_c4_fit182.csv"
LAW = "data_constrained:muennighoff2023"
PUBLISHED = {"R_D_star": 15.387756, "R_N_star": 5.309743}
#: The minimiser of their objective on these runs (Nelder-Mead, float64, 12 starts).
OBJECTIVE_MINIMUM = {"R_D_star": 95.4, "R_N_star": 1.706}
NOTEBOOK_OBJECTIVE = 0.015825936570763588  # "Min Loss" printed by notebook cell 29


@pytest.fixture(scope="module")
def runs():
    if not FIT182.exists():
        pytest.skip(f"the datablations table {FIT182} is absent (see ../shared/data/README.md)")
    return datasets.datablations(FIT182.parent.parent, subset="fit182")


def their_objective(runs, r_d_star, r_n_star, delta=1e-3):
    """Sum of Huber(δ) of log-loss residuals, as in the authors' notebook (cell 28)."""
    law = get_law(LAW)
    x = {c: runs[c].to_numpy(float) for c in law.inputs}
    p = {"log_RD": np.log(r_d_star), "log_RN": np.log(r_n_star)}
    r = np.log(law.fn(x, p, np)) - np.log(runs["loss"].to_numpy(float))
    a = np.abs(r)
    return float(np.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta)).sum())


def test_the_table_is_the_authors_182_runs(runs):
    assert len(runs) == 182
    assert (runs["unique_tokens"] <= runs["n_tokens"]).all()
    assert runs["epochs"].max() > 100  # heavy repetition: what identifies R*_D


def test_law_and_table_reproduce_their_objective_and_their_point_is_a_local_minimum(runs):
    at_theirs = their_objective(runs, *PUBLISHED.values())
    assert at_theirs == pytest.approx(NOTEBOOK_OBJECTIVE, rel=1e-6)
    for factor in (1.05, 1 / 1.05):  # a local minimum along both axes ...
        assert their_objective(runs, PUBLISHED["R_D_star"] * factor, PUBLISHED["R_N_star"]) > (
            at_theirs
        )
        assert their_objective(runs, PUBLISHED["R_D_star"], PUBLISHED["R_N_star"] * factor) > (
            at_theirs
        )
    lower = their_objective(runs, *OBJECTIVE_MINIMUM.values())  # ... but not the global one
    assert lower < at_theirs
    assert (at_theirs - lower) / at_theirs < 0.002  # and the objective is very flat


@pytest.fixture(scope="module", params=["student_t", "normal"])
def published_base_fit(request, runs):
    return fit(runs, law=LAW, seed=2023, likelihood=request.param)


@pytest.mark.slow
def test_fit_with_the_published_base_converges(published_base_fit):
    result = published_base_fit
    assert result.converged, result.diagnostics.reason()
    assert int(result.idata["sample_stats"]["diverging"].sum()) == 0
    assert set(result.posterior) >= {"log_RD", "log_RN", "R_D_star", "R_N_star"}


@pytest.mark.slow
def test_posterior_of_r_star_against_the_published_point(published_base_fit):
    post = published_base_fit.posterior
    lines = []
    for name in ("R_D_star", "R_N_star"):
        q = post[name].quantile([0.025, 0.05, 0.5, 0.95, 0.975]).values
        lines.append(
            f"{name}: median {q[2]:.3g}, 90% [{q[1]:.3g}, {q[3]:.3g}], 95% [{q[0]:.3g}, "
            f"{q[4]:.3g}] (published {PUBLISHED[name]}, their objective's minimum "
            f"{OBJECTIVE_MINIMUM[name]})"
        )
        low, high = q[0], q[4]
        assert low <= OBJECTIVE_MINIMUM[name] <= high, (name, low, high)
    print(f"[{published_base_fit.settings['likelihood']}] " + "; ".join(lines))

    r_d, r_n = post["R_D_star"], post["R_N_star"]
    # R*_D: weakly identified; the published value is in the far lower tail, not excluded by much
    assert float((r_d <= PUBLISHED["R_D_star"]).mean()) < 0.05
    assert float(r_d.quantile(0.975) / r_d.quantile(0.025)) > 5
    # R*_N: the published value is outside the 95% interval, on the high side
    assert float(r_n.quantile(0.975)) < PUBLISHED["R_N_star"]
