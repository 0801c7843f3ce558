"""The pass@k section: per model, pass@k at the k asked about with its interval, the samples
needed for a target, and the power-law exponent; a page of it with the fan and the difficulty
distribution (``fit.report(path)``). A fit that did not converge gets a red alert."""

from __future__ import annotations

import numpy as np

from bayes_scaling import _format as fmt
from bayes_scaling.passk.answers import bands, exponent, samples_for
from bayes_scaling.passk.result import PassKFit
from bayes_scaling.report.blocks import Alert, Content, Num, Section, Table, sentence
from bayes_scaling.results.base import method_of


def _num(id_, value, text=None) -> Num:
    return Num(id_, text or f"{value:.3g}", float(value))


def passk_section(
    fit: PassKFit, k=(100, 1000, 10_000), target: float = 0.8, prob: float = 0.9, models=None
) -> Section:
    """The section: one row per model and k (median and central ``prob`` band), then per model the
    samples needed for ``target`` with probability 0.5 and 0.9 and the exponent. Every model of
    the fit unless ``models`` names some (then those, in that order)."""
    models = fit.models if models is None else list(models)
    table_b = bands(fit, k, prob, models=models)
    need = samples_for(fit, target, prob=(0.5, 0.9), models=models)
    expo = exponent(fit, (1, max(k)), prob, models=models)
    rows = []
    for i, r in table_b.iterrows():
        rows.append(
            (
                r["model"],
                fmt.count(r["k"]),
                _num(f"pk-{i}-median", r["median"]),
                f"{r['lower']:.3g}–{r['upper']:.3g}",
            )
        )
    bullets = []
    for m in models:
        n = need[need["model"] == m]
        e = expo[(expo["model"] == m) & (expo["quantity"] == "exponent")].iloc[0]
        k50, k90 = n["samples"].to_numpy()
        q = float(n["prob_unreachable"].iloc[0])
        says = [
            f"{fmt.count(v)} samples with probability {fmt.prob(p)}"
            if np.isfinite(v)
            else fmt.not_reachable(p, q)
            for v, p in ((k50, 0.5), (k90, 0.9))
        ]
        bullets.append(
            sentence(
                f"{m}: pass@k ≥ {target:g} needs {says[0]}, and {says[1]}; −log pass@k falls as "
                "k^(−b) with b ",
                _num(f"exp-{m}", e["median"], f"{e['median']:.2f}"),
                f" ({prob:.0%}: {e['lower']:.2f}–{e['upper']:.2f}).",
            )
        )
    text = (
        sentence(
            "Each model's problems are given a success probability per sample, drawn from a Beta "
            "distribution plus a share of never-solvable problems; pass@k of the benchmark's own "
            "problems follows in closed form at any k, with the posterior's uncertainty."
        ),
    )
    table = Table(
        f"pass@k (median and {prob:.0%} band)",
        ("model", "k", "pass@k", "band"),
        tuple(rows),
        id="passk-bands",
    )
    return Section(
        "passk",
        "Test-time compute: pass@k",
        text=text,
        tables=(table,),
        bullets=tuple(bullets),
        figures=("passk_fan", "difficulty"),
    )


def passk_report(
    fit: PassKFit,
    *,
    k=(100, 1000, 10_000),
    target: float = 0.8,
    prob=0.9,
    model=None,
    models=None,
    title=None,
):
    """A page with the pass@k section (every model, or those of ``models``), and the fan and the
    difficulty distribution of ``model`` (default: the first shown)."""
    from bayes_scaling.passk.plots import difficulty_posterior, passk_fan
    from bayes_scaling.report.build import Report  # same stage; it loads matplotlib
    from bayes_scaling.report.figures import png

    section = passk_section(fit, k, target, prob, models)
    model = model or (fit.models if models is None else list(models))[0]
    figures = {
        "passk_fan": png(passk_fan(fit, model, k_max=10 * max(k))),
        "difficulty": png(difficulty_posterior(fit, model)),
    }
    captions = {
        "passk_fan": f"{model}: pass@k against k with its bands; dots are the unbiased "
        "estimates from the samples drawn.",
        "difficulty": f"{model}: posterior of the distribution of per-problem success "
        "probabilities, with the problems' empirical rates.",
    }
    alert = None
    if not fit.converged:
        alert = Alert("NOT CONVERGED", fit.diagnostics.reason(), fit.diagnostics.advice)
    content = Content(title or "pass@k", (section,), alert=alert, figure_captions=captions)
    return Report.from_content(content, figures)


@method_of(PassKFit)
def report(self, path=None, **kwargs):
    """The pass@k page (see :func:`passk_report`); written to ``path`` when given
    (:meth:`~bayes_scaling.report.build.Report.write`: ``.md`` is Markdown with its figures
    beside it, anything else HTML)."""
    built = passk_report(self, **kwargs)
    if path is not None:
        built.write(path)
    return built
