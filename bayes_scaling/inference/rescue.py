"""Fits that rescue themselves: a fixed ladder of attempts before a fit is reported unconverged.

Every attempt is checked by the same gate (:mod:`bayes_scaling.results.diagnostics`). When one
fails, the next applicable rung is tried, on the same compiled model (only a rung that changes
the coordinates compiles once more, per structure and process), with a seed derived from the
fit's seed and the rung, so the same seed gives the same ladder and the same result:

1. **as asked**: the caller's draws, tuning steps and target_accept (the caller's seed).
2. **longer**: twice the draws and tuning steps, at least 2000 each. Slow mixing along a ridge
   and a low ESS are the usual failures on real tables, and both shrink with length.
3. **target_accept 0.99** (with 2's lengths), only when an attempt so far had divergences: a
   smaller step follows a curved posterior. On ridge failures without divergences it does not
   help (gemstones, OLMo and two simulated ladders, 16 fits each: 7 passed at 0.99 against 10
   at 0.95), so it is not tried for them.
4. **anchored E** (with 2's lengths; 0.99 if divergences were seen), only when the failures show
   the E / coefficient / exponent ridge (E, a log coefficient or its exponent fails R-hat or
   ESS, or divergences) and the law is E + Σ A·x^(−e) with a prior on E > 0, ungrouped: E is
   sampled through the loss at the runs' centre (:mod:`~.centred_coordinates`). The model,
   priors included, is unchanged; ``settings["parameterisation"]`` says which coordinates gave
   the draws.
5. **more draws**: twice the last attempt's draws, only when it mixed slowly but was not stuck
   (no divergence, R-hat ≤ :data:`NEAR_RHAT`, every ESS ≥ :data:`NEAR_ESS`): R-hat falls and
   the ESS grows with the draws, and a break location the runs barely inform mixes slowly but
   correctly (the broken law on the OLMo, loss-to-loss and Llama 3 tables).

The ladder stops at the first attempt that passes. It also stops early when the chains settled
in separate modes of similar density (R-hat > :data:`MODE_RHAT`, chain medians further apart than
:data:`MODE_GAP` within-chain sds, mean log density within :data:`MODE_LOGP` nats): more tuning
cannot join such modes and a new seed could only hide one, so the fit says so and names the runs
the modes disagree on. ``settings["rescue"]`` lists every attempt (its settings, failures,
seconds, and whether it passed); a :class:`ConvergenceWarning` is raised only when the last one
fails, and names what was tried. ``rescue=False`` runs rung 1 only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling.laws import Law
from bayes_scaling.laws.broken import identification as break_identification
from bayes_scaling.laws.data_constrained import identification as repetition_identification
from bayes_scaling.model.centred_coordinates import anchorable
from bayes_scaling.model.likelihoods import log_density
from bayes_scaling.priors import runs_stats
from bayes_scaling.results import diagnostics
from bayes_scaling.results.diagnostics import Diagnostics

#: Draws and tuning steps of rungs 2-4: twice the caller's, at least this many.
LONGER_MIN = 2000
#: target_accept of rung 3.
STEADY_TARGET = 0.99
#: Rung 5 (twice the last attempt's draws) applies when that attempt mixed slowly but was not
#: stuck: no divergence, R-hat at most NEAR_RHAT and every ESS at least NEAR_ESS.
NEAR_RHAT, NEAR_ESS = 1.05, 100
#: Separate modes: R-hat above this, chain medians split by a gap of more than MODE_GAP
#: within-chain sds, and every group's mean log density within MODE_LOGP nats of the best.
MODE_RHAT, MODE_GAP, MODE_LOGP = 1.1, 4.0, 10.0
#: Runs named as those the modes disagree on: at most MODE_RUNS of those whose mean log
#: density is more than MODE_NATS lower in one mode than in the other.
MODE_RUNS, MODE_NATS = 5, 2.0
ORDINALS = ("first", "second", "third", "fourth", "fifth")


@dataclass(frozen=True)
class Attempt:
    """One rung's sampler settings."""

    rung: str
    draws: int
    tune: int
    target_accept: float
    seed: int
    anchored: bool = False


