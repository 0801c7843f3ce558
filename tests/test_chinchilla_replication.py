"""The bar of issue 1/5: on Epoch's reconstruction of the Chinchilla runs (240 after dropping the 5
highest-loss runs, as Besiroglu et al. 2024 did), the posterior medians of E, alpha and beta fall
inside Epoch's 95% bootstrap intervals, Hoffmann et al.'s beta = 0.28 lies outside the posterior 95%
interval, and the fit converges. Real NUTS, seeded."""

from __future__ import annotations

import pytest

from bayes_scaling import datasets, fit

EPOCH_95 = {
    "E": (1.769, 1.871),
    "alpha": (0.317, 0.373),
    "beta": (0.331, 0.415),
    "A": (285.2, 743.6),
    "B": (1042.4, 5810.3),
}
HOFFMANN_BETA = 0.28


@pytest.fixture(scope="module")
def chinchilla_fit(shared_data):
    runs = datasets.chinchilla(shared_data, drop_highest=5)
    assert len(runs) == 240
    return fit(runs, seed=2024)


@pytest.mark.slow
def test_fit_converges(chinchilla_fit):
    assert chinchilla_fit.converged, chinchilla_fit.diagnostics.reason()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EPOCH_95))
def test_posterior_median_inside_epoch_interval(chinchilla_fit, name):
    median = float(chinchilla_fit.posterior[name].median())
    low, high = EPOCH_95[name]
    assert low <= median <= high, (name, median)


@pytest.mark.slow
def test_hoffmann_beta_is_rejected(chinchilla_fit):
    row = chinchilla_fit.summary(prob=0.95).set_index("parameter").loc["beta"]
    assert not row["lower"] <= HOFFMANN_BETA <= row["upper"], row
