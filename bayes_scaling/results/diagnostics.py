"""The diagnostics gate, checked after every fit.

A fit passes when, over every sampled parameter,

- R-hat (rank-normalised, split) ≤ 1.01,
- bulk ESS ≥ 400 and tail ESS ≥ 400,
- there are zero divergent transitions.

Anything else sets ``converged = False``, raises a :class:`ConvergenceWarning` that says what failed
and what to try, and travels with every later output (summary, bands, CLI exit code, report).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field

import arviz as az
import xarray as xr

from bayes_scaling.errors import ConvergenceWarning

MAX_RHAT = 1.01
MIN_ESS = 400


@dataclass(frozen=True)
class Diagnostics:
    """Sampler health of one fit."""

    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    n_divergent: int
    n_draws: int
    failures: tuple[str, ...] = field(default=())
    advice: tuple[str, ...] = field(default=())

    @property
    def converged(self) -> bool:
        return not self.failures

    def reason(self) -> str:
        """One line: what failed (empty when converged)."""
        return "; ".join(self.failures)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Diagnostics:
        d = json.loads(text)
        return cls(**{**d, "failures": tuple(d["failures"]), "advice": tuple(d["advice"])})


def _extreme(ds: xr.Dataset, largest: bool) -> tuple[float, str]:
    values = {name: float(ds[name].max() if largest else ds[name].min()) for name in ds.data_vars}
    name = (max if largest else min)(values, key=values.__getitem__)
    return values[name], name


def check(posterior: xr.Dataset, sample_stats: xr.Dataset, var_names: list[str]) -> Diagnostics:
    """Run the gate on the sampled parameters ``var_names`` of a posterior."""
    post = posterior[var_names]
    max_rhat, rhat_name = _extreme(az.rhat(post), largest=True)
    min_bulk, bulk_name = _extreme(az.ess(post, method="bulk"), largest=False)
    min_tail, tail_name = _extreme(az.ess(post, method="tail"), largest=False)
    n_div = int(sample_stats["diverging"].sum()) if "diverging" in sample_stats else 0
    n_draws = int(post.sizes["chain"] * post.sizes["draw"])

    failures, advice = [], []
    if not max_rhat <= MAX_RHAT:
        failures.append(f"R-hat {max_rhat:.3f} > {MAX_RHAT} for {rhat_name}")
        advice.append("run more tuning and draws (tune=2000, draws=2000) or more chains")
    if not (min_bulk >= MIN_ESS and min_tail >= MIN_ESS):
        low = (
            (bulk_name, min_bulk, "bulk") if min_bulk < min_tail else (tail_name, min_tail, "tail")
        )
        failures.append(f"{low[2]} ESS {low[1]:.0f} < {MIN_ESS} for {low[0]}")
        advice.append("draw more samples (draws=2000+)")
    if n_div:
        failures.append(f"{n_div} divergent transitions")
        advice.append(
            "raise target_accept (0.95-0.99) or tighten weak priors; divergences often "
            "mean E or an exponent is not identified by the runs"
        )
    return Diagnostics(max_rhat, min_bulk, min_tail, n_div, n_draws, tuple(failures), tuple(advice))


def warn_if_failed(diag: Diagnostics, stacklevel: int = 3) -> None:
    if not diag.converged:
        warnings.warn(
            f"the fit did not converge: {diag.reason()}. Try: {'; '.join(diag.advice)}. "
            "Results carry converged=False.",
            ConvergenceWarning,
            stacklevel=stacklevel,
        )
