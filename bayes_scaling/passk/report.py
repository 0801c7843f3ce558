"""The pass@k page (``fit.report(path)``): it opens with the decision — the samples a problem
for a target with their probability, a bigger model or more samples, training or inference
compute — then per model pass@k at the k asked about with its interval, the samples needed for
the target and the power-law exponent, with pass@k across models, the fan and the difficulty
distribution. Every model of the fit is shown unless ``models`` names some, and the page then
says which were left out. A fit that did not converge gets a red alert."""

from __future__ import annotations

import numpy as np

from bayes_scaling import _format as fmt
from bayes_scaling.passk.answers import _flat, bands, exponent, samples_for
from bayes_scaling.passk.decisions import decision_table, size_vs_samples, training_vs_inference
from bayes_scaling.passk.result import PassKFit
from bayes_scaling.report.blocks import Alert, Content, Num, Section, Table, sentence
from bayes_scaling.results.base import method_of

#: How the page names each difficulty distribution (``fit.difficulty``).
_DIFFICULTY_TEXT = {
    "beta": "a Beta distribution",
    "beta-mixture": "a mixture of two Beta distributions (a body and a hard component)",
    "logit-normal-mixture": (
        "a mixture of two normal distributions in logit p (a body and a hard component)"
    ),
    "logit-normal": (
        "a normal distribution in logit p, fitted with every model at once and a difficulty "
        "per problem shared by the models"
    ),
}


def _num(id_, value, text=None) -> Num:
    return Num(id_, text or f"{value:.3g}", float(value))


def _sizes(fit: PassKFit, models: list[str]) -> np.ndarray | None:
    """N of each model, or None when the table does not give it for all of them."""
    if "n_params" not in fit.counts:
        return None
    first = fit.counts.groupby("model", sort=False)["n_params"].first()
    n = first.loc[models].to_numpy(float)
    return n if (np.isfinite(n).all() and (n > 0).all()) else None


def _samples_sentence(fit, models, target, prob, sizes):
    need = samples_for(fit, target, prob=(prob,), models=models)
    k = need["samples"].to_numpy(float)
    cost = k * (sizes if sizes is not None else 1.0)
    if not np.isfinite(cost).any():
        q = need["prob_unreachable"].to_numpy(float)
        i = int(np.argmin(q))
        return sentence(
            f"Samples a problem: no model reaches pass@k ≥ {target:g} with probability "
            f"{fmt.prob(prob)} at any k (up to 1e15); the closest, {models[i]}, is "
            f"{fmt.not_reachable(prob, float(q[i]))}."
        )
    i = int(np.nanargmin(np.where(np.isfinite(cost), cost, np.nan)))
    why = (
        "the least inference compute (N·k) of the models"
        if sizes is not None
        else "the fewest samples of the models"
    )
    reach = int(np.isfinite(k).sum())
    return sentence(
        f"Samples a problem: pass@k ≥ {target:g} with probability {fmt.prob(prob)} takes ",
        _num("decide-samples", k[i], fmt.count(k[i])),
        f" samples a problem with {models[i]} ({why}; {reach} of {len(models)} models reach it).",
    )


def _size_sentence(fit, models, prob, sizes, k_max, tokens_per_sample):
    if sizes is None or len(np.unique(sizes)) < 2:
        return sentence(
            "Bigger model or more samples: not answered — the table gives no model sizes "
            "(n_params) for two or more sizes."
        )
    t = 1.0 if tokens_per_sample is None else float(tokens_per_sample)
    small = float(sizes.min())
    budget = 2.0 * small * t * k_max
    ds = size_vs_samples(fit, budget, tokens_per_sample=t, models=models)
    table = decision_table(ds, prob)
    best = table[table["chosen"]].iloc[0]
    return sentence(
        f"Bigger model or more samples: at the inference compute of {fmt.count(k_max)} samples "
        f"a problem of the smallest model (N = {small:.3g}), the best bet is "
        f"{best['candidate']} with {fmt.count(best['k'])} samples: pass@k ",
        _num("decide-size", best["pass_median"]),
        f" ({fmt.prob(prob)}: {best['pass_lower']:.3g}–{best['pass_upper']:.3g}), best in "
        f"{fmt.prob(best['prob_best'])} of the draws ({len(table)} affordable models compared).",
    )


