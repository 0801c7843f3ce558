"""The recipe comparison report: does B scale better than A? One self-contained HTML page (and
its Markdown twin) for someone who decides between two recipes.

Built from a :class:`~bayes_scaling.answers.gap.Comparison` (:meth:`GroupedFit.compare
<bayes_scaling.results.grouped.GroupedFit.compare>`); nothing here samples. The page reuses the
decision report's parts: content as plain data (:mod:`.blocks`), numbers formatted by
:mod:`bayes_scaling._format`, and the one page builder
(:meth:`~bayes_scaling.report.build.Report.from_content`, the headline in bold under the title)
that renders it as HTML and Markdown and writes the files. In reading order: the headline at
the largest budget in bold, a red NOT CONVERGED banner when the fit failed the diagnostics gate,
the table per budget, the crossover, the figure, the parameter differences and how to read it all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bayes_scaling import _format as fmt
from bayes_scaling.answers.comparison import multiplier_text as multiplier
from bayes_scaling.plots._common import label
from bayes_scaling.plots.comparison import comparison_plot
from bayes_scaling.report.blocks import Alert, Content, Num, Section, Table, sentence
from bayes_scaling.report.build import Report
from bayes_scaling.report.figures import png

#: Key of the comparison figure (``figures/comparison.png`` beside the Markdown).
FIGURE = "comparison"


def caption(prob: float, discrepancy: str = "off") -> str:
    """The figure's caption, with the comparison's interval probability and what its bands
    carry."""
    carry = (
        " Parameter-only: no law error beyond the data."
        if discrepancy == "off"
        else " Beyond the largest run each recipe's band carries the law's error there (shared by "
        "the recipes and particular to each); the shared part cancels from the sign of ΔL."
    )
    return (
        f"(a) Each recipe's loss on its own compute-optimal split L*(C), {prob:.0%} and 50% "
        "posterior intervals and median, with its runs (a budget's runs lie on or above L*: only "
        "the optimal split reaches it). (b) The difference ΔL = L*(B) − L*(A), negative where B is "
        "better, with the crossover. (c) The probability that B has the lower loss. Grey: beyond "
        "the largest run." + carry
    )


def carries(comparison) -> str:
    """What the losses carry, in a few words (for captions and the subtitle)."""
    if comparison.discrepancy == "off":
        return "parameter-only"
    return "with the law's error beyond the data"


#: Extra style of the comparison page: the bold headline under the title; wrapping intervals.
CSS = (
    "\n#headline { margin: 4px 0 16px; font-size: 1.2rem; line-height: 1.45; }"
    "\n#budget-table .num, #parameter-table .num { white-space: normal; }"
)
#: The group coefficients share their letters with the usual recipe names A and B.
PARAMETER_LABELS = {
    "A": "A (params coefficient)",
    "B": "B (tokens coefficient)",
    "log_A": "log A (params coefficient)",
    "log_B": "log B (tokens coefficient)",
}


def _cell(row, name: str, form, ident: str) -> Num:
    """The "median (lower – upper)" of one quantity of a table row, as a key number."""
    med, lo, hi = row[name], row[f"{name}_lower"], row[f"{name}_upper"]
    return Num(ident, f"{form(med)} ({fmt.interval(form(lo), form(hi))})", float(med))


def _largest_run(comparison) -> float | None:
    runs = comparison.runs
    if runs is None or "compute" not in runs or len(runs) == 0:
        return None
    return float(np.nanmax(runs["compute"].to_numpy(float)))


def budget_table(comparison) -> Table:
    """Per budget: both losses, the difference and the multiplier (median and interval), and
    P(B better)."""
    a, b, p = comparison.a, comparison.b, f"{comparison.prob:.0%}"
    largest = _largest_run(comparison)
    columns = ["budget (FLOPs)"]
    columns += ["× largest run"] if largest else []
    columns += [f"loss {a}", f"loss {b}", f"{b} − {a}", f"P({b} better)", "multiplier k"]
    rows = []
    for i, row in comparison.table().iterrows():
        c = float(row["compute"])
        cells = [Num(f"budget-{i}", fmt.flops(c), c)]
        cells += [fmt.multiple(c / largest)] if largest else []
        cells += [
            _cell(row, "loss_a", fmt.loss, f"budget-{i}-loss-a"),
            _cell(row, "loss_b", fmt.loss, f"budget-{i}-loss-b"),
            _cell(row, "difference", fmt.nats, f"budget-{i}-difference"),
            Num(f"budget-{i}-p-b-better", fmt.prob(row["p_b_better"]), row["p_b_better"]),
            _cell(row, "multiplier", multiplier, f"budget-{i}-multiplier"),
        ]
        rows.append(tuple(cells))
    caption = (
        f"Per budget: posterior median ({p} central interval); losses in nats, each recipe on "
        f"its own compute-optimal split ({carries(comparison)}); {b} at C matches {a} at k·C"
    )
    return Table(caption, tuple(columns), tuple(rows), id="budget-table")


def crossover_text(comparison) -> tuple:
    """Where B overtakes A, how likely it is that it does not in the range, and why not."""
    a, b, p = comparison.a, comparison.b, f"{comparison.prob:.0%}"
    s = comparison.crossover_summary()
    lo, hi = fmt.flops(s["range_lower"]), fmt.flops(s["range_upper"])
    no = Num("p-no-crossover", fmt.prob(s["p_no_crossover_in_range"]), s["p_no_crossover_in_range"])
    text = []
    if np.isfinite(s["crossover"]):
        text.append(
            sentence(
                f"{b} overtakes {a} at ",
                Num("crossover-median", fmt.flops(s["crossover"]), s["crossover"]),
                f" FLOPs ({p} interval ",
                Num("crossover-lower", fmt.flops(s["crossover_lower"]), s["crossover_lower"]),
                " – ",
                Num("crossover-upper", fmt.flops(s["crossover_upper"]), s["crossover_upper"]),
                f" FLOPs); probability of no crossover between {lo} and {hi} FLOPs: ",
                no,
                ".",
            )
        )
        if s["p_crossover_in_range"] < 0.99:
            text.append(
                sentence(
                    "The crossover's median and interval are over the "
                    f"{fmt.prob(s['p_crossover_in_range'])} of posterior draws that cross."
                )
            )
        largest = _largest_run(comparison)
        if largest is not None:
            where = (
                "inside the runs"
                if s["crossover_upper"] <= largest
                else "beyond the largest run: an extrapolation"
                if s["crossover_lower"] > largest
                else "across the largest run"
            )
            text.append(
                sentence(
                    f"The largest run used {fmt.flops(largest)} FLOPs; the crossover is {where}."
                )
            )
    else:
        text.append(
            sentence(
                f"{b} does not overtake {a} between {lo} and {hi} FLOPs in (almost) any posterior "
                "draw: probability of no crossover in that range ",
                no,
                ".",
            )
        )
    cases = {
        f"{b} is ahead throughout the range (already better at {lo} FLOPs)": (
            "p-b-ahead-throughout",
            s["p_b_ahead_throughout"],
        ),
        f"{a} is ahead throughout the range": ("p-a-ahead-throughout", s["p_a_ahead_throughout"]),
        f"{b} is ahead lower down but {a} overtakes it and is ahead at {hi} FLOPs": (
            "p-a-overtakes-b",
            s["p_a_overtakes_b"],
        ),
    }
    if s["p_no_crossover_in_range"] > 0:
        main = max(cases, key=lambda c: cases[c][1])
        parts = [f"Without a crossover, the most likely case is that {main}. Probabilities: "]
        for i, (case, (ident, value)) in enumerate(cases.items()):
            parts += [
                f"{'; ' if i else ''}{case.split(' (')[0]} ",
                Num(ident, fmt.prob(value), value),
            ]
        text.append(sentence(*parts, "."))
    return tuple(text)


def _g(x: float) -> str:
    """A parameter value or difference, 3 significant digits."""
    return f"{float(x):.3g}"


def parameter_table(comparison) -> Table:
    """θ_B − θ_A for every parameter that varies by group: medians, difference, P(θ_B > θ_A)."""
    a, b, p = comparison.a, comparison.b, f"{comparison.prob:.0%}"
    rows = []
    for _, r in comparison.parameters.iterrows():
        name = str(r["parameter"])
        rows.append(
            (
                PARAMETER_LABELS.get(name, label(name)),
                _g(r["a"]),
                _g(r["b"]),
                Num(
                    f"parameter-{name}-difference",
                    f"{_g(r['difference'])} ({fmt.interval(_g(r['lower']), _g(r['upper']))})",
                    float(r["difference"]),
                ),
                Num(f"parameter-{name}-p-b-greater", fmt.prob(r["p_b_greater"]), r["p_b_greater"]),
            )
        )
    columns = (
        "parameter",
        f"{a} (median)",
        f"{b} (median)",
        f"{b} − {a} (median, {p} interval)",
        f"P({b} > {a})",
    )
    caption = (
        "Law parameters that vary by group; larger exponents (α, β) mean loss falls faster "
        "with scale"
    )
    return Table(caption, columns, tuple(rows), id="parameter-table")


def how_to_read(comparison, largest: float | None) -> Section:
    """Plain-language reading notes: what is compared, what the intervals and k mean."""
    a, b, p = comparison.a, comparison.b, f"{comparison.prob:.0%}"
    n = int(comparison.draws.sizes.get("chain", 1) * comparison.draws.sizes.get("draw", 1))
    beyond = f" (the largest run used {fmt.flops(largest)} FLOPs)" if largest else ""
    bullets = (
        sentence(
            "Each recipe is compared on its own compute-optimal split: at a budget C, L*(C) is the "
            "loss of that recipe's best model size N* with D* = C/(kN*) tokens (k FLOPs per "
            "parameter per token, 6 by default), per posterior draw."
        ),
        _uncertainty_note(comparison, beyond),
        sentence(
            f"Intervals are {p} central posterior intervals: given the model and the runs, the "
            f"quantity lies inside with probability {p}. P({b} better) is the share of posterior "
            f"draws in which {b}'s loss is lower; 100% or 0% means all {n} draws agreed."
        ),
        sentence(
            f"The multiplier k: {b} trained with C FLOPs matches {a} trained with k·C FLOPs. "
            f"k > 1 means {b} saves compute (it is worth k times {a}'s compute); k < 1 means it "
            "costs compute."
        ),
        sentence(
            f"The crossover is the compute at which {b}'s loss drops below {a}'s for good (per "
            f"draw, the last change from {a} ahead to {b} ahead in the range searched); its "
            "interval is over the draws that cross."
        ),
    )
    return Section("how-to-read", "How to read this", bullets=bullets)


def _uncertainty_note(comparison, beyond: str):
    """What the intervals carry: parameters only, or the law's error beyond the data too."""
    if comparison.discrepancy == "off":
        return sentence(
            "Parameter-only: the numbers carry the uncertainty of the law's parameters given the "
            "runs, not run-to-run noise nor the law's own error beyond the data. Far beyond the "
            f"runs{beyond} the real uncertainty of each loss is larger; a law error common to both "
            "recipes cancels from the sign of the difference."
        )
    return sentence(
        "Beyond the runs"
        + beyond
        + " each loss also carries the law's own error there, learned from the runs (the law "
        "refitted below a few cuts, the larger runs checked) on a prior learned across public "
        "ladders: a part shared by the recipes and a part particular to each. The shared part "
        "moves both recipes together, so it cancels from the sign of the difference (P("
        + comparison.b
        + " better) and the crossover) and only scales its size; the particular parts do not "
        "cancel. Not run-to-run noise. The learned error: " + comparison.discrepancy + "."
    )


