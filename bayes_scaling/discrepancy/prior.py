"""The prior of the extrapolation discrepancy (m, τ, γ): learned across public ladders, or per
table.

The discrepancy δ(x) = m·c(x)^γ + τ·η·d(x)^γ (:mod:`bayes_scaling.discrepancy.record`: c along
compute, d along the farthest weighted axis) has three unknowns: m, a systematic drift of the log
loss per decade of compute beyond the data; τ, the sd of a ladder's own error one decade beyond
the data; and γ, how both grow with distance. One table's internal backtests say little about how
often real ladders break 10-20x beyond their runs; many ladders do. So the default prior of
(m, τ, γ) is learned from backtests of a corpus of public ladders (:mod:`bayes_scaling.data.corpus`,
:mod:`bayes_scaling.trust.calibration`), each in three directions of extrapolation (compute, N at
fixed tokens per parameter, tokens at fixed N):

- each protocol ℓ gives a log likelihood grid L_ℓ(m, τ, γ) of its held-out runs given a fit below
  its cut (:func:`bayes_scaling.discrepancy.evidence.shared_loglik`: the held-out runs share
  one error curve, as the predictive assumes);
- τ and γ vary from ladder to ladder, heavy-tailed in τ::

      log τ_ℓ ~ StudentT(ν, μ, s),      γ_ℓ ~ Categorical(w) on {0.25, 0.5, 0.75, 1}

  (a log-t, so that a ladder whose big runs shift by several percent is not ruled out; the
  shipped prior has ν = 10);
- the drift: the law's extrapolation errs in one direction on average. Fitted below their cuts,
  the Chinchilla law over-predicts the held-out losses of larger-compute runs in every family of
  the corpus (the Huber fit too). Either m is common to all ladders (flat prior on its grid, the
  earlier form: its posterior narrows with every ladder, so a new ladder's drift is taken as
  known) or, the shipped form, it varies from ladder to ladder, m_ℓ ~ Normal(m₀, s_m), so that
  the spread of the drift is part of every band (``drift_spread`` of
  :func:`~.population.fit_population`);
- (μ, s, w) (and m₀, s_m) maximise the weighted marginal likelihood of the ladders (each family
  weighted equally: c_ℓ = 1 / protocols in its family), plus a weak Dirichlet(2) penalty on w and
  Normal penalties of sd 2 on log s (centred at 0) and log s_m (centred at log 0.01)
  (:func:`~.population.fit_population`). The form
  (ν, common or spread drift) and the distance's axis weights were chosen by the
  leave-one-family-out log predictive density (:data:`bayes_scaling.trust.calibration.POPULATION`).

The local misfit (:mod:`bayes_scaling.discrepancy.local`): a fit of a law in N and D adds to δ a
Gaussian process learned from its own residuals, which carries the law's misfit near the runs.
The held-out runs of every ladder are scored with the misfit of the fit below the cut in place
(:func:`~bayes_scaling.discrepancy.evidence.shared_loglik`), so that τ is the error beyond it
(:attr:`DiscrepancyPrior.local`); a fit's internal backtests do the same. Learned without it, τ
would count the misfit twice: the bands were too wide (coverage 0.62/0.96 at 50/90% leave one
family out, against 0.55/0.91 with it).

A fit then multiplies this prior by its own table's internal backtests (the same likelihood) and
uses the grid posterior. The learned priors ship beside this module with their provenance
(ladders, protocol, date, package version, hyper-parameters): ``prior.json``, learned with the
local misfit, and ``prior_without_local.json`` for fits without one (a law in compute alone, a
grouped fit); ``scripts/learn-discrepancy-prior`` regenerates both from ``../shared/data``.

``within_table_prior()`` is the earlier default, kept for comparison: τ ~ HalfNormal(0.05) on a
linear grid, γ uniform, and internal backtests that treat held-out runs as independent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from os import PathLike
from pathlib import Path

import numpy as np

from bayes_scaling import _validate as check
from bayes_scaling._disk import write_atomic
from bayes_scaling._lazy import scipy_function
from bayes_scaling._numeric import grid_quantiles
from bayes_scaling.errors import ArgumentError

logsumexp = scipy_function("special", "logsumexp")  # SciPy on first use

FORMAT = "bayes_scaling.discrepancy_prior/1"
#: τ grid of the population prior: log-spaced sd of log loss one decade beyond the data.
TAU_GRID = np.geomspace(1e-3, 1.0, 100)
#: Growth exponents γ of the population prior. Learned with the local misfit on {0.25, ..., 1}
#: (:data:`GAMMAS_BEFORE`), the population put 48% of its weight on γ = 1, the grid's edge; with
#: γ up to 2 the leave-one-family-out calibration (``benchmarks/calibration.py --learned-only``)
#: scored 2.875 nats per held-out run and a 90% interval score of 0.356, against 2.836 and 0.359,
#: and its ~30x bin covered 0.87 at 90% instead of 0.69.
GAMMAS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
#: The γ grid before (the within-table prior, and population files with four γ weights).
GAMMAS_BEFORE = (0.25, 0.5, 0.75, 1.0)
#: Drift grid: systematic log-loss error per decade beyond the data (negative: losses lower).
DRIFT_GRID = np.linspace(-0.08, 0.04, 25)
#: Degrees of freedom of the log-t population of τ (heavy tails) when none is given.
POPULATION_NU = 3.0
#: Weights w_a of the distance d(x) = max_a w_a·(decades beyond the data along a) the shipped
#: prior is learned with (see :mod:`bayes_scaling.discrepancy.record`): a decade of N counts
#: twice, the compute of a decade of N at fixed tokens per parameter.
AXIS_WEIGHTS = {"n_params": 2.0}
#: The within-table prior of earlier versions: τ ~ HalfNormal(0.05) on a linear grid.
WITHIN_SCALE, WITHIN_GRID = 0.05, np.linspace(0.0, 0.3, 121)
#: The shipped population priors, learned with the local misfit (for fits that have one: a law
#: of N and D) and without it (a law in compute alone, a grouped fit).
SHIPPED = {True: "prior.json", False: "prior_without_local.json"}


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
    drift_on : {"compute", "distance"}
        The distance the drift was learned along (see
        :class:`~bayes_scaling.discrepancy.record.Discrepancy`): a fit's backtests score it along
        the same one. A population prior says so in ``provenance["drift_on"]``.
    axis_weights : dict
        The weights w_a of the distance d(x) by axis it was learned with
        (``provenance["axis_weights"]`` for a population prior; missing axes 1).
    local : bool
        Whether the held-out runs it was learned from carried the local misfit of the fit below
        the cut (:mod:`bayes_scaling.discrepancy.local`), so that τ is the error beyond it: a
        fit's internal backtests then score theirs the same way
        (``provenance["local_misfit"]`` for a population prior).
    """

    name: str
    drift: np.ndarray
    tau: np.ndarray
    gamma: np.ndarray
    log_weights: np.ndarray
    evidence: str = "shared"
    provenance: dict = field(default_factory=dict)
    fractions: tuple = (0.6, 0.75, 0.9)
    drift_on: str = "distance"
    axis_weights: dict = field(default_factory=dict)
    local: bool = False

    def __post_init__(self):
        if self.log_weights.shape != (len(self.drift), len(self.tau), len(self.gamma)):
            raise ArgumentError("log_weights", "must have shape (len(drift), len(tau), len(gamma))")
        if self.evidence not in ("shared", "independent"):
            raise ArgumentError("evidence", "must be 'shared' or 'independent'")
        # the evidence interpolates along these grids; τ is a scale
        check.increasing(self.tau, "tau", minimum=0.0)
        check.increasing(self.drift, "drift")

    def quantiles(self, probs=(0.05, 0.5, 0.95)) -> np.ndarray:
        """Prior quantiles of τ (marginal over m and γ)."""
        return grid_quantiles(self.tau, np.exp(logsumexp(self.log_weights, axis=(0, 2))), probs)

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
        out.update(
            fractions=list(self.fractions),
            drift_on=self.drift_on,
            axis_weights=self.axis_weights,
            local=self.local,
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
            prior = population_prior(
                h["mu"],
                h["s"],
                h["gamma_weights"],
                h.get("drift_log_weights"),
                provenance,
                d["name"],
                h.get("nu"),
            )
        else:
            prior = cls(
                d["name"],
                np.asarray(d.get("drift", [0.0]), float),
                np.asarray(d["tau"], float),
                np.asarray(d["gamma"], float),
                np.asarray(d["log_weights"], float),
                d.get("evidence", "shared"),
                provenance,
            )
        # the settings a fit's backtests follow; files written before carry only some of them
        # (a population prior's are in its provenance, which population_prior reads)
        settings = {
            "fractions": tuple(float(f) for f in d["fractions"]) if "fractions" in d else None,
            "drift_on": d.get("drift_on"),
            "axis_weights": d.get("axis_weights"),
            "local": bool(d["local"]) if "local" in d else None,
        }
        return replace(prior, **{k: v for k, v in settings.items() if v is not None})

    def save(self, path: str | PathLike) -> Path:
        return write_atomic(path, self.to_json() + "\n")


def _normalised(log_w: np.ndarray) -> np.ndarray:
    return log_w - logsumexp(log_w)


def _is_population(prior: DiscrepancyPrior) -> bool:
    """True when the prior is exactly the population prior of its ``provenance["hyper"]``."""
    h = prior.provenance.get("hyper")
    if not h or prior.evidence != "shared" or len(prior.tau) != len(TAU_GRID):
        return False
    again = population_prior(
        h["mu"], h["s"], h["gamma_weights"], h.get("drift_log_weights"), nu=h.get("nu")
    )
    return again.log_weights.shape == prior.log_weights.shape and np.allclose(
        again.log_weights, prior.log_weights
    )


def within_table_prior() -> DiscrepancyPrior:
    """The earlier default: τ ~ HalfNormal(0.05), γ uniform, independent held-out runs."""
    log_w = np.repeat(
        (-0.5 * (WITHIN_GRID / WITHIN_SCALE) ** 2)[None, :, None], len(GAMMAS_BEFORE), axis=2
    ) - np.log(len(GAMMAS_BEFORE) * len(WITHIN_GRID))
    return DiscrepancyPrior(
        "within-table",
        np.zeros(1),
        WITHIN_GRID.copy(),
        np.asarray(GAMMAS_BEFORE, float),
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


def population_log_weights(
    mu: float, s: float, gamma_weights, tau=TAU_GRID, nu: float | None = None
) -> np.ndarray:
    """log p(τ, γ | μ, s, w) on the grid: log τ ~ StudentT(ν, μ, s) (grid uniform in log τ;
    ν = :data:`POPULATION_NU` unless given; ``inf``: Normal)."""
    # the Student-t log density up to its constant, which the normalisation removes (SciPy's
    # stats, 0.5 s to import, would be the only use of it in a fit)
    nu = POPULATION_NU if nu is None else float(nu)
    z = (np.log(tau) - mu) / s
    log_tau = -0.5 * z**2 if np.isinf(nu) else -0.5 * (nu + 1) * np.log1p(z**2 / nu)
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
    nu: float | None = None,
) -> DiscrepancyPrior:
    """The population prior with hyper-parameters (μ, s, w) and the drift's weights on
    :data:`DRIFT_GRID` (default: no drift, m = 0) (see the module docstring); the γ grid is
    the one with as many values as ``gamma_weights`` (:func:`gamma_grid`)."""
    if drift_log_weights is None:
        drift, log_m = np.zeros(1), np.zeros(1)
    else:
        drift, log_m = DRIFT_GRID.copy(), np.asarray(drift_log_weights, float)
        log_m = log_m - logsumexp(log_m)
    provenance = provenance or {}
    return DiscrepancyPrior(
        name,
        drift,
        TAU_GRID.copy(),
        gamma_grid(len(gamma_weights)),
        log_m[:, None, None] + population_log_weights(mu, s, gamma_weights, nu=nu)[None],
        evidence="shared",
        provenance=provenance,
        fractions=POPULATION_FRACTIONS,
        drift_on=str(provenance.get("drift_on", "distance")),
        axis_weights={str(k): float(v) for k, v in provenance.get("axis_weights", {}).items()},
        local=bool(provenance.get("local_misfit", False)),
    )


def gamma_grid(n: int) -> np.ndarray:
    """The γ grid of a population with ``n`` γ weights: :data:`GAMMAS`, or
    :data:`GAMMAS_BEFORE` for a prior file written before it."""
    for grid in (GAMMAS, GAMMAS_BEFORE):
        if len(grid) == n:
            return np.asarray(grid, float)
    raise ArgumentError("gamma_weights", f"expected {len(GAMMAS)} weights (γ = {GAMMAS}), got {n}")


@cache
def shipped_prior(local: bool = True) -> DiscrepancyPrior:
    """The learned population prior shipped with the package: ``prior.json``, learned with the
    local misfit, or (``local=False``) ``prior_without_local.json`` for fits without one."""
    text = resources.files("bayes_scaling.discrepancy").joinpath(SHIPPED[bool(local)]).read_text()
    return DiscrepancyPrior.from_json(text)


def resolve_prior(value, local: bool = True) -> DiscrepancyPrior:
    """``None`` or ``"learned"``: the shipped prior (:func:`shipped_prior`; ``local``: whether
    the fit has a local misfit); ``"within-table"``: the earlier default; a
    :class:`DiscrepancyPrior`; or the path of a prior file written by
    :meth:`DiscrepancyPrior.save`."""
    if value is None or (isinstance(value, str) and value == "learned"):
        return shipped_prior(local)
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
