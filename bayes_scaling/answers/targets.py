"""Target questions: will a run reach a target loss, and how much compute does it need?

Everything here is about a *run's* final loss, as it will be measured: the predictive loss
L(N, D; θ)·exp(δ + ε), with ε the fitted run-to-run noise on log loss (one ε per posterior draw)
and δ(N, D) the extrapolation discrepancy of the fit (zero inside the data, growing beyond it; one
error curve per draw, see :mod:`bayes_scaling.discrepancy.record`; left out with
``discrepancy=False``).

For every draw we solve for the compute at which that draw reaches the target,

    C_reach(θ, δ, ε) = min { C : L(N(C), D(C); θ)·exp(δ(C) + ε) ≤ target },

along the compute-optimal split N*(C; θ) (or a fixed tokens-per-parameter ratio). Under the law
no compute takes the loss below the irreducible loss E, so a target at or below a draw's E is
unreachable for that draw: C_reach = ∞ when target ≤ E (run noise and the discrepancy describe
how a run scatters around the law, not a way under its floor), and likewise when
E·exp(ε) ≥ target or no compute in the search range reaches it (the discrepancy can also keep
a draw above the target). Then

- P(loss ≤ target at C) = P(C_reach ≤ C), a draw with target ≤ E counting as a miss;
- the compute needed with probability p is the p-quantile of C_reach
  (:func:`bayes_scaling.answers.intervals.needed_quantiles`);
- q = P(C_reach = ∞) ≥ P(E ≥ target) is the probability that the target is *not reachable* at
  any compute; when p > 1 − q no compute gives probability p, and we say so
  (:func:`bayes_scaling._format.not_reachable`) instead of extrapolating a number.

Each answer also says how far it reaches: its compute as a multiple of the largest run's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import xarray as xr

from bayes_scaling import _format as fmt
from bayes_scaling import _validate as check
from bayes_scaling._constants import SAMPLE_DIMS
from bayes_scaling.answers.allocation import flops_of, loss_draws, require_optimum
from bayes_scaling.answers.intervals import needed_quantiles
from bayes_scaling.discrepancy.protocol import irreducible_loss, with_error
from bayes_scaling.errors import ArgumentError
from bayes_scaling.laws import ratio_split
from bayes_scaling.model.likelihoods import draw_noise

#: Compute searched for C_reach, as multiples of the largest run's compute.
SEARCH_MULTIPLES = (1e-6, 1e12)
#: Below this probability of "not reachable" the report does not raise it.
UNREACHABLE_NOTICE = 0.05
#: Probabilities at which :func:`target_answer` reports the compute needed, by default.
TARGET_PROBS = (0.5, 0.9)


def _sizes_at(fit, compute: np.ndarray, tokens_per_param, k):
    """N and D for budgets with dims (chain, draw) or scalar, on the optimal or a fixed split."""
    if tokens_per_param is not None:
        opt = ratio_split(compute, tokens_per_param, k)
    else:
        opt = fit.law.optimum(fit.posterior, compute, k)
    return opt["n_params"], opt["n_tokens"]


def _checked(fit, tokens_per_param, flops_per_param_token, seed, discrepancy, params=None):
    """The common arguments, validated: (tokens_per_param, k, seed, discrepancy, params)."""
    tokens_per_param = check.optional_positive(tokens_per_param, "tokens_per_param")
    params = check.optional_positive(params, "params")
    if params is not None and tokens_per_param is not None:
        raise ArgumentError("params", "give params (N) or tokens_per_param (D/N), not both")
    return (
        tokens_per_param,
        flops_of(fit, flops_per_param_token),
        check.seed(seed),
        check.flag(discrepancy, "discrepancy"),
        params,
    )


def run_loss_at(
    fit,
    compute,
    tokens_per_param=None,
    params=None,
    flops_per_param_token=None,
    seed=None,
    discrepancy=True,
    **aliases,
) -> xr.DataArray:
    """Predictive draws of a run's final loss at budget C (optimal split, a ratio, or a given N).

    ``k=`` is accepted as the old name of ``flops_per_param_token``.
    """
    flops_per_param_token = check.renamed(
        aliases, "k", "flops_per_param_token", flops_per_param_token, where="run_loss_at"
    )
    compute = check.positive(compute, "compute")
    tokens_per_param, k, seed, discrepancy, params = _checked(
        fit, tokens_per_param, flops_per_param_token, seed, discrepancy, params
    )
    if params is not None:
        n, d = params, compute / (k * params)
    else:
        if tokens_per_param is None:
            require_optimum(fit)
        n, d = _sizes_at(fit, compute, tokens_per_param, k)
    loss = loss_draws(fit, n, d, k, seed, discrepancy).broadcast_like(fit.posterior["sigma"])
    return loss * np.exp(_noise(fit, seed))


def _noise(fit, seed) -> xr.DataArray:
    post = fit.posterior
    seed = fit.settings.get("seed", 0) if seed is None else seed
    shape = (post.sizes["chain"], post.sizes["draw"], 1)
    eps = draw_noise(post, fit.settings.get("likelihood", "student_t"), shape, seed)[..., 0]
    return xr.DataArray(eps, dims=SAMPLE_DIMS)


#: Halvings of the search interval of log C (about 40 nats wide): to < 1e-9, a relative precision
#: of C far below any band's width (60 halvings cost 5/3 the time for nothing).
BISECTIONS = 36


def compute_to_reach(
    fit,
    target: float,
    tokens_per_param=None,
    flops_per_param_token=None,
    seed=None,
    discrepancy=True,
    **aliases,
) -> xr.DataArray:
    """Per-draw C_reach (FLOPs; ∞ where a draw never reaches ``target``), bisecting in log C.

    ``k=`` is accepted as the old name of ``flops_per_param_token``.
    """
    flops_per_param_token = check.renamed(
        aliases, "k", "flops_per_param_token", flops_per_param_token, where="compute_to_reach"
    )
    target = check.positive(target, "target")
    tokens_per_param, k, seed, discrepancy, _ = _checked(
        fit, tokens_per_param, flops_per_param_token, seed, discrepancy
    )
    require_optimum(fit)
    largest = float(fit.runs["compute"].max())
    factor = np.exp(_noise(fit, seed).values)
    misses = _misses(fit, target, factor, tokens_per_param, k, seed, discrepancy)
    lo = np.full(factor.shape, np.log(largest * SEARCH_MULTIPLES[0]))
    hi = np.full(factor.shape, np.log(largest * SEARCH_MULTIPLES[1]))
    below_floor = _below_floor(fit, target, factor.shape)
    never = misses(hi) | below_floor
    already = ~misses(lo) & ~below_floor
    for _ in range(BISECTIONS):
        mid = (lo + hi) / 2
        miss = misses(mid)
        lo, hi = np.where(miss, mid, lo), np.where(miss, hi, mid)
    c = np.where(already, largest * SEARCH_MULTIPLES[0], np.exp(hi))
    return xr.DataArray(np.where(never, np.inf, c), dims=SAMPLE_DIMS, name="compute_to_reach")


def _below_floor(fit, target: float, shape) -> np.ndarray:
    """Per draw, whether ``target`` ≤ that draw's floor: its irreducible loss E
    (:func:`~bayes_scaling.discrepancy.protocol.irreducible_loss`, 0 for a law without one),
    which neither the law nor its error (:func:`~bayes_scaling.discrepancy.protocol.with_error`)
    goes below."""
    post = fit.posterior.transpose(*SAMPLE_DIMS, ...)
    floor = np.asarray(irreducible_loss(fit.law, post), float)
    return np.broadcast_to(floor >= target, shape)


def _misses(fit, target, factor, tokens_per_param, k, seed, discrepancy):
    """``misses(log_c) -> bool array``: per draw, whether a new run at compute e^log_c (on the
    draw's split) lands above ``target`` — :func:`loss_draws` times the run noise ``factor``, in
    plain numpy (the bisection calls it ~40 times)."""
    p = {name: fit.posterior[name].values for name in fit.law.params}
    disc = fit.discrepancy if discrepancy else None
    if disc is not None:
        seed = fit.settings.get("seed", 0) if seed is None else seed
        curves = disc.curves(draws_shape=factor.shape, seed=seed)  # the draws of disc.error
        floor = np.asarray(irreducible_loss(fit.law, p))

    def misses(log_c):
        compute = np.exp(log_c)
        if tokens_per_param is not None:
            split = ratio_split(compute, tokens_per_param, k)
        else:
            split = fit.law.optimum(p, compute, k)
        loss = fit.law.fn(split, p, np)
        if disc is not None:
            sizes = {**split, "compute": k * split["n_params"] * split["n_tokens"]}
            far = [np.asarray(d) for d in disc.term_distances(sizes)]
            error = sum(c * d**g for (c, g), d in zip(curves, far, strict=True))
            loss = with_error(loss, error, floor)
        return loss * factor > target

    return misses


@dataclass(frozen=True)
class TargetAnswer:
    """Answers about one target loss."""

    target: float
    prob_unreachable: float  # q = P(never reached at any compute)
    prob_irreducible_above: float  # P(E ≥ target), law only
    compute_needed: dict  # {p: FLOPs or None when not reachable with probability p}
    multiple_of_largest: dict  # {p: compute_needed / largest run's compute}
    largest_run_compute: float

    def to_dict(self) -> dict:
        return asdict(self)

    def sentences(self) -> list[str]:
        """Plain-language statements, never hiding an unreachable target behind a number."""
        out = []
        if self.prob_unreachable >= UNREACHABLE_NOTICE:
            out.append(
                f"The target {self.target:.4g} nats is not reachable at any compute with "
                f"probability {fmt.prob(self.prob_unreachable)} (the irreducible loss E is above "
                f"it with probability {fmt.prob(self.prob_irreducible_above)}; run noise and the "
                "law's error keep more draws above it)."
            )
        for p, c in self.compute_needed.items():
            if c is None:
                out.append(
                    f"No compute reaches {self.target:.4g} nats with probability {fmt.prob(p)}: "
                    f"{fmt.not_reachable(p, self.prob_unreachable)}."
                )
            else:
                out.append(
                    f"Reaching {self.target:.4g} nats with probability {fmt.prob(p)} needs about "
                    f"{fmt.flops(c)} FLOPs, {fmt.multiple(self.multiple_of_largest[p])} the "
                    "largest run."
                )
        return out


def target_answer(
    fit,
    target: float,
    prob=None,
    tokens_per_param=None,
    flops_per_param_token=None,
    seed=None,
    discrepancy=True,
    **aliases,
) -> TargetAnswer:
    """Compute needed for a target loss at each probability, and how likely it is unreachable.

    ``prob`` is one probability or several (default :data:`TARGET_PROBS`); ``probs=`` and ``k=``
    are accepted as the old names of ``prob`` and ``flops_per_param_token``.
    """
    where = "target_answer"
    prob = check.renamed(aliases, "probs", "prob", prob, where, others=("k",))
    flops_per_param_token = check.renamed(
        aliases, "k", "flops_per_param_token", flops_per_param_token, where, others=("probs",)
    )
    probs = check.probabilities(TARGET_PROBS if prob is None else prob, "prob")
    target = check.positive(target, "target")
    c_reach = compute_to_reach(
        fit, target, tokens_per_param, flops_per_param_token, seed, discrepancy
    )
    largest = float(fit.runs["compute"].max())
    found = needed_quantiles(c_reach, probs)
    needed = found.values
    multiple = {p: None if c is None else c / largest for p, c in needed.items()}
    q = found.prob_unreachable
    return TargetAnswer(
        target=target,
        prob_unreachable=q,
        prob_irreducible_above=float((fit.posterior["E"] >= target).mean()),
        compute_needed=needed,
        multiple_of_largest=multiple,
        largest_run_compute=largest,
    )


def prob_reach(
    fit,
    compute: float,
    target: float,
    tokens_per_param=None,
    params=None,
    flops_per_param_token=None,
    seed=None,
    discrepancy=True,
    **aliases,
) -> float:
    """P(a run's final loss ≤ target) at budget C: optimal split, a ratio, or a given N; a draw
    whose irreducible loss E is at or above the target never reaches it.

    ``k=`` is accepted as the old name of ``flops_per_param_token``.
    """
    flops_per_param_token = check.renamed(
        aliases, "k", "flops_per_param_token", flops_per_param_token, where="prob_reach"
    )
    target = check.positive(target, "target")
    loss = run_loss_at(
        fit, compute, tokens_per_param, params, flops_per_param_token, seed, discrepancy
    )
    below = _below_floor(fit, target, tuple(loss.sizes[d] for d in SAMPLE_DIMS))
    return float(((loss <= target).transpose(*SAMPLE_DIMS).values & ~below).mean())
