"""Bad arguments to the public answer and trust functions: an ArgumentError naming the argument.

For each function and argument, hypothesis draws bad values (empty lists, strings, NaN, inf,
negatives, zero, probabilities outside (0, 1), 2-d arrays, booleans, None where a value is
required, mismatched lengths) while every other argument is valid. The call must raise
:class:`~bayes_scaling.errors.ArgumentError` (a ``BayesScalingError``), never a numpy, pandas or
xarray error, and its message must name the argument. Nothing here samples: validation comes first
(a tripwire on every sampler, compile and worker pool, ``no_sampling`` in tests/conftest.py).
The fits are real NUTS, small, made once per session. Then the renamed keywords: the old names
still work with a FutureWarning.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bayes_scaling as bs
from bayes_scaling.answers.allocation import frontier
from bayes_scaling.answers.bands import loss_bands
from bayes_scaling.answers.difference import difference_table, loss_difference
from bayes_scaling.answers.gap import compare, parameter_differences
from bayes_scaling.answers.horizon import trust_horizon
from bayes_scaling.answers.targets import compute_to_reach, prob_reach, target_answer
from bayes_scaling.errors import ArgumentError, BayesScalingError
from bayes_scaling.trust.backtests import RUN_COLUMNS, backtest, by_distance, coverage
from bayes_scaling.trust.baseline import bootstrap_fit, huber_fit
from bayes_scaling.trust.law_choice import compare_laws, stacked_bands
from bayes_scaling.trust.sbc import sbc
from bayes_scaling.trust.sensitivity import prior_sensitivity

NAN, INF = float("nan"), float("inf")

# --- bad values ----------------------------------------------------------------------------------

#: Not a number at all.
NOT_NUMBERS = st.sampled_from(["x", "1e20", "", b"1", [], {}, (), [[]], {"a": 1}])
#: Scalars that are no positive finite number.
BAD_POSITIVE = st.one_of(
    st.sampled_from([0, 0.0, -0.0, -1, NAN, INF, -INF, True, False, None, np.nan, np.int64(0)]),
    st.floats(max_value=0.0),
    st.integers(max_value=0),
    st.floats(allow_nan=True).filter(lambda x: not math.isfinite(x)),
    NOT_NUMBERS,
    st.just(np.ones((2, 2)) * 1e20),
    st.just([1e20]),
)
#: Elements that spoil a list of sizes.
BAD_ELEMENT = st.sampled_from([0, -1.0, NAN, INF, -INF, "x", None, True, [1e20], ()])
VALID_SIZE = st.floats(min_value=1e6, max_value=1e25)


def _spoiled_list(bad=BAD_ELEMENT, good=VALID_SIZE):
    """A list of valid values with one bad one somewhere."""
    return st.tuples(st.lists(good, max_size=2), bad, st.lists(good, max_size=2)).map(
        lambda t: [*t[0], t[1], *t[2]]
    )


#: Not a list of positive finite numbers (None excluded: often the default).
BAD_SIZES = st.one_of(
    st.sampled_from([[], (), np.array([]), "1e20", "x", True, [True], 0, -1e20, NAN, INF]),
    st.just(np.full((2, 2), 1e20)),
    st.just([[1e20, 2e20]]),
    st.just(pd.DataFrame({"a": [1e20, 2e20], "b": [1e20, 2e20]})),
    _spoiled_list(),
)
#: Not a probability strictly between 0 and 1.
BAD_PROB = st.one_of(
    st.floats(allow_nan=True).filter(lambda p: not 0 < p < 1),
    st.sampled_from([0, 1, True, False, "0.9", None, [0.9], np.array([0.5, 0.9]), -1, 2]),
)
#: Not one probability or a non-empty list of them (None excluded: the default).
BAD_PROBS = st.one_of(
    st.floats(allow_nan=True).filter(lambda p: not 0 < p < 1),
    st.sampled_from([[], (), "0.9", True, [True], np.full((2, 2), 0.5), [[0.5]], [0.5, "x"]]),
    _spoiled_list(st.floats(allow_nan=True).filter(lambda p: not 0 < p < 1), st.floats(0.01, 0.99)),
)
BAD_FLAG = st.sampled_from([None, 0, 1, "yes", "True", [True], np.array([True]), 0.5])
#: Not a seed (None excluded: often the default).
BAD_SEED = st.sampled_from([-1, 1.5, "1", True, NAN, INF, [1], -(2**40)])


def bad_count(minimum: int = 1, none: bool = True):
    """Not a whole number ≥ minimum."""
    values = [1.5, "3", True, NAN, INF, [3], -1]
    return st.one_of(
        st.integers(max_value=minimum - 1),
        st.sampled_from([*values, None] if none else values),
    )


def bad_choice(choices):
    return st.one_of(
        st.text(max_size=6).filter(lambda s: s not in choices),
        st.sampled_from([None, 5, True, ["predictive"], b"law"]),
    )


def mismatched():
    """Two lengths > 1 that differ."""
    return st.tuples(st.integers(2, 4), st.integers(2, 4)).filter(lambda t: t[0] != t[1])


# --- the fits, once per session ---------------------------------------------------------------


@pytest.fixture(scope="session")
def ctx(small_fit, small_grouped):
    """Small real fits (tests/conftest.py) and the tables the trust functions take."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = bs.datasets.demo()
        fit, grouped = small_fit, small_grouped
        boot = bootstrap_fit(runs, n_boot=4, grid="small")
    table = pd.DataFrame({c: pd.Series(dtype=float) for c in RUN_COLUMNS})
    draws = loss_difference(grouped, "A", "B", params=[1e9], tokens=[2e10])
    return {
        "runs": runs,
        "fit": fit,
        "grouped": grouped,
        "boot": boot,
        "table": table,
        "draws": draws,
    }


