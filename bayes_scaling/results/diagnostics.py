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

import numpy as np
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
    """The largest (smallest) value over every variable and element, and its variable. A NaN
    (a statistic that could not be computed: non-finite or constant draws) is the extreme, so
    the gate fails on it rather than skipping it."""
    values = {
        name: float(ds[name].max(skipna=False) if largest else ds[name].min(skipna=False))
        for name in ds.data_vars
    }
    missing = [name for name, value in values.items() if np.isnan(value)]
    if missing:
        return float("nan"), missing[0]
    name = (max if largest else min)(values, key=values.__getitem__)
    return values[name], name


def parameter_health(posterior: xr.Dataset, var_names: list[str]) -> dict[str, xr.Dataset]:
    """R-hat, bulk ESS and tail ESS of each sampled parameter (``{"rhat": ..., "bulk": ...,
    "tail": ...}``, one Dataset each, a variable per parameter).

    Computed here in NumPy (:func:`rhat`, :func:`ess_bulk`, :func:`ess_tail`: ArviZ's
    estimators, the same numbers) so that a fit never imports ArviZ's statistics, which load
    SciPy's ``stats`` and ArviZ's LOO machinery (0.7 s) for three diagnostics."""
    out: dict[str, dict] = {"rhat": {}, "bulk": {}, "tail": {}}
    for name in var_names:
        da = posterior[name]
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        values = da.transpose("chain", "draw", *extra).values
        template = da.isel(chain=0, draw=0, drop=True)  # keeps the other dims' coordinates
        for key, fn in (("rhat", rhat), ("bulk", ess_bulk), ("tail", ess_tail)):
            out[key][name] = template.copy(data=fn(values))
    return {key: xr.Dataset(found) for key, found in out.items()}


# --- the estimators (Vehtari, Gelman, Simpson, Carpenter & Bürkner 2021), as ArviZ computes them


def _per_element(fn):
    """Apply ``fn(chains x draws array) -> float`` to every element of a (chain, draw, ...)
    array: the result has the trailing shape."""

    def apply(values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, float)
        flat = values.reshape(values.shape[0], values.shape[1], -1)
        out = np.array([fn(flat[:, :, k]) for k in range(flat.shape[2])], dtype=float)
        return out.reshape(values.shape[2:])

    apply.__doc__ = fn.__doc__
    return apply


def _split(ary: np.ndarray) -> np.ndarray:
    """Split chains: each chain's first and last halves become two chains (a middle draw of an
    odd length is dropped)."""
    half = ary.shape[1] // 2
    return np.vstack((ary[:, :half], ary[:, -half:]))


def _z_scale(ary: np.ndarray) -> np.ndarray:
    """Rank-normalise: z = Φ⁻¹((r − 3/8) / (S + 1/4)), r the average rank among all S draws
    (Blom 1958)."""
    from scipy.special import ndtri  # already loaded on the fit path; not on a saved fit's

    flat = ary.ravel()
    order = np.argsort(flat, kind="mergesort")
    ordered = flat[order]
    new = np.r_[True, ordered[1:] != ordered[:-1]]
    group = np.cumsum(new)  # 1-based id of each run of ties
    bounds = np.r_[np.flatnonzero(new), flat.size]
    ranks = np.empty(flat.size)
    ranks[order] = 0.5 * (bounds[group] + bounds[group - 1] + 1)  # average rank of the ties
    return ndtri((ranks - 0.375) / (flat.size + 0.25)).reshape(ary.shape)


def _rhat_basic(ary: np.ndarray) -> float:
    """R̂ = sqrt((B/W + n − 1) / n), with B = n·var(chain means), W = mean within-chain var."""
    n = ary.shape[1]
    between = n * np.var(ary.mean(axis=1), ddof=1)
    within = np.mean(np.var(ary, axis=1, ddof=1))
    with np.errstate(divide="ignore", invalid="ignore"):  # constant draws: NaN, the gate fails
        return float(np.sqrt((between / within + n - 1) / n))


def _valid(ary: np.ndarray, min_chains: int) -> bool:
    return bool(np.isfinite(ary).all()) and ary.shape[0] >= min_chains and ary.shape[1] >= 4


@_per_element
def rhat(ary: np.ndarray) -> float:
    """Rank-normalised split R̂: the larger of the bulk R̂ (z-scaled split chains) and the tail
    R̂ (z-scaled |x − median|). NaN for fewer than 2 chains or 4 draws, or non-finite draws."""
    if not _valid(ary, 2):
        return float("nan")
    split = _split(ary)
    bulk = _rhat_basic(_z_scale(split))
    tail = _rhat_basic(_z_scale(np.abs(split - np.median(split))))
    return max(bulk, tail)


