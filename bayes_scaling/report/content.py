"""The decision half of the report: the question, the answer, the split and its risk.

Each function turns :class:`~bayes_scaling.report.facts.Facts` into one
:class:`~bayes_scaling.report.blocks.Section` (text and tables, numbers as ids). Nothing here
computes a posterior quantity or writes markup. :func:`build_content` assembles the whole page:
the target and extrapolation sections come from :mod:`bayes_scaling.report.outlook`, the fit's
half from :mod:`bayes_scaling.report.background`.
"""

from __future__ import annotations

from bayes_scaling import _format as fmt
from bayes_scaling._constants import package_version
from bayes_scaling.report import background, confidence, outlook
from bayes_scaling.report.blocks import Content, Num, Section, Table, sentence
from bayes_scaling.report.facts import Facts
from bayes_scaling.report.figures import CAPTIONS, FRONTIER_CAPTIONS


def _pct(p: float) -> str:
    return f"{p:.0%}"


def _triple(facts: Facts, quantity: str, stem: str, form) -> tuple[Num, Num, Num]:
    """(median, lower, upper) Nums of one ``allocate`` row, ids ``stem-median`` etc."""
    lo, med, hi = facts.interval(quantity)
    return (
        Num(f"{stem}-median", form(med), med),
        Num(f"{stem}-lower", form(lo), lo),
        Num(f"{stem}-upper", form(hi), hi),
    )


def choice_label(facts: Facts) -> str:
    """Plain words for the split whose risk is assessed."""
    n = facts.value("chosen_n_params")
    d = facts.compute / (facts.k * n)
    if "tokens_per_param" in facts.proposed:
        return (
            f"the proposed split of {fmt.ratio(facts.proposed['tokens_per_param'])} tokens "
            f"per parameter (N = {fmt.count(n)}, D = {fmt.count(d)})"
        )
    if "params" in facts.proposed:
        return f"the proposed N = {fmt.count(n)} parameters (D = {fmt.count(d)} tokens)"
    return (
        f"the point fit's N* = {fmt.count(n)} parameters (the optimum of the posterior-mean "
        "parameters; no split was proposed)"
    )


def question(facts: Facts) -> Section:
    """What the page answers, in one sentence."""
    budget = Num("budget", fmt.flops(facts.compute), facts.compute)
    parts = (
        ["How should a ", budget, "-FLOP budget be split, what loss should we expect"]
        if facts.split
        else ["What loss should we expect of a ", budget, "-FLOP run"]
    )
    if facts.target is not None:
        parts += [
            ", and will it reach L = ",
            Num("target-loss", f"{facts.target:.4g}", facts.target),
            " nats",
        ]
    parts += ["?"]
    text = [sentence(*parts)]
    if facts.proposed:
        text.append(sentence("And what does ", choice_label(facts), " risk?"))
    return Section("question", "The question", tuple(text))