@dataclass(frozen=True)
class Case:
    id: str
    call: Callable  # (ctx, bad value) -> anything
    values: st.SearchStrategy
    names: tuple[str, ...]  # arguments the error may name


def case(id, call, values, *names):
    return Case(id, call, values, names or (id.split(".")[-1],))


CUT = 3e19  # inside the demo table
CASES = [
    # bands: the function and the method
    case("loss_bands.compute", lambda c, v: loss_bands(c["fit"], compute=v), BAD_SIZES),
    case(
        "loss_bands.compute_none",
        lambda c, v: loss_bands(c["fit"], compute=v),
        st.just(None),
        "compute",
    ),
    case(
        "loss_bands.params",
        lambda c, v: loss_bands(c["fit"], params=v, tokens=2e10),
        st.one_of(BAD_SIZES, st.just(None)),
    ),
    case("loss_bands.tokens", lambda c, v: loss_bands(c["fit"], params=[1e9], tokens=v), BAD_SIZES),
    case("loss_bands.prob", lambda c, v: loss_bands(c["fit"], compute=1e21, prob=v), BAD_PROBS),
    case("loss_bands.seed", lambda c, v: loss_bands(c["fit"], compute=1e21, seed=v), BAD_SEED),
    case(
        "loss_bands.discrepancy",
        lambda c, v: loss_bands(c["fit"], compute=1e21, discrepancy=v),
        BAD_FLAG,
    ),
    case("bands.compute", lambda c, v: c["fit"].bands(compute=v), BAD_SIZES),
    case(
        "bands.lengths",
        lambda c, v: c["fit"].bands(params=[1e9] * v[0], tokens=[2e10] * v[1]),
        mismatched(),
        "params",
        "tokens",
    ),
    case(
        "bands.three_sizes",
        lambda c, v: c["fit"].bands(params=1e9, tokens=2e10, compute=v),
        st.floats(1e18, 1e24),
        "compute",
    ),
    case(
        "bands.tokens_per_param",
        lambda c, v: c["fit"].bands(compute=1e21, tokens_per_param=v),
        BAD_POSITIVE.filter(lambda v: v is not None),
    ),
    case(
        "bands.tokens_per_param_with_params",
        lambda c, v: c["fit"].bands(params=1e9, tokens=2e10, tokens_per_param=v),
        st.floats(1, 100),
        "tokens_per_param",
    ),
    case("bands.prob", lambda c, v: c["fit"].bands(compute=1e21, prob=v), BAD_PROBS),
    case(
        "bands.tolerance",
        lambda c, v: c["fit"].bands(compute=1e21, tolerance=v),
        BAD_POSITIVE.filter(lambda v: v is not None),
    ),
    case(
        "bands.relative_tolerance",
        lambda c, v: c["fit"].bands(compute=1e21, tolerance=v, relative=True),
        st.floats(1.0, 1e6),
        "tolerance",
    ),
    case("bands.relative", lambda c, v: c["fit"].bands(compute=1e21, relative=v), BAD_FLAG),
    case("bands.as_xarray", lambda c, v: c["fit"].bands(compute=1e21, as_xarray=v), BAD_FLAG),
    case(
        "bands.baseline_prob", lambda c, v: c["boot"].bands(compute=1e21, prob=v), BAD_PROBS, "prob"
    ),
    # allocation
    case("allocate.compute", lambda c, v: c["fit"].allocate(v), BAD_SIZES),
    case("allocate.prob", lambda c, v: c["fit"].allocate(1e21, prob=v), BAD_PROB),
    case("allocate.discrepancy", lambda c, v: c["fit"].allocate(1e21, discrepancy=v), BAD_FLAG),
    case(
        "frontier.discrepancy",
        lambda c, v: frontier(c["fit"], 1e21, n_params=[1e9], discrepancy=v),
        BAD_FLAG,
    ),
    case("frontier.n_params", lambda c, v: frontier(c["fit"], 1e21, n_params=v), BAD_SIZES),
    # summaries
    case("summary.prob", lambda c, v: c["fit"].summary(prob=v), BAD_PROB),
    case("summary.grouped_prob", lambda c, v: c["grouped"].summary(prob=v), BAD_PROB, "prob"),
    case("summary.baseline_prob", lambda c, v: c["boot"].summary(prob=v), BAD_PROB, "prob"),
    # targets
    case("target_answer.target", lambda c, v: target_answer(c["fit"], v), BAD_POSITIVE),
    case("target_answer.prob", lambda c, v: target_answer(c["fit"], 2.0, prob=v), BAD_PROBS),
    case(
        "target_answer.tokens_per_param",
        lambda c, v: target_answer(c["fit"], 2.0, tokens_per_param=v),
        BAD_POSITIVE.filter(lambda v: v is not None),
    ),
    case(
        "target_answer.flops_per_param_token",
        lambda c, v: target_answer(c["fit"], 2.0, flops_per_param_token=v),
        BAD_POSITIVE.filter(lambda v: v is not None),
    ),
    case("target_answer.seed", lambda c, v: target_answer(c["fit"], 2.0, seed=v), BAD_SEED),
    case(
        "target_answer.discrepancy",
        lambda c, v: target_answer(c["fit"], 2.0, discrepancy=v),
        BAD_FLAG,
    ),
    case("compute_to_reach.target", lambda c, v: compute_to_reach(c["fit"], v), BAD_POSITIVE),
    case("prob_reach.compute", lambda c, v: prob_reach(c["fit"], v, 2.0), BAD_POSITIVE),
    case("prob_reach.target", lambda c, v: prob_reach(c["fit"], 1e21, v), BAD_POSITIVE),
    case(
        "prob_reach.params",
        lambda c, v: prob_reach(c["fit"], 1e21, 2.0, params=v),
        BAD_POSITIVE.filter(lambda v: v is not None),
    ),
    case(
        "prob_reach.both_splits",
        lambda c, v: prob_reach(c["fit"], 1e21, 2.0, params=1e9, tokens_per_param=v),
        st.floats(1, 100),
        "params",
    ),
    # trust horizon
    case("trust_horizon.tolerance", lambda c, v: trust_horizon(c["fit"], v), BAD_POSITIVE),
    case("trust_horizon.prob", lambda c, v: trust_horizon(c["fit"], 0.05, prob=v), BAD_PROB),
    case(
        "trust_horizon.band",
        lambda c, v: trust_horizon(c["fit"], 0.05, band=v),
        bad_choice(("predictive", "law")),
    ),
    case(
        "trust_horizon.relative", lambda c, v: trust_horizon(c["fit"], 0.05, relative=v), BAD_FLAG
    ),
    case(
        "trust_horizon.multiples",
        lambda c, v: trust_horizon(c["fit"], 0.05, multiples=v),
        st.one_of(BAD_SIZES, st.sampled_from([[10.0, 1.0], [0.5, 2.0], [1.0, 1.0], None])),
    ),
    case(
        "trust_horizon.tokens_per_param",
        lambda c, v: trust_horizon(c["fit"], 0.05, tokens_per_param=v),
        BAD_POSITIVE.filter(lambda v: v is not None),
    ),
    # group comparison
    case(
        "compare.a",
        lambda c, v: c["grouped"].compare(v, "B"),
        st.one_of(st.sampled_from([5, True, ["A"], "Z", "B", ""]), st.text(max_size=3)).filter(
            lambda v: v != "A"
        ),
        "a",
        "b",
    ),
    case(
        "compare.b",
        lambda c, v: compare(c["grouped"], "A", v),
        st.sampled_from([None, 5, "A", "Z", ("B",)]),
        "a",
        "b",
    ),
    case("compare.compute", lambda c, v: c["grouped"].compare(compute=v), BAD_SIZES),
    case(
        "compare.compute_range",
        lambda c, v: c["grouped"].compare(compute_range=v),
        st.one_of(BAD_SIZES, st.sampled_from([[1e20], [1e22, 1e20], [1e20, 1e21, 1e22]])),
    ),
    case(
        "compare.flops_per_param_token",
        lambda c, v: c["grouped"].compare(flops_per_param_token=v),
        BAD_POSITIVE.filter(lambda v: v is not None),
    ),
    case("compare.prob", lambda c, v: c["grouped"].compare(prob=v), BAD_PROB),
    case("compare.n_grid", lambda c, v: c["grouped"].compare(n_grid=v), bad_count(3)),
    case(
        "loss_difference.params",
        lambda c, v: loss_difference(c["grouped"], params=v, tokens=2e10),
        st.one_of(BAD_SIZES, st.just(None)),
    ),
    case(
        "loss_difference.tokens",
        lambda c, v: loss_difference(c["grouped"], params=1e9, tokens=v),
        BAD_SIZES,
    ),
    case(
        "loss_difference.compute",
        lambda c, v: loss_difference(c["grouped"], params=1e9, tokens=2e10, compute=v),
        st.floats(1e18, 1e24),
    ),
    case(
        "loss_difference.lengths",
        lambda c, v: loss_difference(c["grouped"], params=[1e9] * v[0], tokens=[2e10] * v[1]),
        mismatched(),
        "params",
        "tokens",
    ),
    case(
        "difference_table.draws",
        lambda c, v: difference_table(v),
        st.sampled_from([None, "x", xr.Dataset(), pd.DataFrame(), 5]),
    ),
    case("difference_table.prob", lambda c, v: difference_table(c["draws"], v), BAD_PROB),
    case(
        "parameter_differences.prob",
        lambda c, v: parameter_differences(c["grouped"], "A", "B", v),
        BAD_PROB,
    ),
    case(
        "parameter_differences.a",
        lambda c, v: parameter_differences(c["grouped"], v, "B"),
        st.sampled_from([5, "Z", "B", None]),
        "a",
        "b",
    ),
    # backtests
    case(
        "backtest.cut",
        lambda c, v: backtest(c["runs"], cut=v),
        st.one_of(BAD_SIZES, st.sampled_from([None, 1e30, 1e-5])),
    ),
    case("backtest.prob", lambda c, v: backtest(c["runs"], cut=CUT, prob=v), BAD_PROBS),
    case(
        "backtest.cut_on",
        lambda c, v: backtest(c["runs"], cut=CUT, cut_on=v),
        bad_choice(("compute", "n_params", "n_tokens")),
    ),
    case(
        "backtest.method",
        lambda c, v: backtest(c["runs"], cut=CUT, method=v),
        st.one_of(
            bad_choice(("bayes", "bayes_params", "huber")),
            st.sampled_from([[], ["bayes", "nope"], ("huber", 5)]),
        ),
    ),
    case(
        "backtest.seed",
        lambda c, v: backtest(c["runs"], cut=CUT, seed=v),
        st.one_of(BAD_SEED, st.just(None)),
    ),
    case(
        "backtest.baseline",
        lambda c, v: backtest(c["runs"], cut=CUT, baseline=v),
        st.sampled_from(
            [
                "x",
                5,
                [1],
                {"nope": 1},
                {"n_boot": 1},
                {"delta": -1.0},
                {"grid": "huge"},
                {"full_grid": "yes"},
                {"seed": -1},
            ]
        ),
        "baseline",
        "n_boot",
        "delta",
        "grid",
        "full_grid",
        "seed",
    ),
    case(
        "backtest.runs",
        lambda c, v: backtest(v, cut=CUT),
        st.sampled_from([None, "runs.csv", 5, pd.DataFrame({"loss": [2.0]})]),
    ),
    case(
        "backtest.law",
        lambda c, v: backtest(c["runs"], law=v, cut=CUT),
        st.sampled_from([5, None, ["chinchilla"]]),
    ),
    case(
        "backtest.huber_law",
        lambda c, v: backtest(c["runs"], law=v, cut=CUT, method="huber"),
        st.sampled_from(["kaplan", "power:compute"]),
        "method",
    ),
    case(
        "by_distance.table",
        lambda c, v: by_distance(v),
        st.sampled_from([None, "x", pd.DataFrame({"a": [1]}), 5]),
    ),
    case(
        "by_distance.edges",
        lambda c, v: by_distance(c["table"], v),
        st.one_of(
            st.sampled_from(
                [
                    [],
                    [0.0],
                    [0.5, 0.1],
                    ["a", 1],
                    [NAN, 1.0],
                    [-1, 0, 1],
                    None,
                    "x",
                    np.ones((2, 2)),
                    [0.1, 0.1],
                ]
            )
        ),
    ),
    case(
        "coverage.table",
        lambda c, v: coverage(v),
        st.sampled_from([None, "x", pd.DataFrame({"a": [1]}), 5]),
    ),
    # baseline
    case("bootstrap_fit.n_boot", lambda c, v: bootstrap_fit(c["runs"], n_boot=v), bad_count(2)),
    case("bootstrap_fit.delta", lambda c, v: bootstrap_fit(c["runs"], delta=v), BAD_POSITIVE),
    case(
        "bootstrap_fit.seed",
        lambda c, v: bootstrap_fit(c["runs"], seed=v),
        st.one_of(BAD_SEED, st.just(None)),
    ),
    case("bootstrap_fit.full_grid", lambda c, v: bootstrap_fit(c["runs"], full_grid=v), BAD_FLAG),
    case(
        "bootstrap_fit.grid",
        lambda c, v: bootstrap_fit(c["runs"], grid=v),
        st.sampled_from(
            [
                "huge",
                5,
                None,
                {},
                {"a": [0.0]},
                {"a": [], "b": []},
                {"a": ["x"], "b": [0.0], "e": [0.0], "alpha": [0.5], "beta": [0.5]},
                {"a": [], "b": [0.0], "e": [0.0], "alpha": [0.5], "beta": [0.5]},
                {"a": [NAN], "b": [0.0], "e": [0.0], "alpha": [0.5], "beta": [0.5]},
            ]
        ),
    ),
    case(
        "bootstrap_fit.runs",
        lambda c, v: bootstrap_fit(v),
        st.sampled_from(
            [
                None,
                "x",
                pd.DataFrame({"loss": [2.0]}),
                pd.DataFrame(
                    {
                        "n_params": [1e9] * 6,
                        "n_tokens": [2e10] * 6,
                        "loss": [2.0, -1.0, 2.0, 2.0, 2.0, 2.0],
                    }
                ),
                pd.DataFrame({"n_params": [1e9], "n_tokens": [2e10], "loss": [2.0]}),
            ]
        ),
    ),
    case("huber_fit.delta", lambda c, v: huber_fit(c["runs"], delta=v), BAD_POSITIVE),
    case(
        "huber_fit.grid",
        lambda c, v: huber_fit(c["runs"], grid=v),
        st.sampled_from(["huge", 5, None, {}]),
    ),
    case("huber_fit.runs", lambda c, v: huber_fit(v), st.sampled_from([None, "x", pd.DataFrame()])),
    # law choice
    case(
        "compare_laws.fits",
        lambda c, v: compare_laws(v(c)),
        st.sampled_from(
            [
                lambda c: None,
                lambda c: {},
                lambda c: {"a": c["fit"]},
                lambda c: [c["fit"], c["fit"]],
                lambda c: {"a": "x", "b": "y"},
            ]
        ),
    ),
    case(
        "compare_laws.method",
        lambda c, v: compare_laws({"a": c["fit"], "b": c["fit"]}, method=v),
        bad_choice(("stacking", "BB-pseudo-BMA", "pseudo-BMA")),
    ),
    case(
        "stacked_bands.weights",
        lambda c, v: stacked_bands({"chinchilla": c["fit"]}, v, compute=[1e21]),
        st.sampled_from(
            [
                {"kaplan": 1.0},
                {"chinchilla": -1.0},
                {"chinchilla": 0.0},
                {},
                "x",
                [1.0],
                {"chinchilla": "x"},
                {"chinchilla": NAN},
                {"chinchilla": INF},
            ]
        ),
        "weights",
    ),
    case(
        "stacked_bands.compute",
        lambda c, v: stacked_bands({"chinchilla": c["fit"]}, {"chinchilla": 1}, compute=v),
        BAD_SIZES,
    ),
    case(
        "stacked_bands.prob",
        lambda c, v: stacked_bands(
            {"chinchilla": c["fit"]}, {"chinchilla": 1}, compute=1e21, prob=v
        ),
        BAD_PROBS,
    ),
    case(
        "stacked_bands.seed",
        lambda c, v: stacked_bands(
            {"chinchilla": c["fit"]}, {"chinchilla": 1}, compute=1e21, seed=v
        ),
        st.one_of(BAD_SEED, st.just(None)),
    ),
    case(
        "stacked_bands.fits",
        lambda c, v: stacked_bands(v, {"chinchilla": 1}, compute=1e21),
        st.sampled_from([None, {}, [1], {"chinchilla": "fit"}]),
    ),
    # prior sensitivity: checked before any refit
    case("prior_sensitivity.compute", lambda c, v: prior_sensitivity(c["fit"], v), BAD_SIZES),
    case(
        "prior_sensitivity.sets",
        lambda c, v: prior_sensitivity(c["fit"], sets=v),
        st.sampled_from([[], ["huge"], 5, None, [None], "huge", ("wide", 3)]),
    ),
    case("prior_sensitivity.prob", lambda c, v: prior_sensitivity(c["fit"], prob=v), BAD_PROB),
    case(
        "prior_sensitivity.tokens_per_param",
        lambda c, v: prior_sensitivity(c["fit"], 1e21, tokens_per_param=v),
        BAD_POSITIVE.filter(lambda v: v is not None),
    ),
    # SBC: checked before any simulation
    case("sbc.n_sims", lambda c, v: sbc(n_sims=v), bad_count(1)),
    case(
        "sbc.n_runs",
        lambda c, v: sbc(n_sims=2, n_runs=v),
        st.sampled_from([(5,), (30, 20), (1, 2), "x", None, (5.5, 10), [True, 10], 20]),
    ),
    case("sbc.budgets", lambda c, v: sbc(n_sims=2, budgets=v), BAD_SIZES),
    case("sbc.draws", lambda c, v: sbc(n_sims=2, draws=v), bad_count(1)),
    case("sbc.chains", lambda c, v: sbc(n_sims=2, chains=v), bad_count(1)),
    case("sbc.tune", lambda c, v: sbc(n_sims=2, tune=v), bad_count(1)),
    case("sbc.thin", lambda c, v: sbc(n_sims=2, thin=v), bad_count(1)),
    case(
        "sbc.thin_too_large",
        lambda c, v: sbc(n_sims=2, draws=10, chains=1, thin=v),
        st.integers(10, 10_000),
        "thin",
    ),
    case(
        "sbc.likelihood",
        lambda c, v: sbc(n_sims=2, likelihood=v),
        bad_choice(("student_t", "normal")),
    ),
    case("sbc.seed", lambda c, v: sbc(n_sims=2, seed=v), st.one_of(BAD_SEED, st.just(None))),
    case("sbc.progress", lambda c, v: sbc(n_sims=2, progress=v), BAD_FLAG),
    case("sbc.priors", lambda c, v: sbc(n_sims=2, priors=v), st.sampled_from(["x", 5, [1]])),
    case("sbc.law", lambda c, v: sbc(v, n_sims=2), st.sampled_from([5, None, ["chinchilla"]])),
]


