"""What the ladder says (:mod:`bayes_scaling.inference.rescue`): chains in separate modes, the
runs the modes disagree on, what the law's runs cannot identify (a break, repetition), and the
report's sentence on the attempts (:func:`describe`).

Separate modes: R-hat above :data:`MODE_RHAT`, chain medians split by a gap of more than
:data:`MODE_GAP` within-chain sds, and every group's mean log density within :data:`MODE_LOGP`
nats of the best. A chain stuck where the density is much lower is not a mode: a longer or
reseeded run can leave it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import ClassVar

import numpy as np
import xarray as xr

from bayes_scaling.laws import Law
from bayes_scaling.laws.broken import identification as break_identification
from bayes_scaling.laws.data_constrained import identification as repetition_identification
from bayes_scaling.model.likelihoods import log_density
from bayes_scaling.priors import runs_stats
from bayes_scaling.results.diagnostics import Diagnostics

#: Separate modes: R-hat above this, chain medians split by a gap of more than MODE_GAP
#: within-chain sds, and every group's mean log density within MODE_LOGP nats of the best.
MODE_RHAT, MODE_GAP, MODE_LOGP = 1.1, 4.0, 10.0
#: Runs named as those the modes disagree on: at most MODE_RUNS of those whose mean log
#: density is more than MODE_NATS lower in one mode than in the other.
MODE_RUNS, MODE_NATS = 5, 2.0
ORDINALS = (
    "first", "second", "third", "fourth", "fifth", "sixth",
    "seventh", "eighth", "ninth", "tenth", "eleventh", "twelfth",
)  # fmt: skip


def explain(out, runs, law, likelihood, pooling) -> Diagnostics:
    """The final failure's words: what the modes or the law's runs cannot settle, and advice
    that does not repeat what the ladder already tried."""
    diag, modes, record, failing = out.diagnostics, out.stopped, out.record, out.failing
    posterior = out.posterior
    notes = []
    if modes is not None:
        notes.append(_modes_note(modes, out.stopped_posterior, runs, law, likelihood, pooling))
    for note in (
        _law_note(posterior, runs, law, pooling),
        noise_note(posterior, runs, law, failing),
    ):
        if note is not None:
            notes.append(note)
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


@dataclass(frozen=True)
class Modes:
    """Chains in separate modes: the parameter that splits them and each group's chains and
    median value."""

    param: str
    groups: tuple[tuple[tuple[int, ...], float], ...]
    logp_gap: float
    label: ClassVar[str] = "separate modes"


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


def deciding_runs(modes: Modes, posterior, runs, law, likelihood):
    """The runs one mode fits more than :data:`MODE_NATS` worse than the other (mean log
    density): ``(g, rows, gap)``, g the mode (0 or 1) that fits more of them worse. No such run
    means no run decides between the "modes": they are two ends of a ridge the runs leave open
    (a 5-run sweep under the weak default priors, E from 0.1 to 0.6 in chains of one fit),
    which slow mixing, not separate modes, explains."""
    inputs = {c: runs[c].to_numpy(float) for c in law.inputs}
    y = xr.DataArray(np.log(runs["loss"].to_numpy(float)), dims="run")
    dens = []
    for chains, _ in modes.groups:
        part = posterior.isel(chain=list(chains))
        mu = np.log(law.evaluate(part, inputs)).rename(point="run")
        dens.append(log_density(likelihood, part, mu, y).mean(("chain", "draw")).values)
    worse = [np.flatnonzero(dens[g] < dens[1 - g] - MODE_NATS) for g in (0, 1)]
    g = int(len(worse[1]) > len(worse[0]))
    return g, worse[g], dens[1 - g][worse[g]] - dens[g][worse[g]]


def _runs_between_modes(modes: Modes, posterior, runs, law, likelihood) -> str:
    """The runs one mode fits much worse than the other (it treats them as outliers)."""
    inputs = {c: runs[c].to_numpy(float) for c in law.inputs}
    g, bad, gap = deciding_runs(modes, posterior, runs, law, likelihood)
    if not len(bad):
        return "no run decides between the modes: check the priors and the likelihood"
    ids = runs["run_id"].astype(str).to_numpy()
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


#: σ "slides toward 0" when its posterior's 95% quantile is more than this times its 5% one.
NOISE_SPREAD = 10.0
#: The law "nearly interpolates" the runs when there are at most this many a law parameter: a
#: wide σ with more runs is a short fit's (15 draws of 240 runs), not a funnel.
FEW_RUNS_PER_PARAMETER = 3


def noise_note(posterior, runs, law: Law, failing) -> tuple[str, str] | None:
    """A funnel in the noise: σ failed the gate and its posterior spans more than
    :data:`NOISE_SPREAD` × from its 5% to its 95% quantile. With barely more runs than law
    parameters the law can nearly interpolate them, so σ slides toward 0 and the law's
    parameters narrow with it (a 6-run fineweb-edu subsample: σ's median 3e-4, its chains' sds
    of E from 0.04 to 0.44 with σ); NUTS cannot cross such a funnel with any length or step
    (4 × 4000 draws at target_accept 0.99: R-hat 1.04-1.18). The model, not the sampler, must
    change: a floor on σ or more runs."""
    if "sigma" not in failing or "sigma" not in posterior:
        return None
    if len(runs) > FEW_RUNS_PER_PARAMETER * len(law.params):
        return None
    low, high = np.quantile(posterior["sigma"].values, [0.05, 0.95])
    if not (low > 0 and high / low > NOISE_SPREAD):
        return None
    what = (
        f"the noise σ is not pinned: it slides toward 0 (5%-95% {low:.2g}-{high:.2g}) and the "
        f"law's parameters narrow with it, a funnel that NUTS cannot cross ({len(runs)} runs for "
        f"{len(law.params)} law parameters: the law nearly interpolates them)"
    )
    advice = (
        "give σ a prior that keeps it near the runs' known seed-to-seed noise (a LogNormal "
        "around it, not the HalfNormal that reaches 0), fit a law with fewer parameters, or add "
        "runs; more draws or tuning cannot help"
    )
    return what, advice


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


# --- the ladder in words ------------------------------------------------------------------


def entry(attempt, diag: Diagnostics, failing, seconds: float, why: str, continues=None) -> dict:
    """One attempt of ``settings["rescue"]`` (plain JSON types): the attempt's settings (a
    dataclass), why it was tried, the number (1-based) of the attempt whose chains it continues
    (or None) and its gate."""
    out = asdict(attempt)
    out.update(
        parameterisation="anchored E" if out.pop("anchored") else "default",
        reason=why,
        continues=continues,
        passed=bool(diag.converged),
        failures=list(diag.failures),
        failing_parameters=list(failing),
        max_rhat=round(float(diag.max_rhat), 4),
        min_ess_bulk=round(float(diag.min_ess_bulk), 1),
        min_ess_tail=round(float(diag.min_ess_tail), 1),
        divergences=int(diag.n_divergent),
        seconds=round(float(seconds), 3),
        kept=False,
    )
    return out


def _nth(k: int) -> str:
    """The ordinal of attempt number ``k`` (0-based)."""
    return ORDINALS[k] if k < len(ORDINALS) else f"{k + 1}th"


def settings_text(entry: Mapping) -> str:
    text = f"{entry['draws']} draws after {entry['tune']} tuning steps"
    if entry.get("parameterisation") == "anchored E":
        text += ", E anchored"
    text += f", target_accept {entry['target_accept']}"
    if entry.get("continues"):
        text += f", continuing attempt {entry['continues']}"
    return text


def _rung_phrase(entry: Mapping) -> str:
    steps = f"{entry['draws']} draws after {entry['tune']} tuning steps"
    if entry.get("continues"):
        return f"continuing the {_nth(entry['continues'] - 1)}'s chains to {entry['draws']} draws"
    accept = f"at target_accept {entry['target_accept']}"
    if entry.get("parameterisation") == "anchored E":
        if entry["rung"].startswith("target_accept"):
            steps += f", {accept}"
        return f"with E sampled through the loss at the runs' centre ({steps})"
    if entry["rung"].startswith("target_accept"):
        return f"{accept} ({steps})"
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
        what = f"a {_nth(i)} {_rung_phrase(entry)}"
        if entry["passed"]:
            parts.append(f"{what} passed")
        else:
            parts.append(f"{what} failed too ({_first_failure(entry)})")
    tail = "" if record[-1]["passed"] else "; the fit is reported as not converged"
    kept = next((i for i, e in enumerate(record) if e.get("kept")), len(record) - 1)
    if kept != len(record) - 1:
        tail += f", with the draws of the {_nth(kept)} attempt, the closest to passing"
    return "; ".join(parts) + tail + "."


def _first_failure(entry: Mapping) -> str:
    failures = entry.get("failures") or ["failed"]
    return failures[0] + (f" and {len(failures) - 1} more" if len(failures) > 1 else "")