@dataclass
class Outcome:
    """The ladder's result: the last attempt's draws and gate, and the record of every attempt."""

    posterior: xr.Dataset
    sample_stats: xr.Dataset
    diagnostics: Diagnostics
    attempt: Attempt
    record: list[dict]
    seconds: float

    def tried(self) -> str:
        """What was tried, for the warning (empty after one attempt)."""
        if len(self.record) < 2:
            return ""
        rungs = "; ".join(f"{r['rung']}: {_settings_text(r)}" for r in self.record)
        return f"after {len(self.record)} attempts ({rungs})"


def derived_seed(seed: int, rung: int) -> int:
    """The seed of rung ``rung`` (0-based) of a fit seeded ``seed``; rung 0 keeps ``seed``."""
    if rung == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), rung]).generate_state(1)[0])


def ridge_parameters(law: Law) -> set[str]:
    """E, the log coefficients and their exponents: the parameters of the E / A / α ridge."""
    if "E" not in law.params:
        return set()
    return {"E", *law.centred, *(e for _, e in law.centred.values())}


def _ladder(first: Attempt):
    """Rungs 2-5: (name, applies(ctx), attempt(ctx)). ``ctx`` holds what the failures so far
    showed (``diverged``, ``ridge``, ``anchorable``) and the ``last`` attempt and its gate."""
    longer = replace(
        first,
        draws=max(2 * first.draws, LONGER_MIN),
        tune=max(2 * first.tune, LONGER_MIN),
    )

    def anchored(ctx):
        steady = max(first.target_accept, STEADY_TARGET)
        return replace(
            longer, anchored=True, target_accept=steady if ctx["diverged"] else first.target_accept
        )

    def short_of_draws(ctx):
        diag = ctx["last_diag"]
        return (
            diag.n_divergent == 0
            and diag.max_rhat <= NEAR_RHAT
            and min(diag.min_ess_bulk, diag.min_ess_tail) >= NEAR_ESS
        )

    return (
        ("longer", lambda ctx: True, lambda ctx: longer),
        (
            f"target_accept {STEADY_TARGET}",
            lambda ctx: ctx["diverged"] and first.target_accept < STEADY_TARGET,
            lambda ctx: replace(longer, target_accept=STEADY_TARGET),
        ),
        ("anchored E", lambda ctx: ctx["ridge"] and ctx["anchorable"], anchored),
        (
            "more draws",
            short_of_draws,
            lambda ctx: replace(ctx["last"], draws=2 * ctx["last"].draws),
        ),
    )


def escalate(
    sample: Callable[[Attempt], tuple[xr.Dataset, xr.Dataset, float]],
    first: Attempt,
    gate: list[str],
    *,
    runs: pd.DataFrame,
    law: Law,
    priors: Mapping,
    likelihood: str,
    pooling=None,
    rescue: bool = True,
) -> Outcome:
    """Run the ladder: ``sample(attempt) -> (posterior, sample_stats, seconds)`` per attempt,
    the gate over ``gate`` after each, until one passes, the ladder ends or the chains are found
    in separate modes (see the module docstring). No warning is raised here."""
    ctx = {"diverged": False, "ridge": False, "anchorable": anchorable(law, priors, pooling)}
    ridge = ridge_parameters(law)
    rungs = _ladder(first)
    attempt, position, record, seconds, modes = first, 0, [], 0.0, None
    while True:
        posterior, stats, spent = sample(attempt)
        seconds += spent
        health = diagnostics.parameter_health(posterior, gate)
        diag = diagnostics.check(posterior, stats, gate, health)
        failing = diagnostics.failing_parameters(health)
        record.append(_entry(attempt, diag, failing, spent))
        if diag.converged or not rescue:
            break
        ctx.update(last=attempt, last_diag=diag)
        ctx["diverged"] |= diag.n_divergent > 0
        ctx["ridge"] |= bool(ridge & set(failing)) or diag.n_divergent > 0
        modes = separate_modes(posterior, stats, health)
        if modes is not None:
            record[-1]["stopped"] = "separate modes"
            break
        nxt = next((i for i in range(position, len(rungs)) if rungs[i][1](ctx)), None)
        if nxt is None:
            break
        position = nxt + 1
        name, _, make = rungs[nxt]
        attempt = replace(make(ctx), rung=name, seed=derived_seed(first.seed, position))
    if not diag.converged:
        diag = _explain(diag, modes, record, failing, posterior, runs, law, likelihood, pooling)
    return Outcome(posterior, stats, diag, attempt, record, round(seconds, 3))


