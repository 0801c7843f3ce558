"""Law-form uncertainty: PSIS-LOO comparison with Pareto k, stacking weights, stacked bands and
where the laws disagree (real NUTS on the demo table and on chinchilla-epoch)."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_scaling import BayesScalingError, datasets, fit
from bayes_scaling.trust.law_choice import (
    compare_laws,
    disagreement,
    disagreement_sentence,
    stacked_bands,
    weights_of,
)


@pytest.fixture(scope="module")
def two_laws():
    runs = datasets.demo()
    return {
        "chinchilla": fit(runs, seed=4, draws=500, discrepancy=False),
        "power:compute": fit(runs, law="power:compute", seed=4, draws=500, discrepancy=False),
    }


def test_loo_ranks_the_true_law_first_and_reports_pareto_k(two_laws):
    table = compare_laws(two_laws)
    print(table.to_string())
    assert table.index[0] == "chinchilla"  # the demo table is simulated from the Chinchilla law
    assert table.loc["chinchilla", "elpd"] > table.loc["power:compute", "elpd"]
    assert {"n_high_k", "high_k_runs", "k_threshold", "weight"} <= set(table.columns)
    assert 0.5 <= table.loc["chinchilla", "k_threshold"] <= 0.7
    w = weights_of(table)
    assert sum(w.values()) == pytest.approx(1.0) and w["chinchilla"] > 0.9
    # the numbers are ArviZ's, unrounded (its default rounds to two significant figures)
    import arviz_stats

    for name, f in two_laws.items():
        assert table.loc[name, "elpd"] == pytest.approx(arviz_stats.loo(f.idata).elpd, rel=1e-12)


def test_stacked_bands_mix_the_laws_by_weight(two_laws):
    budgets = [1e20, 1e22]
    only_a = stacked_bands(two_laws, {"chinchilla": 1.0, "power:compute": 0.0}, compute=budgets)
    only_b = stacked_bands(two_laws, {"chinchilla": 0.0, "power:compute": 1.0}, compute=budgets)
    half = stacked_bands(two_laws, {"chinchilla": 0.5, "power:compute": 0.5}, compute=budgets)
    a = only_a["median"].sel(band="predictive", prob=0.9).values
    b = only_b["median"].sel(band="predictive", prob=0.9).values
    m = half["median"].sel(band="predictive", prob=0.9).values
    assert np.all((m - np.minimum(a, b)) >= -1e-9) and np.all((np.maximum(a, b) - m) >= -1e-9)
    width = lambda ds: (ds["upper"] - ds["lower"]).sel(band="predictive", prob=0.9).values  # noqa: E731
    far = np.abs(a[-1] - b[-1]) > 0.01
    if far:  # mixing two laws that part gives a wider band than either alone
        assert width(half)[-1] > min(width(only_a)[-1], width(only_b)[-1])
    with pytest.raises(BayesScalingError, match="unknown laws"):
        stacked_bands(two_laws, {"kaplan": 1.0}, compute=budgets)


def test_disagreement_is_found_beyond_the_data(two_laws):
    largest = float(two_laws["chinchilla"].runs["compute"].max())
    table = disagreement(two_laws, compute=largest * np.array([0.1, 1, 10, 100, 1000]))
    print(table.to_string())
    assert list(table.columns[:2]) == ["compute", "distance"]
    assert {"chinchilla", "power:compute", "spread", "disagree"} <= set(table.columns)
    assert not table["disagree"].iloc[0]  # inside the data the laws agree
    assert table["spread"].iloc[-1] > table["spread"].iloc[0]
    assert "law" in disagreement_sentence(table, list(two_laws))


def test_compare_refuses_fits_on_different_runs(two_laws):
    other = fit(datasets.demo().iloc[:40], seed=4, draws=200, discrepancy=False)
    with pytest.raises(BayesScalingError, match="different runs"):
        compare_laws({"a": two_laws["chinchilla"], "b": other})
