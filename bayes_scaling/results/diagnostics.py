"""The diagnostics gate, checked after every fit.

A fit passes when, over every sampled parameter,

- R-hat (rank-normalised, split) ≤ 1.01,
- bulk ESS ≥ 400 and tail ESS ≥ 400,
- there are zero divergent transitions.

Anything else sets ``converged = False``, raises a :class:`ConvergenceWarning` that says what failed
and what to try, and travels with every later output (summary, bands, CLI exit code, report).
Before a failure is reported, :func:`bayes_scaling.fit` and :func:`bayes_scaling.fit_groups`
escalate through a fixed ladder of attempts (:mod:`bayes_scaling.inference.rescue`); the gate is
the same for every attempt.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field

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


def parameter_health(posterior: xr.Dataset, var_names: list[str]) -> dict[str, xr.Dataset]:
    """R-hat, bulk ESS and tail ESS of each sampled parameter (``{"rhat": ..., "bulk": ...,
    "tail": ...}``, one Dataset each, a variable per parameter)."""
    import arviz_stats as az  # ArviZ's statistics, on first use (all of ArviZ loads matplotlib)

    post = posterior[var_names]
    return {
        "rhat": az.rhat(post),
        "bulk": az.ess(post, method="bulk"),
        "tail": az.ess(post, method="tail"),
    }


def failing_parameters(health: dict[str, xr.Dataset]) -> list[str]:
    """The parameters that fail the gate on their own: R-hat above, or an ESS below, the gate
    (any element, for a parameter with dims)."""
    out = []
    for name in health["rhat"].data_vars:
        bad_rhat = not bool((health["rhat"][name] <= MAX_RHAT).all())
        bad_ess = any(not bool((health[k][name] >= MIN_ESS).all()) for k in ("bulk", "tail"))
        if bad_rhat or bad_ess:
            out.append(str(name))
    return out


def check(
    posterior: xr.Dataset,
    sample_stats: xr.Dataset,
    var_names: list[str],
    health: dict[str, xr.Dataset] | None = None,
) -> Diagnostics:
    """Run the gate on the sampled parameters ``var_names`` of a posterior (``health``: their
    :func:`parameter_health`, when already computed)."""
    health = parameter_health(posterior, var_names) if health is None else health
    max_rhat, rhat_name = _extreme(health["rhat"], largest=True)
    min_bulk, bulk_name = _extreme(health["bulk"], largest=False)
    min_tail, tail_name = _extreme(health["tail"], largest=False)
    n_div = int(sample_stats["diverging"].sum()) if "diverging" in sample_stats else 0
    n_draws = int(posterior.sizes["chain"] * posterior.sizes["draw"])

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


def warn_if_failed(diag: Diagnostics, stacklevel: int = 3, tried: str = "") -> None:
    """Raise a :class:`ConvergenceWarning` when the gate failed; ``tried`` names the attempts
    already made (the rescue ladder), e.g. ``"after 3 attempts (...)"``."""
    if not diag.converged:
        after = f" {tried}" if tried else ""
        warnings.warn(
            f"the fit did not converge{after}: {diag.reason()}. Try: {'; '.join(diag.advice)}. "
            "Results carry converged=False.",
            ConvergenceWarning,
            stacklevel=stacklevel,
        )
