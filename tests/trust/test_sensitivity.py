"""Prior sensitivity: refits under wide/default/informed prior sets (real NUTS, same compiled
model) and ArviZ power-scaling; prior-driven conclusions are flagged."""

from __future__ import annotations

import numpy as np
import pytest

import bayes_scaling.inference.sampling as sampling
from bayes_scaling import datasets, fit
from bayes_scaling.trust.sensitivity import prior_sensitivity, prior_sets


@pytest.fixture(scope="module")
def small_fit():
    return fit(datasets.demo().iloc[::2], seed=8, draws=500, discrepancy=False)


def test_prior_sets_keep_the_families_and_change_the_numbers(small_fit):
    sets = prior_sets(small_fit)
    assert set(sets) == {"wide", "default", "informed"}
    for name, priors in sets.items():
        assert {k: p.dist for k, p in priors.items()} == {
            k: p.dist for k, p in small_fit.priors.items()
        }, name
    assert sets["wide"]["alpha"].params["sigma"] == 2 * small_fit.priors["alpha"].params["sigma"]
    assert sets["informed"]["alpha"].params["mu"] == pytest.approx(np.log(0.345))
    assert sets["wide"]["E"] == small_fit.priors["E"]  # physical bounds stay


def test_refits_measure_how_far_conclusions_move(small_fit):
    before = sampling.COMPILE_COUNT
    sens = prior_sensitivity(small_fit, compute=[1e21, 1e23])
    assert sampling.COMPILE_COUNT == before  # same families: no recompilation
    print(sens.table.round(4).to_string())
    print(sens.flags.round(3).to_string())
    print(sens.psense)
    t = sens.table
    assert set(t["prior_set"]) == {"wide", "default", "informed"}
    assert (t.loc[t["prior_set"] == "default", "shift"] == 0).all()
    assert set(t["kind"]) == {"parameter", "loss", "allocation"}
    assert sens.flags["prior_driven"].dtype == bool
    # a 24-run table cannot pin the exponents: the informed prior narrows them a lot
    alpha = t[(t["quantity"] == "alpha") & (t["prior_set"] == "informed")]
    assert float(alpha["width_ratio"].iloc[0]) < 1
    assert set(sens.psense.columns) >= {"prior", "likelihood", "diagnosis"}
    assert list(sens.psense.index) == list(small_fit.law.params)
    text = " ".join(sens.sentences())
    assert ("Prior-driven" in text) == bool(sens.flags["prior_driven"].any())
