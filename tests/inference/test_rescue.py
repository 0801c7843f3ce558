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
from bayes_scaling.inference.nuts import sample_posterior
from bayes_scaling.inference.rescue import (
    LONGER,
    ORDINALS,
    Attempt,
    Rung,
    climb,
    derived_seed,
    describe,
    escalate,
    more_draws,
    separate_modes,
    shortfall,
)
from bayes_scaling.laws import get_law
from bayes_scaling.laws.broken import identification as break_identification
from bayes_scaling.model.centred_coordinates import INTERNAL, anchorable
from bayes_scaling.model.simulate import DEMO_TRUTH, simulate_runs
from bayes_scaling.priors import resolve_priors, runs_stats
from bayes_scaling.report import background
from bayes_scaling.results import diagnostics
from bayes_scaling.results.diagnostics import Diagnostics

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
def ridge_run():
    """The ridge fitted once, with the ConvergenceWarnings it raised (none when rescued)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        result = fit(ridge_runs(), seed=0, discrepancy=False)
    return result, [w for w in caught if issubclass(w.category, ConvergenceWarning)]


@pytest.fixture(scope="module")
def ridge_fit(ridge_run):
    return ridge_run[0]


#: The core ladder's rungs in order, with the position that derives each one's seed.
CORE_ORDER = {"longer": 1, "target_accept 0.99": 2, "anchored E": 3, "more draws": 4}


def test_a_ridge_escalates_and_records_every_attempt(ridge_run):
    """Which rungs a real ridge needs, and whether one passes, depends on the CPU's last bits
    (NUTS paths differ across machines), so this checks what the ladder promises whatever the
    path: the first attempt fails on the ridge; later rungs are climbed in order with derived
    seeds, each recorded with why it was tried; the fit ends converged on the attempt that
    passed, or flagged (warning, failures) on the closest attempt."""
    ridge_fit, warned = ridge_run
    record = ridge_fit.settings["rescue"]
    rungs = [e["rung"] for e in record]
    assert rungs[0] == "as asked" and len(rungs) >= 2
    assert [CORE_ORDER[r] for r in rungs[1:]] == sorted(CORE_ORDER[r] for r in rungs[1:])
    assert record[0]["failures"] and not record[0]["passed"]
    assert (
        set(record[0]["failing_parameters"]) & {"E", "log_A", "alpha"} or record[0]["divergences"]
    )
    assert [e["seed"] for e in record] == [0, *(derived_seed(0, CORE_ORDER[r]) for r in rungs[1:])]
    assert [(e["draws"], e["tune"]) for e in record[:2]] == [(1000, 1000), (2000, 2000)]
    assert all(e["reason"] for e in record)
    assert all(bool(e["failures"]) != e["passed"] for e in record)  # a failure says why
    kept = [i for i, e in enumerate(record) if e["kept"]]
    assert len(kept) == 1 and ridge_fit.settings["rescue_enabled"] is True
    if any(e["passed"] for e in record):  # converged: stopped at the first attempt that passed
        assert [e["passed"] for e in record] == [False] * (len(record) - 1) + [True]
        assert kept == [len(record) - 1] and ridge_fit.converged and not warned
    else:  # flagged: not converged, a warning that names what was tried
        assert not ridge_fit.converged and ridge_fit.diagnostics.failures
        assert len(warned) == 1 and f"after {len(record)} attempts" in str(warned[0].message)
    settings, used = ridge_fit.settings, record[kept[0]]
    assert settings["parameterisation"] == used["parameterisation"] and settings["seed"] == 0
    assert (settings["draws"], settings["tune"]) == (used["draws"], used["tune"])
    assert not set(INTERNAL) & set(ridge_fit.posterior.data_vars)
    assert {"E", "log_A", "A", "alpha"} <= set(ridge_fit.posterior.data_vars)


def test_the_record_survives_save_and_load_and_the_report_says_it(ridge_fit, tmp_path):
    path = tmp_path / "ridge.nc"
    ridge_fit.save(path)
    back = load(path)
    record = back.settings["rescue"]
    assert record == ridge_fit.settings["rescue"] and back.converged == ridge_fit.converged
    said = describe(record)
    # whatever rungs this machine climbed, the sentence names each attempt and the outcome
    assert said.startswith(f"The first try failed ({record[0]['failures'][0]}")
    assert "a second with 2000 draws after 2000 tuning steps" in said
    for i, entry in enumerate(record[1:], start=1):
        phrase = f"a {ORDINALS[i]} " + (
            "with E sampled through the loss at the runs' centre"
            if entry["parameterisation"] == "anchored E"
            else f"at target_accept {entry['target_accept']}"
            if entry["rung"].startswith("target_accept")
            else f"with {entry['draws']} draws"
        )
        assert phrase in said, (phrase, said)
    if back.converged:
        assert said.endswith("passed.")
    else:
        assert "the fit is reported as not converged" in said
    section = background.health(back)
    words = ["".join(p for p in paragraph if isinstance(p, str)) for paragraph in section.text]
    assert said in words


def test_the_ridge_path_to_anchored_e_plumbing():
    """A forced path (stub draws, no sampler): E mixes badly until it is anchored, so the core
    ladder goes as asked → longer → anchored E (no divergence: target_accept stays), with the
    seeds, lengths and reasons of those rungs, and the sentence names the third attempt."""
    runs = datasets.demo()
    law = get_law("chinchilla")
    priors = resolve_priors(law, runs, None, "student_t")
    tried = []

    def ridge(attempt):
        tried.append(attempt)
        post = _draws([0.0] * 4, [1.0] * 4, PARAMS, seed=len(tried), n=1000)
        if not attempt.anchored:  # E's chains disagree: R-hat far above the gate
            post["E"] = post["E"] + xr.DataArray([0.0, 1.0, 2.0, 3.0], dims="chain")
        stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((4, 1000), bool))})
        return post.assign(E=post["E"] + 2.0), stats, 0.1

    first = Attempt("as asked", 1000, 1000, 0.95, 0)
    out = escalate(ridge, first, PARAMS, runs=runs, law=law, priors=priors, likelihood="student_t")
    record = out.record
    assert [e["rung"] for e in record] == ["as asked", "longer", "anchored E"]
    assert [e["passed"] for e in record] == [False, False, True]
    assert [e["kept"] for e in record] == [False, False, True] and out.diagnostics.converged
    assert "E" in record[0]["failing_parameters"] and "R-hat" in record[0]["failures"][0]
    assert [e["seed"] for e in record] == [0, derived_seed(0, 1), derived_seed(0, 3)]
    assert [(e["draws"], e["tune"]) for e in record] == [(1000, 1000), (2000, 2000), (2000, 2000)]
    assert [e["target_accept"] for e in record] == [0.95] * 3
    assert record[2]["parameterisation"] == "anchored E" and "ridge" in record[2]["reason"]
    said = describe(record)
    assert said.startswith("The first try failed (R-hat") and said.endswith(
        "a third with E sampled through the loss at the runs' centre (2000 draws after 2000 "
        "tuning steps) passed."
    )


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
    assert [e["kept"] for e in record] == [False] * (len(record) - 1) + [True]
    assert record[0]["reason"] == "as asked" and all(e["reason"] for e in record)
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
    # near the gate (R-hat < 1.02, no divergence): the last rung doubles the best one's draws
    assert [a.rung for a in tried] == ["as asked", "longer", "anchored E", "more draws"]
    assert [a.anchored for a in tried[:3]] == [False, False, True]
    ranks = [shortfall_of(r) for r in out.record]
    best_before = min(range(3), key=lambda i: (ranks[i], -i))
    assert tried[3].draws == 2 * tried[best_before].draws
    assert tried[3].anchored == tried[best_before].anchored
    assert not out.diagnostics.converged and len(out.record) == 4
    kept = [i for i, r in enumerate(out.record) if r["kept"]]
    assert kept == [min(range(4), key=lambda i: (ranks[i], -i))]
    assert all(r["reason"] for r in out.record)
    assert out.tried().startswith("after 4 attempts (as asked: 1000 draws after 1000 tuning")
    assert "already tried: longer, anchored E, more draws" in out.diagnostics.advice[-1]
    with pytest.warns(ConvergenceWarning, match=r"did not converge after 4 attempts \(as asked"):
        diagnostics.warn_if_failed(out.diagnostics, tried=out.tried())


def shortfall_of(entry) -> tuple:
    """:func:`shortfall` of a recorded attempt."""
    diag = Diagnostics(
        entry["max_rhat"],
        entry["min_ess_bulk"],
        entry["min_ess_tail"],
        entry["divergences"],
        0,
        tuple(entry["failures"]),
    )
    return shortfall(diag)


def test_the_ladder_never_ends_on_an_attempt_worse_than_the_best_plumbing():
    """A forced path (stub draws, no sampler): far, close, worse, worse. The close attempt is
    kept and returned, "more draws" doubles it (the best so far), and every attempt is recorded
    with why it was tried."""
    spread = {"as asked": 0.6, "longer": 0.04, "worse": 1.5, "more draws": 2.0}
    calls = []

    def sample(attempt):
        calls.append(attempt)
        d = spread[attempt.rung]
        post = _draws([0.0, d, 2 * d, 3 * d], [1.0] * 4, ["x"], seed=len(calls), n=90)
        stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((4, 90), bool))})
        return post, stats, 0.01

    worse = Rung("worse", lambda c: True, lambda c: c.last, "forced by the test")
    rungs = (LONGER, worse, more_draws())
    first = Attempt("as asked", 300, 300, 0.9, 11)
    out = climb(sample, first, ["x"], rungs)
    assert [a.rung for a in calls] == ["as asked", "longer", "worse", "more draws"]
    assert calls[3].draws == 2 * calls[1].draws == 4000  # the best so far, doubled
    assert not out.diagnostics.converged
    assert out.attempt == calls[1] and out.attempt.rung == "longer"
    assert [e["kept"] for e in out.record] == [False, True, False, False]
    assert out.record[1]["failures"] and "ESS" in out.record[1]["failures"][0]
    assert out.diagnostics.max_rhat == pytest.approx(out.record[1]["max_rhat"], abs=1e-4)
    assert [e["reason"] for e in out.record][:3] == ["as asked", LONGER.why, "forced by the test"]
    assert [e["seed"] for e in out.record] == [11, *(derived_seed(11, i) for i in (1, 2, 3))]
    assert "kept attempt 2, the closest" in out.tried()
    said = describe(out.record)
    assert said.endswith("with the draws of the second attempt, the closest to passing.")
    assert climb(sample, first, ["x"], rungs, rescue=False).record[0]["kept"] is True


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
