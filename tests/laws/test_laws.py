"""Laws as data: the built-ins, the closed-form optimum, user registration, and the three law forms
of issue 3/5 (Kaplan, broken power law, data-constrained): their maths, numpy = pytensor, default
priors, names, and real NUTS where a test claims that a fit converges or recovers a break."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest
import xarray as xr
from scipy import optimize

from bayes_scaling import Law, LawError, RunsError, datasets, fit, get_law, load_runs, register_law
from bayes_scaling.laws import chinchilla_optimum, power
from bayes_scaling.priors import draw_priors, resolve_priors, runs_stats

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


#: One draw per law in N and D, with Kaplan's published values and a Farseer drift.
SPLIT_DRAWS = {
    "chinchilla": DRAWS[1],
    "kaplan": {
        "log_Nc": np.log(8.8e13),
        "alpha_N": 0.076,
        "log_Dc": np.log(5.4e13),
        "alpha_D": 0.095,
    },
    "farseer": {**DRAWS[0], "kappa": -0.03},
}


@pytest.mark.parametrize("name", sorted(SPLIT_DRAWS))
@pytest.mark.parametrize("compute", [1e19, 1e23, 1e26])
def test_every_law_in_n_and_d_has_its_optimum(name, compute):
    # closed form (Chinchilla, Kaplan) or the numerical search (Farseer): the minimum along C
    law, p = get_law(name), SPLIT_DRAWS[name]

    def loss_at(log_n):
        n = np.exp(log_n)
        return law.fn({"n_params": n, "n_tokens": compute / (6 * n)}, p, np)

    best = optimize.minimize_scalar(
        loss_at, bounds=(np.log(1e2), np.log(1e18)), method="bounded", options={"xatol": 1e-10}
    )
    opt = law.optimum(p, compute, 6.0)
    assert opt["n_params"] == pytest.approx(np.exp(best.x), rel=1e-4)
    assert opt["n_params"] * opt["n_tokens"] * 6 == pytest.approx(compute)
    assert loss_at(np.log(opt["n_params"])) <= best.fun + 1e-12


def test_numerical_optimum_matches_closed_forms_on_draws_by_budgets():
    # xarray draws against budgets, as the answers call it; one draw at the scan's edge
    from bayes_scaling.laws.chinchilla import _chinchilla_fn
    from bayes_scaling.laws.law import numerical_optimum

    draws = {k: xr.DataArray([d[k] for d in DRAWS], dims="draw") for k in DRAWS[0]}
    budgets = xr.DataArray([1e18, 1e21, 1e25], dims="budget")
    found = numerical_optimum(_chinchilla_fn)(draws, budgets, 6.0)
    exact = chinchilla_optimum(draws, budgets, 6.0)
    assert set(found["n_params"].dims) == {"draw", "budget"}
    xr.testing.assert_allclose(found["n_params"], exact["n_params"], rtol=1e-5)
    flat = {**DRAWS[0], "log_A": np.log(1e12)}  # closed-form D* below one token: the edge D = 1
    assert chinchilla_optimum(flat, 1e21)["n_tokens"] < 1e-3
    edge = numerical_optimum(_chinchilla_fn)(flat, np.array([1e21]), 6.0)["n_tokens"]
    assert np.isfinite(edge).all() and 1.0 <= edge[0] < 1.5
    broken = {**DRAWS[0], "E": np.array([1.69, np.nan, np.inf]), "alpha": np.array([0.34] * 3)}
    found = numerical_optimum(_chinchilla_fn)(broken, 1e21, 6.0)["n_params"]
    assert np.isfinite(found[0]) and np.isnan(found[1:]).all()  # no made-up split


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


# --- the package keeps every name it had as a module ---------------------------------------------


def test_every_name_of_the_old_module_is_still_importable():
    from bayes_scaling.laws import (  # noqa: F401
        CHINCHILLA,
        INPUT_COLUMNS,
        Law,
        chinchilla_optimum,
        get_law,
        known_laws,
        power,
        ratio_split,
        register_law,
    )

    assert CHINCHILLA is get_law("chinchilla")
    assert {"kaplan", "broken", "data_constrained", "data_constrained:muennighoff2023"} <= set(
        known_laws()
    )


# --- the three new laws: maths, numpy = pytensor, priors, names ----------------------------------

KAPLAN_2020 = {
    "log_Nc": np.log(8.8e13),
    "alpha_N": 0.076,
    "log_Dc": np.log(5.4e13),
    "alpha_D": 0.095,
}
BROKEN_TRUTH = {  # a steepening break at C = 1e19 FLOPs
    "E": 1.7,
    "log_Lb": 0.2,
    "alpha": 0.1,
    "alpha_after": 0.3,
    "log_xb": float(np.log(1e19)),
    "f": 0.3,
}
DC_FREE = {
    "E": 1.87,
    "log_A": 6.26,
    "alpha": 0.35,
    "log_B": 7.3,
    "beta": 0.33,
    "log_RD": np.log(15.4),
    "log_RN": np.log(5.3),
}
GRID = {
    "n_params": np.array([7e6, 1.4e8, 1.1e9, 8.7e9, 7e10]),
    "n_tokens": np.array([1e8, 3e9, 1.2e10, 1.8e11, 1.4e12]),
    "compute": np.array([1e17, 3e18, 1e20, 1e22, 3e23]),
    "unique_tokens": np.array([1e8, 1e8, 4e9, 1.8e11, 2e12]),  # the last one U > D
}
NEW_LAWS = {
    "kaplan": KAPLAN_2020,
    "broken:compute": BROKEN_TRUTH,
    "broken:n_params": {**BROKEN_TRUTH, "log_xb": 21.0},
    "broken:n_tokens": {**BROKEN_TRUTH, "log_xb": 23.0, "alpha_after": 0.05},
    "data_constrained": DC_FREE,
    "data_constrained:muennighoff2023": {"log_RD": np.log(15.4), "log_RN": np.log(5.3)},
}


def pytensor_value(law, x, p):
    xs = {k: pt.dvector(k) for k in x}
    ps = {k: pt.dscalar(k) for k in p}
    compiled = pytensor.function([*xs.values(), *ps.values()], law.fn(xs, ps, pt))
    return compiled(*x.values(), *p.values())


@pytest.mark.parametrize("name", list(NEW_LAWS))
def test_new_laws_evaluate_identically_with_numpy_xarray_and_pytensor(name):
    law = get_law(name)
    p = NEW_LAWS[name]
    x = {c: GRID[c] for c in law.inputs}
    assert set(p) == set(law.params)
    expected = law.fn(x, p, np)
    assert np.all(np.isfinite(expected)) and np.all(expected > 0)
    np.testing.assert_allclose(pytensor_value(law, x, p), expected, rtol=1e-10)
    draws = xr.Dataset({k: (("chain", "draw"), np.full((1, 2), v)) for k, v in p.items()})
    np.testing.assert_allclose(law.evaluate(draws, x).isel(chain=0, draw=1), expected, rtol=1e-12)


def small_table(with_unique=True):
    rng = np.random.default_rng(0)
    n = np.geomspace(1e7, 3e9, 12)
    d = 20 * n * np.exp(rng.normal(0, 0.5, 12))
    cols = {"params": n, "tokens": d, "loss": 2.0 + 400 * n**-0.34 + 400 * d**-0.28}
    if with_unique:
        cols["unique_tokens"] = d / np.array([1, 1, 2, 4, 8, 16] * 2)
    return load_runs(pd.DataFrame(cols))


@pytest.mark.parametrize("name", list(NEW_LAWS))
def test_new_laws_have_a_data_scaled_default_prior_for_every_parameter(name):
    law = get_law(name)
    runs = small_table()
    priors = resolve_priors(law, runs, None, "student_t")
    assert set(priors) == {*law.params, "sigma", "nu"}
    draws = draw_priors(priors, 200, seed=0)
    for param in law.params:
        assert priors[param].why, param
        assert np.all(np.isfinite(draws[param])), param


def prior_interval(prior, prob=0.95):
    draws = draw_priors({"x": prior}, 20000, seed=0)["x"].values.ravel()
    return np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2])


def test_kaplan_priors_contain_kaplans_values_and_are_scaled_to_the_data():
    law = get_law("kaplan")
    for runs in (datasets.demo(), small_table(with_unique=False)):
        priors = law.default_priors(runs_stats(runs))
        for name, value in KAPLAN_2020.items():
            low, high = prior_interval(priors[name])
            assert low < value < high, (name, value, low, high)
    shifted = small_table(with_unique=False).assign(n_params=lambda d: d["n_params"] * 100)
    moved = law.default_priors(runs_stats(shifted))["log_Nc"].params["mu"]
    base = law.default_priors(runs_stats(small_table(with_unique=False)))["log_Nc"].params["mu"]
    assert moved == pytest.approx(base + np.log(100))


def test_kaplan_formula():
    law = get_law("kaplan")
    n, d = 1e9, 2e10
    expected = ((8.8e13 / n) ** (0.076 / 0.095) + 5.4e13 / d) ** 0.095
    assert law.fn({"n_params": n, "n_tokens": d}, KAPLAN_2020, np) == pytest.approx(expected)
    # D -> infinity: the N power law (N_c/N)^alpha_N; N -> infinity: (D_c/D)^alpha_D
    assert law.fn({"n_params": n, "n_tokens": 1e300}, KAPLAN_2020, np) == pytest.approx(
        (8.8e13 / n) ** 0.076
    )
    assert law.fn({"n_params": 1e300, "n_tokens": d}, KAPLAN_2020, np) == pytest.approx(
        (5.4e13 / d) ** 0.095
    )


def test_broken_formula_slopes_and_names():
    law = get_law("broken")
    assert law.name == "broken:compute" and get_law("broken:c") is law
    assert get_law("broken:d").inputs == ("n_tokens",)
    with pytest.raises(LawError, match="broken law variable"):
        get_law("broken:width")
    p = BROKEN_TRUTH
    log_a = law.derived["log_A"](p, np)
    c = GRID["compute"]
    caballero = p["E"] + np.exp(log_a) * c ** -p["alpha"] * (
        1 + (c / np.exp(p["log_xb"])) ** (1 / p["f"])
    ) ** (-(p["alpha_after"] - p["alpha"]) * p["f"])
    np.testing.assert_allclose(law.fn({"compute": c}, p, np), caballero, rtol=1e-12)
    at_break = law.fn({"compute": np.exp(p["log_xb"])}, p, np)
    assert at_break == pytest.approx(p["E"] + np.exp(p["log_Lb"]))

    def slope(x):  # d log(L - E) / d log x
        h = 1e-4
        ends = law.fn({"compute": np.exp(np.log(x) + np.array([-h, h]))}, p, np) - p["E"]
        return np.diff(np.log(ends))[0] / (2 * h)

    assert slope(1e13) == pytest.approx(-p["alpha"], abs=1e-6)
    assert slope(1e25) == pytest.approx(-p["alpha_after"], abs=1e-6)
    no_break = {**p, "alpha_after": p["alpha"]}
    log_a_no_break = law.derived["log_A"](no_break, np)
    np.testing.assert_allclose(
        law.fn({"compute": c}, no_break, np) - p["E"], np.exp(log_a_no_break) * c ** -p["alpha"]
    )


def test_broken_break_prior_spans_the_runs_range_of_log_x():
    runs = datasets.demo()
    prior = get_law("broken:n_params").default_priors(runs_stats(runs))["log_xb"]
    log_n = np.log(runs["n_params"])
    assert prior.dist == "Uniform"
    assert (prior.params["lower"], prior.params["upper"]) == pytest.approx(
        (log_n.min(), log_n.max())
    )


def test_data_constrained_matches_the_authors_readme_and_reduces_to_chinchilla():
    law = get_law("data_constrained:muennighoff2023")
    p = {"log_RD": np.log(15.387756), "log_RN": np.log(5.309743)}
    # the README of huggingface/datablations, "Parametric Fit", Figure 1 (right)
    assert law.fn({"n_params": 6.34e9, "n_tokens": 242e9, "unique_tokens": 25e9}, p, np) == (
        pytest.approx(2.2256440889984477, rel=1e-12)
    )
    assert law.fn({"n_params": 8.67e9, "n_tokens": 178e9, "unique_tokens": 25e9}, p, np) == (
        pytest.approx(2.2269634075087867, rel=1e-12)
    )
    # no repetition (U = D) and no excess parameters (N below N_opt(U)): the base Chinchilla law
    free = get_law("data_constrained")
    base = {k: DC_FREE[k] for k in ("E", "log_A", "alpha", "log_B", "beta")}
    x = {"n_params": np.array([1e7, 1e8]), "n_tokens": np.array([1e11, 1e12])}
    np.testing.assert_allclose(
        free.fn({**x, "unique_tokens": x["n_tokens"]}, DC_FREE, np),
        get_law("chinchilla").fn(x, base, np),
        rtol=1e-12,
    )
    # repeating data is worth less than fresh data, and never worth nothing
    fresh = free.fn({**x, "unique_tokens": x["n_tokens"]}, DC_FREE, np)
    repeated = free.fn({**x, "unique_tokens": x["n_tokens"] / 40}, DC_FREE, np)
    starved = free.fn(
        {**x, "n_tokens": x["n_tokens"] / 40, "unique_tokens": x["n_tokens"] / 40}, DC_FREE, np
    )
    assert np.all(fresh < repeated) and np.all(repeated < starved)


def test_data_constrained_names_round_trip_through_get_law():
    published = get_law("data_constrained:muennighoff2023")
    assert published.params == ("log_RD", "log_RN")
    assert set(published.derived) == {"R_D_star", "R_N_star"}
    free = get_law("data_constrained")
    assert free.params == ("E", "log_A", "alpha", "log_B", "beta", "log_RD", "log_RN")
    assert free.inputs == ("n_params", "n_tokens", "unique_tokens")

    from bayes_scaling.laws import data_constrained

    law = data_constrained({"alpha": 0.35, "beta": 0.36})
    assert law.params == ("E", "log_A", "log_B", "log_RD", "log_RN") and law.centred == {}
    again = get_law(law.name)
    assert again.name == law.name and again.params == law.params
    x = {c: GRID[c] for c in law.inputs}
    p = {k: DC_FREE[k] for k in law.params}
    np.testing.assert_allclose(again.fn(x, p, np), law.fn(x, p, np))
    with pytest.raises(LawError, match="data_constrained:<param>=<value>"):
        get_law("data_constrained:alpha")
    with pytest.raises(LawError, match="unknown base parameter"):
        get_law("data_constrained:gamma=1")


def test_data_constrained_needs_unique_tokens_and_says_how_to_add_them():
    runs = small_table(with_unique=False)
    with pytest.raises(RunsError) as err:
        fit(runs, law="data_constrained:muennighoff2023", seed=0)
    message = str(err.value)
    assert "column 'unique_tokens'" in message and "unique training tokens U" in message
    assert "load_runs(..., unique_tokens='<your column>')" in message


# --- real NUTS ------------------------------------------------------------------------------------


def simulated_break_table(seed, n=40, sigma=0.01):
    """Runs along compute 1e17–1e22 FLOPs from BROKEN_TRUTH, with log-normal noise."""
    rng = np.random.default_rng(seed)
    compute = np.geomspace(1e17, 1e22, n)
    loss = get_law("broken").fn({"compute": compute}, BROKEN_TRUTH, np)
    loss = loss * np.exp(rng.normal(0, sigma, n))
    frame = pd.DataFrame({"compute": compute, "n_params": np.sqrt(compute / 120), "loss": loss})
    return load_runs(frame)


@pytest.mark.slow
def test_broken_law_recovers_a_break():
    runs = simulated_break_table(seed=1)
    result = fit(
        runs, law="broken", seed=1, likelihood="normal", draws=1000, tune=1000, target_accept=0.99
    )
    assert result.converged, result.diagnostics.reason()
    post = result.posterior
    for name in ("alpha", "alpha_after", "log_xb", "E"):
        low, high = post[name].quantile([0.025, 0.975]).values
        assert low <= BROKEN_TRUTH[name] <= high, (name, low, high)
    assert abs(float(post["log_xb"].median()) - BROKEN_TRUTH["log_xb"]) < 0.5  # within ×1.65
    assert float(post["delta_alpha"].quantile(0.025)) > 0.1  # the break is found, not just allowed


@pytest.mark.slow
def test_kaplan_converges_on_the_demo_table():
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=UserWarning)  # no ConvergenceWarning
        result = fit(datasets.demo(), law="kaplan", seed=5, draws=500, tune=500)
    assert result.converged, result.diagnostics.reason()
    assert {"N_c", "D_c"} <= set(result.posterior)
    assert not np.isin("log_Nc_centred", list(result.posterior))
