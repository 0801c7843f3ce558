"""The rescue ladder: real NUTS on small seeded tables built to fail the first try, the record
it leaves (saved with the fit, said in the report), ``rescue=False``, and the checks that stop or
explain it (separate modes, a break the runs cannot place) on draws made by hand."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import xarray as xr

from bayes_scaling import ConvergenceWarning, datasets, fit, load, load_runs
from bayes_scaling.inference.rescue import (
    Attempt,
    derived_seed,
    describe,
    escalate,
    separate_modes,
)
from bayes_scaling.inference.sampling import sample_posterior
from bayes_scaling.laws import get_law
from bayes_scaling.laws.broken import identification as break_identification
from bayes_scaling.model.centred_coordinates import INTERNAL, anchorable
from bayes_scaling.model.simulate import DEMO_TRUTH, simulate_runs
from bayes_scaling.priors import resolve_priors, runs_stats
from bayes_scaling.report import background
from bayes_scaling.results import diagnostics

#: A 15-run Chinchilla ladder (C = 1e17-1e19, losses 3.6-5.4) far from its plateau E = 1.8:
#: E, A and α slide along a ridge, and with seed 0 the first two attempts fail.
RIDGE_TRUTH = {
    "E": 1.8,
    "log_A": float(np.log(100.0)),
    "alpha": 0.25,
    "log_B": float(np.log(300.0)),
    "beta": 0.25,
}
PARAMS = ["E", "log_A", "alpha", "log_B", "beta", "sigma", "nu"]


def ridge_runs():
    table = simulate_runs(
        RIDGE_TRUTH,
        budgets=(1e17, 1e18, 1e19),
        sizes_per_budget=5,
        sigma=0.01,
        nu=None,
        seed=4,
    )
    return load_runs(table)


@pytest.fixture(scope="module")
def ridge_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # rescued: no warning
        return fit(ridge_runs(), seed=0, discrepancy=False)


def test_a_ridge_escalates_to_anchored_e_and_records_every_attempt(ridge_fit):
    record = ridge_fit.settings["rescue"]
    assert [e["rung"] for e in record] == ["as asked", "longer", "anchored E"]
    assert [e["passed"] for e in record] == [False, False, True]
    assert record[0]["failures"] and "E" in record[0]["failing_parameters"]
    assert [e["seed"] for e in record] == [0, derived_seed(0, 1), derived_seed(0, 3)]
    assert [(e["draws"], e["tune"]) for e in record] == [(1000, 1000), (2000, 2000), (2000, 2000)]
    assert ridge_fit.converged and ridge_fit.settings["rescue_enabled"] is True
    settings = ridge_fit.settings
    assert settings["parameterisation"] == "anchored E" and settings["seed"] == 0
    assert (settings["draws"], settings["tune"]) == (2000, 2000)
    assert not set(INTERNAL) & set(ridge_fit.posterior.data_vars)
    assert {"E", "log_A", "A", "alpha"} <= set(ridge_fit.posterior.data_vars)


def test_the_record_survives_save_and_load_and_the_report_says_it(ridge_fit, tmp_path):
    path = tmp_path / "ridge.nc"
    ridge_fit.save(path)
    back = load(path)
    assert back.settings["rescue"] == ridge_fit.settings["rescue"]
    said = describe(back.settings["rescue"])
    assert said.startswith("The first try failed (R-hat") and said.endswith("passed.")
    assert "a third with E sampled through the loss at the runs' centre" in said
    section = background.health(back)
    words = ["".join(p for p in paragraph if isinstance(p, str)) for paragraph in section.text]
    assert said in words


def test_the_same_seed_gives_the_same_ladder_and_draws(ridge_fit):
    again = fit(ridge_runs(), seed=0, discrepancy=False)
    assert [e["seed"] for e in again.settings["rescue"]] == [
        e["seed"] for e in ridge_fit.settings["rescue"]
    ]
    np.testing.assert_array_equal(again.posterior["E"].values, ridge_fit.posterior["E"].values)


def test_anchored_coordinates_sample_the_same_posterior():
    runs = datasets.demo()
    law = get_law("chinchilla")
    priors = resolve_priors(law, runs, None, "student_t")
    assert anchorable(law, priors)
    options = dict(draws=1000, chains=4, tune=1000, seed=5, target_accept=0.95)
    plain, _, _ = sample_posterior(runs, law, priors, "student_t", **options)
    anchored, stats, _ = sample_posterior(runs, law, priors, "student_t", anchor=True, **options)
    assert diagnostics.check(anchored, stats, PARAMS).converged
    for name in ("E", "log_A", "alpha", "log_B", "beta"):
        a, b = plain[name].values.ravel(), anchored[name].values.ravel()
        sd = a.std()
        for q in (0.05, 0.5, 0.95):
            assert abs(np.quantile(a, q) - np.quantile(b, q)) < 0.25 * sd, (name, q)


def test_a_tiny_first_attempt_escalates_and_rescue_false_does_not():
    runs = datasets.demo()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        rescued = fit(runs, seed=3, draws=40, tune=100, discrepancy=False)
    record = rescued.settings["rescue"]
    assert rescued.converged and len(record) >= 2 and record[-1]["passed"]
    assert (record[0]["draws"], record[0]["tune"], record[0]["passed"]) == (40, 100, False)
    with pytest.warns(ConvergenceWarning, match=r"did not converge: ") as caught:
        plain = fit(runs, seed=3, draws=40, tune=100, discrepancy=False, rescue=False)
    assert "attempts" not in str(caught[0].message)
    assert not plain.converged and plain.settings["rescue_enabled"] is False
    assert [e["rung"] for e in plain.settings["rescue"]] == ["as asked"]
    assert plain.settings["draws"] == 40 and describe(plain.settings["rescue"]) == ""


def _draws(means, sds, names, seed=0, n=200):
    """A posterior of 4 chains: parameter ``name`` ~ Normal(means[c], sds[c]) in chain c."""
    rng = np.random.default_rng(seed)
    data = {}
    for name in names:
        chains = [rng.normal(m, s, n) for m, s in zip(means, sds, strict=True)]
        data[name] = (("chain", "draw"), np.array(chains))
    return xr.Dataset(data, coords={"chain": np.arange(4), "draw": np.arange(n)})


def test_ladder_names_what_it_tried_when_every_attempt_fails():
    runs = datasets.demo()
    law = get_law("chinchilla")
    priors = resolve_priors(law, runs, None, "student_t")
    tried = []

    def slow(attempt):  # chains that disagree a little, not separate modes
        tried.append(attempt)
        post = _draws([0.0, 0.1, 0.2, 0.3], [1.0] * 4, PARAMS, seed=len(tried))
        stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((4, 200), bool))})
        return post.assign(E=post["E"] + 2.0), stats.assign(logp=post["sigma"]), 0.1

    first = Attempt("as asked", 1000, 1000, 0.95, 7)
    out = escalate(slow, first, PARAMS, runs=runs, law=law, priors=priors, likelihood="student_t")
    # near the gate (R-hat < 1.02, no divergence): the last rung doubles the last draws
    assert [a.rung for a in tried] == ["as asked", "longer", "anchored E", "more draws"]
    assert [a.anchored for a in tried] == [False, False, True, True]
    assert [a.draws for a in tried] == [1000, 2000, 2000, 4000]
    assert not out.diagnostics.converged and len(out.record) == 4
    assert out.tried().startswith("after 4 attempts (as asked: 1000 draws after 1000 tuning")
    assert "already tried: longer, anchored E, more draws" in out.diagnostics.advice[-1]
    with pytest.warns(ConvergenceWarning, match=r"did not converge after 4 attempts \(as asked"):
        diagnostics.warn_if_failed(out.diagnostics, tried=out.tried())


def test_separate_modes_stop_the_ladder_and_name_the_runs():
    runs = datasets.demo()
    law = get_law("chinchilla")
    priors = resolve_priors(law, runs, None, "student_t")
    truth = {**DEMO_TRUTH, "sigma": 0.012, "nu": 5.0}
    calls = []

    def two_modes(attempt):  # chains 2-3 sit where E is 0.3 higher: a curve that misses runs
        calls.append(attempt)
        post = xr.merge(
            [
                _draws([v] * 4, [1e-3 * abs(v)] * 4, [k], seed=i)
                for i, (k, v) in enumerate(truth.items())
            ]
        )
        post["E"] = post["E"] + xr.DataArray([0.0, 0.0, 0.3, 0.3], dims="chain")
        zeros = np.zeros((4, 200))
        stats = xr.Dataset(
            {
                "diverging": (("chain", "draw"), zeros.astype(bool)),
                "logp": (("chain", "draw"), zeros),
            }
        )
        return post, stats, 0.1

    first = Attempt("as asked", 1000, 1000, 0.95, 7)
    out = escalate(two_modes, first, PARAMS, runs=runs, law=law, priors=priors, likelihood="normal")
    assert len(calls) == 1 and out.record[0]["stopped"] == "separate modes"
    assert "separate modes of similar density (E " in out.diagnostics.reason()
    advice = out.diagnostics.advice[0]
    assert "cannot join separate modes" in advice
    assert re.search(
        r"the mode with E 2.2 fits \d+ runs more than 2 nats worse than the other", advice
    )


def test_a_chain_stuck_far_below_is_not_a_mode():
    post = _draws([0.0, 0.0, 0.0, 5.0], [0.05] * 4, ["E"])
    logp = np.full((4, 200), 100.0)
    logp[3] = 20.0  # 80 nats below the others
    stats = xr.Dataset({"logp": (("chain", "draw"), logp)})
    health = diagnostics.parameter_health(post, ["E"])
    assert separate_modes(post, stats, health) is None
    stats["logp"][3] = 98.0
    modes = separate_modes(post, stats, health)
    assert modes is not None and modes.groups[0][0] == (0, 1, 2) and modes.groups[1][0] == (3,)


def test_broken_law_says_it_sees_no_break_and_where_runs_are_needed():
    runs = datasets.demo()
    stats = runs_stats(runs)
    top = stats["max_log_compute"]
    post = _draws([0.3] * 4, [0.01] * 4, ["alpha"]).assign(
        alpha_after=_draws([0.32] * 4, [0.1] * 4, ["a"], seed=1)["a"],
        log_xb=_draws([top - 0.2] * 4, [0.1] * 4, ["b"], seed=2)["b"],
    )
    what, advice = break_identification(post, stats, "compute")
    assert "the runs show no break" in what and "includes 0" in what
    assert "top of the runs' range" in what
    assert f"runs beyond compute={np.exp(top):.3g} are needed" in advice
    assert "power:compute" in advice
    sharp = post.assign(alpha_after=post["alpha"] + 0.3, log_xb=post["log_xb"] * 0 + (top - 3))
    assert break_identification(sharp, stats, "compute") is None