def comparison_content(comparison, title: str | None = None) -> Content:
    """The page's sections as plain data (no markup)."""
    a, b = comparison.a, comparison.b
    largest = _largest_run(comparison)
    n_runs = 0 if comparison.runs is None else len(comparison.runs)
    alert = None
    if not comparison.converged:
        alert = Alert(
            headline="NOT CONVERGED: do not act on the numbers below.",
            reason=f"The diagnostics gate failed: {comparison.reason or 'no reason recorded'}.",
            advice=(
                "Refit with more tuning and draws (tune=2000, draws=2000) or more chains, then "
                "compare again.",
            ),
        )
    gate = "passed" if comparison.converged else "FAILED"
    sections = (
        Section(
            "budgets",
            "Budget by budget",
            (sentence(f"{b} (candidate) against {a} (baseline) at each budget asked."),),
            tables=(budget_table(comparison),),
        ),
        Section("crossover", "Where the curves cross", crossover_text(comparison)),
        Section("figure", "The comparison in one figure", figures=(FIGURE,)),
        Section(
            "parameters",
            "How the recipes differ",
            (sentence(f"The posterior of each parameter's difference {b} − {a}."),),
            tables=(parameter_table(comparison),),
        ),
        how_to_read(comparison, largest),
    )
    return Content(
        title=title or f"Does {b} scale better than {a}?",
        sections=sections,
        subtitle=(
            f"Candidate {b} against baseline {a}; {n_runs} runs; law {comparison.law or '?'}, "
            f"pooling {comparison.pool or '?'}; {comparison.prob:.0%} central posterior "
            f"intervals, {carries(comparison)}; diagnostics gate {gate}"
        ),
        alert=alert,
        figure_captions={FIGURE: caption(comparison.prob, comparison.discrepancy)},
    )


