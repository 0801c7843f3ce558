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
from typing import ClassVar

import numpy as np
import xarray as xr

from bayes_scaling._numeric import grid_quantiles
from bayes_scaling.discrepancy.protocol import error_of_curves
from bayes_scaling.discrepancy.record import READERS, Discrepancy
from bayes_scaling.errors import ArgumentError

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
    reference, cut_on, cuts, n_checked, learned, prior
        The shared part's (the protocol's attributes: every group's runs informed it).
    kind, scale : str
        ``"group"`` and ``"log loss"``.
    """

    kind: ClassVar[str] = KIND
    scale: ClassVar[str] = "log loss"

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

    @property
    def cut_on(self) -> str:
        return self.shared.cut_on

    @property
    def cuts(self) -> tuple:
        return self.shared.cuts

    @property
    def n_checked(self) -> int:
        return self.shared.n_checked

    @property
    def prior(self) -> str:
        return self.shared.prior

    def quantiles(self, probs=(0.05, 0.5, 0.95)) -> np.ndarray:
        """Posterior quantiles of a group's error sd one decade beyond the data,
        sqrt(τ² + τ'²) (the two parts' grid posteriors independent, marginal over m and γ)."""
        w_shared = self.shared.weights.sum(axis=(0, 2))
        w_spec = self.specific.weights.sum(axis=(0, 2))
        sd = np.hypot(self.shared.tau[:, None], self.specific.tau[None, :]).ravel()
        w = (w_shared[:, None] * w_spec[None, :]).ravel()
        return grid_quantiles(sd, w, probs)

    def for_group(self, group: str) -> GroupDiscrepancy:
        """The record that answers for one group (its bands carry shared + its own error)."""
        if group not in self.groups:
            raise KeyError(f"no group {group!r}; groups: {list(self.groups)}")
        return replace(self, group=str(group))

    def describe(self) -> str:
        """One sentence: the shared part's, then the specific part's scale and evidence."""
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

    def term_distances(self, sizes) -> tuple:
        """Both terms (shared, specific) on d(x)."""
        return (self.distance(sizes),) * 2

    def _group(self, group) -> str:
        group = self.group if group is None else group
        if group not in self.groups:
            raise ArgumentError("group", f"name the group (one of {list(self.groups)})")
        return group

    def curves(self, *, draws_shape, seed, group=None) -> tuple:
        """Per-draw terms of δ_shared + δ_g: the shared and the specific (coefficient, γ), arrays
        of ``draws_shape``, so that δ(d) = c_shared·d^γ_shared + c_specific·d^γ_specific.

        The shared term is the same for every group (the same ``seed``); the specific part's
        (τ', γ') draws are shared by the groups, its η is the group's own (``group``, default
        the record's own :attr:`group`)."""
        index = 1 + self.groups.index(self._group(group))
        drift, tau, gamma = self.specific.draw_scale(draws_shape, _stream(seed, 0))
        eta = np.random.default_rng(_stream(seed, index)).standard_normal(draws_shape)
        (shared,) = self.shared.curves(draws_shape=draws_shape, seed=seed)
        return (shared, (drift + tau * eta, gamma))

    def error(self, sizes, *, draws_shape, seed, group=None) -> xr.DataArray:
        """δ_shared(x) + δ_g(x) on log loss, dims (chain, draw, ...point dims)."""
        return error_of_curves(
            self.curves(draws_shape=draws_shape, seed=seed, group=group), self.distance(sizes)
        )

    def shift_and_sd(self, sizes, *, draws_shape, seed, group=None) -> tuple[xr.DataArray, ...]:
        """Per-draw mean and sd of δ_shared + δ_g given the draws' scales (the η integrated out):
        m·d^γ and sqrt(τ²·d^{2γ} + τ'²·d^{2γ'}) (the same for every group)."""
        if group is not None:
            self._group(group)
        shift, sd = self.shared.shift_and_sd(sizes, draws_shape=draws_shape, seed=seed)
        _, sd_g = self.specific.shift_and_sd(sizes, draws_shape=draws_shape, seed=_stream(seed, 0))
        return shift, np.sqrt(sd**2 + sd_g**2)

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
        """The record of a dataset written by :meth:`to_dataset`."""
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
