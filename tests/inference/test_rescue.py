"""The rescue ladder: real NUTS on small seeded tables built to fail the first try, the record
it leaves (saved with the fit, said in the report), ``rescue=False``, and the checks that stop or
explain it (separate modes, a break the runs cannot place) on draws made by hand."""

from __future__ import annotations

import re
import warnings
from dataclasses import replace

import numpy as np
import pytest
import xarray as xr

from bayes_scaling import ConvergenceWarning, datasets, fit, load, load_runs
from bayes_scaling.inference import nuts
from bayes_scaling.inference.nuts import sample_posterior
from bayes_scaling.inference.rescue import ORDINALS, climb, describe, separate_modes
from bayes_scaling.inference.rescue_core import escalate
from bayes_scaling.inference.rescue_notes import noise_note
from bayes_scaling.inference.rungs import LONGER, Attempt, derived_seed, more_draws, shortfall
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


#: The core ladder's rungs, by the position that derives each one's seed.
CORE_ORDER = {
    "longer": 1,
    "target_accept 0.99": 2,
    "anchored E": 3,
    "more draws": 4,
    "target_accept 0.99 again": 5,
    "retuned": 6,
}


def expected_seeds(record, seed=0):
    """The seed of every recorded attempt: the caller's, the continued attempt's, or derived
    from the rung's position and its use."""
    uses, out = dict.fromkeys(CORE_ORDER, 0), []
    for e in record:
        if e["rung"] == "as asked":
            out.append(seed)
        else:
            if e["continues"]:
                out.append(record[e["continues"] - 1]["seed"])
            else:
                out.append(derived_seed(seed, CORE_ORDER[e["rung"]] + uses[e["rung"]] * 6))
            uses[e["rung"]] += 1
    return out


def test_a_ridge_escalates_and_records_every_attempt(ridge_run):
    """Which rungs a real ridge needs, and whether one passes, depends on the CPU's last bits
    (NUTS paths differ across machines), so this checks what the ladder promises whatever the
    path: the first attempt fails on the ridge; the rungs in turn come in order, each seeded
    from its position or continuing an earlier attempt's chains, each recorded with why; no
    settings twice; the fit ends converged on the attempt that passed, or flagged (warning,
    failures) on the closest attempt."""
    ridge_fit, warned = ridge_run
    record = ridge_fit.settings["rescue"]
    rungs = [e["rung"] for e in record]
    assert rungs[0] == "as asked" and len(rungs) >= 2
    in_turn = [CORE_ORDER[r] for r in rungs[1:] if CORE_ORDER[r] in (1, 2, 3, 6)]
    assert in_turn == sorted(in_turn)
    assert record[0]["failures"] and not record[0]["passed"]
    assert (
        set(record[0]["failing_parameters"]) & {"E", "log_A", "alpha"} or record[0]["divergences"]
    )
    assert [e["seed"] for e in record] == expected_seeds(record)
    keys = [(e["draws"], e["tune"], e["target_accept"], e["parameterisation"]) for e in record]
    assert len(set(keys)) == len(keys) and (record[0]["draws"], record[0]["tune"]) == (1000, 1000)
    for e in record:
        if e["continues"]:  # the same chains, more draws
            base = record[e["continues"] - 1]
            assert e["rung"] == "more draws" and e["draws"] in [
                k * base["draws"] for k in (2, 3, 4)
            ]
            assert (e["tune"], e["target_accept"]) == (base["tune"], base["target_accept"])
    assert all(e["reason"] for e in record)
    assert all(bool(e["failures"]) != e["passed"] for e in record)  # a failure says why
    kept = [i for i, e in enumerate(record) if e["kept"]]
    assert len(kept) == 1 and ridge_fit.settings["rescue_enabled"] is True
    if any(e["passed"] for e in record):  # converged: stopped at the first attempt that passed
        assert [e["passed"] for e in record] == [False] * (len(record) - 1) + [True]
        assert kept == [len(record) - 1] and ridge_fit.converged and not warned
        assert record[-1]["kept_why"] == "it passed the gate"
    else:  # flagged: not converged, a warning that names what was tried
        assert not ridge_fit.converged and ridge_fit.diagnostics.failures
        assert len(warned) == 1 and f"after {len(record)} attempts" in str(warned[0].message)
        assert record[kept[0]]["kept_why"].startswith("the closest to passing")
    settings, used = ridge_fit.settings, record[kept[0]]
    assert settings["parameterisation"] == used["parameterisation"] and settings["seed"] == 0
    assert (settings["draws"], settings["tune"]) == (used["draws"], used["tune"])
    assert not set(INTERNAL) & set(ridge_fit.posterior.data_vars)
    assert {"E", "log_A", "A", "alpha"} <= set(ridge_fit.posterior.data_vars)