def _compute_sentence(fit, prob, total_compute, queries, tokens_per_sample):
    if fit.law_posterior is None:
        return sentence(
            "Training or inference compute: not answered — it needs the difficulty law across "
            "models (n_params and n_tokens for six or more models)."
        )
    if total_compute is None or queries is None or tokens_per_sample is None:
        return sentence(
            "Training or inference compute: give total_compute=, queries= and "
            "tokens_per_sample= to split a budget between training and sampling."
        )
    ds = training_vs_inference(
        fit, total_compute, queries=queries, tokens_per_sample=tokens_per_sample
    )
    best = decision_table(ds, prob)
    best = best[best["chosen"]].iloc[0]
    return sentence(
        f"Training or inference compute: of {total_compute:.3g} FLOPs for {queries:.3g} "
        f"problems, spend {fmt.prob(best['training_share'])} on training N = "
        f"{best['n_params']:.3g} and the rest on {fmt.count(best['k'])} samples a problem: "
        "pass@k ",
        _num("decide-compute", best["pass_median"]),
        f" ({fmt.prob(prob)}: {best['pass_lower']:.3g}–{best['pass_upper']:.3g}).",
    )


def borrowing(fit: PassKFit, models=None) -> dict[str, float] | None:
    """How much each model borrowed from the others (0: nothing borrowed; near 1: the model is
    known mostly through its neighbours). A joint fit: the posterior variance of z_m of log(b/a)
    (its scatter about the law, prior variance 1), the share of it the model's own counts left
    open. A two-stage law: 1 − the ratio of the difficulty's location's posterior variance (log b
    of the Beta, μ of the logit-normal mixture) under the law to that of the model's own fit.
    A crossed fit: the share λ_m²/(λ_m² + s_m²) of the variance of the model's difficulty over
    the problems that the problems' shared effect carries (posterior mean), what the other
    models' counts of the same problems tell about it. None when each model was fitted alone
    without a law."""
    models = fit.models if models is None else list(models)
    if fit.pooling == "crossed":
        post = fit.posterior.sel(model=models)
        shared = np.exp(2 * post["log_loading"])
        share = (shared / (shared + np.exp(2 * post["log_sigma_within"]))).mean(("chain", "draw"))
        return {m: float(v) for m, v in zip(models, share.values, strict=True)}
    pool = fit.pool_posterior
    if pool is not None:
        z = _flat(pool["z"].sel(model=models, param="log_b_over_a")).var(axis=0)
        return {m: float(v) for m, v in zip(models, z, strict=True)}
    law = fit.law_posterior
    if law is None:
        return None
    param, _ = _location(law)
    own = _flat(fit.posterior[param].sel(model=models)).var(axis=0)
    joint = _flat(law["theta"].sel(model=models, param=param)).var(axis=0)
    return {m: float(1 - j / o) for m, j, o in zip(models, joint, own, strict=True)}


def _location(law) -> tuple[str, str]:
    """The law parameter that places a model's difficulty, and its name on the page: μ of the
    logit-normal mixture, log b of the Beta."""
    return ("logit_mean", "μ") if "logit_mean" in law["param"] else ("log_b", "log b")


def _borrow_sentence(fit, models):
    share = borrowing(fit, models)
    if share is None:
        return sentence(
            "Each model was fitted on its own: none borrowed from the others (no difficulty law)."
        )
    top = sorted(share, key=share.get, reverse=True)[:3]
    said = ", ".join(f"{m} ({share[m]:.0%})" for m in top)
    if fit.pooling == "crossed":
        how = (
            "in the crossed fit (the share of the spread of its problems' difficulty that the "
            "problems share with the other models)"
        )
    elif fit.pool_posterior is not None:
        how = "in the joint fit (the share of its scatter about the law its own counts left open)"
    else:
        where = _location(fit.law_posterior)[1]
        how = f"through the difficulty law (the share of the variance of {where} the law removed)"
    return sentence(f"Borrowed most from the other models {how}: {said}.")