def _explain(diag, modes, record, failing, posterior, runs, law, likelihood, pooling):
    """The final failure's words: what the modes or the law's runs cannot settle, and advice
    that does not repeat what the ladder already tried."""
    notes = []
    if modes is not None:
        notes.append(_modes_note(modes, posterior, runs, law, likelihood, pooling))
    law_note = _law_note(posterior, runs, law, pooling)
    if law_note is not None:
        notes.append(law_note)
    if modes is not None:
        advice = ()
    elif len(record) > 1:
        tried = ", ".join(r["rung"] for r in record[1:])
        advice = (
            f"the rescue ladder already tried: {tried}; what is left is tighter priors on "
            f"{', '.join(failing) or 'the parameters that failed'}, runs that identify them, a "
            "simpler law, or many more draws (e.g. draws=8000) when only the ESS falls short",
        )
    else:
        advice = diag.advice
    return replace(
        diag,
        failures=(*diag.failures, *(n[0] for n in notes)),
        advice=(*(n[1] for n in notes), *advice),
    )


def _entry(attempt: Attempt, diag: Diagnostics, failing: list[str], seconds: float) -> dict:
    """One attempt of ``settings["rescue"]`` (plain JSON types)."""
    out = asdict(attempt)
    out.update(
        parameterisation="anchored E" if attempt.anchored else "default",
        passed=bool(diag.converged),
        failures=list(diag.failures),
        failing_parameters=list(failing),
        max_rhat=round(float(diag.max_rhat), 4),
        min_ess_bulk=round(float(diag.min_ess_bulk), 1),
        min_ess_tail=round(float(diag.min_ess_tail), 1),
        divergences=int(diag.n_divergent),
        seconds=round(float(seconds), 3),
    )
    del out["anchored"]
    return out


@dataclass(frozen=True)
class Modes:
    """Chains in separate modes: the parameter that splits them and each group's chains and
    median value."""

    param: str
    groups: tuple[tuple[tuple[int, ...], float], ...]
    logp_gap: float


def separate_modes(posterior: xr.Dataset, sample_stats: xr.Dataset, health) -> Modes | None:
    """Chains that settled in separate modes of similar density, or None (see the module
    docstring for the thresholds). A chain stuck where the density is much lower is not a mode:
    a longer or reseeded run can leave it."""
    rhat = {
        n: float(health["rhat"][n]) for n in health["rhat"].data_vars if health["rhat"][n].ndim == 0
    }
    if not rhat or "logp" not in sample_stats or posterior.sizes.get("chain", 1) < 2:
        return None
    param = max(rhat, key=rhat.__getitem__)
    if rhat[param] <= MODE_RHAT:
        return None
    med = posterior[param].median("draw").values
    sd = float(posterior[param].std("draw").max())
    order = np.argsort(med)
    gaps = np.diff(med[order])
    cut = int(np.argmax(gaps))
    if gaps[cut] <= MODE_GAP * max(sd, 1e-12):
        return None
    chains = (
        tuple(sorted(int(c) for c in order[: cut + 1])),
        tuple(sorted(int(c) for c in order[cut + 1 :])),
    )
    logp = sample_stats["logp"].mean("draw").values
    means = [float(logp[list(g)].mean()) for g in chains]
    if min(means) < max(means) - MODE_LOGP:
        return None
    groups = tuple((g, float(np.median(med[list(g)]))) for g in chains)
    return Modes(param, groups, abs(means[0] - means[1]))


def _modes_note(modes: Modes, posterior, runs, law, likelihood, pooling) -> tuple[str, str]:
    values = " and ".join(
        f"{value:.3g} in chain{'s' if len(g) > 1 else ''} {', '.join(map(str, g))}"
        for g, value in modes.groups
    )
    what = (
        f"the chains settled in separate modes of similar density ({modes.param} {values}; mean "
        f"log density {modes.logp_gap:.1f} nats apart)"
    )
    advice = (
        "more tuning, draws or a new seed cannot join separate modes (a new seed could only hide "
        "one), so the rescue ladder stopped"
    )
    if pooling is None:
        advice += "; " + _runs_between_modes(modes, posterior, runs, law, likelihood)
    return what, advice