def phrase_of(i, entry) -> str:
    """How the report's sentence names attempt ``i`` (0-based, not the first)."""
    if entry["continues"]:
        return f"a {ORDINALS[i]} continuing the {ORDINALS[entry['continues'] - 1]}'s chains"
    if entry["parameterisation"] == "anchored E":
        return f"a {ORDINALS[i]} with E sampled through the loss at the runs' centre"
    if entry["rung"].startswith("target_accept"):
        return f"a {ORDINALS[i]} at target_accept {entry['target_accept']}"
    return f"a {ORDINALS[i]} with {entry['draws']} draws"


def test_the_record_survives_save_and_load_and_the_report_says_it(ridge_fit, tmp_path):
    path = tmp_path / "ridge.nc"
    ridge_fit.save(path)
    back = load(path)
    record = back.settings["rescue"]
    assert record == ridge_fit.settings["rescue"] and back.converged == ridge_fit.converged
    said = describe(record)
    # whatever rungs this machine climbed, the sentence names each attempt and the outcome
    assert said.startswith(f"The first try failed ({record[0]['failures'][0]}")
    for i, entry in enumerate(record[1:], start=1):
        assert phrase_of(i, entry) in said, (phrase_of(i, entry), said)
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


def test_more_draws_continue_the_same_chains():
    """Real NUTS: the same seed and tuning with more draws repeats the chains draw for draw and
    goes on, which is what "more draws" relies on to continue a close attempt rather than start
    a new one (both runs in this process, so no cross-machine path is assumed)."""
    runs = datasets.demo()
    law = get_law("chinchilla")
    priors = resolve_priors(law, runs, None, "student_t")
    options = dict(chains=2, tune=150, seed=5, target_accept=0.95)
    short, _, _ = sample_posterior(runs, law, priors, "student_t", draws=100, **options)
    more, _, _ = sample_posterior(runs, law, priors, "student_t", draws=200, **options)
    for name in ("E", "alpha", "sigma"):
        np.testing.assert_array_equal(more[name].values[:, :100], short[name].values)


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


def gated(script):
    """A sampler and gate stub: attempt k (0-based) of the ladder gets ``script[k]`` =
    (max R-hat, min ESS, divergences) as its gate's verdict, carried on the stub's draws."""
    calls = []

    def sample(attempt):
        rhat, ess, div = script[len(calls)]
        calls.append(attempt)
        post = _draws([0.0] * 4, [1.0] * 4, ["x"], seed=len(calls), n=10)
        failures = (
            [] if (rhat <= 1.01 and ess >= 400 and not div) else ["R-hat, ESS or divergences"]
        )
        post.attrs["gate"] = Diagnostics(rhat, ess, ess, div, 40, tuple(failures))
        stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((4, 10), bool))})
        return post, stats, 0.01

    return sample, calls


@pytest.fixture
def stub_gate(monkeypatch):
    """The gate mocked: its verdict is the one the stub sampler put on the draws."""
    monkeypatch.setattr(diagnostics, "check", lambda post, stats, gate, health: post.attrs["gate"])
    monkeypatch.setattr(diagnostics, "failing_parameters", lambda health: ["E"])


def test_a_close_attempt_is_continued_with_more_draws_at_once_plumbing(stub_gate):
    """Mocked gate: the first attempt comes close (R-hat 1.02, ESS 320, no divergence), so the
    next is "more draws" before "longer": the same seed, tuning and target_accept, twice the
    draws (ESS 320 → 640 ≥ 1.25 × 400), recorded as continuing attempt 1; it passes and is kept."""
    sample, calls = gated([(1.02, 320, 0), (1.004, 650, 0)])
    first = Attempt("as asked", 1000, 1000, 0.95, 7)
    out = climb(sample, first, ["x"])
    assert [a.rung for a in calls] == ["as asked", "more draws"]
    assert calls[1] == replace(first, rung="more draws", draws=2000)
    assert [e["continues"] for e in out.record] == [None, 1]
    assert out.attempt == calls[1] and out.diagnostics.converged
    assert [e["kept"] for e in out.record] == [False, True]
    assert out.record[1]["kept_why"] == "it passed the gate"
    assert describe(out.record).endswith(
        "a second continuing the first's chains to 2000 draws passed."
    )
    # a lower ESS asks for more: ⌈1.25 · 400 / 210⌉ = 3 times the draws
    sample, calls = gated([(1.02, 210, 0), (1.004, 650, 0)])
    climb(sample, first, ["x"])
    assert calls[1].draws == 3000 and calls[1].seed == 7


