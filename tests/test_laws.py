"""Laws as data: the built-ins, the closed-form optimum, and user registration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from bayes_scaling import Law, LawError, get_law, register_law
from bayes_scaling.laws import chinchilla_optimum, power

DRAWS = [
    {"E": 1.69, "log_A": np.log(406.4), "alpha": 0.34, "log_B": np.log(410.7), "beta": 0.28},
    {"E": 1.82, "log_A": np.log(482.0), "alpha": 0.348, "log_B": np.log(2085.4), "beta": 0.366},
    {"E": 2.0, "log_A": np.log(100.0), "alpha": 0.5, "log_B": np.log(5000.0), "beta": 0.25},
]


@pytest.mark.parametrize("p", DRAWS)
@pytest.mark.parametrize("compute", [1e20, 1e24])
def test_closed_form_optimum_matches_numerical_minimum(p, compute):
    law = get_law("chinchilla")

    def loss_at(log_n):
        n = np.exp(log_n)
        return law.fn({"n_params": n, "n_tokens": compute / (6 * n)}, p, np)

    best = optimize.minimize_scalar(
        loss_at, bounds=(np.log(1e2), np.log(1e16)), method="bounded", options={"xatol": 1e-10}
    )
    opt = chinchilla_optimum(p, compute)
    assert opt["n_params"] == pytest.approx(np.exp(best.x), rel=1e-4)
    assert opt["n_params"] * opt["n_tokens"] * 6 == pytest.approx(compute)


def test_chinchilla_formula():
    law = get_law("chinchilla")
    p = DRAWS[0]
    got = law.fn({"n_params": 1e9, "n_tokens": 2e10}, p, np)
    assert got == pytest.approx(1.69 + 406.4 * 1e9**-0.34 + 410.7 * 2e10**-0.28)


def test_power_laws_by_variable():
    assert get_law("power").inputs == ("compute",)
    assert get_law("power:n_params").inputs == ("n_params",)
    assert power("d").name == "power:n_tokens"
    with pytest.raises(LawError):
        power("width")


def test_unknown_law_lists_known_ones():
    with pytest.raises(LawError, match="chinchilla"):
        get_law("kaplan2020")


def test_register_user_law_and_validation():
    def fn(x, p, xp):
        return p["E"] + xp.exp(p["log_A"] - p["alpha"] * xp.log(x["compute"]))

    ok = Law(
        "test_user_law",
        ("compute",),
        ("E", "log_A", "alpha"),
        fn,
        default_priors=get_law("power").default_priors,
        exponents={"alpha": "compute"},
    )
    assert register_law(ok) is get_law("test_user_law")
    bad = Law(
        "test_bad_law",
        ("compute",),
        ("E", "log_A", "alpha", "gamma"),
        fn,
        default_priors=get_law("power").default_priors,
    )
    with pytest.raises(LawError, match="no default prior for \\['gamma'\\]"):
        register_law(bad)
    with pytest.raises(LawError, match="already registered"):
        register_law(
            Law(
                "test_user_law",
                ("compute",),
                ("E", "log_A", "alpha"),
                fn,
                default_priors=get_law("power").default_priors,
            )
        )
