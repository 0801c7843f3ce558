"""The allocation answer, computed once: what to train at a budget, its risk, and the target.

:func:`decide` computes every number per posterior draw once and returns them as one
``xarray.Dataset`` with named dims; :func:`~bayes_scaling.answers.decision_table.allocation_table`
formats that Dataset as the tidy table ``compute, quantity, estimate, lower, upper, note``.
:func:`allocate` is both in one call. The report and the CLI read the
Dataset's variables or format the table; nothing parses the table back.

Variables of :func:`decide` (per budget unless said otherwise):

- ``n_params_opt``, ``n_tokens_opt``, ``tokens_per_param_opt``, ``loss_opt`` (law-only, nats),
  dims ``(chain, draw, budget)``: the per-draw optimal split and its loss; ``loss_opt_discrepancy``:
  that loss with the extrapolation discrepancy (when the fit has one and ``discrepancy`` is on);
- ``allocation_exponent`` a = d log N*/d log C (β/(α+β) for Chinchilla), dims ``(chain, draw)``,
  and ``prob_a_gt_half`` = P(a > 0.5);
- ``n_params_mean_fit`` (N* of the posterior-mean parameters: the point-fit answer),
  ``n_params_bayes`` (minimises expected loss), ``n_params_tail_safe`` (minimises the 95th
  percentile of the loss);
- with a proposed ``params`` or ``tokens_per_param``: ``chosen_n_params``, ``chosen_n_tokens``,
  ``chosen_loss`` (per draw) and ``regret`` (per draw, nats), with ``regret_mean``, ``regret_q90``,
  ``regret_q95``, ``regret_cvar95``;
- with a ``target``: ``prob_reach_opt`` (and ``prob_reach_chosen``) at this budget; over the whole
  compute range ``prob_unreachable`` and ``compute_needed`` (dim ``target_prob``; NaN when not
  reachable with that probability; a target at or below a draw's irreducible loss E is never
  reached by that draw, :mod:`bayes_scaling.answers.targets`);
- ``extrapolation``: the budget as a multiple of the largest run's compute.

Each variable's ``attrs["note"]`` says what it is; the Dataset's attrs carry ``converged``, the
diagnostics reason, ``target``, ``flops_per_param_token``, the discrepancy's description and the
:class:`~bayes_scaling.answers.target_answer.TargetAnswer` (``target_answer``, in memory only).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling import _validate as check
from bayes_scaling._constants import DEFAULT_PROB
from bayes_scaling.answers import allocation as al
from bayes_scaling.answers.choices import check_choice, require_optimum
from bayes_scaling.answers.decision_table import allocation_table
from bayes_scaling.answers.targets import prob_reach, target_answer
from bayes_scaling.laws import frontier_loss

#: Probabilities at which the compute needed for a target is reported by default.
TARGET_PROBS = (0.5, 0.9)
#: What ``loss_opt`` is for a law in compute alone.
FRONTIER_NOTE = "law-only (mean curve) at C, for a run split as the table's runs were, nats"


def _per_budget(values, budgets, note: str) -> xr.DataArray:
    return xr.DataArray(
        np.asarray(values, float), dims="budget", coords={"budget": budgets}
    ).assign_attrs(note=note)


def decide(
    fit,
    compute,
    *,
    params=None,
    tokens_per_param=None,
    target=None,
    target_probs=TARGET_PROBS,
    flops_per_param_token=None,
    discrepancy: bool = True,
) -> xr.Dataset:
    """Every allocation answer at one or more budgets, per posterior draw, computed once.

    Parameters
    ----------
    fit : ScalingFit
        A fit of a law with a compute-optimal split (``chinchilla``, ``kaplan``, ``farseer``), or
        of a law in compute alone, L(C) (``power:compute``): then only ``loss_opt`` (the law's
        loss at C), ``loss_opt_discrepancy``, the target's variables and
        ``extrapolation``, and no proposed split.
    compute : float or sequence of float
        Budgets C in FLOPs; the ``budget`` dim keeps the order given.
    params, tokens_per_param : float, optional
        A proposed choice to assess (N, or the ratio D/N); at most one.
    target : float, optional
        A target loss (nats) for a run's final loss.
    target_probs : sequence of float
        Probabilities at which the compute needed for the target is reported.
    flops_per_param_token : float, optional
        k in C = k·N·D (default: the fit's, 6).
    discrepancy : bool
        Carry the extrapolation discrepancy into losses (not into the regret).

    Returns
    -------
    Dataset
        The variables listed in the module docstring.

    Examples
    --------
    >>> ds = decide(fit, [1e23, 1e24], tokens_per_param=20, target=1.9)  # doctest: +SKIP
    >>> ds["n_params_opt"].median(("chain", "draw"))                        # doctest: +SKIP
    """
    budgets = check.positive_array(compute, "compute")
    check_choice(fit, params, tokens_per_param)
    params = check.optional_positive(params, "params")
    tokens_per_param = check.optional_positive(tokens_per_param, "tokens_per_param")
    target = check.optional_positive(target, "target")
    target_probs = check.probabilities(target_probs, "target_probs")
    k = al.flops_of(fit, flops_per_param_token)
    discrepancy = check.flag(discrepancy, "discrepancy")
    with_disc = discrepancy and fit.discrepancy is not None
    largest = float(fit.runs["compute"].max())
    chosen = params is not None or tokens_per_param is not None
    if fit.law.reads_compute_only:
        ds = _frontier(fit, budgets, with_disc)
    else:
        ds = _split(fit, budgets, k, discrepancy, with_disc, params, tokens_per_param)
    answer = None
    if target is not None:
        answer = target_answer(
            fit, target, target_probs, flops_per_param_token=k, discrepancy=discrepancy
        )
        reach = dict(target=target, flops_per_param_token=k, discrepancy=discrepancy)
        ds["prob_reach_opt"] = _per_budget(
            [prob_reach(fit, c, **reach) for c in budgets],
            budgets,
            f"P(run loss <= {target:g}) "
            + ("at C" if fit.law.reads_compute_only else "on the optimal split"),
        )
        if chosen:
            ds["prob_reach_chosen"] = _per_budget(
                [
                    prob_reach(fit, c, tokens_per_param=tokens_per_param, params=params, **reach)
                    for c in budgets
                ],
                budgets,
                f"P(run loss <= {target:g}) on the chosen split",
            )
        ds["prob_unreachable"] = xr.DataArray(answer.prob_unreachable).assign_attrs(
            note=f"P(target {target:g} never reached at any compute)"
        )
        needed = [answer.compute_needed[p] for p in target_probs]
        ds["compute_needed"] = xr.DataArray(
            [np.nan if c is None else c for c in needed],
            dims="target_prob",
            coords={"target_prob": list(target_probs)},
        ).assign_attrs(note="compute (FLOPs) at which P(run loss <= target) reaches target_prob")
    ds["extrapolation"] = _per_budget(budgets / largest, budgets, "budget / largest run's compute")
    ds.attrs.update(
        converged=fit.converged,
        reason=fit.diagnostics.reason(),
        target=target,
        flops_per_param_token=k,
        largest_run_compute=largest,
        discrepancy=fit.discrepancy.describe() if with_disc else "off",
        target_answer=answer,
    )
    return ds


def _frontier(fit, budgets, with_disc: bool) -> xr.Dataset:
    """A law in compute alone, L(C): its loss at each budget, with no split to choose."""
    c = xr.DataArray(budgets, dims="budget", coords={"budget": budgets})
    params = {name: fit.posterior[name] for name in fit.law.params}
    ds = xr.Dataset(
        {"loss_opt": frontier_loss(fit.law, params, c).assign_attrs(note=FRONTIER_NOTE)}
    )
    if with_disc:
        ds["loss_opt_discrepancy"] = al.frontier_draws(fit, c).assign_attrs(
            note="L(C) + extrapolation discrepancy, nats"
        )
    return ds


def _split(fit, budgets, k, discrepancy, with_disc, params, tokens_per_param) -> xr.Dataset:
    """The split at each budget: per-draw optimum, single-N choices, and the proposed one's
    regret."""
    require_optimum(fit)
    opt = al.optimal_allocation(fit, budgets, k)
    ds = xr.Dataset(
        {
            "n_params_opt": opt["n_params"].assign_attrs(note="per-draw optimal N (parameters)"),
            "n_tokens_opt": opt["n_tokens"].assign_attrs(note="per-draw optimal D (tokens)"),
            "tokens_per_param_opt": opt["tokens_per_param"].assign_attrs(note="D*/N*"),
            "loss_opt": opt["loss"].assign_attrs(note="law-only (mean curve), nats"),
            "allocation_exponent": opt["allocation_exponent"].assign_attrs(
                note="a = d log N*/d log C; Kaplan ~0.73, Chinchilla ~0.5"
            ),
        }
    )
    ds["prob_a_gt_half"] = xr.DataArray(
        float((opt["allocation_exponent"] > 0.5).mean())
    ).assign_attrs(note="P(parameters should grow faster than data)")
    if with_disc:
        ds["loss_opt_discrepancy"] = al.loss_draws(
            fit, opt["n_params"], opt["n_tokens"], k
        ).assign_attrs(note="mean curve + extrapolation discrepancy, nats")
    n_star = [opt["n_params"].isel(budget=i) for i in range(len(budgets))]
    ds["n_params_mean_fit"] = _per_budget(
        al.mean_parameter_optimum(fit, budgets, k)["n_params"],
        budgets,
        "N* of the posterior-mean parameters (point-fit answer)",
    )
    ds["n_params_bayes"] = _per_budget(
        [
            al.choose_params(fit, c, al.expected(), k, discrepancy, n_star=n)
            for c, n in zip(budgets, n_star, strict=True)
        ],
        budgets,
        "minimises posterior expected loss",
    )
    ds["n_params_tail_safe"] = _per_budget(
        [
            al.choose_params(fit, c, al.quantile(0.95), k, discrepancy, n_star=n)
            for c, n in zip(budgets, n_star, strict=True)
        ],
        budgets,
        "minimises the 95th percentile of the loss",
    )
    chosen = params is not None or tokens_per_param is not None
    if chosen:
        n, d = al.split(fit, budgets, params, tokens_per_param, k)
        n = np.broadcast_to(n, budgets.shape)
        ds["chosen_n_params"] = _per_budget(n, budgets, "the proposed N")
        ds["chosen_n_tokens"] = _per_budget(d, budgets, "D = C / (k·N) of the proposed N")
        loss = al.law_loss(fit, ds["chosen_n_params"], ds["chosen_n_tokens"])
        ds["chosen_loss"] = loss.assign_attrs(note="law-only, nats")
        ds["regret"] = (loss - opt["loss"]).assign_attrs(note="nats above this draw's optimum")
        risk = [al.risk_table(ds["regret"].isel(budget=i)) for i in range(len(budgets))]
        for name in risk[0].index:
            ds[f"regret_{name}"] = _per_budget(
                [r[name] for r in risk], budgets, "nats above this draw's optimum"
            )
    return ds


def allocate(
    fit,
    compute,
    *,
    params=None,
    tokens_per_param=None,
    target=None,
    prob=DEFAULT_PROB,
    target_probs=TARGET_PROBS,
    flops_per_param_token=None,
    discrepancy: bool = True,
    **aliases,
) -> pd.DataFrame:
    """Optimal split, risk of a proposed split and target answers at one or more budgets.

    :func:`decide` (the numbers, per draw) formatted by :func:`allocation_table`.

    Parameters
    ----------
    fit : ScalingFit
        A fit of a law with a compute-optimal split (``chinchilla``, ``kaplan``, ``farseer``), or
        of a law in compute alone (``power:compute``: the loss and target rows, no split).
    compute : float or sequence of float
        Budgets C in FLOPs.
    params, tokens_per_param : float, optional
        A proposed choice to assess (N, or the ratio D/N).
    target : float, optional
        A target loss (nats) for a run's final loss.
    prob : float
        Central interval probability for distributions.
    target_probs : sequence of float
        Probabilities at which the compute needed for the target is reported.
    flops_per_param_token : float, optional
        k in C = k·N·D (default: the fit's, 6). ``k=`` is accepted as its old name.
    discrepancy : bool
        Carry the extrapolation discrepancy into losses.

    Returns
    -------
    DataFrame
        Columns ``compute, quantity, estimate, lower, upper, note``; ``attrs`` has ``converged``
        and, with a target, the full :class:`~bayes_scaling.answers.target_answer.TargetAnswer`.

    Examples
    --------
    >>> fit.allocate(1e24, tokens_per_param=20, target=1.9)   # doctest: +SKIP
    """
    flops_per_param_token = check.renamed(
        aliases, "k", "flops_per_param_token", flops_per_param_token, where="allocate"
    )
    prob = check.probability(prob, "prob")
    ds = decide(
        fit,
        compute,
        params=params,
        tokens_per_param=tokens_per_param,
        target=target,
        target_probs=target_probs,
        flops_per_param_token=flops_per_param_token,
        discrepancy=discrepancy,
    )
    return allocation_table(ds, prob)