def test_the_ladder_never_ends_on_an_attempt_worse_than_the_best_plumbing(stub_gate):
    """Mocked gate, the issue's path: as asked close (R-hat 1.029, ESS 312), then far worse
    attempts that a stop (separate modes) would end. The close one is continued at once; the stop is
    not heeded (an attempt's chains agreed); the close attempt is kept, with why; the record
    names every attempt with why it was tried and no settings twice."""
    script = [(1.029, 312, 0), (1.385, 12, 0), (1.3, 15, 3), (1.4, 9, 0)]
    sample, calls = gated(script)
    first = Attempt("as asked", 1000, 1000, 0.95, 11)
    out = climb(sample, first, ["x"], stop=lambda post, stats, health: "modes")
    rungs = [a.rung for a in calls]
    assert rungs == ["as asked", "more draws", "longer", "target_accept 0.99"]
    assert calls[1].seed == 11 and calls[1].draws == 2000
    assert [e["seed"] for e in out.record][2:] == [derived_seed(11, 1), derived_seed(11, 2)]
    assert out.attempt == first and not out.diagnostics.converged and out.stopped is None
    assert [e["kept"] for e in out.record] == [True, False, False, False]
    assert out.record[0]["kept_why"].startswith("the closest to passing of the 4 attempts")
    assert [e["reason"] for e in out.record][:3] == ["as asked", more_draws().why, LONGER.why]
    assert "kept attempt 1, the closest" in out.tried()
    said = describe(out.record)
    assert said.endswith("with the draws of the first attempt, the closest to passing.")
    # without an attempt whose chains agreed, the stop ends the ladder at once
    sample, calls = gated([(1.385, 12, 0)])
    out = climb(sample, first, ["x"], stop=lambda post, stats, health: "modes")
    assert len(calls) == 1 and out.record[0]["stopped"] == "modes"
    assert climb(gated(script)[0], first, ["x"], rescue=False).record[0]["kept"] is True


def test_a_mixed_attempt_that_diverged_is_tried_again_steadier_plumbing(stub_gate):
    """Mocked gate: the anchored attempt mixes (R-hat 1.006, ESS 700) with 2 divergences, so
    the next is its settings at target_accept 0.99 (out of turn, a derived seed); when that
    comes close it is continued with more draws, which passes."""
    runs = datasets.demo()
    law = get_law("chinchilla")
    priors = resolve_priors(law, runs, None, "student_t")
    script = [(1.2, 30, 0), (1.1, 60, 0), (1.006, 700, 2), (1.012, 300, 0), (1.005, 900, 0)]
    sample, calls = gated(script)
    first = Attempt("as asked", 1000, 1000, 0.95, 3)
    out = escalate(sample, first, ["x"], runs=runs, law=law, priors=priors, likelihood="normal")
    assert [a.rung for a in calls] == [
        "as asked",
        "longer",
        "anchored E",
        "target_accept 0.99 again",
        "more draws",
    ]
    assert calls[3] == replace(calls[2], rung=calls[3].rung, target_accept=0.99, seed=calls[3].seed)
    assert calls[3].anchored and calls[3].seed == derived_seed(3, 5)
    assert calls[4] == replace(calls[3], rung="more draws", draws=2 * calls[3].draws)
    assert out.diagnostics.converged and out.attempt == calls[4]
    said = describe(out.record)
    assert (
        "a fourth with E sampled through the loss at the runs' centre (2000 draws after 2000 "
        in said
    )
    assert "target_accept 0.99)" in said and said.endswith(
        "continuing the fourth's chains to 4000 draws passed."
    )