def build_comparison_report(comparison, title: str | None = None) -> Report:
    """The comparison page in memory: HTML, Markdown and the figure's PNG (key ``comparison``),
    by the one page builder (:meth:`Report.from_content`) with the headline in bold first."""
    content = comparison_content(comparison, title)
    figures = {FIGURE: png(comparison_plot(comparison))}
    return Report.from_content(content, figures, headline=comparison.headline(), css=CSS)


def comparison_report(
    comparison, path_html, path_markdown=None, title: str | None = None
) -> dict[str, Path]:
    """Write the recipe comparison report: a self-contained HTML page, and optionally Markdown.

    The page opens with the headline at the largest budget in bold ("B beats A at … FLOPs with
    probability p; it is worth a k× compute multiplier (interval)"), then a red NOT CONVERGED
    banner when the grouped fit failed the diagnostics gate, a table per budget (both losses, the
    difference, P(B better) and the multiplier k, with central intervals), the crossover and the
    probability of none in the range, the comparison figure (embedded as a PNG data URI), the
    parameter differences θ_B − θ_A, and how to read it all. The losses carry the law's error
    beyond the data when the comparison does (``comparison.discrepancy``), and the page says so.

    Parameters
    ----------
    comparison : Comparison
        From :meth:`GroupedFit.compare <bayes_scaling.results.grouped.GroupedFit.compare>`.
    path_html : str or Path
        Where to write the HTML page (folders are made).
    path_markdown : str or Path, optional
        Where to write the Markdown; its figure goes to ``figures/comparison.png`` beside it.
    title : str, optional
        Page title; by default "Does B scale better than A?".

    Returns
    -------
    dict
        The paths written: ``"html"``, and ``"markdown"`` and ``"figure:comparison"`` when
        ``path_markdown`` is given.

    Examples
    --------
    >>> g = fit_groups(two_recipe_ladder(seed=1), seed=1)                # doctest: +SKIP
    >>> c = g.compare(compute=[1e20, 1e22, 1e24])                          # doctest: +SKIP
    >>> comparison_report(c, "compare.html", "compare.md")                # doctest: +SKIP
    """
    report = build_comparison_report(comparison, title)
    return report.save(path_html, path_markdown)