@pytest.mark.parametrize("bad", CASES, ids=[c.id for c in CASES])
@settings(
    derandomize=True,
    deadline=None,
    max_examples=15,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,  # no_sampling: set once, the same for every value
    ],
)
@given(data=st.data())
def test_a_bad_argument_raises_an_argument_error_naming_it(ctx, bad, data, no_sampling):
    # ctx (session) fits first; then every sampler, compile and worker pool is a tripwire
    value = data.draw(bad.values, label=bad.id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ArgumentError) as err:  # any other exception fails the test
            bad.call(ctx, value)
    assert isinstance(err.value, BayesScalingError) and isinstance(err.value, ValueError)
    argument = err.value.argument.split("[")[0]
    assert argument in bad.names, (argument, str(err.value))
    assert str(err.value).startswith(err.value.argument + ": ")


def test_a_bad_law_name_is_a_bayes_scaling_error(ctx):
    with pytest.raises(BayesScalingError, match="unknown law"):
        backtest(ctx["runs"], law="nope", cut=CUT)
    with pytest.raises(BayesScalingError, match="unknown law"):
        sbc("nope", n_sims=2)


# --- renamed keywords: the old names still work, with a FutureWarning ----------------------------


def test_old_keyword_names_still_work_with_a_future_warning(ctx):
    fit, grouped = ctx["fit"], ctx["grouped"]
    new = fit.bands(compute=[1e21, 1e22], prob=[0.5, 0.9])
    with pytest.warns(FutureWarning, match="probs= is now called prob="):
        old = fit.bands(compute=[1e21, 1e22], probs=[0.5, 0.9])
    pd.testing.assert_frame_equal(old, new)
    with pytest.warns(FutureWarning) as record:
        answer = target_answer(fit, 2.5, probs=0.5, k=6.0)
    assert {str(w.message) for w in record} == {
        "probs= is now called prob=",
        "k= is now called flops_per_param_token=",
    }
    assert answer == target_answer(fit, 2.5, prob=0.5, flops_per_param_token=6.0)
    with pytest.warns(FutureWarning) as record:
        draws = loss_difference(grouped, "A", "B", n_params=[1e9], n_tokens=[2e10])
    assert len(record) == 2 and "n_params= is now called params=" in str(record[0].message)
    new_draws = loss_difference(grouped, "A", "B", params=[1e9], tokens=[2e10])
    assert draws.identical(new_draws)
    with pytest.warns(FutureWarning, match="k= is now called"):
        c = grouped.compare(compute=[1e22], k=6.0)
    assert c.table()["compute"].tolist() == [1e22]


def test_old_and_new_name_together_or_an_unknown_keyword_is_an_argument_error(ctx):
    with pytest.raises(ArgumentError, match="^prob: give prob= only"):
        ctx["fit"].bands(compute=1e21, prob=0.9, probs=0.5)
    with pytest.raises(ArgumentError, match="^flops_per_param_token: give"):
        prob_reach(ctx["fit"], 1e21, 2.0, k=6.0, flops_per_param_token=6.0)
    with pytest.raises(ArgumentError, match="^comptue: bands\\(\\) has no argument"):
        ctx["fit"].bands(comptue=1e21)
    with pytest.raises(ArgumentError, match="^prob: give prob= only"):
        backtest(ctx["runs"], cut=CUT, prob=0.9, probs=0.5)
