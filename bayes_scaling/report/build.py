"""``build_report(fit, compute, ...) -> Report``: the decision report as HTML, Markdown and PNGs.

The flow is compute → content → render: :func:`~bayes_scaling.report.facts.gather` computes the
numbers, :func:`~bayes_scaling.report.content.build_content` words them into sections,
:mod:`~bayes_scaling.report.figures` draws the figures, and the HTML and Markdown renderers write
the same content two ways.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from bayes_scaling._disk import write_atomic
from bayes_scaling.report.blocks import Content
from bayes_scaling.report.confidence import LawEvidence
from bayes_scaling.report.content import build_content
from bayes_scaling.report.facts import gather
from bayes_scaling.report.figures import figure_inputs, render
from bayes_scaling.report.markdown import FIGURE_DIR, render_markdown
from bayes_scaling.report.render_html import render_html
from bayes_scaling.trust.law_choice import compare_laws, disagreement, disagreement_sentence
from bayes_scaling.trust.law_skill import LawSkill, law_skill, skill_bands
from bayes_scaling.trust.sensitivity import prior_sensitivity


@dataclass(frozen=True)
class Report:
    """A built page: every report of the package (decision, recipe comparison, pass@k,
    downstream, design) is one of these, made by :meth:`from_content` and written by
    :meth:`write`.

    Attributes
    ----------
    html : str
        One self-contained page (inline CSS, images as data URIs, no scripts, no network).
    markdown : str
        The same content as Markdown; figures linked as ``figures/<key>.png``.
    figures : dict of str to bytes
        PNG bytes by key (e.g. ``fan_chart``, ``optimum_posterior``, ``allocation_frontier``).
    """

    html: str
    markdown: str
    figures: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def from_content(
        cls,
        content: Content,
        figures: dict[str, bytes],
        *,
        headline: str | None = None,
        css: str = "",
    ) -> Report:
        """The one page builder: ``content`` (plain data, :mod:`.blocks`) rendered as HTML and
        as Markdown with the same ``figures``; ``headline`` in bold under the title, ``css``
        added to the page's style."""
        return cls(
            html=render_html(content, figures, headline=headline, css=css),
            markdown=render_markdown(content, tuple(figures), headline=headline),
            figures=dict(figures),
        )

    def write(self, path) -> dict[str, Path]:
        """Write the page to ``path``: Markdown when it ends in ``.md`` (figures to
        ``figures/<key>.png`` beside it), HTML otherwise. Each file is written to a temporary
        file in the same folder and renamed into place, so a reader never sees half a page.

        Returns
        -------
        dict
            The paths written: ``"html"`` or ``"markdown"`` (and ``"figure:<key>"`` per PNG).

        Examples
        --------
        >>> fit.report(1e24).write("report.html")        # doctest: +SKIP
        """
        path = Path(path)
        return self._markdown(path) if path.suffix.lower() == ".md" else self._html(path)

    def save(self, html_path=None, markdown_path=None) -> dict[str, Path]:
        """Write the HTML page and/or the Markdown file (with its figures beside it), as
        :meth:`write` does (whatever the paths' suffixes).

        Returns
        -------
        dict
            The paths written: ``"html"``, ``"markdown"`` and one ``"figure:<key>"`` per PNG.
        """
        written = {}
        if html_path is not None:
            written.update(self._html(Path(html_path)))
        if markdown_path is not None:
            written.update(self._markdown(Path(markdown_path)))
        return written

    def _html(self, path: Path) -> dict[str, Path]:
        _atomic_write(path, self.html.encode("utf-8"))
        return {"html": path}

    def _markdown(self, path: Path) -> dict[str, Path]:
        folder = path.parent / FIGURE_DIR
        written = {"markdown": path}
        for key, png in self.figures.items():
            _atomic_write(folder / f"{key}.png", png)
            written[f"figure:{key}"] = folder / f"{key}.png"
        _atomic_write(path, self.markdown.encode("utf-8"))
        return written


