"""Target questions: will a run reach a target loss, and how much compute does it need?

Everything here is about a *run's* final loss, as it will be measured: the predictive loss
L(N, D; θ)·exp(δ + ε), with ε the fitted run-to-run noise on log loss (one ε per posterior draw)
and δ(N, D) the extrapolation discrepancy of the fit (zero inside the data, growing beyond it; one
error curve per draw, see :mod:`bayes_scaling.discrepancy.record`; left out with
``discrepancy=False``).

For every draw we solve for the compute at which that draw reaches the target,

    C_reach(θ, δ, ε) = min { C : L(N(C), D(C); θ)·exp(δ(C) + ε) ≤ target },

along the compute-optimal split N*(C; θ) (or a fixed tokens-per-parameter ratio; a law in
compute alone, L(C), needs no split). Under the law
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

import numpy as np
import xarray as xr

from bayes_scaling import _validate as check
from bayes_scaling._constants import SAMPLE_DIMS
from bayes_scaling.answers.allocation import flops_of, frontier_draws, loss_draws
from bayes_scaling.answers.choices import check_choice, refuse_split, require_optimum
from bayes_scaling.answers.intervals import needed_quantiles
from bayes_scaling.answers.target_answer import SEARCH_MULTIPLES, TargetAnswer
from bayes_scaling.discrepancy.protocol import irreducible_loss, with_error
from bayes_scaling.errors import ArgumentError
from bayes_scaling.laws import ratio_split
from bayes_scaling.model.likelihoods import draw_noise

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
    if fit.law.reads_compute_only:
        refuse_split(fit, params, tokens_per_param)
        loss = frontier_draws(fit, compute, seed, discrepancy)
    else:
        if params is not None:
            n, d = params, compute / (k * params)
        else:
            if tokens_per_param is None:
                require_optimum(fit)
            n, d = _sizes_at(fit, compute, tokens_per_param, k)
        loss = loss_draws(fit, n, d, k, seed, discrepancy)
    return loss.broadcast_like(fit.posterior["sigma"]) * np.exp(_noise(fit, seed))


def _noise(fit, seed) -> xr.DataArray:
    post = fit.posterior
    seed = fit.settings.get("seed", 0) if seed is None else seed
    shape = (post.sizes["chain"], post.sizes["draw"], 1)
    eps = draw_noise(post, fit.settings.get("likelihood", "student_t"), shape, seed)[..., 0]
    return xr.DataArray(eps, dims=SAMPLE_DIMS)


#: Points a decade of the log-compute grid scanned for each draw's first crossing: the loss need
#: not fall with compute all the way (a drift can turn it up again far out), so the search looks
#: for the smallest C that reaches the target, not for a sign change between the ends.
SCAN_PER_DECADE = 2
#: Halvings of the bracket the scan leaves (half a decade, 1.15 nats) to < 1e-9 nats: a relative
#: precision of C far below any band's width.
BISECTIONS = 31
#: Passes of the fixed point for the local misfit g at the crossing (it moves with the position
#: only on the GP's length scale, so 2-3 passes settle it to < 1e-6 of log loss).
LOCAL_PASSES = 4
#: Change of g (log loss) between passes below which the fixed point has settled.
LOCAL_TOLERANCE = 1e-6


def compute_to_reach(
    fit,
    target: float,
    tokens_per_param=None,
    flops_per_param_token=None,
    seed=None,
    discrepancy=True,
    **aliases,
) -> xr.DataArray:
    """Per-draw C_reach (FLOPs; ∞ where a draw never reaches ``target``): the first point of a
    log-compute grid (:data:`SCAN_PER_DECADE`) at which the draw's run loss is at or below the
    target, refined by bisection against the grid point before it.

    The local misfit g (:mod:`bayes_scaling.discrepancy.local`) depends on where the draw's run
    lies, which is what is solved for: it is held at its value at the previous pass's crossing
    and the crossing solved again, until it settles (:data:`LOCAL_PASSES`). So C_reach ≤ C
    exactly when :func:`run_loss_at` at C is at or below the target, draw by draw (up to the
    grid: a dip below the target narrower than half a decade can be missed).

    ``k=`` is accepted as the old name of ``flops_per_param_token``.
    """
    flops_per_param_token = check.renamed(
        aliases, "k", "flops_per_param_token", flops_per_param_token, where="compute_to_reach"
    )
    target = check.positive(target, "target")
    tokens_per_param, k, seed, discrepancy, _ = _checked(
        fit, tokens_per_param, flops_per_param_token, seed, discrepancy
    )
    check_choice(fit, tokens_per_param=tokens_per_param)
    largest = float(fit.runs["compute"].max())
    factor = np.exp(_noise(fit, seed).values)
    misses, local_at = _misses(fit, target, factor, tokens_per_param, k, seed, discrepancy)
    decades = np.log10(SEARCH_MULTIPLES)
    grid = np.log(largest) + np.log(10) * np.linspace(
        *decades, int(round((decades[1] - decades[0]) * SCAN_PER_DECADE)) + 1
    )
    g = (
        np.zeros(factor.shape)
        if local_at is None
        else local_at(np.full(factor.shape, np.log(largest)))
    )
    for _ in range(LOCAL_PASSES):
        log_c = _first_crossing(misses, grid, g)
        if local_at is None:
            break
        settled = local_at(np.where(np.isfinite(log_c), log_c, grid[-1]))
        done = np.max(np.abs(settled - g)) < LOCAL_TOLERANCE
        g = settled
        if done:
            break
    never = ~np.isfinite(log_c) | _below_floor(fit, target, factor.shape)
    c = np.exp(np.where(never, 0.0, log_c))
    return xr.DataArray(np.where(never, np.inf, c), dims=SAMPLE_DIMS, name="compute_to_reach")


def _first_crossing(misses, grid: np.ndarray, g) -> np.ndarray:
    """Per draw, log C of the first crossing of the target on ``grid`` (bisected to
    :data:`BISECTIONS` halvings of its step), the grid's first point when it is reached there,
    and +∞ when it is reached nowhere on the grid."""
    shape = np.shape(g)
    reached = np.stack([~misses(np.full(shape, c), g) for c in grid])  # (grid, *draws)
    first = np.argmax(reached, axis=0)
    hi = grid[first]
    lo = grid[np.maximum(first - 1, 0)]
    for _ in range(BISECTIONS):
        mid = (lo + hi) / 2
        miss = misses(mid, g)
        lo, hi = np.where(miss, mid, lo), np.where(miss, hi, mid)
    hi = np.where(first == 0, grid[0], hi)
    return np.where(reached.any(axis=0), hi, np.inf)


def _below_floor(fit, target: float, shape) -> np.ndarray:
    """Per draw, whether ``target`` ≤ that draw's floor: its irreducible loss E
    (:func:`~bayes_scaling.discrepancy.protocol.irreducible_loss`, 0 for a law without one),
    which neither the law nor its error (:func:`~bayes_scaling.discrepancy.protocol.with_error`)
    goes below."""
    post = fit.posterior.transpose(*SAMPLE_DIMS, ...)
    floor = np.asarray(irreducible_loss(fit.law, post), float)
    return np.broadcast_to(floor >= target, shape)


def _misses(fit, target, factor, tokens_per_param, k, seed, discrepancy):
    """``(misses, local_at)``: ``misses(log_c, g)`` says per draw whether a new run at compute
    e^log_c (on the draw's split) lands above ``target`` — :func:`loss_draws` times the run noise
    ``factor``, the local misfit held at ``g``, in plain numpy (the search calls it ~70 times);
    ``local_at(log_c)`` is the draws' local misfit g at those computes (their marginal, one
    normal per draw: :meth:`~bayes_scaling.discrepancy.local.LocalMisfit.along`), None without
    one."""
    p = {name: fit.posterior[name].values for name in fit.law.params}
    disc = fit.discrepancy if discrepancy else None
    local = None if disc is None else disc.local
    if disc is not None:
        seed = fit.settings.get("seed", 0) if seed is None else seed
        curve_error = disc.curve_error(draws_shape=factor.shape, seed=seed)  # disc.error's
        floor = np.asarray(irreducible_loss(fit.law, p))
        normals = None if local is None else local.normals(factor.shape, seed)

    table = {}

    def split_at(log_c):
        compute = np.exp(log_c)
        if fit.law.reads_compute_only:  # L(C): no split
            return {"n_params": None, "n_tokens": None, "compute": compute}
        if tokens_per_param is not None:
            return ratio_split(compute, tokens_per_param, k)
        if not getattr(fit.law.optimum, "numerical", False):
            return fit.law.optimum(p, compute, k)
        if not table:  # a search per call would be ~270 searches: tabulate once per draw
            table.update(_tabulate_optimum(fit, p, k))
        n = np.exp(_interpolate(table, log_c))
        return {"n_params": n, "n_tokens": compute / (k * n)}

    def misses(log_c, g):
        split = split_at(log_c)
        loss = fit.law.fn(split, p, np)
        if disc is not None:
            sizes = (
                split
                if "compute" in split
                else {**split, "compute": k * split["n_params"] * split["n_tokens"]}
            )
            loss = with_error(loss, curve_error(sizes) + g, floor)
        return ~(loss * factor <= target)  # a NaN loss (a draw nowhere finite) misses

    def local_at(log_c):
        split = split_at(log_c)
        return local.along(split["n_params"], split["n_tokens"], normals)

    return misses, (None if local is None else local_at)


#: Knots a decade of the table of log N*(log C) per draw that the search reads a numerical
#: optimum from (linear in log C between them: exact for a power-law optimum; on a Farseer fit
#: of the demo table C_reach moved by 1.2e-5 relative at most, against a search per call, and
#: took 0.96 s instead of 2.5).
TABLE_PER_DECADE = 4


def _tabulate_optimum(fit, p: dict, k: float) -> dict:
    """log N* per draw on knots of log C over the search's whole range (one vectorised search)."""
    largest = float(fit.runs["compute"].max())
    lo, hi = (np.log(largest * m) for m in SEARCH_MULTIPLES)
    step = np.log(10) / TABLE_PER_DECADE
    knots = np.arange(lo - step, hi + 2 * step, step)
    wide = {name: np.asarray(v)[..., None] for name, v in p.items()}
    log_n = np.log(fit.law.optimum(wide, np.exp(knots), k)["n_params"])
    return {"start": knots[0], "step": step, "log_n": log_n}


def _interpolate(table: dict, log_c) -> np.ndarray:
    """log N* of each draw at its own log C, linear between the table's knots."""
    log_n = table["log_n"]
    pos = (np.asarray(log_c, float) - table["start"]) / table["step"]
    i = np.clip(np.floor(pos), 0, log_n.shape[-1] - 2).astype(int)
    lower = np.take_along_axis(log_n, i[..., None], axis=-1)[..., 0]
    upper = np.take_along_axis(log_n, i[..., None] + 1, axis=-1)[..., 0]
    return lower + (pos - i) * (upper - lower)


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
        prob_irreducible_above=float(np.mean(irreducible_loss(fit.law, fit.posterior) >= target)),
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
