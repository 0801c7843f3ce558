"""``Comparison``: the result of comparing two groups (:func:`bayes_scaling.answers.gap.compare`).

It holds the per-draw comparisons and summarises them: a table per budget, the crossover, the
decision maker's sentence and strict JSON; and checks a request (the pair of groups, the budgets,
the crossover's range) before anything is computed. The maths is in
:mod:`bayes_scaling.answers.gap`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling import _format as fmt
from bayes_scaling import _validate as check
from bayes_scaling._constants import DEFAULT_PROB
from bayes_scaling.answers.intervals import central_interval
from bayes_scaling.errors import ArgumentError
from bayes_scaling.laws import frontier_loss

#: Where a per-draw compute multiplier is searched; outside it k is reported as 0 or +inf.
MULTIPLIER_RANGE = (1e-4, 1e6)
#: A draw's outcome in the compute range asked.
OUTCOMES = ("crossover", "B ahead throughout", "A ahead throughout", "A overtakes B")


def quantiles(x: xr.DataArray, prob: float, method: str = "linear") -> xr.DataArray:
    """The central ``prob`` interval's ends and the median over draws (dim ``quantile``:
    lower, median, upper; :func:`~bayes_scaling.answers.intervals.central_interval`)."""
    ci = central_interval(x, prob, method=method)
    return xr.concat([ci["lower"], ci["median"], ci["upper"]], dim="quantile")


def multiplier_text(multiple: float) -> str:
    """A compute multiplier: ``"3.91×"``, or beyond the range searched (``">1e+06×"``).

    >>> multiplier_text(3.914), multiplier_text(float("inf")), multiplier_text(0.0)
    ('3.91×', '>1e+06×', '<0.0001×')
    """
    multiple = float(multiple)
    if np.isinf(multiple):
        return f">{MULTIPLIER_RANGE[1]:.0e}×"
    if multiple == 0:
        return f"<{MULTIPLIER_RANGE[0]:g}×"
    return f"{multiple:.3g}×"


def _finite(value):
    """``value`` with every non-finite float replaced by None (JSON null), recursively."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    return value