def answer(facts: Facts) -> Section:
    """The loss to expect at the budget: predictive band, then law-only band."""
    p = _pct(facts.prob)
    lo, med, hi = facts.predictive
    law_lo, law_med, law_hi = facts.law
    text = (
        sentence(
            f"With {p} probability a run's final loss at ",
            fmt.flops(facts.compute),
            " FLOPs lies between ",
            Num("loss-lower", fmt.loss(lo), lo),
            " and ",
            Num("loss-upper", fmt.loss(hi), hi),
            " nats (predictive band: parameter uncertainty, run-to-run noise"
            + (" and the extrapolation discrepancy" if facts.discrepancy != "off" else "")
            + "), median ",
            Num("loss-median", fmt.loss(med), med),
            " nats.",
        ),
        sentence(
            "The law itself (law-only band: the mean curve"
            + (
                ", parameter uncertainty and the extrapolation discrepancy"
                if facts.discrepancy != "off"
                else ", parameter uncertainty only"
            )
            + ") lies between ",
            Num("law-lower", fmt.loss(law_lo), law_lo),
            " and ",
            Num("law-upper", fmt.loss(law_hi), law_hi),
            " nats, median ",
            Num("law-median", fmt.loss(law_med), law_med),
            " nats.",
        ),
        sentence(
            "Both assume the run is trained on the compute-optimal split below; compare a "
            "measured run with the predictive band."
            if facts.split
            else "The law reads compute alone: both bands are for a run at this compute split as "
            "the table's runs were (fitted to each budget's best run only, they would be for the "
            "compute-optimal frontier); compare a measured run with the predictive band."
        ),
    )
    rows = (
        ("predictive: a run's final loss", fmt.loss(lo), fmt.loss(med), fmt.loss(hi)),
        ("law-only: the mean curve", fmt.loss(law_lo), fmt.loss(law_med), fmt.loss(law_hi)),
    )
    table = Table(
        f"Loss at {fmt.flops(facts.compute)} FLOPs (nats), central {p} intervals",
        ("band", "lower", "median", "upper"),
        rows,
        id="loss-table",
    )
    return Section("answer", "The answer", text, (table,), figures=("fan_chart",))


def _one_n_rows(facts: Facts) -> tuple[tuple[str, ...], ...]:
    """Rows (choice, N, D, D/N) of the single-N choices worth comparing."""
    choices = [
        ("Bayes-optimal: lowest expected loss", facts.value("n_params_bayes")),
        ("tail-safe: lowest 95th percentile of the loss", facts.value("n_params_tail_safe")),
        ("point fit: N* of the posterior-mean parameters", facts.value("n_params_mean_fit")),
    ]
    if facts.proposed:
        choices.append(("proposed", facts.value("chosen_n_params")))
    rows = []
    for name, n in choices:
        d = facts.compute / (facts.k * n)
        rows.append((name, fmt.count(n), fmt.count(d), fmt.ratio(d / n)))
    return tuple(rows)


def split(facts: Facts) -> Section:
    """The recommended split with intervals, and the single-N choices."""
    p = _pct(facts.prob)
    n, d, r = (
        _triple(facts, q, stem, form)
        for q, stem, form in (
            ("n_params_opt", "n-star", fmt.count),
            ("n_tokens_opt", "d-star", fmt.count),
            ("tokens_per_param_opt", "tpp", fmt.ratio),
        )
    )
    a = _triple(facts, "allocation_exponent", "exponent", lambda x: f"{x:.3f}")
    nums = {
        q: Num(i, fmt.count(facts.value(q)), facts.value(q))
        for q, i in (
            ("n_params_bayes", "n-bayes"),
            ("n_params_tail_safe", "n-tail-safe"),
            ("n_params_mean_fit", "n-mean-fit"),
        )
    }
    p_a = facts.value("prob_a_gt_half")
    text = (
        sentence(
            "Train about ",
            n[0],
            f" parameters ({p}: ",
            n[1],
            " – ",
            n[2],
            ") on ",
            d[0],
            " tokens (",
            d[1],
            " – ",
            d[2],
            "): ",
            r[0],
            " tokens per parameter (",
            r[1],
            " – ",
            r[2],
            "). These are posterior medians of each draw's compute-optimal "
            f"split along C = {facts.k:g}·N·D, with central {p} intervals.",
        ),
        sentence(
            "If one N must be picked: the Bayes-optimal N (lowest expected loss) is ",
            nums["n_params_bayes"],
            ", the tail-safe N (lowest 95th percentile of the loss) ",
            nums["n_params_tail_safe"],
            ", against ",
            nums["n_params_mean_fit"],
            " for the N* of the posterior-mean parameters (the point-fit answer).",
        ),
        sentence(
            "The allocation exponent a = d log N*/d log C (β/(α+β) for Chinchilla) is ",
            a[0],
            " (",
            a[1],
            " – ",
            a[2],
            "); the probability that parameters should grow faster than data, P(a > 0.5), is ",
            Num("prob-a-gt-half", fmt.prob(p_a), p_a),
            " (Kaplan et al. had a ≈ 0.73, Chinchilla a ≈ 0.5).",
        ),
    )
    optimum = Table(
        f"Compute-optimal split at {fmt.flops(facts.compute)} FLOPs",
        ("quantity", "median", f"{p} interval"),
        tuple(
            (name, t[0].text, fmt.interval(t[1].text, t[2].text))
            for name, t in (
                ("parameters N*", n),
                ("tokens D*", d),
                ("tokens per parameter D*/N*", r),
                ("allocation exponent a", a),
            )
        ),
        id="split-table",
    )
    single = Table(
        "One N to train",
        ("choice", "N (parameters)", "D (tokens)", "D/N"),
        _one_n_rows(facts),
        id="choices-table",
    )
    return Section(
        "split", "The recommended split", text, (optimum, single), figures=("optimum_posterior",)
    )