def _ess(ary: np.ndarray) -> float:
    """ESS of a (chains, draws) array: S / τ̂, τ̂ = −1 + 2·Σ ρ̂_t over Geyer's initial monotone
    sequence of the multi-chain autocorrelations (FFT autocovariances)."""
    ary = np.asarray(ary, float)
    if np.max(ary) - np.min(ary) < np.finfo(float).resolution:
        return float(ary.size)
    n_chain, n_draw = ary.shape
    centred = ary - ary.mean(axis=1, keepdims=True)
    m = _fast_len(2 * n_draw)
    spec = np.fft.rfft(centred, n=m, axis=1)
    acov = np.fft.irfft(spec * np.conjugate(spec), n=m, axis=1)[:, :n_draw] / n_draw
    mean_acov = acov.mean(axis=0)
    mean_var = mean_acov[0] * n_draw / (n_draw - 1.0)
    var_plus = mean_var * (n_draw - 1.0) / n_draw
    if n_chain > 1:
        var_plus += np.var(ary.mean(axis=1), ddof=1)
    rho = np.zeros(n_draw)
    rho_even, rho_odd = 1.0, 1.0 - (mean_var - mean_acov[1]) / var_plus
    rho[0], rho[1] = rho_even, rho_odd
    t = 1
    while t < n_draw - 3 and rho_even + rho_odd > 0.0:  # Geyer's initial positive sequence
        rho_even = 1.0 - (mean_var - mean_acov[t + 1]) / var_plus
        rho_odd = 1.0 - (mean_var - mean_acov[t + 2]) / var_plus
        if rho_even + rho_odd >= 0:
            rho[t + 1], rho[t + 2] = rho_even, rho_odd
        t += 2
    max_t = t - 2
    if rho_even > 0:
        rho[max_t + 1] = rho_even
    t = 1
    while t <= max_t - 2:  # ... made monotone
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
            rho[t + 1] = rho[t + 2] = (rho[t - 1] + rho[t]) / 2.0
        t += 2
    size = n_chain * n_draw
    tau = -1.0 + 2.0 * np.sum(rho[: max_t + 1]) + np.sum(rho[max_t + 1 : max_t + 2])
    tau = max(tau, 1 / np.log10(size))
    return float("nan") if np.isnan(rho).any() else float(size / tau)


def _fast_len(n: int) -> int:
    """The smallest 2^a·3^b·5^c ≥ n: a fast FFT length (any length ≥ 2·draws gives the same
    autocovariances, without wrap-around)."""
    best = 2 ** int(np.ceil(np.log2(n)))
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p2 = p35
            while p2 < n:
                p2 *= 2
            best = min(best, p2)
            p35 *= 3
        p5 *= 5
    return best


@_per_element
def ess_bulk(ary: np.ndarray) -> float:
    """Bulk ESS: the ESS of the z-scaled split chains."""
    if not _valid(ary, 1):
        return float("nan")
    return _ess(_z_scale(_split(ary)))


#: Quantiles of the tail ESS: ArviZ 1's default (its ``ci_prob`` 0.89), which the gate has
#: always used; Vehtari et al. (2021) use 0.05 and 0.95.
TAIL_QUANTILES = (0.11, 0.89)


@_per_element
def ess_tail(ary: np.ndarray) -> float:
    """Tail ESS: the smaller ESS of the indicators x ≤ q for q at :data:`TAIL_QUANTILES`
    (split chains)."""
    if not _valid(ary, 1):
        return float("nan")
    return min(_ess(_split(ary <= np.quantile(ary, q))) for q in TAIL_QUANTILES)


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
        failures.append(
            f"R-hat not computable for {rhat_name} (constant or non-finite draws)"
            if np.isnan(max_rhat)
            else f"R-hat {max_rhat:.3f} > {MAX_RHAT} for {rhat_name}"
        )
        advice.append("run more tuning and draws (tune=2000, draws=2000) or more chains")
    if not (min_bulk >= MIN_ESS and min_tail >= MIN_ESS):
        low = (
            (bulk_name, min_bulk, "bulk")
            if np.isnan(min_bulk) or min_bulk < min_tail
            else (tail_name, min_tail, "tail")
        )
        failures.append(
            f"{low[2]} ESS not computable for {low[0]} (non-finite draws)"
            if np.isnan(low[1])
            else f"{low[2]} ESS {low[1]:.0f} < {MIN_ESS} for {low[0]}"
        )
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


def posterior_table(posterior: xr.Dataset, prob: float) -> tuple[list[str], dict[str, np.ndarray]]:
    """Per element of each variable: mean, sd (n − 1), median, the equal-tailed ``prob`` interval
    (quantiles (1 − prob)/2 and (1 + prob)/2, NumPy's linear method), R-hat, bulk and tail ESS.

    ``(labels, columns)``: row labels as ArviZ's summary writes them (``"alpha"``, or
    ``"alpha[A]"`` for an element of a variable with dims) and one array a column. The same
    numbers as ``arviz_stats.summary(..., ci_kind="eti")`` (tests check it), without importing it.
    """
    labels, cols = [], {k: [] for k in ("mean", "sd", "median", "lower", "upper")}
    cols.update(r_hat=[], ess_bulk=[], ess_tail=[])
    for name, da in posterior.data_vars.items():
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        values = np.asarray(da.transpose("chain", "draw", *extra).values, float)
        flat = values.reshape(values.shape[0] * values.shape[1], -1)
        index = np.ndindex(*values.shape[2:]) if extra else [()]
        for pos in index:
            coords = [str(da[d].values[i]) for d, i in zip(extra, pos, strict=True)]
            labels.append(f"{name}[{', '.join(coords)}]" if coords else str(name))
        lower, upper = np.quantile(flat, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
        cols["mean"].append(flat.mean(axis=0))
        cols["sd"].append(flat.std(axis=0, ddof=1))
        cols["median"].append(np.median(flat, axis=0))
        cols["lower"].append(lower)
        cols["upper"].append(upper)
        for key, fn in (("r_hat", rhat), ("ess_bulk", ess_bulk), ("ess_tail", ess_tail)):
            cols[key].append(np.ravel(fn(values)))
    return labels, {k: np.concatenate(v) if v else np.array([]) for k, v in cols.items()}
