"""The allocation answer as a table: :func:`allocation_table` formats
:func:`~bayes_scaling.answers.decision.decide`'s Dataset as the tidy rows ``compute, quantity,
estimate, lower, upper, note`` (``estimate`` a posterior median, a probability or a single value;
``lower``/``upper`` the central ``prob`` interval where the quantity is a distribution). The
report and the CLI print these rows; nothing parses them back.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling import _format as fmt
from bayes_scaling import _validate as check
from bayes_scaling._constants import DEFAULT_PROB, SAMPLE_DIMS
from bayes_scaling.answers.intervals import central_interval

COLUMNS = ["compute", "quantity", "estimate", "lower", "upper", "note"]


def _drawn(value) -> bool:
    return isinstance(value, xr.DataArray) and set(SAMPLE_DIMS) <= set(value.dims)


def _intervals(values: dict, prob) -> dict:
    """{name: (median, lower, upper)} of the per-draw scalars among ``values``, from one
    :func:`central_interval` of them stacked (one quantile call for a budget's rows)."""
    drawn = [name for name, value in values.items() if _drawn(value)]
    if not drawn:
        return {}
    stacked = np.stack([values[name].transpose(*SAMPLE_DIMS).values for name in drawn])
    ci = central_interval(xr.DataArray(stacked, dims=("quantity", *SAMPLE_DIMS)), prob)
    return {
        name: tuple(float(ci[v][j]) for v in ("median", "lower", "upper"))
        for j, name in enumerate(drawn)
    }


def _row(compute, quantity, value, prob, note, interval=None):
    if interval is not None or _drawn(value):
        med, lo, hi = interval or _intervals({quantity: value}, prob)[quantity]
        return dict(compute=compute, quantity=quantity, estimate=med, lower=lo, upper=hi, note=note)
    return dict(
        compute=compute,
        quantity=quantity,
        estimate=float(value),
        lower=np.nan,
        upper=np.nan,
        note=note,
    )


#: Row order of the table, per budget.
_PER_BUDGET = (
    "n_params_opt",
    "n_tokens_opt",
    "tokens_per_param_opt",
    "loss_opt",
    "loss_opt_discrepancy",
    "allocation_exponent",
    "prob_a_gt_half",
    "n_params_mean_fit",
    "n_params_bayes",
    "n_params_tail_safe",
    "chosen_n_params",
    "chosen_loss",
    "regret_mean",
    "regret_q90",
    "regret_q95",
    "regret_cvar95",
    "prob_reach_opt",
    "prob_reach_chosen",
    "extrapolation",
)


def allocation_table(ds: xr.Dataset, prob: float = DEFAULT_PROB) -> pd.DataFrame:
    """Format :func:`decide`'s Dataset as the tidy table ``compute, quantity, estimate, lower,
    upper, note``: one block of rows per budget in the order given, then the target's rows."""
    prob = check.probability(prob, "prob")
    rows = []
    for i, c in enumerate(ds["budget"].values):
        values = {
            name: ds[name].isel(budget=i) if "budget" in ds[name].dims else ds[name]
            for name in _PER_BUDGET
            if name in ds
        }
        intervals = _intervals(values, prob)
        for name, value in values.items():
            note = ds[name].attrs.get("note", "")
            if name == "chosen_n_params":
                note = f"D = {float(ds['chosen_n_tokens'].isel(budget=i)):.3g} tokens"
            rows.append(_row(float(c), name, value, prob, note, intervals.get(name)))
    answer = ds.attrs.get("target_answer")
    if "prob_unreachable" in ds:
        rows.append(
            _row(
                np.nan,
                "prob_unreachable",
                ds["prob_unreachable"],
                prob,
                ds["prob_unreachable"].attrs["note"],
            )
        )
        for p, needed in zip(ds["target_prob"].values, ds["compute_needed"].values, strict=True):
            p = float(p)
            note = (
                f"{needed / ds.attrs['largest_run_compute']:.3g}x the largest run"
                if np.isfinite(needed)
                else fmt.not_reachable(p, float(ds["prob_unreachable"]))
            )
            if answer is not None and answer.met_from_start(p):
                note += ": the search's lower end, met there already"
            rows.append(_row(np.nan, f"compute_needed_p{round(100 * p)}", needed, prob, note))
    table = pd.DataFrame(rows, columns=COLUMNS)
    table.attrs.update(
        converged=ds.attrs["converged"],
        reason=ds.attrs["reason"],
        prob=prob,
        target_answer=answer,
        discrepancy=ds.attrs["discrepancy"],
    )
    return table
