"""The design section: the picks in the order chosen with their cost and expected gain, the band at
the target before and after, in a decision-maker's sentence; and a page of it with the figure
(``result.report(path)``). A design standing on a fit that did not converge gets a red alert."""

from __future__ import annotations

from bayes_scaling.design.result import DesignResult
from bayes_scaling.report.blocks import Alert, Content, Num, Section, Table, sentence
from bayes_scaling.results.base import method_of


def _num(id_, value, text=None) -> Num:
    return Num(id_, text or f"{value:.3g}", float(value))


def design_section(result: DesignResult) -> Section:
    """The section: a sentence with the budget spent and the objective before/after, the picks
    table, and the band at each target before and after."""
    picks = result.picks
    rows = tuple(
        (
            str(i + 1),
            str(int(r["candidate"])),
            f"{r['params']:.3g}",
            f"{r['tokens']:.3g}",
            _num(f"design-{i}-cost", r["cost"]),
            _num(f"design-{i}-gain", r["gain"]),
            _num(f"design-{i}-objective", r["objective"]),
        )
        for i, r in picks.iterrows()
    )
    table = Table(
        f"Runs to train next, in the order chosen ({result.description}).",
        (
            "pick",
            "candidate",
            "params N",
            "tokens D",
            "cost (FLOPs)",
            "expected gain",
            "objective after",
        ),
        rows,
        id="design-picks",
    )
    band_rows = []
    for t, group in result.bands.groupby("target", sort=True):
        before = group[group["stage"] == "before"].iloc[0]
        after = group[group["stage"] == "after"].iloc[0]
        narrower = 1 - (after["upper"] - after["lower"]) / max(
            before["upper"] - before["lower"], 1e-300
        )
        band_rows.append(
            (
                f"{before['compute']:.3g} FLOPs",
                f"{before['lower']:.4g}–{before['upper']:.4g}",
                f"{after['lower']:.4g}–{after['upper']:.4g}",
                _num(f"design-width-{t}", narrower, f"{narrower:.0%}"),
            )
        )
    bands = Table(
        f"The {result.bands['prob'].iloc[0]:.0%} predictive band at each target before the picks"
        " and expected after them (an average over fantasy outcomes).",
        ("target", "band now", "expected band after", "narrower by"),
        tuple(band_rows),
        id="design-bands",
    )
    text = (
        sentence(
            f"With a budget of {result.budget:.3g} FLOPs the design picks {len(picks)} "
            f"run{'s' if len(picks) != 1 else ''} costing ",
            _num("design-spent", result.spent),
            " FLOPs; the expected ",
            result.description,
            " falls from ",
            _num("design-initial", result.initial),
            " to ",
            _num("design-final", result.final),
            ".",
        ),
        sentence(
            "Each pick is the candidate with the largest expected gain per FLOP given the "
            "fantasised outcomes of the earlier ones; expectations are over outcomes drawn from "
            "the current posterior predictive, extrapolation discrepancy included, and a run "
            "nearer the target also shrinks its distance beyond the data.",
        ),
    )
    if result.skipped:
        text += (sentence(f"Candidates already trained were left out: {result.skipped}."),)
    return Section("design", "Which runs to train next", text, (table, bands), figures=("design",))


def design_report(result: DesignResult, *, title=None):
    """A page with the design section and its figure."""
    from bayes_scaling.design.plots import design_plot
    from bayes_scaling.report.build import Report  # it loads matplotlib
    from bayes_scaling.report.figures import png

    figures = {"design": png(design_plot(result))}
    captions = {
        "design": "Left: the runs (black), the candidates (grey), the picks in the order chosen "
        "and the target (red star; dotted: its isoFLOP line). Right: the predictive band at the "
        "target now and expected after training the picks."
    }
    alert = None
    if not result.converged:
        alert = Alert("NOT CONVERGED", result.reason, ())
    content = Content(
        title or "Which run next", (design_section(result),), alert=alert, figure_captions=captions
    )
    return Report.from_content(content, figures)


@method_of(DesignResult)
def report(self, path=None, **kwargs):
    """The design page (see :func:`design_report`); written to ``path`` when given (``.md``:
    Markdown with its figure beside it; otherwise HTML)."""
    built = design_report(self, **kwargs)
    if path is not None:
        built.write(path)
    return built
