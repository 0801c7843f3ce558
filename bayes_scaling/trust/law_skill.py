"""Law forms weighed by how they extrapolate: stacking on backtest skill, not on in-sample LOO.

PSIS-LOO (:func:`bayes_scaling.trust.law_choice.compare_laws`) weighs laws by how well each
predicts a run it did not see *among the runs it saw*: an interpolation score. A law is used to
extrapolate, and two forms that fit a ladder equally well can part beyond it. Here each law is
refitted below internal cuts of the table and scored on the runs above them, with its
extrapolation discrepancy (the band users get):

1. cuts c_1 < c_2 < … inside the table, each with a share ``fractions`` of the runs below it
   (:func:`bayes_scaling.discrepancy.evidence.internal_cuts`, on ``cut_on``), the same for every
   law so that all laws predict the same held-out points;
2. for each law k and cut j, :func:`bayes_scaling.trust.backtests.backtest` fits the runs below
   c_j and gives each held-out run i its log predictive density of log y_i,
   ℓ_ik = log mean_s p(log y_i | θ_s, δ_s) (draws s of the posterior and of the discrepancy);
3. every (cut, held-out run) pair is one prediction task i, and the stacking weights
   (Yao et al. 2018, on these held-out densities instead of LOO ones) maximise::

       Σ_i log Σ_k w_k · exp(ℓ_ik)      over the simplex w_k ≥ 0, Σ_k w_k = 1.

   The objective is concave in w; it is maximised by the EM fixed point
   w_k ← mean_i [w_k e^{ℓ_ik} / Σ_j w_j e^{ℓ_ij}], which stays on the simplex and never
   decreases the objective (:func:`stack_densities`).

The weights and what they rest on form a :class:`LawSkill`: the cuts, the held-out runs per
cut, each law's mean held-out log density, whether each refit converged, and the LOO weights
beside them. The skill and LOO weights **disagree** when their total-variation distance
½·Σ_k |w_k^skill − w_k^LOO| exceeds :data:`DISAGREE_TV` (a quarter of the weight has moved);
then the stacked predictive with the skill weights is the default band of the law comparison
(:meth:`LawSkill.default_weights`, :func:`skill_bands`); otherwise the LOO weights stand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayes_scaling import _validate as check
from bayes_scaling._lazy import scipy_function
from bayes_scaling.discrepancy.evidence import internal_cuts
from bayes_scaling.errors import ArgumentError
from bayes_scaling.priors.learned import OVERRIDES
from bayes_scaling.trust.backtests import CUT_COLUMNS, backtest
from bayes_scaling.trust.law_choice import (
    _check_same_runs,
    compare_laws,
    stacked_bands,
    weights_of,
)

logsumexp = scipy_function("special", "logsumexp")  # SciPy on first use

#: Shares of the runs (sorted on the cut axis) below each internal cut.
SKILL_FRACTIONS = (0.6, 0.75)
#: Total-variation distance between skill and LOO weights above which they disagree.
DISAGREE_TV = 0.25
#: Held-out log densities below this (nats) are clipped: one absurd miss should cost a law
#: much, not make the objective infinite for every weight.
FLOOR = -50.0


def stack_densities(lpd, *, tol: float = 1e-10, max_iter: int = 10_000) -> np.ndarray:
    """Stacking weights of K predictive distributions from their pointwise log densities.

    Maximises Σ_i log Σ_k w_k·exp(ℓ_ik) over the simplex by the EM fixed point
    w_k ← mean_i r_ik, r_ik = w_k e^{ℓ_ik} / Σ_j w_j e^{ℓ_ij}, from equal weights, until no
    weight moves by more than ``tol``. The objective is concave, so the fixed point is its
    maximum.

    Parameters
    ----------
    lpd : array (n_points, K)
        Log predictive densities ℓ_ik of point i under distribution k (nats); non-finite values
        and values below :data:`FLOOR` count as :data:`FLOOR`.

    Returns
    -------
    ndarray (K,)
        Non-negative weights summing to one.

    Examples
    --------
    >>> lpd = np.log([[0.9, 0.1], [0.8, 0.3], [0.7, 0.2]])
    >>> w = stack_densities(lpd)
    >>> bool(w[0] > 0.99 and abs(w.sum() - 1) < 1e-12)
    True
    """
    lpd = np.asarray(lpd, float)
    if lpd.ndim != 2 or lpd.shape[0] == 0 or lpd.shape[1] == 0:
        raise ArgumentError("lpd", f"expected a (points, laws) array, got shape {lpd.shape}")
    lpd = np.where(np.isfinite(lpd), np.maximum(lpd, FLOOR), FLOOR)
    lpd = lpd - lpd.max(axis=1, keepdims=True)  # a common shift per point: same weights
    w = np.full(lpd.shape[1], 1.0 / lpd.shape[1])
    for _ in range(max_iter):
        log_joint = lpd + np.log(np.maximum(w, 1e-300))
        resp = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
        new = resp.mean(axis=0)
        new /= new.sum()
        if np.max(np.abs(new - w)) < tol:
            w = new
            break
        w = new
    return w


def stacking_score(lpd, weights) -> float:
    """Σ_i log Σ_k w_k·exp(ℓ_ik), the objective :func:`stack_densities` maximises."""
    lpd = np.asarray(lpd, float)
    lpd = np.where(np.isfinite(lpd), np.maximum(lpd, FLOOR), FLOOR)
    w = np.asarray(weights, float)
    return float(logsumexp(lpd + np.log(np.maximum(w, 1e-300)), axis=1).sum())


@dataclass(frozen=True)
class LawSkill:
    """Law weights from backtest skill, with what they rest on.

    Attributes
    ----------
    weights : dict
        Law name to its stacking weight on held-out log densities (sums to one).
    loo_weights : dict or None
        The PSIS-LOO stacking weights of the same fits, when known.
    cuts : list of float
        The internal cuts (values of ``cut_on``), the same for every law.
    cut_on : str
    held_out : dict
        Cut to the number of held-out runs scored there.
    mean_lpd : dict
        Law name to its mean held-out log predictive density (nats, of log loss; higher is
        better).
    converged : dict
        Law name to ``{cut: converged}`` of its refits.
    pointwise : DataFrame
        One row per (cut, held-out run): ``cut``, ``run_id`` and one column of ℓ_ik per law.
    """

    weights: dict
    loo_weights: dict | None
    cuts: list
    cut_on: str
    held_out: dict
    mean_lpd: dict
    converged: dict
    pointwise: pd.DataFrame = field(repr=False)

    @property
    def distance(self) -> float | None:
        """Total-variation distance ½·Σ_k |w_k^skill − w_k^LOO| (None without LOO weights)."""
        if self.loo_weights is None:
            return None
        laws = set(self.weights) | set(self.loo_weights)
        return 0.5 * sum(abs(self.weights.get(k, 0.0) - self.loo_weights.get(k, 0.0)) for k in laws)

    @property
    def disagree(self) -> bool | None:
        """True when the skill and LOO weights are more than :data:`DISAGREE_TV` apart."""
        d = self.distance
        return None if d is None else bool(d > DISAGREE_TV)

    @property
    def default_weights(self) -> dict:
        """The weights of the law comparison's default band: the skill weights when they
        disagree with LOO's (or no LOO weights are known), else the LOO weights."""
        if self.loo_weights is None or self.disagree:
            return dict(self.weights)
        return dict(self.loo_weights)

    @property
    def weights_from(self) -> str:
        """Which weights :attr:`default_weights` are: ``"backtest skill"`` or ``"PSIS-LOO"``."""
        return "PSIS-LOO" if self.default_weights == self.loo_weights else "backtest skill"

    def table(self) -> pd.DataFrame:
        """One row per law: ``skill_weight``, ``loo_weight``, ``mean_lpd``, ``held_out`` (runs
        scored over all cuts) and ``converged`` (every refit passed the gate)."""
        n = int(sum(self.held_out.values()))
        rows = {
            law: {
                "skill_weight": w,
                "loo_weight": np.nan if self.loo_weights is None else self.loo_weights.get(law),
                "mean_lpd": self.mean_lpd[law],
                "held_out": n,
                "converged": all(self.converged[law].values()),
            }
            for law, w in self.weights.items()
        }
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("law")

    def sentence(self) -> str:
        """What the weights say and rest on, in one paragraph for the report."""
        lead = max(self.weights, key=self.weights.get)
        cuts = ", ".join(f"{c:.3g}" for c in self.cuts)
        held = ", ".join(str(v) for v in self.held_out.values())
        many = len(self.cuts) > 1
        text = (
            f"Weighed by how they extrapolate (refitted below {len(self.cuts)} internal "
            f"{self.cut_on} cut{'s' if many else ''} ({cuts}) and scored on the {held} runs "
            f"above {'them' if many else 'it'}, with their discrepancy), the laws' stacking "
            "weights are "
            + ", ".join(f"{k} {v:.2f}" for k, v in self.weights.items())
            + f"; {lead} predicted the held-out runs best "
            f"(mean log density {self.mean_lpd[lead]:.2f})."
        )
        if self.disagree is None:
            return text
        if self.disagree:
            return text + (
                f" These weights disagree with the PSIS-LOO ones (total-variation distance "
                f"{self.distance:.2f} > {DISAGREE_TV}): fitting the runs seen and predicting "
                "beyond them favour different laws, so the default band mixes the laws by "
                "their backtest skill."
            )
        return text + (
            f" They agree with the PSIS-LOO weights (total-variation distance "
            f"{self.distance:.2f} ≤ {DISAGREE_TV})."
        )