def test_the_last_rung_continues_an_attempt_within_reach_plumbing(stub_gate):
    """Mocked gate: no attempt came close, but the best is within reach (R-hat 1.04, ESS 150):
    "more draws" in its own turn continues it (4 times the draws: ⌈500 / 150⌉ clipped to 4)."""
    sample, calls = gated([(1.2, 30, 0), (1.04, 150, 0), (1.06, 90, 0)])
    out = climb(sample, Attempt("as asked", 1000, 1000, 0.95, 5), ["x"])
    assert [a.rung for a in calls] == ["as asked", "longer", "more draws"]
    assert calls[2] == replace(calls[1], rung="more draws", draws=8000)
    assert out.attempt == calls[1] and [e["kept"] for e in out.record] == [False, True, False]


def two_modes(calls, shift):
    """A stub sampler: draws near the demo truth, chains 2-3 with E ``shift`` higher."""
    truth = {**DEMO_TRUTH, "sigma": 0.012, "nu": 5.0}

    def sample(attempt):
        calls.append(attempt)
        post = xr.merge(
            [
                _draws([v] * 4, [1e-3 * abs(v)] * 4, [k], seed=i)
                for i, (k, v) in enumerate(truth.items())
            ]
        )
        post["E"] = post["E"] + xr.DataArray([0.0, 0.0, shift, shift], dims="chain")
        zeros = np.zeros((4, 200))
        stats = xr.Dataset(
            {
                "diverging": (("chain", "draw"), zeros.astype(bool)),
                "logp": (("chain", "draw"), zeros),
            }
        )
        return post, stats, 0.1

    return sample


def test_separate_modes_stop_the_ladder_and_name_the_runs_plumbing():
    """Stub draws (chains 2-3 where E is 0.3 higher): the ladder stops and names the runs."""
    runs = datasets.demo()
    law = get_law("chinchilla")
    priors = resolve_priors(law, runs, None, "student_t")
    calls = []
    # chains 2-3 sit where E is 0.3 higher: a curve that misses runs
    first = Attempt("as asked", 1000, 1000, 0.95, 7)
    out = escalate(
        two_modes(calls, 0.3), first, PARAMS, runs=runs, law=law, priors=priors, likelihood="normal"
    )
    assert len(calls) == 1 and out.record[0]["stopped"] == "separate modes"
    assert "separate modes of similar density (E " in out.diagnostics.reason()
    advice = out.diagnostics.advice[0]
    assert "cannot join separate modes" in advice
    assert re.search(
        r"the mode with E 2.2 fits \d+ runs more than 2 nats worse than the other", advice
    )


def test_modes_that_no_run_decides_between_do_not_stop_the_ladder_plumbing():
    """Stub draws: chains split in E by 0.01 (far beyond their sd of 0.002, the same density),
    which no run fits 2 nats worse: ends of a ridge, not modes, so the ladder goes on."""
    runs = datasets.demo()
    law = get_law("chinchilla")
    priors = resolve_priors(law, runs, None, "student_t")
    calls = []
    first = Attempt("as asked", 1000, 1000, 0.95, 7)
    sample = two_modes(calls, 0.01)
    out = escalate(sample, first, PARAMS, runs=runs, law=law, priors=priors, likelihood="normal")
    assert len(calls) > 1 and not any(e.get("stopped") for e in out.record)
    assert not out.diagnostics.converged and out.stopped is None


def test_a_stalled_continuation_is_retuned_plumbing(stub_gate):
    """Mocked gate, a 20-run gemstones subsample's path: longer comes close (R-hat 1.007, ESS
    310), its chains continued do not raise the ESS (309), the anchored attempt is worse; the
    last rung samples the close attempt's settings afresh with 4000 tuning steps and draws and a
    new seed, which passes."""
    runs = datasets.demo()
    law = get_law("chinchilla")
    priors = resolve_priors(law, runs, None, "student_t")
    script = [(1.037, 122, 0), (1.007, 310, 0), (1.006, 309, 0), (1.025, 96, 1), (1.005, 980, 0)]
    sample, calls = gated(script)
    first = Attempt("as asked", 1000, 1000, 0.95, 0)
    out = escalate(sample, first, ["x"], runs=runs, law=law, priors=priors, likelihood="normal")
    rungs = ["as asked", "longer", "more draws", "anchored E", "retuned"]
    assert [a.rung for a in calls] == rungs
    assert calls[4] == replace(calls[1], rung="retuned", draws=4000, tune=4000, seed=calls[4].seed)
    assert calls[4].seed == derived_seed(0, 6) and not calls[4].anchored
    assert out.diagnostics.converged and out.attempt == calls[4]
    assert [e["seed"] for e in out.record] == expected_seeds(out.record)
    # nothing within reach (the funnel of a 6-run table): no retuned rung
    sample, calls = gated([(1.23, 13, 1), (1.09, 34, 2), (1.09, 41, 0), (1.11, 50, 0)])
    out = escalate(sample, first, ["x"], runs=runs, law=law, priors=priors, likelihood="normal")
    assert "retuned" not in [a.rung for a in calls] and not out.diagnostics.converged
    assert out.record[2]["kept"]


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


