"""The "how far to trust it" section: the extrapolation discrepancy, the trust horizon, the
laws' disagreement and the priors' pull, in plain words.

Inputs are computed elsewhere (:func:`bayes_scaling.report.facts.gather`,
:func:`bayes_scaling.trust.law_choice.compare_laws` and
:func:`~bayes_scaling.trust.law_choice.disagreement`,
:func:`bayes_scaling.trust.sensitivity.prior_sensitivity`); this module only words them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_scaling import _format as fmt
from bayes_scaling.report.blocks import Num, Section, Table, sentence
from bayes_scaling.report.facts import Facts


@dataclass(frozen=True)
class LawEvidence:
    """What the report says about other laws: the LOO table and where the laws part."""

    comparison: pd.DataFrame
    disagreement: pd.DataFrame
    sentence: str
    #: :class:`bayes_scaling.trust.law_skill.LawSkill`: the weights by backtest skill, if asked
    skill: object | None = None
    #: sentences on the skill weights and the default (stacked) band, worded in build.py
    skill_text: tuple = ()


def _discrepancy_text(facts: Facts) -> list:
    if facts.discrepancy == "off":
        return [
            sentence(
                "The bands here are parameter-only: the fit was made without the extrapolation "
                "discrepancy, so they assume the law keeps its form beyond the data and are "
                "optimistic there (in backtests such bands covered well under their nominal "
                "probability)."
            )
        ]
    lo, med, hi = facts.predictive
    out = [
        sentence(
            "The bands include an extrapolation discrepancy: an error of the law itself that is "
            + (
                "small inside the runs (where only the law's local misfit, learned from the runs' "
                "residuals, remains)"
                if facts.local_misfit
                else "zero inside the runs"
            )
            + " and grows with the distance beyond them, learned by refitting "
            f"the law on the smaller runs and checking the larger ones ({facts.discrepancy})."
        )
    ]
    if facts.param_only is not None:
        p_lo, _, p_hi = facts.param_only
        without = Num("param-only-width", fmt.nats(p_hi - p_lo), p_hi - p_lo)
        with_it = Num("discrepancy-width", fmt.nats(hi - lo), hi - lo)
        at = f"At {fmt.flops(facts.compute)} FLOPs"
        if hi - lo > 1.01 * (p_hi - p_lo):  # within 1%: the draws' noise
            out.append(
                sentence(
                    f"{at} it widens the {facts.prob:.0%} predictive band from ",
                    without,
                    " (parameters and run noise only) to ",
                    with_it,
                    ".",
                )
            )
        else:  # the error beyond the runs is zero inside them: the widths differ by draw noise
            out.append(
                sentence(
                    f"{at} it adds nothing measurable (it is zero inside the runs): the "
                    f"{facts.prob:.0%} predictive band is ",
                    without,
                    " wide without it and ",
                    with_it,
                    " with it (within 1%, the draws' noise).",
                )
            )
    return out


def _horizon_text(facts: Facts) -> list:
    h = facts.horizon
    if h is None:
        return []
    value = np.nan if h.multiple is None else h.multiple
    text = fmt.multiple(value) if h.multiple is not None else "none"
    return [
        sentence(
            "Trust horizon: ",
            Num("trust-horizon", text, value),
            f". {h.sentence()}",
        )
    ]


def _law_table(evidence: LawEvidence) -> Table:
    rows = []
    skill = evidence.skill
    for name, r in evidence.comparison.iterrows():
        n = int(r["n_high_k"])
        flag = f"{n} {'run' if n == 1 else 'runs'} with Pareto k > {r['k_threshold']:.2g}"
        if "converged" in r and not bool(r["converged"]):  # its numbers rest on bad draws
            name = f"{name} (NOT converged)"
        row = (
            str(name),
            f"{float(r['elpd']):.1f} ± {float(r['se']):.1f}",
            f"{float(r['weight']):.2f}",
            flag if int(r["n_high_k"]) else "all k fine",
        )
        if skill is not None:  # the weights by backtest skill beside the LOO ones
            row += (
                f"{skill.weights.get(name, np.nan):.2f}",
                f"{skill.mean_lpd.get(name, np.nan):.2f}",
            )
        rows.append(row)
    columns = ("law", "elpd (± se)", "stacking weight", "LOO reliability")
    if skill is not None:
        columns += ("skill weight (backtests)", "held-out log density")
    return Table(
        "Laws compared by PSIS-LOO (higher elpd predicts held-out runs better)"
        + ("" if skill is None else " and by backtest skill (extrapolation to internal cuts)"),
        columns,
        tuple(rows),
        id="law-table",
    )


def section(facts: Facts, laws: LawEvidence | None = None, sensitivity=None) -> Section:
    """The section, in reading order: discrepancy, horizon, laws, priors."""
    text = [*_discrepancy_text(facts), *_horizon_text(facts)]
    tables = []
    if laws is not None:
        text.append(sentence(laws.sentence))
        text += [sentence(t) for t in laws.skill_text]
        tables.append(_law_table(laws))
    if sensitivity is not None:
        text += [sentence(s) for s in sensitivity.sentences()]
        flags = sensitivity.flags
        tables.append(
            Table(
                "Prior sensitivity: largest move under the wide and informed prior sets",
                ("quantity", "at compute", "shift (x interval width)", "width change", "flag"),
                tuple(
                    (
                        str(r["quantity"]),
                        "" if np.isnan(r["compute"]) else fmt.flops(r["compute"]),
                        f"{r['max_shift']:.2f}",
                        f"{r['max_width_change']:.2f}x",
                        "prior-driven" if r["prior_driven"] else "",
                    )
                    for _, r in flags.iterrows()
                ),
                id="prior-sensitivity-table",
            )
        )
    return Section("trust", "How far to trust it", tuple(text), tuple(tables))
