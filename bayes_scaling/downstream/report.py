"""The downstream section: one decision-maker's sentence per task, and a page of them.

For each task the sentence says what the chain predicts at the size asked about, with its
interval, or that the ladder cannot predict it when the interval is wider than a share of the
metric's range (``max_width``, of ceiling − chance; of chance − 0 for an error metric), and which
step makes the interval::

    HellaSwag at 1e+24 FLOPs: 0.81 (90%: 0.77–0.84); most of the interval comes from step 1.
    ARC-Challenge cannot be predicted from this ladder at 1e+24 FLOPs: 0.45–0.71 (90%).

A task still near chance gets the loss at which it leaves chance
(:func:`~bayes_scaling.downstream.targets.leaves_chance`). A fit that did not converge
gets a red alert. :func:`downstream_report` builds the page (HTML and Markdown, as the decision
report); ``fit.report(path, ...)`` writes it for one task.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_scaling import _format as fmt
from bayes_scaling import _validate as check
from bayes_scaling.downstream.answers import link_bands, metric_bands
from bayes_scaling.downstream.result import DownstreamFit
from bayes_scaling.downstream.targets import leaves_chance
from bayes_scaling.report.blocks import Alert, Content, Num, Section, Table, sentence
from bayes_scaling.results.base import method_of

#: An interval wider than this share of (ceiling − chance) is "cannot be predicted".
MAX_WIDTH = 0.2


def _where(row) -> str:
    if np.isfinite(row["params"]) and np.isfinite(row["tokens"]):
        return (
            f"N = {fmt.count(row['params'])}, D = {fmt.count(row['tokens'])} "
            f"({fmt.flops(row['compute'])} FLOPs)"
        )
    return f"{fmt.flops(row['compute'])} FLOPs"


def metric_range(fit: DownstreamFit) -> tuple[float, float]:
    """(chance, span): the metric's chance level (the posterior median when learned) and its
    range, chance to the ceiling, or for an error metric (lower is better: the exponential link)
    chance down to 0, where the task is solved."""
    chance = fit.constants.get("chance")
    if chance is None or not np.isfinite(chance):
        chance = float(fit.posterior["chance"].median())
    solved = fit.constants["ceiling"] if fit.link.higher_is_better else 0.0
    return float(chance), abs(solved - float(chance))


def task_facts(
    name: str, fit: DownstreamFit, *, compute=None, params=None, tokens=None, prob=0.9
) -> list[dict]:
    """The numbers behind a task's sentences, one dict per size asked (in the order given):
    median, interval, step 1's share, whether it is predictable, and where the task leaves
    chance when it is still near chance. ``prob``: one probability (the sentences quote one
    interval)."""
    prob = check.probability(prob, "prob")
    ds = metric_bands(fit, compute=compute, params=params, tokens=tokens, prob=prob)
    chance, span = metric_range(fit)
    near = abs(float(fit.runs[fit.metric].median()) - chance) < 0.1 * span
    leaves = leaves_chance(fit, prob=prob).sentence() if near else ""
    out = []
    for i in range(ds.sizes["point"]):
        point = ds.isel(point=i)
        one = point.sel(prob=prob)
        lo, med, hi = (float(one[k]) for k in ("lower", "median", "upper"))
        out.append(
            {
                "task": name,
                "where": _where({k: float(point[k]) for k in ("params", "tokens", "compute")}),
                "prob": float(prob),
                "median": med,
                "lower": lo,
                "upper": hi,
                "step1_share": float(one["step1_share"]),
                "predictable": (hi - lo) <= MAX_WIDTH * span,
                "converged": fit.converged,
                "disagree": bool(one["disagree"]) if "disagree" in one else False,
                "chance": leaves if i == 0 else "",
            }
        )
    return out


def task_sentence(facts: dict) -> str:
    """The decision maker's sentence of :func:`task_facts`."""
    p = fmt.prob(facts["prob"])
    share = facts["step1_share"]
    step = (
        "most of the interval comes from step 1 (the loss)"
        if share >= 0.5
        else "most of the interval comes from step 2 (loss to metric)"
    )
    if facts["predictable"]:
        text = (
            f"{facts['task']} at {facts['where']}: {facts['median']:.2f} ({p}: "
            f"{facts['lower']:.2f}–{facts['upper']:.2f}); {step}."
        )
    else:
        text = (
            f"{facts['task']} cannot be predicted from this ladder at {facts['where']}: "
            f"{facts['lower']:.2f}–{facts['upper']:.2f} ({p}); {step}."
        )
    if facts["disagree"]:
        text += " The direct law on compute disagrees beyond this interval."
    if not facts["converged"]:
        text += " The fit did NOT converge: do not use these numbers."
    return f"{text} {facts['chance']}".strip()