def _runs_between_modes(modes: Modes, posterior, runs, law, likelihood) -> str:
    """The runs one mode fits much worse than the other (it treats them as outliers)."""
    inputs = {c: runs[c].to_numpy(float) for c in law.inputs}
    y = xr.DataArray(np.log(runs["loss"].to_numpy(float)), dims="run")
    dens = []
    for chains, _ in modes.groups:
        part = posterior.isel(chain=list(chains))
        mu = np.log(law.evaluate(part, inputs)).rename(point="run")
        dens.append(log_density(likelihood, part, mu, y).mean(("chain", "draw")).values)
    worse = [np.flatnonzero(dens[g] < dens[1 - g] - MODE_NATS) for g in (0, 1)]
    g = int(len(worse[1]) > len(worse[0]))
    bad = worse[g]
    if not len(bad):
        return "no run decides between the modes: check the priors and the likelihood"
    ids = runs["run_id"].astype(str).to_numpy()
    gap = dens[1 - g][bad] - dens[g][bad]
    top = bad[np.argsort(-gap)][:MODE_RUNS]
    ranges = ", ".join(
        f"{c} {inputs[c][bad].min():.3g}-{inputs[c][bad].max():.3g}" for c in law.inputs
    )
    value = modes.groups[g][1]
    return (
        f"the mode with {modes.param} {value:.3g} fits {len(bad)} runs more than {MODE_NATS:g} "
        f"nats worse than the other does, as outliers ({', '.join(ids[top])}"
        f"{', ...' if len(bad) > MODE_RUNS else ''}; {ranges}): check those runs, and refit "
        "without them, or with another likelihood or prior, to decide between the modes"
    )


def _law_note(posterior, runs, law: Law, pooling) -> tuple[str, str] | None:
    """What the runs cannot identify, for the laws that can tell (broken, data-constrained)."""
    if pooling is not None:
        return None
    family = law.name.partition(":")[0]
    if family == "broken":
        return break_identification(posterior, runs_stats(runs), law.inputs[0])
    if family == "data_constrained" and "unique_tokens" in runs:
        return repetition_identification(posterior, runs)
    return None


def _settings_text(entry: Mapping) -> str:
    text = f"{entry['draws']} draws after {entry['tune']} tuning steps"
    if entry.get("parameterisation") == "anchored E":
        text += ", E anchored"
    return text + f", target_accept {entry['target_accept']}"


def _rung_phrase(entry: Mapping) -> str:
    steps = f"{entry['draws']} draws after {entry['tune']} tuning steps"
    if entry.get("parameterisation") == "anchored E":
        return f"with E sampled through the loss at the runs' centre ({steps})"
    if entry["rung"].startswith("target_accept"):
        return f"at target_accept {entry['target_accept']} ({steps})"
    return f"with {steps}"


def describe(record: list[Mapping] | None) -> str:
    """One sentence on the ladder, for the report (empty when the first attempt was the only).

    E.g. "The first try failed (R-hat 1.030 > 1.01 for alpha); a second with 2000 draws after
    2000 tuning steps passed."
    """
    if not record or len(record) < 2:
        return ""
    parts = [f"The first try failed ({_first_failure(record[0])})"]
    for i, entry in enumerate(record[1:], start=1):
        nth = ORDINALS[i] if i < len(ORDINALS) else f"attempt {i + 1}"
        what = f"a {nth} {_rung_phrase(entry)}"
        if entry["passed"]:
            parts.append(f"{what} passed")
        else:
            parts.append(f"{what} failed too ({_first_failure(entry)})")
    tail = "" if record[-1]["passed"] else "; the fit is reported as not converged"
    return "; ".join(parts) + tail + "."


def _first_failure(entry: Mapping) -> str:
    failures = entry.get("failures") or ["failed"]
    return failures[0] + (f" and {len(failures) - 1} more" if len(failures) > 1 else "")