@dataclass
class Comparison:
    """Group B against group A: per-draw comparisons and their summaries.

    Attributes
    ----------
    a, b : str
        Baseline and candidate groups.
    draws : Dataset
        ``loss_a``, ``loss_b``, ``difference`` (B − A) and ``multiplier`` with dims
        ``(chain, draw, compute)``, and ``crossover`` (FLOPs, nan when none in range) and
        ``outcome`` with dims ``(chain, draw)``.
    curves : Dataset
        On a log grid over the range: quantiles (``quantile`` dim: the ``prob`` interval's ends,
        0.25, 0.5, 0.75) of ``loss_a``, ``loss_b`` and ``difference``, and ``p_b_better``.
    parameters : DataFrame
        θ_B − θ_A for every parameter that varies by group.
    compute_range : tuple
        The range in which a crossover was looked for.
    prob : float
        Interval probability.
    converged, reason
        The grouped fit's diagnostics gate.
    runs, law, pool
        The grouped fit's runs, law name and pooling preset.
    discrepancy : str
        The discrepancy the losses carry (its description), or ``"off"`` (parameter-only).
    """

    a: str
    b: str
    draws: xr.Dataset
    curves: xr.Dataset
    parameters: pd.DataFrame
    compute_range: tuple[float, float]
    prob: float
    converged: bool
    reason: str = ""
    runs: pd.DataFrame = field(default=None, repr=False)
    law: str = ""
    pool: str = ""
    discrepancy: str = "off"

    def table(self) -> pd.DataFrame:
        """One row per budget: both losses, the difference, P(B better) and k(C), with intervals.

        ``attrs`` carry the crossover summary, the groups, ``converged`` and ``reason``.
        """
        rows = []
        for i, c in enumerate(self.draws["compute"].to_numpy()):
            d = self.draws.isel(compute=i)  # row i: budget i as asked
            row = {"compute": float(c)}
            for name in ("loss_a", "loss_b", "difference", "multiplier"):
                # k is +inf in draws where A never reaches B's loss: order statistics, not
                # interpolation (which turns inf into nan)
                method = "inverted_cdf" if name == "multiplier" else "linear"
                lo, med, hi = quantiles(d[name], self.prob, method).to_numpy()
                row.update({name: med, f"{name}_lower": lo, f"{name}_upper": hi})
            row["p_b_better"] = float((d["difference"] < 0).mean())
            rows.append(row)
        table = pd.DataFrame(rows)
        table.attrs.update(
            self.crossover_summary(),
            a=self.a,
            b=self.b,
            prob=self.prob,
            converged=self.converged,
            reason=self.reason,
            discrepancy=self.discrepancy,
        )
        return table

    def crossover_summary(self) -> dict:
        """P(crossover in range), P of each no-crossover outcome (B ahead throughout, A ahead
        throughout, A overtakes B), and the crossover's median and interval among the draws that
        cross (nan when fewer than 1% cross)."""
        outcome = self.draws["outcome"].to_numpy().ravel()
        where = self.draws["crossover"].to_numpy().ravel()
        p = {o: float(np.mean(outcome == o)) for o in OUTCOMES}
        found = where[np.isfinite(where)]
        tail = (1 - self.prob) / 2
        if len(found) >= max(1, 0.01 * len(where)):
            lo, med, hi = np.quantile(found, [tail, 0.5, 1 - tail])
        else:
            lo = med = hi = float("nan")
        return {
            "range_lower": float(self.compute_range[0]),
            "range_upper": float(self.compute_range[1]),
            "p_crossover_in_range": p[OUTCOMES[0]],
            "p_no_crossover_in_range": 1 - p[OUTCOMES[0]],
            "p_b_ahead_throughout": p[OUTCOMES[1]],
            "p_a_ahead_throughout": p[OUTCOMES[2]],
            "p_a_overtakes_b": p[OUTCOMES[3]],
            "crossover": float(med),
            "crossover_lower": float(lo),
            "crossover_upper": float(hi),
        }

    def headline(self, compute: float | None = None) -> str:
        """The decision maker's sentence at one budget (default: the largest asked; otherwise
        the budget asked nearest to ``compute``)."""
        table = self.table()
        if compute is None:
            row = table.loc[table["compute"].idxmax()]
        else:
            compute = check.positive(compute, "compute")
            row = table.iloc[int(np.argmin(np.abs(np.log(table["compute"]) - np.log(compute))))]

        k = multiplier_text
        text = (
            f"{self.b} beats {self.a} at {fmt.flops(row['compute'])} FLOPs with probability "
            f"{fmt.prob(row['p_b_better'])}; it is worth a {k(row['multiplier'])} compute "
            f"multiplier ({self.prob:.0%} interval {k(row['multiplier_lower'])} to "
            f"{k(row['multiplier_upper'])})"
        )
        return text if self.converged else f"{text}. NOT CONVERGED: {self.reason}"

    def to_json(self) -> str:
        """Table, crossover, parameter differences, law, pooling and convergence, as strict JSON:
        nan (no crossover) and ±inf (k beyond the range searched) are written as null."""
        return json.dumps(
            _finite(
                {
                    "a": self.a,
                    "b": self.b,
                    "law": self.law,
                    "pool": self.pool,
                    "discrepancy": self.discrepancy,
                    "prob": self.prob,
                    "converged": self.converged,
                    "reason": self.reason,
                    "multiplier_range": list(MULTIPLIER_RANGE),
                    "crossover": self.crossover_summary(),
                    "budgets": self.table().to_dict(orient="records"),
                    "parameters": self.parameters.to_dict(orient="records"),
                }
            ),
            allow_nan=False,
        )