def risk(facts: Facts) -> Section:
    """Regret of the assessed choice (proposed, else the point fit's N)."""
    p = _pct(facts.prob)
    measures = (
        ("regret_mean", "regret-mean", "expected regret (mean)"),
        ("regret_q90", "regret-q90", "90th percentile"),
        ("regret_q95", "regret-q95", "95th percentile"),
        ("regret_cvar95", "regret-cvar95", "CVaR 95%: mean of the worst 5%"),
    )
    nums = {q: Num(i, fmt.nats(facts.value(q)), facts.value(q)) for q, i, _ in measures}
    loss = _triple(facts, "chosen_loss", "chosen-loss", fmt.loss)
    text = (
        sentence(
            "Regret is the loss above each posterior draw's own optimum, "
            "L(N, D; θ) − L(N*(θ), D*(θ); θ), in nats of the mean curve. For ",
            choice_label(facts),
            ": expected regret ",
            nums["regret_mean"],
            " nats, 95th percentile ",
            nums["regret_q95"],
            " nats, CVaR 95% ",
            nums["regret_cvar95"],
            " nats.",
        ),
        sentence(
            "Its loss (law-only) is ",
            loss[0],
            f" nats ({p}: ",
            loss[1],
            " – ",
            loss[2],
            ") against ",
            fmt.loss(facts.law[1]),
            " nats on each draw's optimal split.",
        ),
    )
    rows = tuple((label, nums[q]) for q, _, label in measures)
    table = Table(
        "Regret of the assessed split (nats)", ("measure", "regret (nats)"), rows, id="risk-table"
    )
    return Section("risk", "What the split risks", text, (table,), figures=("allocation_frontier",))


def build_content(
    fit, facts: Facts, title: str | None = None, laws=None, sensitivity=None
) -> Content:
    """The whole page, in reading order: the decision first, then the fit behind it.

    Examples
    --------
    >>> content = build_content(fit, gather(fit, 1e24, target=2.3))   # doctest: +SKIP
    >>> [s.id for s in content.sections][:3]                          # doctest: +SKIP
    ['question', 'answer', 'split']
    """
    title = title or f"Decision report: a {fmt.flops(facts.compute)}-FLOP budget"
    decision = [question(facts), answer(facts)]
    if facts.split:
        decision += [split(facts), risk(facts)]
    if facts.target is not None:
        decision.append(outlook.reach(facts, choice_label(facts)))
    decision.append(outlook.extrapolation(facts, fit.runs))
    decision.append(confidence.section(facts, laws, sensitivity))
    status = "converged" if fit.converged else "NOT converged"
    version = package_version()
    subtitle = f"{fit.law.name} law · {len(fit.runs)} runs · fit {status} · bayes_scaling {version}"
    return Content(
        title=title,
        sections=(*decision, *background.sections(fit, facts)),
        subtitle=subtitle,
        alert=background.alert(fit),
        figure_captions=dict(CAPTIONS) | ({} if facts.split else FRONTIER_CAPTIONS),
    )
