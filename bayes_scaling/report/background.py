"""The fit's half of the report: its health, the law, the priors, the data and the assumptions.

Each function reads a :class:`~bayes_scaling.results.scaling.ScalingFit` and returns one
:class:`~bayes_scaling.report.blocks.Section`; :func:`alert` returns the convergence warning block
(or None when the fit passed the gate). Every string taken from the fit (run ids, group names,
column names, law and prior text) is passed through as data; the renderers escape it.
"""

from __future__ import annotations

import pandas as pd

from bayes_scaling import _format as fmt
from bayes_scaling.inference.rescue import describe as describe_rescue
from bayes_scaling.report.blocks import Alert, Num, Section, Table, sentence
from bayes_scaling.results.diagnostics import MAX_RHAT, MIN_ESS

#: Number of runs listed in the data table.
FIRST_ROWS = 8
#: Columns of the runs listed, in this order, when present.
RUN_COLUMNS = ("run_id", "group", "n_params", "n_tokens", "compute", "loss")
NOISE = {
    "student_t": "Student-t(ν, 0, σ) on log loss (ν learned: robust to the odd run)",
    "normal": "Normal(0, σ) on log loss",
}


def alert(fit) -> Alert | None:
    """The warning block of a fit that failed the diagnostics gate, else None."""
    if fit.converged:
        return None
    diag = fit.diagnostics
    return Alert(
        headline="The fit did NOT converge: do not act on the numbers below.",
        reason=f"The diagnostics gate failed: {diag.reason()}.",
        advice=tuple(diag.advice),
    )


def health(fit) -> Section:
    """R-hat, ESS and divergences against the gate, and how the posterior was sampled."""
    diag, settings = fit.diagnostics, fit.settings
    checks = (
        (
            "largest R-hat",
            Num("rhat", f"{diag.max_rhat:.3f}", diag.max_rhat),
            f"≤ {MAX_RHAT}",
            diag.max_rhat <= MAX_RHAT,
        ),
        (
            "smallest bulk ESS",
            Num("ess-bulk", f"{diag.min_ess_bulk:.0f}", diag.min_ess_bulk),
            f"≥ {MIN_ESS}",
            diag.min_ess_bulk >= MIN_ESS,
        ),
        (
            "smallest tail ESS",
            Num("ess-tail", f"{diag.min_ess_tail:.0f}", diag.min_ess_tail),
            f"≥ {MIN_ESS}",
            diag.min_ess_tail >= MIN_ESS,
        ),
        (
            "divergent transitions",
            Num("divergences", str(diag.n_divergent), diag.n_divergent),
            "0",
            diag.n_divergent == 0,
        ),
    )
    rows = tuple((name, value, gate, "pass" if ok else "FAIL") for name, value, gate, ok in checks)
    status = "passed" if fit.converged else "did NOT pass"
    text = [
        sentence(
            "The fit ",
            Num("fit-status", status, float(fit.converged)),
            " the diagnostics gate (R-hat, effective sample sizes, divergences).",
            f" {diag.n_draws} posterior draws from {settings.get('chains', '?')} chains "
            f"({settings.get('sampler', 'NUTS')}, seed {settings.get('seed', '?')}).",
        )
    ]
    rescued = describe_rescue(settings.get("rescue"))
    if rescued:
        text.append(sentence(rescued))
    if not fit.converged:
        text.append(
            sentence("What failed: ", diag.reason(), ". Try: ", "; ".join(diag.advice), ".")
        )
    table = Table("Diagnostics gate", ("check", "value", "gate", "status"), rows, id="health-table")
    return Section("health", "Health of the fit", tuple(text), (table,))


#: Plain words for a law's inputs, in the sentence on its parameters.
INPUT_WORDS = {"n_params": "parameters", "n_tokens": "tokens", "compute": "compute"}


def _roles(fit) -> str:
    """What the law's main parameters are: E, each exponent (from ``law.exponents``), the noise."""
    parts = ["E is the irreducible loss (nats)"] if "E" in fit.law.params else []
    by_input: dict[str, list[str]] = {}
    for name, col in fit.law.exponents.items():
        by_input.setdefault(col, []).append(name)
    parts += [
        f"{' and '.join(names)} the exponent{'s' if len(names) > 1 else ''} of "
        f"{INPUT_WORDS.get(col, col)}"
        for col, names in by_input.items()
    ]
    noise = "σ and ν describe" if "nu" in fit.posterior else "σ describes"
    return "; ".join([*parts, f"{noise} the run-to-run noise of log loss."])


def law(fit, prob: float) -> Section:
    """The law's form and its posterior parameters."""
    summary = fit.summary(prob)
    rows = tuple(
        (str(r.parameter), f"{r.median:.4g}", fmt.interval(f"{r.lower:.4g}", f"{r.upper:.4g}"))
        for r in summary.itertuples()
    )
    text = (
        sentence("Law ", fit.law.name, ": ", fit.law.description or "(no description)", "."),
        sentence(_roles(fit)),
    )
    table = Table(
        "Posterior of the parameters",
        ("parameter", "median", f"{prob:.0%} interval"),
        rows,
        id="parameters-table",
    )
    return Section("law", "The law", text, (table,))