def decision_section(
    fit: PassKFit,
    k=(100, 1000, 10_000),
    target: float = 0.8,
    prob: float = 0.9,
    models=None,
    *,
    tokens_per_sample: float | None = None,
    total_compute: float | None = None,
    queries: float | None = None,
) -> Section:
    """The decision first: the samples a problem for ``target`` with probability ``prob`` (the
    model needing the least inference compute N·k, or the fewest samples without N); a bigger
    model or more samples at the inference compute of ``max(k)`` samples of the smallest model
    (:func:`~bayes_scaling.passk.decisions.size_vs_samples`; FLOPs 2·N·T·k with T =
    ``tokens_per_sample``, 1 when not given, which leaves the choice unchanged); training or
    inference compute when the fit has the law and ``total_compute``, ``queries`` and
    ``tokens_per_sample`` are given; and which models borrowed most from the others. A question
    the fit cannot answer is said so, with what it needs."""
    models = fit.models if models is None else list(models)
    sizes = _sizes(fit, models)
    text = (
        _samples_sentence(fit, models, target, prob, sizes),
        _size_sentence(fit, models, prob, sizes, max(k), tokens_per_sample),
        _compute_sentence(fit, prob, total_compute, queries, tokens_per_sample),
        _borrow_sentence(fit, models),
    )
    return Section("passk-decision", "The decision", text=text)


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
    left = [m for m in fit.models if m not in models]
    shown = (
        sentence(
            f"Shown: the {len(models)} models asked for, of the fit's {len(fit.models)}; left "
            f"out because not asked for: {', '.join(left)}."
        )
        if left
        else sentence(f"Every model of the fit is shown ({len(models)}).")
    )
    text = (
        shown,
        sentence(
            "Each model's problems are given a success probability per sample, drawn from "
            f"{_DIFFICULTY_TEXT.get(fit.difficulty, 'a Beta distribution')} plus a share of "
            "never-solvable problems; pass@k of the benchmark's own problems follows at any k, "
            "with the posterior's uncertainty."
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
        figures=("passk_models", "passk_fan", "difficulty"),
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
    tokens_per_sample=None,
    total_compute=None,
    queries=None,
):
    """A page opening with the decision (:func:`decision_section`), then the pass@k section
    (every model, or those of ``models``), pass@k across those models, and the fan and the
    difficulty distribution of ``model`` (default: the first shown)."""
    from bayes_scaling.passk.plots import across_models, difficulty_posterior, passk_fan
    from bayes_scaling.report.build import Report  # same stage; it loads matplotlib
    from bayes_scaling.report.figures import png

    section = passk_section(fit, k, target, prob, models)
    decision = decision_section(
        fit,
        k,
        target,
        prob,
        models,
        tokens_per_sample=tokens_per_sample,
        total_compute=total_compute,
        queries=queries,
    )
    shown = fit.models if models is None else list(models)
    model = model or shown[0]
    figures = {
        "passk_models": png(across_models(fit, k, prob, models=shown)),
        "passk_fan": png(passk_fan(fit, model, k_max=10 * max(k))),
        "difficulty": png(difficulty_posterior(fit, model)),
    }
    captions = {
        "passk_models": f"pass@k at k = {', '.join(fmt.count(v) for v in k)} against model "
        f"size, every model shown ({len(shown)}), median and {prob:.0%} band.",
        "passk_fan": f"{model}: pass@k against k with its bands; dots are the unbiased "
        "estimates from the samples drawn.",
        "difficulty": f"{model}: posterior of the distribution of per-problem success "
        "probabilities, with the problems' empirical rates.",
    }
    alert = None
    if not fit.converged:
        alert = Alert("NOT CONVERGED", fit.diagnostics.reason(), fit.diagnostics.advice)
    content = Content(title or "pass@k", (decision, section), alert=alert, figure_captions=captions)
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