def _atomic_write(path: Path, data: bytes) -> None:
    """:func:`~bayes_scaling._disk.write_atomic`, its folder made first (the figures' folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)


def law_evidence(fit, laws, facts, skill=None) -> LawEvidence | None:
    """LOO comparison and disagreement of ``laws`` (with ``fit`` added under its law's name).

    The laws are compared on each draw's optimal split, or at 20 tokens per parameter (or the
    proposed ratio) when one of them has no compute-optimal split. ``skill``: True weighs them
    also by backtest skill (:func:`bayes_scaling.trust.law_skill.law_skill`, refits), or a
    ``LawSkill`` already computed; when its weights disagree with LOO's, the stacked predictive
    at the budget is given as the default band.
    """
    if not laws:
        return None

    fits = {fit.law.name: fit}
    for label, other in laws.items():  # another fit of the fit's own law keeps its own row
        if other is not fit:
            fits[f"{label} (compared)" if label in fits else label] = other
    largest = float(fit.runs["compute"].max())
    grid = np.unique(np.r_[largest * np.geomspace(1, 1e3, 7), facts.compute])
    # laws without a compute-optimal split are compared on a fixed split
    ratio = facts.proposed.get("tokens_per_param")
    if ratio is None and any(
        f.law.optimum is None and not f.law.reads_compute_only for f in fits.values()
    ):
        ratio = 20.0
    parted = disagreement(fits, compute=grid, tokens_per_param=ratio, prob=facts.prob)
    comparison = compare_laws(fits)
    if skill is True:
        skill = law_skill(fits)
    text = ()
    if isinstance(skill, LawSkill):
        text = (skill.sentence(),)
        if skill.disagree:
            band = skill_bands(
                fits, skill, compute=[facts.compute], tokens_per_param=ratio, prob=facts.prob
            ).sel(band="predictive", prob=facts.prob)
            lo, med, hi = (float(band[k].values[0]) for k in ("lower", "median", "upper"))
            text += (
                f"The default {facts.prob:.0%} predictive band at {facts.compute:.3g} FLOPs is "
                f"therefore the stacked one, the laws mixed by their backtest skill: "
                f"{lo:.3f}–{hi:.3f} nats (median {med:.3f}).",
            )
    evidence = LawEvidence(comparison, parted, disagreement_sentence(parted, list(fits)))
    return replace(evidence, skill=skill or None, skill_text=text)


def build_report(
    fit,
    compute: float,
    *,
    target: float | None = None,
    params=None,
    tokens_per_param=None,
    title: str | None = None,
    prob: float = 0.9,
    tolerance: float | None = 0.02,
    relative: bool = True,
    laws=None,
    sensitivity=None,
    skill=None,
) -> Report:
    """The decision report for one compute budget.

    In reading order: the question; the answer (loss bands at the budget, each named); the
    recommended split and what a choice risks; the probability of reaching ``target``; how far the
    budget extrapolates; the fit's health (a red warning block when it did not converge); the
    law, the priors, the data and the assumptions. Figures: fan chart, posterior of the optimum,
    allocation frontier.

    Parameters
    ----------
    fit : ScalingFit
        A fit of a law with a compute-optimal split (``chinchilla``), or of a law in compute
        alone, L(C) (``power:compute``): its page has no split, regret or optimum figures.
    compute : float
        The budget C (FLOPs).
    target : float, optional
        A target loss (nats) for a run's final loss.
    params, tokens_per_param : float, optional
        A proposed split to assess (N, or D/N). Without one, the risk shown is that of the point
        fit's N (the N* of the posterior-mean parameters).
    title : str, optional
        Page title; by default it names the budget.
    prob : float
        Probability of every central interval.
    tolerance, relative : float, bool
        The trust horizon's tolerance on the predictive band's half-width (default ±2% of the
        predicted loss); None leaves the horizon out.
    laws : mapping of str to ScalingFit, optional
        Fits of other laws to the same runs (this fit included or not): the page then compares
        them by PSIS-LOO, gives stacking weights and says where they disagree beyond the data.
    sensitivity : Sensitivity or True, optional
        A :func:`bayes_scaling.trust.sensitivity.prior_sensitivity` result to report (True computes
        one: two extra fits).
    skill : LawSkill or True, optional
        With ``laws``: weigh them also by backtest skill (True refits each law below two internal
        cuts, :func:`bayes_scaling.trust.law_skill.law_skill`), beside the LOO weights; when the
        two disagree the stacked predictive at the budget is the default band.

    Returns
    -------
    Report

    Examples
    --------
    >>> report = build_report(fit, 1e24, target=2.3, tokens_per_param=20)   # doctest: +SKIP
    >>> report.write("report.html"); report.write("report.md")             # doctest: +SKIP
    """
    facts = gather(
        fit,
        compute,
        target=target,
        params=params,
        tokens_per_param=tokens_per_param,
        prob=prob,
        tolerance=tolerance,
        relative=relative,
    )
    if sensitivity is True:
        sensitivity = prior_sensitivity(fit, compute=[compute], prob=prob)
    evidence = law_evidence(fit, laws, facts, skill)
    content = build_content(fit, facts, title, evidence, sensitivity or None)
    return Report.from_content(content, render(figure_inputs(fit, facts)))
