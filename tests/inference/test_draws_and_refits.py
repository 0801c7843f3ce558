"""Draws read from nutpie's Arrow trace are nutpie's own DataTree's; the discrepancy's internal
refits retry once and say when they failed (real NUTS, short chains)."""

from __future__ import annotations

import warnings

import numpy as np
import nutpie
import pytest

from bayes_scaling import datasets, fit
from bayes_scaling.inference import nuts
from bayes_scaling.inference.compiled import BOOKKEEPING_STATS, SAMPLING, draws_to_datasets
from bayes_scaling.laws import get_law
from bayes_scaling.priors import resolve_priors


def test_draws_equal_nutpies_own_conversion():
    runs = datasets.demo()
    law = get_law("chinchilla")
    priors = resolve_priors(law, runs, None, "student_t")
    settings = dict(draws=60, tune=60, chains=2, seed=5, progress_bar=False, save_warmup=False)
    with SAMPLING:
        model = nuts.compiled_model(runs, law, priors, "student_t")
        ours = draws_to_datasets(nutpie.sample(model, return_raw_trace=True, **settings), model)
        trace = nutpie.sample(model, **settings)  # the same seed: the same chains
    stats = trace["sample_stats"].to_dataset()
    theirs = trace["posterior"].to_dataset(), stats.drop_vars(BOOKKEEPING_STATS, errors="ignore")
    for mine, reference in zip(ours, theirs, strict=True):
        assert sorted(mine.data_vars) == sorted(reference.data_vars)
        assert dict(mine.sizes) == dict(reference.sizes)
        for name in reference.data_vars:
            a, b = mine[name].values, reference[name].values
            assert a.dtype == b.dtype, name
            assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name


@pytest.mark.slow
def test_a_broken_internal_refit_is_retried_and_its_failure_described(monkeypatch):
    monkeypatch.setattr(nuts, "INTERNAL_MAX_RHAT", 0.5)  # no refit can pass: both tries fail
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(datasets.demo(), seed=2, draws=300, tune=300, rescue=False)
    refits = result.settings["discrepancy_refits"]
    assert refits and all(r["attempts"] == 2 and not r["usable"] for r in refits)
    disc = result.discrepancy
    assert disc.failed_refits == len(refits) and disc.n_checked == 0
    assert f"{len(refits)} internal refit(s) failed" in disc.describe()


@pytest.mark.slow
def test_internal_refits_are_recorded(demo_fit):
    refits = demo_fit.settings["discrepancy_refits"]
    assert refits and all(r["usable"] and r["attempts"] in (1, 2) for r in refits)
    assert all(r["max_rhat"] <= nuts.INTERNAL_MAX_RHAT for r in refits)
    assert demo_fit.discrepancy.failed_refits == 0 and demo_fit.discrepancy.learned
