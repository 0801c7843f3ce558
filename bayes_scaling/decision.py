"""The allocation answer as one tidy table: what to train at a budget, its risk, and the target.

``allocate(fit, compute, ...)`` returns rows ``compute, quantity, estimate, lower, upper, note``:
``estimate`` is a posterior median (or a probability, or a single value), ``lower``/``upper`` the
central ``prob`` interval where the quantity is a distribution. Quantities, per budget:

- ``n_params_opt``, ``n_tokens_opt``, ``tokens_per_param_opt``, ``loss_opt`` (law-only, nats):
  the per-draw optimal split and its loss; ``loss_opt_discrepancy``: that loss with the
  extrapolation discrepancy (when the fit has one and ``discrepancy`` is on);
- ``allocation_exponent`` a = β/(α+β) and ``prob_a_gt_half`` = P(a > 0.5);
- ``n_params_mean_fit`` (N* of the posterior-mean parameters: the point-fit answer),
  ``n_params_bayes`` (minimises expected loss), ``n_params_tail_safe`` (minimises the 95th
  percentile of the loss);
- with a proposed ``params`` or ``tokens_per_param``: ``chosen_n_params``, ``chosen_loss`` and
  ``regret_mean``, ``regret_q90``, ``regret_q95``, ``regret_cvar95`` (nats);
- with a ``target``: ``prob_reach_opt`` (and ``prob_reach_chosen``) at this budget,
  ``prob_unreachable``, and ``compute_needed_p50`` / ``compute_needed_p90`` (NaN with a note when
  not reachable with that probability);
- ``extrapolation``: the budget as a multiple of the largest run's compute.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_scaling import allocation as al
from bayes_scaling.targets import prob_reach, target_answer

COLUMNS = ["compute", "quantity", "estimate", "lower", "upper", "note"]


def _row(compute, quantity, draws=None, prob=0.9, value=None, note=""):
    if draws is not None:
        x = np.asarray(draws, float).ravel()
        tail = (1 - prob) / 2
        lo, med, hi = np.quantile(x, [tail, 0.5, 1 - tail])
        return dict(compute=compute, quantity=quantity, estimate=med, lower=lo, upper=hi, note=note)
    return dict(
        compute=compute, quantity=quantity, estimate=value, lower=np.nan, upper=np.nan, note=note
    )


def allocate(
    fit,
    compute,
    *,
    params=None,
    tokens_per_param=None,
    target=None,
    prob=0.9,
    target_probs=(0.5, 0.9),
    k=None,
    discrepancy: bool = True,
) -> pd.DataFrame:
    """Optimal split, risk of a proposed split and target answers at one or more budgets.

    Parameters
    ----------
    fit : ScalingFit
        A fit of a law with a closed-form optimum (``chinchilla``).
    compute : float or sequence of float
        Budgets C in FLOPs.
    params, tokens_per_param : float, optional
        A proposed choice to assess (N, or the ratio D/N).
    target : float, optional
        A target loss (nats) for a run's final loss.
    prob : float
        Central interval probability for distributions.
    target_probs : sequence of float
        Probabilities for ``compute_needed_p*``.
    discrepancy : bool
        Carry the fit's extrapolation discrepancy into losses, risk-based choices and target
        answers (False: parameter-only; regret is always parameter-only).

    Returns
    -------
    DataFrame
        Columns ``compute, quantity, estimate, lower, upper, note``; ``attrs`` has ``converged``
        and, with a target, the full :class:`~bayes_scaling.targets.TargetAnswer`.

    Examples
    --------
    >>> fit.allocate(1e24, tokens_per_param=20, target=1.9)   # doctest: +SKIP
    """
    budgets = np.atleast_1d(np.asarray(compute, float))
    opt = al.optimal_allocation(fit, budgets, k)
    largest = float(fit.runs["compute"].max())
    answer = (
        target_answer(fit, target, target_probs, k=k, discrepancy=discrepancy)
        if target is not None
        else None
    )
    with_disc = discrepancy and fit.discrepancy is not None
    rows = []
    for i, c in enumerate(budgets):
        o = opt.isel(budget=i)
        rows += [
            _row(c, "n_params_opt", o["n_params"], prob),
            _row(c, "n_tokens_opt", o["n_tokens"], prob),
            _row(c, "tokens_per_param_opt", o["tokens_per_param"], prob),
            _row(c, "loss_opt", o["loss"], prob, note="law-only (mean curve), nats"),
            *(
                [
                    _row(
                        c,
                        "loss_opt_discrepancy",
                        al.loss_draws(fit, o["n_params"], o["n_tokens"], k),
                        prob,
                        note="mean curve + extrapolation discrepancy, nats",
                    )
                ]
                if with_disc
                else []
            ),
            _row(
                c,
                "allocation_exponent",
                o["allocation_exponent"],
                prob,
                note="a = beta/(alpha+beta); Kaplan ~0.73, Chinchilla ~0.5",
            ),
            _row(
                c,
                "prob_a_gt_half",
                value=float((o["allocation_exponent"] > 0.5).mean()),
                note="P(parameters should grow faster than data)",
            ),
            _row(
                c,
                "n_params_mean_fit",
                value=float(al.mean_parameter_optimum(fit, c, k)["n_params"]),
                note="N* of the posterior-mean parameters (point-fit answer)",
            ),
            _row(
                c,
                "n_params_bayes",
                value=al.choose_params(fit, c, al.expected(), k, discrepancy),
                note="minimises posterior expected loss",
            ),
            _row(
                c,
                "n_params_tail_safe",
                value=al.choose_params(fit, c, al.quantile(0.95), k, discrepancy),
                note="minimises the 95th percentile of the loss",
            ),
        ]
        if params is not None or tokens_per_param is not None:
            n, d = al.split(fit, c, params, tokens_per_param, k)
            reg = al.regret(fit, c, params, tokens_per_param, k)
            risk = al.risk_table(reg)
            rows += [
                _row(c, "chosen_n_params", value=float(n), note=f"D = {float(d):.3g} tokens"),
                _row(c, "chosen_loss", al.law_loss(fit, n, d), prob, note="law-only, nats"),
                *(
                    _row(c, f"regret_{name}", value=v, note="nats above this draw's optimum")
                    for name, v in risk.items()
                ),
            ]
        if answer is not None:
            rows.append(
                _row(
                    c,
                    "prob_reach_opt",
                    value=prob_reach(fit, c, target, k=k, discrepancy=discrepancy),
                    note=f"P(run loss <= {target:g}) on the optimal split",
                )
            )
            if params is not None or tokens_per_param is not None:
                p = prob_reach(
                    fit,
                    c,
                    target,
                    tokens_per_param=tokens_per_param,
                    params=params,
                    k=k,
                    discrepancy=discrepancy,
                )
                rows.append(
                    _row(
                        c,
                        "prob_reach_chosen",
                        value=p,
                        note=f"P(run loss <= {target:g}) on the chosen split",
                    )
                )
        rows.append(
            _row(c, "extrapolation", value=c / largest, note="budget / largest run's compute")
        )
    if answer is not None:
        rows.append(
            _row(
                np.nan,
                "prob_unreachable",
                value=answer.prob_unreachable,
                note=f"P(target {target:g} never reached at any compute)",
            )
        )
        for p, needed in answer.compute_needed.items():
            note = (
                f"{answer.multiple_of_largest[p]:.3g}x the largest run"
                if needed is not None
                else f"not reachable with probability {p:.0%} "
                f"(unreachable with probability {answer.prob_unreachable:.0%})"
            )
            rows.append(
                _row(
                    np.nan,
                    f"compute_needed_p{round(100 * p)}",
                    value=np.nan if needed is None else needed,
                    note=note,
                )
            )
    table = pd.DataFrame(rows, columns=COLUMNS)
    table.attrs.update(
        converged=fit.converged,
        reason=fit.diagnostics.reason(),
        prob=prob,
        target_answer=answer,
        discrepancy=fit.discrepancy.describe() if with_disc else "off",
    )
    return table
