"""The decision report: one self-contained HTML page (and its Markdown twin) for one budget.

>>> from bayes_scaling.report import build_report
>>> report = build_report(fit, 1e24, target=2.3)      # doctest: +SKIP
>>> report.save("report.html", "report.md")           # doctest: +SKIP

Modules: :mod:`.facts` computes the numbers, :mod:`.content` and :mod:`.background` word them
into sections (plain data, :mod:`.blocks`), :mod:`.figures` draws the figures, :mod:`.html` and
:mod:`.markdown` render (numbers are worded by :mod:`bayes_scaling._format`), :mod:`.build` ties
them together. :func:`comparison_report` (:mod:`.comparison`) writes the recipe comparison page of
a grouped fit.
"""

from bayes_scaling._lazy import lazy
from bayes_scaling.results import ScalingFit, method_of

# Imported on first use: the report's figures load matplotlib, and a saved fit's other answers
# should not pay for it.
__getattr__, __dir__ = lazy(
    __name__,
    {
        "Report": "bayes_scaling.report.build",
        "build_report": "bayes_scaling.report.build",
        "comparison_report": "bayes_scaling.report.comparison",
    },
)


@method_of(ScalingFit)
def report(self, compute, **kwargs):
    """The decision report (a :class:`~bayes_scaling.report.build.Report`); see
    :func:`bayes_scaling.report.build_report`."""
    from bayes_scaling.report.build import build_report  # same stage, on first use

    return build_report(self, compute, **kwargs)


__all__ = ["Report", "build_report", "comparison_report"]
