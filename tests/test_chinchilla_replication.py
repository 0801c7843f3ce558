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


@pytest.mark.slow
def test_tokens_per_parameter_at_1e24(chinchilla_fit):
    table = chinchilla_fit.allocate(1e24, prob=0.9).set_index("quantity")
    row = table.loc["tokens_per_param_opt"]
    print(
        f"tokens per parameter at 1e24 FLOPs: median {row['estimate']:.2f}, 90% interval "
        f"[{row['lower']:.2f}, {row['upper']:.2f}] (Hoffmann et al.: ~20)"
    )
    assert row["lower"] < row["estimate"] < row["upper"]
    assert row["lower"] < 20 < row["upper"]  # Hoffmann's rule is inside the posterior interval
    assert 0 < table.loc["prob_a_gt_half", "estimate"] < 1