def test_internal_refits_continue_a_close_attempt_and_restart_a_diverged_one_plumbing(monkeypatch):
    """Stub sampler: an internal refit that came close (R-hat 1.07, no divergence) is continued
    (same seed and tuning, twice the draws); one that diverged is restarted longer with a
    derived seed; when both fail, None, and the record keeps the closer one."""
    calls, script = [], []

    def stub(table, law, priors, likelihood, **settings):
        spread, div = script[len(calls)]
        calls.append(settings)
        post = _draws([0.0, spread, 0.0, spread], [1.0] * 4, ["x"], seed=len(calls), n=400)
        stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((4, 400), bool))})
        stats["diverging"][0, :div] = True
        return post, stats, 0.01

    def refit(*steps):
        calls.clear()
        script[:] = steps
        record = []
        post = nuts.internal_posterior([0] * 5, None, None, "normal", record=record, **asked)
        return post, record[0]

    monkeypatch.setattr(nuts, "sample_posterior", stub)
    monkeypatch.setattr(nuts, "sampled_names", lambda law, priors: ["x"])
    asked = dict(draws=250, tune=400, chains=2, seed=9, target_accept=0.95)
    post, record = refit((0.7, 0), (0.0, 0))
    assert post is not None and (record["retry"], record["attempts"]) == ("more draws", 2)
    assert calls[1] == dict(asked, draws=500)
    post, record = refit((0.0, 2), (0.0, 0))
    assert post is not None and (record["retry"], record["usable"]) == ("longer", True)
    assert calls[1] == dict(asked, draws=500, tune=800, seed=calls[1]["seed"]) != asked
    assert calls[1]["seed"] != 9
    post, record = refit((0.7, 0), (2.0, 0))
    assert post is None and record["usable"] is False and record["max_rhat"] < 1.1


def test_a_noise_funnel_is_named_with_what_would_settle_it():
    """Stub draws: σ spread over three decades (a law that nearly interpolates its runs) and
    failing the gate: the note says σ is not pinned and that the model must change; a σ
    spread as the noise of a well-fitted table (factor 2) gets no note."""
    runs = datasets.demo().iloc[:6]
    law = get_law("chinchilla")
    post = _draws([0.0] * 4, [1.0] * 4, ["s"], n=400)
    funnel = post.assign(sigma=np.exp(-8 + 1.2 * post["s"]))
    what, advice = noise_note(funnel, runs, law, ["sigma", "E"])
    assert "the noise σ is not pinned" in what and "6 runs for 5 law parameters" in what
    assert "more draws or tuning cannot help" in advice
    steady = post.assign(sigma=np.exp(-4 + 0.2 * post["s"]))
    assert noise_note(steady, runs, law, ["sigma"]) is None
    assert noise_note(funnel, runs, law, ["E"]) is None


def test_a_run_with_one_divergence_is_kept_over_chains_stuck_apart_plumbing(stub_gate):
    """Mocked gate, the path of a GSM8K model: divergences at 0.95 and longer, then chains stuck
    apart at 0.99 (R-hat 1.55, ESS 7) with none. The stuck attempt once ranked first for having
    no divergence; now R-hat, ESS and divergences share one scale, and the run that mixed with
    one divergence is kept."""
    script = [(1.002, 3000, 2), (1.0017, 2886, 1), (1.55, 7, 0), (1.6, 5, 0), (1.7, 4, 0)]
    sample, calls = gated(script)
    out = climb(sample, Attempt("as asked", 1000, 1000, 0.95, 3), ["x"])
    assert len(calls) >= 3 and max(a.target_accept for a in calls) > 0.95
    kept = [i for i, e in enumerate(out.record) if e["kept"]]
    assert kept == [1] and out.record[1]["divergences"] == 1
    assert shortfall(Diagnostics(1.0017, 2886, 2886, 1, 8000, ("x",))) < shortfall(
        Diagnostics(1.55, 7, 7, 0, 8000, ("x",))
    )