def downstream_section(
    fits: dict[str, DownstreamFit], *, compute=None, params=None, tokens=None, prob=0.9
) -> tuple[Section, pd.DataFrame]:
    """The section (one sentence per task and size asked, and a table of them all) and its facts
    as a DataFrame (one row per task and size, tasks in the order given, sizes in the order
    given)."""
    rows = [
        facts
        for name, f in fits.items()
        for facts in task_facts(name, f, compute=compute, params=params, tokens=tokens, prob=prob)
    ]
    bullets = tuple(sentence(task_sentence(r)) for r in rows)
    table = Table(
        caption=f"Metric per task and size asked, {fmt.prob(prob)} intervals",
        columns=("task", "at", "median", "lower", "upper", "step 1 share"),
        rows=tuple(
            (
                r["task"],
                r["where"],
                Num(f"ds-{i}-median", f"{r['median']:.3f}", r["median"]),
                Num(f"ds-{i}-lower", f"{r['lower']:.3f}", r["lower"]),
                Num(f"ds-{i}-upper", f"{r['upper']:.3f}", r["upper"]),
                Num(f"ds-{i}-share", fmt.prob(r["step1_share"]), r["step1_share"]),
            )
            for i, r in enumerate(rows)
        ),
        id="downstream-table",
    )
    section = Section(
        "downstream",
        "Downstream tasks",
        text=(
            sentence(
                "Each task's metric is predicted in two steps, (N, D) to the task's loss and "
                "that loss to the metric, carrying both steps' uncertainty; a task whose "
                "interval spans more than a fifth of its range cannot be predicted from this "
                "ladder."
            ),
        ),
        tables=(table,),
        bullets=bullets,
        figures=("shares",),
    )
    return section, pd.DataFrame(rows)


def downstream_report(
    fits: dict[str, DownstreamFit],
    *,
    compute=None,
    params=None,
    tokens=None,
    prob=0.9,
    title=None,
) -> Report:  # noqa: F821 (imported when called)
    """A page with the downstream section, each task's loss → metric figure and the shares."""
    from bayes_scaling.downstream.plots import link_plot, step_shares
    from bayes_scaling.report.build import Report  # same stage; it loads matplotlib
    from bayes_scaling.report.figures import png

    section, facts = downstream_section(
        fits, compute=compute, params=params, tokens=tokens, prob=prob
    )
    labels = (
        facts["task"] if facts["where"].nunique() == 1 else facts["task"] + ", " + facts["where"]
    )
    figures = {"shares": png(step_shares(facts.assign(label=labels)))}
    captions = {"shares": "Each step's share of the interval (variance shares)."}
    link_keys = []
    for i, (name, f) in enumerate(fits.items()):
        lo, hi = float(f.runs[f.via].min()), float(f.runs[f.via].max())
        grid = np.linspace(max(lo - 0.6 * (hi - lo), 1e-3), hi, 60)
        key = f"link_{i}"
        figures[key] = png(
            link_plot(f.runs, f.via, f.metric, link_bands(f, grid), title=name,
                      chance=f.constants.get("chance"))
        )  # fmt: skip
        captions[key] = f"{name}: the runs and step 2's posterior (loss → metric)."
        link_keys.append(key)
    links = Section("links", "Loss to metric, per task", figures=tuple(link_keys))
    failed = [n for n, f in fits.items() if not f.converged]
    alert = (
        Alert(
            f"NOT CONVERGED: {', '.join(failed)}",
            "; ".join(fits[n].diagnostics.reason() for n in failed),
            ("refit with more draws or tighter priors before using these numbers",),
        )
        if failed
        else None
    )
    content = Content(
        title or "Downstream predictions",
        (section, links),
        alert=alert,
        figure_captions=captions,
    )
    return Report.from_content(content, figures)


@method_of(DownstreamFit)
def report(
    self, path=None, *, compute=None, params=None, tokens=None, prob=0.9, name=None, title=None
) -> Report:  # noqa: F821
    """This task's downstream page (see :func:`downstream_report`), every size asked; written to
    ``path`` when given (:meth:`~bayes_scaling.report.build.Report.write`: ``.md`` is Markdown
    with its figures beside it, anything else HTML)."""
    built = downstream_report(
        {name or self.metric: self},
        compute=compute,
        params=params,
        tokens=tokens,
        prob=prob,
        title=title,
    )
    if path is not None:
        built.write(path)
    return built
