"""The prior of the extrapolation discrepancy (m, τ, γ): learned across public ladders, or per
table.

The discrepancy δ(x) = (m + τ·η)·d(x)^γ (:mod:`bayes_scaling.discrepancy.record`) has three
unknowns: m, a systematic drift of the log loss per decade beyond the data; τ, the sd of a ladder's
own error one decade beyond the data; and γ, how both grow with distance. One table's internal
backtests say little about how often real ladders break 10-20x beyond their runs; many ladders
do. So the default prior of (m, τ, γ) is learned from the protocol backtests of a corpus of public
ladders (:mod:`bayes_scaling.data.corpus`, :mod:`bayes_scaling.trust.calibration`):

- each ladder ℓ gives a log likelihood grid L_ℓ(m, τ, γ) of its held-out runs given a fit below
  its cut (:func:`bayes_scaling.discrepancy.evidence.shared_loglik`: the held-out runs share
  one error curve, as the predictive assumes);
- τ and γ vary from ladder to ladder, heavy-tailed in τ::

      log τ_ℓ ~ StudentT(ν = 3, μ, s),      γ_ℓ ~ Categorical(w) on {0.25, 0.5, 0.75, 1}

  (a log-t, so that a ladder whose big runs shift by several percent is not ruled out);
- m is common to all ladders (flat prior on its grid): the law's extrapolation errs in one
  direction on average. On the public ladders it does: fitted below their cuts, the Chinchilla
  law over-predicts the held-out losses of every one of the 11 ladders (by 0.4-6%; the Huber fit
  too), which made 50% bands cover far less than 90% bands;
- (μ, s, w) maximise log Σ_m Π_ℓ [Σ_{τ, γ} exp(L_ℓ(m, τ, γ)) · p(τ, γ | μ, s, w)]^{c_ℓ}, with
  each family of ladders weighted equally (c_ℓ = 1 / ladders in its family), plus a weak
  Dirichlet(2) penalty on w and a Normal(0, 2) penalty on log s; m keeps its whole posterior
  given the ladders (:func:`fit_population`).

A fit then multiplies this prior by its own table's internal backtests (the same likelihood) and
uses the grid posterior. The learned prior ships as ``prior.json`` beside this module,
with its provenance (ladders, protocol, date, package version, hyper-parameters);
``scripts/learn-discrepancy-prior`` regenerates it from ``../shared/data``.

``within_table_prior()`` is the earlier default, kept for comparison: τ ~ HalfNormal(0.05) on a
linear grid, γ uniform, and internal backtests that treat held-out runs as independent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from os import PathLike
from pathlib import Path

import numpy as np

from bayes_scaling._lazy import scipy_function
from bayes_scaling.errors import ArgumentError

logsumexp = scipy_function("special", "logsumexp")  # SciPy on first use

FORMAT = "bayes_scaling.discrepancy_prior/1"
#: τ grid of the population prior: log-spaced sd of log loss one decade beyond the data.
TAU_GRID = np.geomspace(1e-3, 1.0, 100)
#: Growth exponents γ.
GAMMAS = (0.25, 0.5, 0.75, 1.0)
#: Drift grid: systematic log-loss error per decade beyond the data (negative: losses lower).
DRIFT_GRID = np.linspace(-0.08, 0.04, 25)
#: Degrees of freedom of the log-t population of τ (heavy tails).
POPULATION_NU = 3.0
#: The within-table prior of earlier versions: τ ~ HalfNormal(0.05) on a linear grid.
WITHIN_SCALE, WITHIN_GRID = 0.05, np.linspace(0.0, 0.3, 121)
SHIPPED = "prior.json"


@dataclass(frozen=True)
class DiscrepancyPrior:
    """A prior over the discrepancy's (m, τ, γ) on a grid, and how backtests update it.

    Attributes
    ----------
    name : str
        ``"learned"`` (the population prior), ``"within-table"``, or a user's name.
    drift, tau, gamma : ndarray
        The grids (``drift`` is ``[0]`` for a prior without drift).
    log_weights : ndarray
        log prior probability of each (m, τ, γ) cell, shape (len(drift), len(tau), len(gamma)),
        normalised.
    evidence : {"shared", "independent"}
        How a table's internal backtests update the prior: held-out runs sharing one error curve
        (``"shared"``, the model's own assumption) or independent runs (the earlier default).
    provenance : dict
        Where the prior comes from: ladders, protocol, date, package version, hyper-parameters.
    fractions : tuple of float
        Where a table's internal cuts fall (fractions of its runs below each cut, see
        :func:`bayes_scaling.discrepancy.evidence.internal_cuts`): three for a prior that
        knows nothing of other ladders, one for the learned population prior
        (:data:`POPULATION_FRACTIONS`).
    """

    name: str
    drift: np.ndarray
    tau: np.ndarray
    gamma: np.ndarray
    log_weights: np.ndarray
    evidence: str = "shared"
    provenance: dict = field(default_factory=dict)
    fractions: tuple = (0.6, 0.75, 0.9)

    def __post_init__(self):
        if self.log_weights.shape != (len(self.drift), len(self.tau), len(self.gamma)):
            raise ArgumentError("log_weights", "must have shape (len(drift), len(tau), len(gamma))")
        if self.evidence not in ("shared", "independent"):
            raise ArgumentError("evidence", "must be 'shared' or 'independent'")

    def quantiles(self, probs=(0.05, 0.5, 0.95)) -> np.ndarray:
        """Prior quantiles of τ (marginal over m and γ)."""
        cdf = np.cumsum(np.exp(logsumexp(self.log_weights, axis=(0, 2))))
        return np.interp(probs, cdf / cdf[-1], self.tau)

    def drift_mean(self) -> float:
        """Prior mean of the drift m."""
        return float(np.exp(logsumexp(self.log_weights, axis=(1, 2))) @ self.drift)

    def describe(self) -> str:
        """One sentence: the drift's mean and τ's median and 90% interval."""
        lo, med, hi = self.quantiles()
        return (
            f"{self.name} prior: drift {self.drift_mean():+.3g} per decade, "
            f"τ median {med:.3g} (90% {lo:.3g}-{hi:.3g})"
        )

    def to_json(self) -> str:
        """JSON. A population prior is written as its hyper-parameters (``provenance["hyper"]``),
        from which :meth:`from_json` rebuilds the grid; any other prior as its grid."""
        out = {"format": FORMAT, "name": self.name, "evidence": self.evidence}
        if _is_population(self):
            out["population"] = True
        else:
            out.update(
                drift=self.drift.tolist(),
                tau=self.tau.tolist(),
                gamma=self.gamma.tolist(),
                log_weights=self.log_weights.tolist(),
            )
        return json.dumps({**out, "provenance": self.provenance}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> DiscrepancyPrior:
        d = json.loads(text)
        if d.get("format") != FORMAT:
            raise ArgumentError("discrepancy_prior", f"not a discrepancy prior file ({FORMAT})")
        provenance = d.get("provenance", {})
        if d.get("population"):
            h = provenance["hyper"]
            return population_prior(
                h["mu"],
                h["s"],
                h["gamma_weights"],
                h.get("drift_log_weights"),
                provenance,
                d["name"],
            )
        return cls(
            d["name"],
            np.asarray(d.get("drift", [0.0]), float),
            np.asarray(d["tau"], float),
            np.asarray(d["gamma"], float),
            np.asarray(d["log_weights"], float),
            d.get("evidence", "shared"),
            provenance,
        )

    def save(self, path: str | PathLike) -> Path:
        path = Path(path)
        path.write_text(self.to_json() + "\n")
        return path


def _normalised(log_w: np.ndarray) -> np.ndarray:
    return log_w - logsumexp(log_w)


def _is_population(prior: DiscrepancyPrior) -> bool:
    """True when the prior is exactly the population prior of its ``provenance["hyper"]``."""
    h = prior.provenance.get("hyper")
    if not h or prior.evidence != "shared" or len(prior.tau) != len(TAU_GRID):
        return False
    again = population_prior(h["mu"], h["s"], h["gamma_weights"], h.get("drift_log_weights"))
    return again.log_weights.shape == prior.log_weights.shape and np.allclose(
        again.log_weights, prior.log_weights
    )


def within_table_prior() -> DiscrepancyPrior:
    """The earlier default: τ ~ HalfNormal(0.05), γ uniform, independent held-out runs."""
    log_w = np.repeat(
        (-0.5 * (WITHIN_GRID / WITHIN_SCALE) ** 2)[None, :, None], len(GAMMAS), axis=2
    ) - np.log(len(GAMMAS) * len(WITHIN_GRID))
    return DiscrepancyPrior(
        "within-table",
        np.zeros(1),
        WITHIN_GRID.copy(),
        np.asarray(GAMMAS, float),
        log_w,
        evidence="independent",
        provenance={"what": f"tau ~ HalfNormal({WITHIN_SCALE}), gamma uniform"},
    )


#: Internal cuts of a table updated from the learned population prior: one, with 75% of the runs
#: below it. Measured leave-one-ladder-out over the 11 corpus ladders (``benchmarks/calibration.py``
#: with the cuts changed): one cut gave a 90% interval score of 0.207 and a log predictive density
#: of 3.07 per held-out run, against 0.220 and 2.98 with three cuts (0.6, 0.75, 0.9) and 0.223 and
#: 2.97 with two (0.6, 0.9); 90% coverage 0.952, 0.939 and 0.941. The learned prior already says
#: what a ladder's own cuts would, and their noise (gemstones' cuts pull its drift the wrong way)
#: costs more than they add. One cut is also a third of the refits.
POPULATION_FRACTIONS = (0.75,)


def population_log_weights(mu: float, s: float, gamma_weights, tau=TAU_GRID) -> np.ndarray:
    """log p(τ, γ | μ, s, w) on the grid: log τ ~ StudentT(ν, μ, s) (grid uniform in log τ)."""
    # the Student-t log density up to its constant, which the normalisation removes (SciPy's
    # stats, 0.5 s to import, would be the only use of it in a fit)
    z = (np.log(tau) - mu) / s
    log_tau = -0.5 * (POPULATION_NU + 1) * np.log1p(z**2 / POPULATION_NU)
    log_tau -= logsumexp(log_tau)
    w = np.asarray(gamma_weights, float)
    return log_tau[:, None] + np.log(w / w.sum())[None, :]


def population_prior(
    mu: float,
    s: float,
    gamma_weights,
    drift_log_weights=None,
    provenance: dict | None = None,
    name: str = "learned",
) -> DiscrepancyPrior:
    """The population prior with hyper-parameters (μ, s, w) and the drift's weights on
    :data:`DRIFT_GRID` (default: no drift, m = 0) (see the module docstring)."""
    if drift_log_weights is None:
        drift, log_m = np.zeros(1), np.zeros(1)
    else:
        drift, log_m = DRIFT_GRID.copy(), np.asarray(drift_log_weights, float)
        log_m = log_m - logsumexp(log_m)
    return DiscrepancyPrior(
        name,
        drift,
        TAU_GRID.copy(),
        np.asarray(GAMMAS, float),
        log_m[:, None, None] + population_log_weights(mu, s, gamma_weights)[None],
        evidence="shared",
        provenance=provenance or {},
        fractions=POPULATION_FRACTIONS,
    )


def fit_population(logliks, weights=None) -> dict:
    """Empirical-Bayes hyper-parameters (μ, s, w) from ladders' log likelihood grids.

    Parameters
    ----------
    logliks : sequence of ndarray
        One (len(DRIFT_GRID), len(TAU_GRID), len(GAMMAS)) grid per ladder, from
        :func:`bayes_scaling.discrepancy.evidence.shared_loglik` (a grid with one drift
        value, m = 0, fits a population without drift).
    weights : sequence of float, optional
        Each ladder's weight c_ℓ (default 1).

    Returns
    -------
    dict
        ``mu``, ``s``, ``gamma_weights``, ``drift_log_weights`` (the drift's posterior given the
        ladders, on the grid) and ``log_marginal`` (the maximised objective).
    """
    from scipy import optimize  # only when a population is learned

    grids = np.stack([np.asarray(g, float) for g in logliks])  # (ladder, M, T, G)
    c = np.ones(len(grids)) if weights is None else np.asarray(weights, float)

    # logsumexp over (τ, γ) of grid + log p as one matrix product: exp(grid − its max) is
    # computed once, so an evaluation costs a product, not an exp of the whole stack (~100x)
    top = grids.max(axis=(2, 3))  # (ladder, M)
    scaled = np.exp(grids - top[..., None, None]).reshape(*top.shape, -1)

    def drift_terms(mu, s, w):
        log_p = population_log_weights(mu, s, w)
        peak = log_p.max()
        with np.errstate(divide="ignore"):
            per_ladder = np.log(scaled @ np.exp(log_p - peak).ravel()) + top + peak  # (ladder, M)
        return c @ per_ladder  # (M,)

    def objective(theta):
        mu, log_s, *z = theta
        w = np.exp(np.r_[0.0, z])
        total = logsumexp(drift_terms(mu, np.exp(log_s), w)) - np.log(grids.shape[1])
        penalty = (2 - 1) * np.log(w / w.sum()).sum() - 0.5 * (log_s / 2) ** 2
        return -(total + penalty)

    best = None
    for mu0 in (np.log(0.005), np.log(0.02), np.log(0.08)):
        start = np.r_[mu0, np.log(0.8), np.zeros(len(GAMMAS) - 1)]
        res = optimize.minimize(objective, start, method="Nelder-Mead", options={"maxiter": 4000})
        if best is None or res.fun < best.fun:
            best = res
    mu, log_s, *z = best.x
    w = np.exp(np.r_[0.0, z])
    drift = drift_terms(mu, np.exp(log_s), w)
    return {
        "mu": float(mu),
        "s": float(np.exp(log_s)),
        "gamma_weights": (w / w.sum()).tolist(),
        "drift_log_weights": (drift - logsumexp(drift)).tolist(),
        "log_marginal": float(-best.fun),
    }


@cache
def shipped_prior() -> DiscrepancyPrior:
    """The learned population prior shipped with the package (``prior.json``)."""
    text = resources.files("bayes_scaling.discrepancy").joinpath(SHIPPED).read_text()
    return DiscrepancyPrior.from_json(text)


def resolve_prior(value) -> DiscrepancyPrior:
    """``None`` or ``"learned"``: the shipped prior; ``"within-table"``: the earlier default; a
    :class:`DiscrepancyPrior`; or the path of a prior file written by
    :meth:`DiscrepancyPrior.save`."""
    if value is None or (isinstance(value, str) and value == "learned"):
        return shipped_prior()
    if isinstance(value, DiscrepancyPrior):
        return value
    if isinstance(value, str) and value in ("within-table", "within"):
        return within_table_prior()
    if isinstance(value, str | PathLike):
        path = Path(value)
        if not path.is_file():
            raise ArgumentError(
                "discrepancy_prior",
                f"{str(value)!r} is neither 'learned', 'within-table' nor a prior file",
            )
        return DiscrepancyPrior.from_json(path.read_text())
    raise ArgumentError(
        "discrepancy_prior",
        f"expected 'learned', 'within-table', a DiscrepancyPrior or a file, got {value!r}",
    )