def parameter_differences(gfit, a: str, b: str, prob: float = DEFAULT_PROB) -> pd.DataFrame:
    """θ_B − θ_A for every law parameter (and derived one) that varies by group."""
    a, b = pick_pair(gfit.groups, a, b)
    prob = check.probability(prob, "prob")
    post = gfit.posterior
    names = [n for n in (*gfit.law.params, *gfit.law.derived) if "group" in post[n].dims]
    rows = []
    for name in names:
        diff = post[name].sel(group=b) - post[name].sel(group=a)
        lo, med, hi = quantiles(diff, prob).to_numpy()
        rows.append(
            {
                "parameter": name,
                "exponent": name in gfit.law.exponents,
                "a": float(post[name].sel(group=a).median()),
                "b": float(post[name].sel(group=b).median()),
                "difference": med,
                "lower": lo,
                "upper": hi,
                "p_b_greater": float((diff > 0).mean()),
            }
        )
    return pd.DataFrame(rows)


def check_request(
    law, groups, a: str | None, b: str | None, prob: float = DEFAULT_PROB
) -> tuple[str, str]:
    """Check a comparison before any fitting: the law has a compute frontier, the pair exists,
    0 < prob < 1. Returns the pair (see :func:`pick_pair`)."""
    if law.optimum is None and not law.reads_compute_only:
        frontier_loss(law, {}, 1.0)  # raises the explanation
    check.probability(prob, "prob")
    return pick_pair(groups, a, b)


def pick_pair(groups, a: str | None, b: str | None) -> tuple[str, str]:
    """The baseline A and candidate B among ``groups``: as given, or the two groups in order when
    there are two."""
    groups = [str(g) for g in groups]
    for name, g in (("a", a), ("b", b)):
        if g is not None and not isinstance(g, str):
            raise ArgumentError(name, f"expected a group name (one of {groups}), got {g!r}")
    if (a is None) != (b is None):
        raise ArgumentError(
            "a" if a is None else "b", "name both groups to compare (a and b), or neither"
        )
    if a is None and b is None:
        if len(groups) != 2:
            raise ArgumentError(
                "a",
                f"the fit has {len(groups)} groups {groups}; name the two to compare "
                "(a=..., b=...; --groups A B in the CLI)",
            )
        return groups[0], groups[1]
    for name, g in (("a", a), ("b", b)):
        if g not in groups:
            raise ArgumentError(name, f"no group {g!r} in the fit; groups: {groups}")
    if a == b:
        raise ArgumentError("b", f"compare two different groups, not {a!r} with itself")
    return a, b


def _budgets(gfit, compute) -> np.ndarray:
    """The budgets asked, each once, in the order given (default: 10×, 100× the largest run and
    1e24, ascending)."""
    if compute is None:
        c_max = float(gfit.runs["compute"].max())
        return np.unique([10 * c_max, 100 * c_max, 1e24])
    budgets = check.positive_array(compute, "compute")
    _, first = np.unique(budgets, return_index=True)
    return budgets[np.sort(first)]


def _compute_range(gfit, compute_range, budgets) -> tuple[float, float]:
    if compute_range is None:
        c_max = float(gfit.runs["compute"].max())
        return float(gfit.runs["compute"].min()), max(100 * c_max, float(budgets.max()))
    pair = check.positive_array(compute_range, "compute_range")
    if len(pair) != 2 or not pair[0] < pair[1]:
        raise ArgumentError(
            "compute_range", f"give (low, high) FLOPs with low < high, got {pair.tolist()}"
        )
    return float(pair[0]), float(pair[1])


def prob_text(p: float) -> str:
    """A probability with two decimals, but "<0.01" / ">0.99" rather than a certain-looking 0 or 1
    (4000 draws cannot tell 0.997 from 1)."""
    p = float(p)
    if p > 0.99:
        return ">0.99"
    if p < 0.01:
        return "<0.01"
    return f"{p:.2f}"


def _fmt_k(k: float) -> str:
    if np.isinf(k):
        return f">{MULTIPLIER_RANGE[1]:.0e}"
    if k == 0:
        return f"<{MULTIPLIER_RANGE[0]:.0e}"
    return f"{k:.3g}"