def _cuts(runs: pd.DataFrame, laws, cut_on: str, fractions) -> list[float]:
    n_params = max(len(law.params) for law in laws)
    cuts = internal_cuts(runs, cut_on, n_params, fractions)
    if not cuts:
        raise ArgumentError(
            "fractions",
            f"leave no internal cut on {cut_on} of these {len(runs)} runs with at least "
            f"max(10, 3·{n_params}) runs below and 3 above; give more runs or other fractions",
        )
    return cuts


def refit_priors(fit):
    """The priors a refit of ``fit`` below a cut takes: the same choice, made again for the cut's
    runs. None for the defaults, ``"learned"`` for the learned prior (both rescaled to the
    runs below the cut), and the fit's own overrides as given (they do not depend on the
    runs); never the fit's resolved priors, which are scaled to every run, held-out ones too."""
    label = str(fit.settings.get("priors", "default"))
    if label == "default":
        return None
    if label.startswith(OVERRIDES):
        names = label.removeprefix(OVERRIDES).split(", ")
        return {n: fit.priors[n] for n in names if n in fit.priors}
    return "learned"


def law_skill(
    fits: Mapping,
    *,
    cut_on: str = "compute",
    fractions: Sequence[float] = SKILL_FRACTIONS,
    cuts=None,
    seed: int = 0,
    loo: bool = True,
    client="serial",
    **fit_kwargs,
) -> LawSkill:
    """Weigh fitted laws by their backtest skill: stacking on held-out log densities.

    Parameters
    ----------
    fits : mapping of str to ScalingFit
        Fits of different laws to the same runs table (names as in :func:`compare_laws`).
    cut_on : {"compute", "n_params", "n_tokens"}
        Axis of the internal cuts.
    fractions : sequence of float
        Share of the runs below each cut (default :data:`SKILL_FRACTIONS`); a cut that leaves
        fewer than max(10, 3 × the most parameters of a law) runs below it or 3 above is
        dropped.
    cuts : float or sequence of float, optional
        The cuts themselves (values of ``cut_on``), instead of ``fractions``: for short ladders
        whose fractions leave no cut (each must leave runs on both sides).
    seed : int
        Seed of the refits and of the predictive draws.
    loo : bool
        Also compute the PSIS-LOO stacking weights, to say whether the two disagree.
    client : "serial", None, dask.distributed.Client or str
        Where the refits run (see :func:`bayes_scaling.fit_many`).
    **fit_kwargs
        Passed to each refit (e.g. ``draws``, ``chains``); the noise model is each fit's own.

    Returns
    -------
    LawSkill

    Examples
    --------
    >>> skill = law_skill({"chinchilla": a, "farseer": b})       # doctest: +SKIP
    >>> skill.table(); skill.sentence(); skill.default_weights   # doctest: +SKIP
    """
    _check_same_runs(fits)
    cut_on = check.one_of(cut_on, "cut_on", CUT_COLUMNS)
    seed = check.count(seed, "seed", minimum=0)
    fractions = [check.probability(f, "fractions") for f in np.atleast_1d(fractions)]
    loo = check.flag(loo, "loo")
    runs = next(iter(fits.values())).runs
    if cuts is None:
        cuts = _cuts(runs, [f.law for f in fits.values()], cut_on, fractions)
    else:
        cuts = [float(c) for c in check.positive_array(cuts, "cuts")]
    frames, converged = {}, {}
    for name, f in fits.items():
        options = {"likelihood": f.settings.get("likelihood", "student_t"), **fit_kwargs}
        options.setdefault("priors", refit_priors(f))
        table = backtest(
            runs, f.law, cut=cuts, cut_on=cut_on, prob=[0.9], seed=seed, client=client, **options
        )
        frames[name] = table.set_index(["cut", "run_id"])["log_pred_density"]
        converged[name] = {float(c): bool(v) for c, v in table.attrs["converged"].items()}
    pointwise = pd.DataFrame(frames).reset_index()
    lpd = pointwise[list(fits)].to_numpy(float)
    weights = dict(zip(fits, (float(w) for w in stack_densities(lpd)), strict=True))
    return LawSkill(
        weights=weights,
        loo_weights=weights_of(compare_laws(fits)) if loo else None,
        cuts=[float(c) for c in cuts],
        cut_on=cut_on,
        held_out={float(c): int(n) for c, n in pointwise.groupby("cut").size().items()},
        mean_lpd={k: float(np.mean(pointwise[k])) for k in fits},
        converged=converged,
        pointwise=pointwise,
    )


def skill_bands(fits: Mapping, skill: LawSkill, **kwargs):
    """The law comparison's default band: :func:`stacked_bands` with ``skill.default_weights``
    (the skill weights when they disagree with LOO's), ``attrs["weights_from"]`` saying which.

    ``kwargs`` as in :func:`bayes_scaling.trust.law_choice.stacked_bands` (sizes, ``prob``,
    ``seed``, ``discrepancy``).
    """
    if not isinstance(skill, LawSkill):
        raise ArgumentError("skill", "expected the LawSkill that law_skill() returns")
    ds = stacked_bands(fits, skill.default_weights, **kwargs)
    ds.attrs["weights_from"] = skill.weights_from
    return ds
