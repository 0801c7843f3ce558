"""The extrapolation discrepancy of a grouped fit: a law error shared by the groups, and each
group's own.

A grouped fit (:func:`bayes_scaling.inference.grouped.fit_groups`) fits one law to several recipes.
Beyond the data the law errs, as for a single fit (:mod:`.record`), and part
of that error is common to the recipes (the law's form, the evaluation set, the tokenizer: the same
ladder) while part is particular to one recipe. On log loss, for group g::

    log L_g(x) = log L(x; θ_g) + δ_shared(x) + δ_g(x) + ε

    δ_shared(x) = (m + τ·η)·d(x)^γ,        η ~ N(0, 1), one draw for all groups
    δ_g(x)      = τ'·η_g·d(x)^γ',           η_g ~ N(0, 1), independent across groups

with d(x) the decades beyond the runs of all groups (the worst axis, as for a single fit). Each
posterior draw s has one (m_s, τ_s, γ_s, η_s), the same for every group, one (τ'_s, γ'_s) and one
η_{g,s} per group. Hence, for two groups A and B at the same distance d:

- a group's band carries both parts: Var δ = (τ² + τ'²)·d^{2γ} (for γ = γ');
- in ΔL = L_B − L_A = e^{δ_shared}·(L_B(θ_B)·e^{δ_B} − L_A(θ_A)·e^{δ_A}) the shared draw is a
  common positive factor: the sign of ΔL (P(B better), the crossover) carries the specific parts
  only, exactly, and the shared one scales ΔL's size by e^{δ_shared} (a few per cent, never its
  sign). The specific part does not cancel: Var(δ_B − δ_A) = 2·τ'²·d^{2γ'}.

**What the runs say.** As a single fit does, the grouped fit is refitted below a few internal cuts
of compute common to all groups and the held-out runs above each cut are scored
(:mod:`bayes_scaling.discrepancy.evidence`):

- the shared part: all groups' held-out runs sharing one error curve
  (:func:`~bayes_scaling.discrepancy.evidence.shared_loglik` on the runs of every group
  together; each run's law value from its own group's parameters), times the learned cross-ladder
  prior. This is a single fit's evidence on the whole ladder; where the groups disagree it also
  widens the shared part (a stated, conservative approximation: a group's band can only get
  wider by it, and ΔL still gets the disagreement through the specific part);
- the specific part: what the groups' held-out runs disagree on. For growth γ', group g's
  held-out residuals r_g = y_g − log L(x; θ_g) give the least-squares coefficient of its error
  curve a_g = d_g^γ', ĉ_g = a_gᵀr_g / a_gᵀa_g (averaged over posterior draws), with variance
  v_g = E_s[σ_s²·ν_s/(ν_s − 2)] / a_gᵀa_g + Var_s(ĉ_{g,s}) (noise and parameters). Under the model
  ĉ_g = c + τ'·η_g + noise, with c = m + τ·η common. The contrasts of the ĉ_g (for two groups
  their difference, ĉ_B − ĉ_A ~ N(0, 2τ'² + v_A + v_B)) do not depend on c: the restricted
  likelihood (c integrated out under a flat prior)::

      log p(contrasts | τ', γ') = −½ Σ_g log W_g − ½ log Σ_g W_g⁻¹ − ½ Σ_g (ĉ_g − ĉ̄)²/W_g,
      W_g = τ'² + v_g,  ĉ̄ = Σ_g ĉ_g/W_g / Σ_g W_g⁻¹

  (a Normal approximation of the held-out runs' t noise; exact in the shared part only when the
  groups' held-out runs lie at the same distances, which common cuts make nearly so). Summed over
  the cuts (nested, so not independent: a stated limit, as for a single fit).

**Priors.** The shared part's prior is the learned cross-ladder prior
(:mod:`bayes_scaling.discrepancy.prior`): it describes one ladder's law error, which is what
the groups share. The specific part's prior is tighter: the distribution of ρ·τ with τ from that
prior (ρ = :data:`SPECIFIC_RATIO` = 1/2, so the median scale is halved), no drift (a priori neither
recipe errs in a known direction), the same γ weights. Why tighter: recipes compared on one ladder
share its data pipeline, evaluation and sizes, so most of the law's error is common to them;
with τ' = τ/2 a group's prior error has sd √(1 + ρ²) = 1.12 times a single ladder's (its band is
about what a single fit of its runs gets), and ΔL's has √2·ρ = 0.71 times. ρ is a stated
choice, not learned across ladders. The two parts' grid posteriors are taken as independent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import logsumexp

from bayes_scaling.data.runs import check_runs_for_law
from bayes_scaling.discrepancy.evidence import (
    EVIDENCE,
    held_out,
    internal_cuts,
    internal_refits,
)
from bayes_scaling.discrepancy.prior import DiscrepancyPrior, resolve_prior
from bayes_scaling.discrepancy.record import READERS, Discrepancy, reference_sizes
from bayes_scaling.errors import RunsError

#: The specific part's prior scale relative to the shared part's (see the module docstring).
SPECIFIC_RATIO = 0.5
#: Lowest ν used in the Student-t noise variance σ²·ν/(ν − 2) of the contrasts.
MIN_NU = 3.0
KIND = "group"
_DIMS = ("drift", "tau", "gamma")


def _stream(seed, k: int) -> int:
    """An integer seed derived from ``seed`` for stream k (0: the specific part's scales;
    1 + i: group i's η)."""
    return int(np.random.SeedSequence([int(seed), 2417, int(k)]).generate_state(1)[0])


@dataclass(frozen=True)
class GroupDiscrepancy:
    """The discrepancy of a grouped fit (see the module docstring).

    Attributes
    ----------
    shared : Discrepancy
        The law error common to the groups (m, τ, γ), one draw for all groups.
    specific : Discrepancy
        The grid posterior of each group's own error (τ', γ'; drift 0), one η per group.
    groups : tuple of str
        The grouped fit's groups, in code order (group i draws its η from stream 1 + i).
    group : str or None
        The group whose error :meth:`error` gives (a record read from a group's own fit);
        None for the grouped fit's record.
    """

    shared: Discrepancy
    specific: Discrepancy
    groups: tuple
    group: str | None = None

    @property
    def reference(self) -> dict:
        return self.shared.reference

    @property
    def learned(self) -> bool:
        return self.shared.learned

    def for_group(self, group: str) -> GroupDiscrepancy:
        """The record that answers for one group (its bands carry shared + its own error)."""
        if group not in self.groups:
            raise KeyError(f"no group {group!r}; groups: {list(self.groups)}")
        return replace(self, group=str(group))

    def describe(self) -> str:
        lo, med, hi = self.specific.quantiles()
        spec = (
            f"from the disagreement of {len(self.groups)} groups' {self.specific.n_checked} "
            f"held-out runs at {len(self.specific.cuts)} internal cuts"
            if self.specific.learned
            else "prior only"
        )
        whose = f" of group {self.group}" if self.group is not None else " of each group"
        return (
            f"shared by the groups: {self.shared.describe()}; specific{whose}: sd {med:.3g} at "
            f"10x beyond the data (90% {lo:.3g}-{hi:.3g}), growing as distance^"
            f"{self.specific.gamma_mean():.2g}, {spec}"
        )

    def distance(self, sizes) -> xr.DataArray:
        return self.shared.distance(sizes)

    def curves(self, shape, seed, group: str | None = None) -> dict[str, np.ndarray]:
        """Per-draw terms of δ_shared + δ_g: ``shared`` and ``specific`` as (coefficient, γ)
        arrays of ``shape``, so that δ(d) = c_shared·d^γ_shared + c_specific·d^γ_specific.

        The shared terms are the same for every group (the same ``seed``); the specific part's
        (τ', γ') draws are shared by the groups, its η is the group's own."""
        group = self.group if group is None else group
        if group not in self.groups:
            raise KeyError(f"name the group (one of {list(self.groups)})")
        drift, tau, gamma = self.specific.draw_scale(shape, _stream(seed, 0))
        index = 1 + self.groups.index(group)
        eta = np.random.default_rng(_stream(seed, index)).standard_normal(shape)
        return {"shared": self.shared.curve(shape, seed), "specific": (drift + tau * eta, gamma)}

    def error(self, posterior: xr.Dataset, sizes, seed, group: str | None = None) -> xr.DataArray:
        """δ_shared(x) + δ_g(x) on log loss, dims (chain, draw, ...point dims)."""
        shape = (posterior.sizes["chain"], posterior.sizes["draw"])
        d = self.distance(sizes)
        out = 0
        for coef, gamma in self.curves(shape, seed, group).values():
            dims = ("chain", "draw")
            out = out + xr.DataArray(coef, dims=dims) * d ** xr.DataArray(gamma, dims=dims)
        return out

    def shift_and_sd(self, posterior: xr.Dataset, sizes, seed) -> tuple[xr.DataArray, ...]:
        """Per-draw mean and sd of δ_shared + δ_g given the draws' scales (the η integrated out):
        m·d^γ and sqrt(τ²·d^{2γ} + τ'²·d^{2γ'})."""
        shift, sd = self.shared.shift_and_sd(posterior, sizes, seed)
        _, sd_g = self.specific.shift_and_sd(posterior, sizes, _stream(seed, 0))
        return shift, np.sqrt(sd**2 + sd_g**2)

    def sd(self, posterior: xr.Dataset, sizes, seed) -> xr.DataArray:
        return self.shift_and_sd(posterior, sizes, seed)[1]

    def to_dataset(self) -> xr.Dataset:
        """For the fit's DataTree group ``discrepancy`` (NetCDF-safe attributes)."""
        shared, specific = self.shared.to_dataset(), self.specific.to_dataset()
        specific = specific.rename({d: f"specific_{d}" for d in _DIMS})
        return xr.Dataset(
            {"weights": shared["weights"], "specific_weights": specific["weights"]},
            attrs={
                "kind": KIND,
                "groups": json.dumps(list(self.groups)),
                "group": "" if self.group is None else self.group,
                "shared_attrs": json.dumps(shared.attrs),
                "specific_attrs": json.dumps(specific.attrs),
            },
        )

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> GroupDiscrepancy:
        a = ds.attrs
        shared = xr.Dataset({"weights": ds["weights"]}, attrs=json.loads(a["shared_attrs"]))
        specific = xr.Dataset(
            {"weights": ds["specific_weights"].rename({f"specific_{d}": d for d in _DIMS})},
            attrs=json.loads(a["specific_attrs"]),
        )
        return cls(
            Discrepancy.from_dataset(shared),
            Discrepancy.from_dataset(specific),
            tuple(json.loads(a["groups"])),
            str(a["group"]) or None,
        )


READERS[KIND] = GroupDiscrepancy.from_dataset


def specific_prior(prior: DiscrepancyPrior, ratio: float = SPECIFIC_RATIO) -> DiscrepancyPrior:
    """The specific part's prior: ρ·τ with τ from ``prior`` (marginal over its drift), on the same
    τ grid, no drift, the same γ weights (see the module docstring)."""
    log_w = logsumexp(prior.log_weights, axis=0)  # (tau, gamma)
    tau = prior.tau
    ratios = tau[1:] / tau[:-1] if tau[0] > 0 else None
    if ratios is not None and np.allclose(ratios, ratios[0]):  # log grid: shift in log τ
        x, at = np.log(tau), np.log(tau) - np.log(ratio)
    else:  # linear grid: the density of ρ·τ is p(τ/ρ)/ρ, the same on every cell
        x, at = tau, tau / ratio
    shifted = np.stack(
        [np.interp(at, x, col, left=col[0], right=-np.inf) for col in log_w.T], axis=1
    )
    shifted = shifted - logsumexp(shifted)
    return DiscrepancyPrior(
        f"{prior.name} x {ratio:g} (group-specific)",
        np.zeros(1),
        tau.copy(),
        prior.gamma.copy(),
        shifted[None],
        evidence="shared",
        provenance={"what": f"rho·tau, rho = {ratio:g}, tau from the {prior.name} prior"},
    )


def contrast_loglik(scored: list[dict], tau, gamma) -> np.ndarray:
    """log p(contrasts of the groups' error coefficients | τ', γ'), shape (len(tau), len(gamma)).

    ``scored`` holds one :func:`~bayes_scaling.discrepancy.evidence.held_out` dict per group
    with held-out runs (at least two); see the module docstring for the maths.
    """
    tau2 = np.asarray(tau, float)[:, None] ** 2
    out = np.empty((len(tau), len(gamma)))
    for j, gam in enumerate(gamma):
        c_hat, v = [], []
        for s in scored:
            a = np.asarray(s["d"], float) ** gam
            aa = float(a @ a)
            per_draw = (s["y"][None, :] - np.asarray(s["mu"], float)) @ a / aa  # (S,)
            sigma2 = np.asarray(s["sigma"], float).ravel() ** 2
            nu = None if s.get("nu") is None else np.maximum(np.ravel(s["nu"]), MIN_NU)
            factor = 1.0 if nu is None else nu / (nu - 2)
            c_hat.append(per_draw.mean())
            v.append(float(np.mean(sigma2 * factor)) / aa + float(per_draw.var()))
        c_hat, v = np.asarray(c_hat), np.asarray(v)[None, :]
        w = 1.0 / (tau2 + v)  # (T, G)
        c_bar = (w * c_hat).sum(axis=1, keepdims=True) / w.sum(axis=1, keepdims=True)
        out[:, j] = 0.5 * (
            np.log(w).sum(axis=1) - np.log(w.sum(axis=1)) - (w * (c_hat - c_bar) ** 2).sum(axis=1)
        )
    return out


def _group_posterior(post: xr.Dataset, group: str) -> xr.Dataset:
    return post.sel(group=group, drop=True) if "group" in post.dims else post


def group_cuts(runs: pd.DataFrame, law, groups, cut_on: str) -> list[float]:
    """Internal cuts of the whole table at which every group keeps runs that identify the law
    below the cut (:func:`~bayes_scaling.data.runs.check_runs_for_law`, at least
    max(10, 3·params) runs) and at least one run above it."""
    need = max(10, 3 * len(law.params))
    out = []
    for cut in internal_cuts(runs, cut_on, len(law.params)):
        ok = True
        for g in groups:
            mine = runs[runs["group"] == g]
            below, n_above = mine[mine[cut_on] < cut], int((mine[cut_on] >= cut).sum())
            try:
                check_runs_for_law(below, len(law.params), law.exponents, inputs=law.inputs)
            except RunsError:
                ok = False
            if len(below) < need or n_above < 1:
                ok = False
        if ok:
            out.append(cut)
    return out


def estimate_groups(
    fit_fn,
    runs: pd.DataFrame,
    law,
    likelihood: str,
    groups,
    cut_on: str = "compute",
    prior: DiscrepancyPrior | str | None = None,
    ratio: float = SPECIFIC_RATIO,
) -> GroupDiscrepancy:
    """The grouped fit's discrepancy: shared and specific grid posteriors from internal cuts.

    Parameters
    ----------
    fit_fn : callable
        ``fit_fn(table) -> posterior`` of the grouped model on the runs below a cut (group-varying
        parameters with dim ``group``), or None when that refit is not usable (the cut is skipped).
    runs : DataFrame
        The grouped fit's runs, with a ``group`` column.
    law, likelihood
    groups : sequence of str
    cut_on : str
        Axis of the internal cuts.
    prior : DiscrepancyPrior or str, optional
        The shared part's prior (:func:`~bayes_scaling.discrepancy.prior.resolve_prior`;
        default the learned one); the specific part's is :func:`specific_prior` of it.
    ratio : float
        ρ of the specific prior.
    """
    prior = resolve_prior(prior)
    spec_prior = specific_prior(prior, ratio)
    log_shared, log_spec = prior.log_weights.copy(), spec_prior.log_weights[0].copy()
    groups = tuple(groups)
    used, n_shared, used_spec, n_spec = [], 0, [], 0
    cuts = group_cuts(runs, law, groups, cut_on)
    for cut, above, dist, inner in internal_refits(fit_fn, runs, law, cuts, cut_on):
        scored = []
        for g in groups:
            mine = (above["group"] == g).to_numpy() & (dist > 0)
            if mine.any():
                part = above[mine].reset_index(drop=True)
                scored.append(held_out(_group_posterior(inner, g), law, part, dist[mine]))
        log_shared += _shared_evidence(likelihood, scored, prior)
        used.append(cut)
        n_shared += sum(len(s["y"]) for s in scored)
        if len(scored) >= 2:
            log_spec += contrast_loglik(scored, spec_prior.tau, spec_prior.gamma)
            used_spec.append(cut)
            n_spec += sum(len(s["y"]) for s in scored)
    reference = reference_sizes(runs, law)

    def record(grid_prior, log_post, cuts, n):
        weights = np.exp(log_post - log_post.max())
        return Discrepancy(
            drift=grid_prior.drift,
            tau=grid_prior.tau,
            gamma=grid_prior.gamma,
            weights=weights / weights.sum(),
            reference=reference,
            cut_on=cut_on,
            cuts=tuple(cuts),
            n_checked=n,
            prior=grid_prior.name,
        )

    return GroupDiscrepancy(
        record(prior, log_shared, used, n_shared),
        record(spec_prior, log_spec[None], used_spec, n_spec),
        groups,
    )


def _shared_evidence(likelihood, scored: list[dict], prior: DiscrepancyPrior) -> np.ndarray:
    """All groups' held-out runs at one cut sharing one error curve (one noise scale per draw
    when the groups share σ and ν; otherwise each group's runs are scored on their own), scored
    as the prior asks (:data:`~bayes_scaling.discrepancy.evidence.EVIDENCE`)."""
    score = EVIDENCE[prior.evidence]
    grid = {"tau": prior.tau, "gamma": prior.gamma, "drift": prior.drift}
    same_noise = all(
        np.array_equal(s["sigma"], scored[0]["sigma"])
        and (s["nu"] is None or np.array_equal(s["nu"], scored[0]["nu"]))
        for s in scored
    )
    if not same_noise:
        return sum(score(likelihood, **s, **grid) for s in scored)
    joined = {
        "y": np.concatenate([s["y"] for s in scored]),
        "mu": np.concatenate([s["mu"] for s in scored], axis=1),
        "sigma": scored[0]["sigma"],
        "nu": scored[0]["nu"],
        "d": np.concatenate([s["d"] for s in scored]),
    }
    return score(likelihood, **joined, **grid)
