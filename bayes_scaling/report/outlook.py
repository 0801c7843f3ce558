"""The outlook sections of the report: will a run reach the target, and how far the budget
extrapolates beyond the runs.

A target that is not reachable with a meaningful probability is said to be so, in the words of
:meth:`bayes_scaling.answers.target_answer.TargetAnswer.sentences`; no compute number is
printed for it.
"""

from __future__ import annotations

import numpy as np

from bayes_scaling import _format as fmt
from bayes_scaling.report.blocks import Num, Section, Table, sentence
from bayes_scaling.report.facts import Facts


def _needed_row(facts: Facts, p: float) -> tuple:
    """One row of the compute-needed table; never a number where the target is unreachable."""
    needed = facts.value(f"compute_needed_p{round(100 * p)}")
    label = f"compute for {p:.0%} probability ({_on(facts)})"
    if not np.isfinite(needed):
        q = facts.value("prob_unreachable")
        return (
            label,
            f"no compute gives {p:.0%}: not reachable with probability {fmt.prob(q)}",
            "",
        )
    multiple = needed / facts.answer.largest_run_compute
    at_most = "≤ " if facts.answer.met_from_start(p) else ""  # met at the search's lower end
    return (
        label,
        Num(f"compute-needed-p{round(100 * p)}", at_most + fmt.flops(needed), needed),
        at_most + fmt.multiple(multiple),
    )


def _on(facts: Facts) -> str:
    """Where the run sits: on each draw's optimal split, or (a law in compute alone) split as the
    table's runs were."""
    return "optimal split" if facts.split else "split as the runs were"


def reach(facts: Facts, choice: str) -> Section:
    """Will a run reach the target: at the budget, and with how much compute."""
    t = f"{facts.target:.4g}"
    p_opt = facts.value("prob_reach_opt")
    opt = Num("prob-reach-opt", fmt.prob(p_opt), p_opt)
    parts = [
        f"At {fmt.flops(facts.compute)} FLOPs a run's final loss (predictive) reaches "
        f"L ≤ {t} nats with probability ",
        opt,
        " on the compute-optimal split"
        if facts.split
        else " for a run split as the table's runs were",
    ]
    rows = [(f"P(L ≤ {t}) at the budget, {_on(facts)}", opt, "")]
    if facts.has("prob_reach_chosen"):
        p_ch = facts.value("prob_reach_chosen")
        chosen = Num("prob-reach-chosen", fmt.prob(p_ch), p_ch)
        parts += [", and ", chosen, " on ", choice]
        rows.append((f"P(L ≤ {t}) at the budget, assessed split", chosen, ""))
    text = (sentence(*parts, "."), *(sentence(s) for s in facts.answer.sentences()))
    q = facts.value("prob_unreachable")
    rows += [
        ("P(not reachable at any compute)", Num("prob-unreachable", fmt.prob(q), q), ""),
        *(_needed_row(facts, p) for p in facts.answer.compute_needed),
    ]
    table = Table(
        f"Reaching L ≤ {t} nats (a run's final loss)",
        ("question", "answer", "x largest run"),
        tuple(rows),
        id="target-table",
    )
    return Section("target", f"Will it reach L = {t}?", text, (table,))


def extrapolation(facts: Facts, runs) -> Section:
    """How far beyond the runs the budget and the recommended sizes are."""
    multiple = facts.value("extrapolation")
    biggest = runs.loc[runs["compute"].idxmax()]
    where = "beyond" if multiple > 1 else "of"
    parts = [
        "The question extrapolates ",
        Num("extrapolation-multiple", fmt.multiple(multiple), multiple),
        f" {where} the largest run: the budget is {fmt.flops(facts.compute)} FLOPs against ",
        fmt.flops(biggest["compute"]),
        " FLOPs for run ",
        str(biggest["run_id"]),
    ]
    if multiple > 1:
        parts += [f", {np.log10(multiple):.1f} decades of compute with no data."]
    else:
        parts += [", within the runs' range of compute."]
    text = [sentence(*parts)]
    rows = [
        (
            "compute C (FLOPs)",
            fmt.flops(runs["compute"].max()),
            fmt.flops(facts.compute),
            fmt.multiple(multiple),
        )
    ]
    if facts.split:
        n_star, d_star = facts.value("n_params_opt"), facts.value("n_tokens_opt")
        n_max, d_max = float(runs["n_params"].max()), float(runs["n_tokens"].max())
        text.append(
            sentence(
                "The recommended model has ",
                Num("n-multiple", fmt.multiple(n_star / n_max), n_star / n_max),
                " the parameters of the largest model trained and ",
                fmt.multiple(d_star / d_max),
                " the tokens of the longest run.",
            )
        )
        rows += [
            ("parameters N", fmt.count(n_max), fmt.count(n_star), fmt.multiple(n_star / n_max)),
            ("tokens D", fmt.count(d_max), fmt.count(d_star), fmt.multiple(d_star / d_max)),
        ]
    if multiple >= 100:
        text.append(
            sentence(
                "This is far beyond the data: every interval here assumes the law "
                "keeps its form all the way out"
                + (
                    "; only the extrapolation discrepancy (below) allows for a wrong law."
                    if facts.discrepancy != "off"
                    else ", and none includes the error of a wrong law."
                )
            )
        )
    table = Table(
        "Largest run against the budget" + (" (N*, D*: medians)" if facts.split else ""),
        ("quantity", "largest in runs", "at the budget", "multiple"),
        tuple(rows),
        id="extrapolation-table",
    )
    return Section("extrapolation", "How far this extrapolates", tuple(text), (table,))
