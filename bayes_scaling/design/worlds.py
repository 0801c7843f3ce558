"""The current posterior as arrays, and the fantasy worlds a design is judged in.

A design is judged by what the runs would show if they were trained. We cannot train them, so we
draw K **worlds** from the current posterior predictive: world k takes a posterior draw θ_k (one
not among the S draws that are reweighted, when the fit has enough), its discrepancy curve
δ_k(x) = c_k·d(x)^γ_k and run noise, and so fixes the log loss every candidate j would show::

    y_kj = log with_error(L(x_j; θ_k), δ_k(x_j), E_k) + σ_k·t_ν_k,   δ_k(x) = Σ c_k·d₀(x)^γ_k

(d₀: decades beyond the current runs). Learning y_kj reweights the S draws by the likelihood the
refit would use, w_s ∝ p(y_kj | θ_s) (Student-t or Normal noise on log loss, no discrepancy: a
trained run is data, inside the new runs). The same worlds serve every candidate (common random
numbers), so candidates are compared on the same fantasies; a batch conditions each pick on the
outcomes of the earlier picks in the same world, which is what keeps it from piling onto one spot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_scaling._constants import FLOPS_PER_PARAM_TOKEN, SAMPLE_DIMS
from bayes_scaling.answers.bands import resolve_sizes
from bayes_scaling.design.objectives import (
    DISTANCE_AXES,
    TargetDraws,
    error,
    term_distances,
)
from bayes_scaling.discrepancy.protocol import irreducible_loss, with_error
from bayes_scaling.errors import ArgumentError
from bayes_scaling.model.likelihoods import normal_logpdf, t_logpdf

#: Points on the grid of N per target budget of the regret objective.
REGRET_GRID = 41
#: The law inputs a candidate (N, D) gives.
CANDIDATE_INPUTS = ("n_params", "n_tokens", "compute")


@dataclass(frozen=True)
class Worlds:
    """Everything the greedy search needs, as arrays.

    Attributes
    ----------
    targets : TargetDraws
    loglik : ndarray (J, K, S), float32, or None
        log p(y_kj | θ_s): the likelihood of world k's outcome at candidate j under draw s (None
        when not asked for: the linearised update needs no worlds).
    log_cand : ndarray (S, J)
        log L(x_j; θ_s) at every candidate.
    noise_var : float
        The variance of log loss a new run is observed with, as information: E_s[σ_s²·(ν_s+3)/
        (ν_s+1)] for Student-t noise (the inverse of its Fisher information about the location),
        E_s[σ_s²] for normal noise.
    reference : dict or None
        The largest compute, N and D of the fitted runs (the discrepancy's reference).
    cand_sizes : dict of ndarray (J,)
        ``compute``, ``n_params``, ``n_tokens`` of each candidate.
    n_draws, n_worlds : int
    """

    targets: TargetDraws
    loglik: np.ndarray
    reference: dict | None
    cand_sizes: dict
    n_draws: int
    n_worlds: int
    log_cand: np.ndarray | None = None
    noise_var: float = 0.0

    def extended(self, reference: dict | None, j: int) -> dict | None:
        """The reference once candidate ``j`` is a run: each axis' maximum grows to include it."""
        if reference is None:
            return None
        return {a: max(v, float(self.cand_sizes[a][j])) for a, v in reference.items()}


def _flat(values, idx=None) -> np.ndarray:
    """(chain, draw, ...) → (chain·draw, ...), optionally rows ``idx``."""
    arr = np.asarray(values, float)
    arr = arr.reshape(-1, *arr.shape[2:])
    return arr if idx is None else arr[idx]


def _law_at(law, params: dict, inputs: dict) -> np.ndarray:
    """L(x; θ) for draws (rows of ``params``, shape (S, 1)) at points (broadcast ``inputs``)."""
    return np.asarray(law.fn(inputs, params, np), float)


def _target_sizes(fit, posterior, params, tokens, compute, idx) -> tuple[dict, int]:
    sizes = resolve_sizes(fit, params=params, tokens=tokens, compute=compute)
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    out, n_points = {}, None
    for axis in CANDIDATE_INPUTS:
        v = sizes.get(axis)
        if v is None:
            continue
        v = v.transpose(*[d for d in SAMPLE_DIMS if d in v.dims], "point")
        full = np.broadcast_to(np.asarray(v, float), (n_chain, n_draw, v.sizes["point"]))
        out[axis] = _flat(full, idx)
        n_points = v.sizes["point"]
    return out, n_points


def check_candidate_law(law, argument: str = "law") -> None:
    """Refuse a law that reads more than a candidate gives (N and D, so C)."""
    unknown = [c for c in law.inputs if c not in CANDIDATE_INPUTS]
    if unknown:
        raise ArgumentError(
            argument,
            f"law {law.name!r} reads {', '.join(unknown)}, which a candidate (params, tokens) "
            "does not give; design runs for a law in N, D or compute",
        )


def build_worlds(
    fit,
    pool: pd.DataFrame,
    *,
    params=None,
    tokens=None,
    compute=None,
    n_worlds: int = 32,
    max_draws: int = 1000,
    seed: int = 0,
    regret: bool = False,
    likelihoods: bool = True,
) -> Worlds:
    """The S reweighted draws at the targets, and K worlds' outcomes at every candidate.

    Parameters
    ----------
    fit : ScalingFit
    pool : DataFrame
        Candidates (:func:`~bayes_scaling.design.candidates.read_pool`).
    params, tokens, compute :
        The target points, as for :meth:`ScalingFit.bands` (compute alone: each draw's optimal
        split).
    n_worlds, max_draws : int
        K fantasy worlds; S ≤ ``max_draws`` posterior draws, evenly thinned.
    seed : int
        Seeds the worlds, the noise and the discrepancy draws.
    regret : bool
        Also tabulate the loss on a grid of N at each target budget (the regret objective).
    likelihoods : bool
        Draw the worlds and tabulate ``loglik`` (the importance-reweighting update needs them).
    """
    law = fit.law
    check_candidate_law(law)
    post = fit.posterior
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    total = n_chain * n_draw
    n_s = min(int(max_draws), total)
    idx = np.unique(np.linspace(0, total - 1, n_s).round().astype(int))
    rng = np.random.default_rng([int(seed), 3])
    spare = np.setdiff1d(np.arange(total), idx)
    truth = rng.choice(spare if len(spare) >= n_worlds else np.arange(total), n_worlds)

    flat = {p: _flat(post[p]) for p in (*law.params, "sigma", "nu") if p in post}
    draws = {p: v[idx][:, None] for p, v in flat.items()}
    k = fit.settings.get("flops_per_param_token", FLOPS_PER_PARAM_TOKEN)

    sizes, n_points = _target_sizes(fit, post, params, tokens, compute, idx)
    log_law = np.log(_law_at(law, {p: draws[p] for p in law.params}, sizes))
    disc = fit.discrepancy
    if disc is not None:
        terms_all = tuple(
            (_flat(c), _flat(g)) for c, g in disc.curves(draws_shape=(n_chain, n_draw), seed=seed)
        )
        reference = {a: float(v) for a, v in disc.reference.items() if a in DISTANCE_AXES}
    else:
        terms_all, reference = (), None
    floor_all = np.broadcast_to(np.asarray(irreducible_loss(law, flat), float), (total,))
    likelihood = fit.settings.get("likelihood", "student_t")
    noise = _noise(draws, likelihood, (len(idx), n_points), rng)

    loss_grid = regret_grid = grid = None
    if regret:
        loss_grid, regret_grid, grid = _regret_tables(law, draws, sizes, np.exp(log_law), k)
    terms = tuple((c[idx], g[idx]) for c, g in terms_all)
    local = _local_at_targets(disc, sizes, (n_chain, n_draw), idx, seed)
    targets = TargetDraws(
        log_law,
        terms,
        floor_all[idx][:, None],
        noise,
        sizes,
        loss_grid,
        regret_grid,
        grid,
        disc,
        local,
    )

    cand = {
        "n_params": pool["params"].to_numpy(float),
        "n_tokens": pool["tokens"].to_numpy(float),
        "compute": k * pool["params"].to_numpy(float) * pool["tokens"].to_numpy(float),
    }
    inputs = {c: cand[c][None, :] for c in law.inputs}
    log_cand = np.log(_law_at(law, {p: draws[p] for p in law.params}, inputs))  # (S, J)
    truths = {p: v[truth][:, None] for p, v in flat.items()}
    log_true = np.log(_law_at(law, {p: truths[p] for p in law.params}, inputs))  # (K, J)
    y = log_true
    if terms_all:
        at = {a: cand[a][None, :] for a in cand}
        d0 = term_distances(disc, reference, at, log_true.shape)
        delta = error(tuple((c[truth], g[truth]) for c, g in terms_all), d0)
        y = np.log(with_error(np.exp(log_true), delta, floor_all[truth][:, None]))
    y = y + _noise(truths, likelihood, log_true.shape, rng)
    loglik = _loglik(y, log_cand, draws, likelihood) if likelihoods else None
    sigma2 = draws["sigma"][:, 0] ** 2
    if likelihood == "student_t":
        sigma2 = sigma2 * (draws["nu"][:, 0] + 3) / (draws["nu"][:, 0] + 1)
    return Worlds(
        targets, loglik, reference, cand, len(idx), n_worlds, log_cand, float(sigma2.mean())
    )


def _local_at_targets(disc, sizes: dict, draws_shape, idx, seed) -> np.ndarray | None:
    """g_s at the targets, (S, T): the record's local misfit as :meth:`Discrepancy.error` draws
    it for the bands (the same normals per draw, at each target's median position over the
    draws), so the design's band at a target is the one ``bands`` gives."""
    local = getattr(disc, "local", None)
    if local is None or "n_params" not in sizes or "n_tokens" not in sizes:
        return None
    z = local.normals(draws_shape, seed).ravel()[idx][:, None]
    n = np.median(sizes["n_params"], axis=0)[None, :]
    d = np.median(sizes["n_tokens"], axis=0)[None, :]
    return local.along(n, d, z)


def _noise(draws: dict, likelihood: str, shape, rng) -> np.ndarray:
    sigma = draws["sigma"]
    if likelihood == "student_t":
        return sigma * rng.standard_t(np.broadcast_to(draws["nu"], shape))
    return sigma * rng.standard_normal(shape)


def _loglik(y, log_cand, draws, likelihood, block: int = 64) -> np.ndarray:
    """log p(y_kj | θ_s) as (J, K, S) float32, in blocks of candidates."""
    n_k, n_j = y.shape
    out = np.empty((n_j, n_k, log_cand.shape[0]), np.float32)
    sigma = draws["sigma"][:, 0]
    nu = draws["nu"][:, 0] if "nu" in draws else None
    for start in range(0, n_j, block):
        sl = slice(start, start + block)
        resid = y[:, sl].T[:, :, None] - log_cand[:, sl].T[:, None, :]
        if likelihood == "student_t":
            out[sl] = t_logpdf(resid, sigma, nu)
        else:
            out[sl] = normal_logpdf(resid, sigma)
    return out


def _regret_tables(law, draws, sizes, loss_at_optimum, k):
    """L(N_g, C/(kN_g); θ_s) on a grid of N per target budget, and its regret (S, T, G)."""
    n_star = sizes["n_params"]  # (S, T): each draw's optimal N at each budget
    compute = sizes["compute"]
    lo = np.quantile(n_star, 0.01, axis=0) / 1.5
    hi = np.quantile(n_star, 0.99, axis=0) * 1.5
    grid = np.geomspace(lo, hi, REGRET_GRID).T  # (T, G)
    c = compute[0][:, None] if compute.ndim == 2 else compute[:, None]
    x = {"n_params": grid[None], "n_tokens": (c / (k * grid))[None], "compute": c[None]}
    p = {q: draws[q][:, :, None] for q in law.params}
    loss = _law_at(law, p, {i: x[i] for i in law.inputs})
    loss = np.ascontiguousarray(np.broadcast_to(loss, (n_star.shape[0], *grid.shape)))
    return loss, np.clip(loss - loss_at_optimum[:, :, None], 0, None), grid