def priors(fit) -> Section:
    """Each parameter's prior and why it was chosen."""
    rows = tuple((str(name), str(prior), prior.why or "") for name, prior in fit.priors.items())
    text = (
        sentence(
            "Priors are the law's defaults scaled to the runs table, replaced by any "
            "user override; each says why it was chosen."
        ),
    )
    return Section(
        "priors",
        "The priors",
        text,
        (Table("Priors", ("parameter", "prior", "why"), rows, id="priors-table"),),
    )


def _range_rows(runs: pd.DataFrame) -> tuple:
    names = (
        ("n_params", "parameters N", fmt.count),
        ("n_tokens", "tokens D", fmt.count),
        ("compute", "compute C (FLOPs)", fmt.flops),
        ("loss", "loss (nats)", fmt.loss),
    )
    return tuple(
        (label, form(runs[col].min()), form(runs[col].max()))
        for col, label, form in names
        if col in runs
    )


def _run_rows(runs: pd.DataFrame, columns: list[str]) -> tuple:
    forms = {"n_params": fmt.count, "n_tokens": fmt.count, "compute": fmt.flops, "loss": fmt.loss}
    head = runs[columns].head(FIRST_ROWS)
    return tuple(
        tuple(forms.get(c, str)(v) for c, v in zip(columns, row, strict=True))
        for row in head.itertuples(index=False)
    )


def data(fit) -> Section:
    """How many runs, their ranges and the first rows, with run ids."""
    runs = fit.runs
    n = len(runs)
    parts = ["The fit used ", Num("n-runs", str(n), n), " runs"]
    if "group" in runs:
        groups = [str(g) for g in pd.unique(runs["group"])]
        parts += [f" in {len(groups)} groups (", ", ".join(groups), ")"]
    parts += [
        f", from {fmt.flops(runs['compute'].min())} to {fmt.flops(runs['compute'].max())} FLOPs."
    ]
    columns = [c for c in RUN_COLUMNS if c in runs]
    tables = (
        Table("Ranges", ("quantity", "smallest", "largest"), _range_rows(runs), id="ranges-table"),
        Table(
            f"First {min(FIRST_ROWS, n)} of {n} runs",
            tuple(columns),
            _run_rows(runs, columns),
            id="runs-table",
        ),
    )
    return Section("data", "The data", (sentence(*parts),), tables)


def assumptions(fit, facts) -> Section:
    """What the numbers take for granted."""
    noise = NOISE.get(fit.settings.get("likelihood", "student_t"), "as fitted")
    inputs = "N, D" if facts.split else "C"
    bullets = (
        sentence(f"Training compute C = {facts.k:g}·N·D FLOPs (N parameters, D tokens).")
        if facts.split
        else sentence(
            f"The {fit.law.name} law reads training compute C alone: it predicts a run at C split "
            "as the table's runs were, averaged over their splits (fitted to each budget's best "
            "run only, it would predict the compute-optimal frontier)."
        ),
        sentence(
            f"A run's final loss is L({inputs})·exp(ε), with ε ~ ",
            noise,
            ", independent across runs.",
        ),
        sentence(
            "The bands carry parameter uncertainty (law-only band) and run-to-run noise "
            "(predictive band) only, not law-form error: if the law's form is wrong beyond "
            "the runs, every interval is too narrow, and more so the farther the budget is "
            f"from the data ({fmt.multiple(facts.value('extrapolation'))} here)."
        )
        if facts.discrepancy == "off"
        else sentence(
            "The bands carry parameter uncertainty (law-only band), run-to-run noise "
            "(predictive band) and the law's extrapolation error as backtests measured it "
            "(the discrepancy): a law that fails beyond the runs in a way those backtests never "
            "saw is not covered, and the farther the budget is from the "
            f"data ({fmt.multiple(facts.value('extrapolation'))} here), the more that matters."
        ),
        sentence(
            "The optimal split is computed per posterior draw (in closed form where the law has "
            "one, else by a numerical search along the budget); the numbers are "
            f"medians with central (equal-tailed) {facts.prob:.0%} intervals."
            if facts.split
            else f"The numbers are medians with central (equal-tailed) {facts.prob:.0%} intervals."
        ),
        sentence(
            (
                "Regret and the allocation frontier use the mean curve (law-only); the "
                if facts.split
                else "The "
            )
            + "probabilities of reaching a target use a run's loss (predictive)."
        ),
    )
    return Section("assumptions", "Assumptions", bullets=bullets)


def sections(fit, facts) -> tuple[Section, ...]:
    """The fit's half of the page, in reading order."""
    return (health(fit), law(fit, facts.prob), priors(fit), data(fit), assumptions(fit, facts))
