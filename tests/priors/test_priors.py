"""Priors: data-scaled defaults, overrides by name, serialisation and prior predictive draws."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_scaling import Prior, PriorError, datasets, get_law, prior_predictive
from bayes_scaling.priors import priors_from_json, priors_to_json, resolve_priors


@pytest.fixture(scope="module")
def runs():
    return datasets.demo()


def test_defaults_cover_every_parameter_and_are_scaled_to_data(runs):
    priors = resolve_priors(get_law("chinchilla"), runs, None, "student_t")
    assert set(priors) == {"E", "log_A", "alpha", "log_B", "beta", "sigma", "nu"}
    assert priors["E"].dist == "Uniform"
    assert priors["E"].params["upper"] == pytest.approx(runs["loss"].min())
    assert all(p.why for p in priors.values())
    assert "nu" not in resolve_priors(get_law("chinchilla"), runs, None, "normal")


def test_exponent_prior_mass_mostly_below_one(runs):
    prior = resolve_priors(get_law("chinchilla"), runs, None, "student_t")["alpha"]
    draws = prior_predictive(runs, draws=4000, seed=0)["alpha"].values
    assert (draws > 0).all() and 0.9 < (draws < 1).mean() < 0.99
    assert prior.dist == "LogNormal"


def test_override_by_name_and_unknown_name(runs):
    priors = resolve_priors(
        get_law("chinchilla"),
        runs,
        {"beta": {"dist": "Normal", "mu": 0.28, "sigma": 0.02}},
        "student_t",
    )
    assert priors["beta"] == Prior("Normal", {"mu": 0.28, "sigma": 0.02}, "set by the user")
    with pytest.raises(PriorError, match="no parameter 'gamma'"):
        resolve_priors(get_law("chinchilla"), runs, {"gamma": Prior("Normal", {})}, "student_t")
    with pytest.raises(PriorError, match="unknown distribution"):
        Prior("Gaussian", {"mu": 0})


def test_json_round_trip(runs):
    priors = resolve_priors(get_law("chinchilla"), runs, None, "student_t")
    assert priors_from_json(priors_to_json(priors)) == priors


def test_prior_predictive_draws_curves(runs):
    pp = prior_predictive(runs, draws=300, seed=3, n_params=[1e8, 1e9], n_tokens=[2e9, 2e10])
    assert pp["loss"].dims == ("chain", "draw", "point") and pp["loss"].shape == (1, 300, 2)
    assert np.all(pp["loss"] > pp["E"])
    again = prior_predictive(runs, draws=300, seed=3, n_params=[1e8, 1e9], n_tokens=[2e9, 2e10])
    np.testing.assert_array_equal(pp["loss"], again["loss"])
