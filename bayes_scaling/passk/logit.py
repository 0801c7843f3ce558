"""pass@k from a logit-normal mixture of per-problem success rates, by quadrature (numpy only).

The difficulty ``difficulty="logit-normal-mixture"``. Problem j is never solvable with
probability π; otherwise its success rate p_j has η_j = logit p_j from a two-component normal
mixture, a body and a hard component below it:

    η ~ (1 − w)·N(μ, σ²) + w·N(μ_h, σ_h²),   μ_h = μ − e^g·σ   (e^g > 0: labels cannot swap).

Parameters (the sampler's coordinates, :data:`LOGIT_PARAMS`): ``logit_mean`` = μ,
``log_sigma`` = log σ, ``unsolvable_logit`` = logit π, ``hard_logit`` = logit w,
``log_hard_depth`` = g and ``log_sigma_hard`` = log σ_h.

Why a scale in log p. Within k samples a problem of rate p is solved about when p > 1/k, so
pass@k ≈ (1 − π)·P(η > −log k): each decade of k uncovers the problems of the next decade of p,
and pass@k keeps rising over as many decades as the difficulty spans (Brown et al. 2024;
Schaeffer et al. 2025; Hughes et al. 2024 for best-of-N jailbreaking). A Beta's density near 0
is p^(a − 1), so its share of problems per decade of p falls as p^a towards 0 and its pass@k
grows at most like a·log(k/b) once k passes b: on best-of-N jailbreaking thinned to 100
attempts a prompt, where 62–93% of the prompts of four models were never broken, both Beta forms
put pass@10,000 0.1–0.3 too low for most models (``benchmarks/passk_validation.py``), while the
logit scale has room for a prompt population centred at p ≈ 1e-4 with only its upper tail seen.

Quadrature. Every expectation over η is a weighted sum over nodes η_q: for the likelihood of a
count (n, c),

    P(c | n, solvable) = C(n, c)·∫ p^c (1 − p)^(n − c) f(η) dη
                       ≈ C(n, c)·Σ_q h_q·p_q^c (1 − p_q)^(n − c)·f(η_q),

on :data:`GRID` (η from −40 to 16, h = 0.25, the mass beyond either end at p = 0 or p = 1;
the integrand is smooth on the scale of the narrower of σ, σ_h and the count's own likelihood,
and for a bump of sd s the trapezoid rule errs by ~exp(−2π²s²/h²), ~1e-9 at s = h), unless the
count pins p down more finely than the grid resolves (min(c, n − c) ≥ :data:`NARROW`), when the
nodes sit at logit(c/n) ± 12 likelihood sds (:func:`nodes`). The nodes and their data weights
h_q·p_q^c (1 − p_q)^(n − c) are constants, so the model's graph only evaluates log f at them.
Given the counts, p_j's posterior is the same sum renormalised, and
E[(1 − p)^k | c] = Σ_q W_q·(1 − p_q)^k.
"""

from __future__ import annotations

import numpy as np

from bayes_scaling._lazy import scipy_function

gammaln = scipy_function("special", "gammaln")
log_ndtr = scipy_function("special", "log_ndtr")
logsumexp = scipy_function("special", "logsumexp")

#: The sampler's parameters of the logit-normal mixture, in order.
LOGIT_PARAMS = (
    "logit_mean",
    "log_sigma",
    "unsolvable_logit",
    "hard_logit",
    "log_hard_depth",
    "log_sigma_hard",
)
#: Default Normal(mu, sigma) priors of :data:`LOGIT_PARAMS`, weakly informative:
#:
#: - μ ~ N(−10, 6): the body's median rate from ~3e-10 to ~0.9 (95%): a model may solve almost
#:   every problem or almost none, and one that solved nothing in n samples may sit any number
#:   of decades below 1/n, not just under it. The counts only bound such a model from above,
#:   so its pass@k at large k is the prior's below that bound: the earlier N(−5, 4) piled it
#:   just under the bound and put the 27 of 39 GSM8K models with no success in 100 samples at a
#:   median pass@1,000 of 0.015 (90%: 0.0005–0.09) against truths of 0 to 0.025 (median 6e-4);
#:   coverage 0.23 / 0.72 at 50 / 90%. With N(−10, 6): 0.49 / 0.87, and the median error 0.006
#:   instead of 0.015 (``benchmarks/passk_validation.py``; best-of-N unchanged or better);
#: - log σ ~ N(log 2, 0.6): the body spans ~0.6 to ~6.5 units of log-odds a sd (95%), a decade
#:   of p to several;
#: - logit π ~ N(−6, 1), as the Beta mixture's (:data:`bayes_scaling.passk.law.RARE_UNSOLVABLE`):
#:   a problem unsolved in n samples is hard far more often than impossible;
#: - logit w ~ N(−1, 1): the hard component holds 27% of the solvable problems at the median
#:   (5%–72%, 95%);
#: - g ~ N(1, 0.5): it sits e^g = 1.0 to 7.2 (median 2.7) body sds below the body's centre;
#: - log σ_h ~ N(log 2, 0.6), the body's.
LOGIT_PRIORS = {
    "logit_mean": (-10.0, 6.0),
    "log_sigma": (float(np.log(2.0)), 0.6),
    "unsolvable_logit": (-6.0, 1.0),
    "hard_logit": (-1.0, 1.0),
    "log_hard_depth": (1.0, 0.5),
    "log_sigma_hard": (float(np.log(2.0)), 0.6),
}
#: The quadrature grid in η = logit p (see the module docstring) and its step: p from 4e-18
#: (never seen within k = 1e15 samples) to 1 − 1e-7.
STEP = 0.25
GRID = np.arange(-40.0, 16.0 + STEP / 2, STEP)
#: The grid's ends: the mass below :data:`LOWER` sits at p = 0 (a count there is 0 at any n and
#: k), the mass above :data:`UPPER` at p = 1, so a component pushed off the grid keeps its mass.
LOWER, UPPER = GRID[0] - STEP / 2, GRID[-1] + STEP / 2
#: Counts with min(c, n − c) at least this get their own nodes about logit(c/n).
NARROW = 8
#: The narrow nodes, in likelihood sds about logit(c/n), half a sd apart. The integrand is the
#: count's likelihood (sd 1 in these units) times the density f, whose sd is at least the
#: narrower of σ and σ_h, and for min(c, n − c) ≥ :data:`NARROW` the likelihood's sd in logit p
#: is s = (c(n − c)/n)^(−1/2) ≤ 0.5; so the product's sd is ≳ 0.45 here even at σ = 0.25 (below
#: the 0.1% of log σ's prior), and the trapezoid errs by ~exp(−2π²·0.45²/0.5²) ≈ 1e-7 (measured
#: 1.3e-7 at n = 16, c = 8; less for larger counts). Before, there were as many as the grid's
#: 225 nodes: 4.6× the cost of every narrow count in the model's gradient.
SPAN = np.linspace(-12.0, 12.0, 49)
#: The columns that pad a narrow count's nodes to the shared grid's width (weight 0), and the
#: columns of a narrow count's row that carry weight: its tails and its own nodes.
PAD = len(GRID) - len(SPAN)
NARROW_COLUMNS = np.r_[0 : len(SPAN) + 1, len(GRID) + 1]
HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)


def log_sigmoid(x, xp=np):
    """log expit(x) = −log(1 + e^(−x)), in the array library ``xp``."""
    return -xp.logaddexp(0.0, -x)


def hard_terms(hard_logit, log_hard_depth, log_sigma_hard, mu, log_sigma, xp=np):
    """``(log w, log(1 − w), μ_h, σ_h)`` of the hard component from the sampler's coordinates."""
    return (
        log_sigmoid(hard_logit, xp),
        log_sigmoid(-hard_logit, xp),
        mu - xp.exp(log_hard_depth + log_sigma),
        xp.exp(log_sigma_hard),
    )


#: The names of the mixture's natural parameters (:func:`natural`), as a fit stores them.
NATURAL = ("mu", "sigma", "pi", "hard_share", "mu_hard", "sigma_hard")


def natural(x) -> dict:
    """The mixture's natural parameters (:data:`NATURAL`) from its sampler's (a mapping of
    :data:`LOGIT_PARAMS`, numpy arrays or xarray)."""
    log_w, _, mu_h, sigma_h = hard_terms(
        x["hard_logit"], x["log_hard_depth"], x["log_sigma_hard"], x["logit_mean"], x["log_sigma"]
    )
    return {
        "mu": x["logit_mean"],
        "sigma": np.exp(x["log_sigma"]),
        "pi": 1 / (1 + np.exp(-x["unsolvable_logit"])),
        "hard_share": np.exp(log_w),
        "mu_hard": mu_h,
        "sigma_hard": sigma_h,
    }


def log_density(eta, mu, sigma, hard=None, xp=np):
    """log f(η) of the solvable problems, in ``xp`` (``numpy`` or ``pytensor.tensor``): one
    normal N(μ, σ²), or with ``hard = (log w, log(1 − w), μ_h, σ_h)`` (:func:`hard_terms`) the
    mixture (1 − w)·N(μ, σ²) + w·N(μ_h, σ_h²)."""
    body = -0.5 * ((eta - mu) / sigma) ** 2 - xp.log(sigma) - HALF_LOG_2PI
    if hard is None:
        return body
    log_w, log_1mw, mu_h, sigma_h = hard
    low = -0.5 * ((eta - mu_h) / sigma_h) ** 2 - xp.log(sigma_h) - HALF_LOG_2PI
    return xp.logaddexp(log_1mw + body, log_w + low)


def is_narrow(n, c) -> np.ndarray:
    """Which counts get nodes of their own (min(c, n − c) ≥ :data:`NARROW`)."""
    n, c = np.atleast_1d(np.asarray(n, float)), np.atleast_1d(np.asarray(c, float))
    return np.minimum(c, n - c) >= NARROW


def log_grid_masses(mu, sigma, hard=None, xp=np, lcdf=log_ndtr):
    """log prior mass at :data:`GRID` with its two tails, along a last axis of len(GRID) + 2:
    [log P(η < LOWER), log h + log f(η_q) ..., log P(η > UPPER)], normalised to sum to 1;
    ``lcdf`` the standard normal's log CDF in ``xp``. Parameters carry a trailing axis of 1
    (numpy) or are scalars.

    Why normalised. While σ and σ_h are wide against the step h, the masses sum to 1 within
    ~exp(−2π²σ²/h²) and the normalisation changes nothing. A component far narrower than h and
    centred on a node would get h·f(η_q) ≈ h/(σ√2π) ≫ 1 there: every count that node explains
    well (the zeros, at a node of low p) would gain −log σ, a reward without bound that outgrew
    the prior's penalty on log σ. NUTS found it: on a GSM8K model (Pythia 160M, 60B tokens), one
    chain of four went to σ = 1e-13 at μ = −8 (a node), its step fell 4,500× and the attempt
    took 164 s against 6 s. Normalised, a spike is a point mass of total mass 1."""
    interior = np.log(STEP) + log_density(GRID, mu, sigma, hard, xp)
    lower = lcdf((LOWER - mu) / sigma)
    upper = lcdf((mu - UPPER) / sigma)
    if hard is not None:
        log_w, log_1mw, mu_h, sigma_h = hard
        lower = xp.logaddexp(log_1mw + lower, log_w + lcdf((LOWER - mu_h) / sigma_h))
        upper = xp.logaddexp(log_1mw + upper, log_w + lcdf((mu_h - UPPER) / sigma_h))
    if xp is np:
        out = np.concatenate([lower, interior, upper], axis=-1)
        return out - logsumexp(out, axis=-1, keepdims=True)
    out = xp.concatenate([xp.stack([lower]), interior, xp.stack([upper])])
    return out - xp.logsumexp(out)


def nodes(n, c) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes for counts ``(n, c)`` (1-d): ``(eta, log_w)``, each (problems,
    len(GRID) + 2), the first and last column the grid's tails at η = −∞ and +∞.

    log_w is the data's weight, c·log p + (n − c)·log(1 − p) at p = expit(η) (no binomial
    coefficient): at the tails 0 or −∞ (p = 0 gives c = 0; p = 1 gives c = n); at the
    interior nodes plus log h for the counts with min(c, n − c) ≥ :data:`NARROW`
    (:func:`is_narrow`), whose nodes are their own, logit(c/n) + s·:data:`SPAN` with
    s = (n·p̂·(1 − p̂))^(−1/2), and whose tails are −∞ (the prior side,
    :func:`log_grid_masses`, carries h for the shared grid). A narrow count has fewer nodes
    than the grid (:data:`SPAN`): its row is padded with :data:`PAD` copies of its last node,
    of weight −∞."""
    n, c = np.atleast_1d(np.asarray(n, float)), np.atleast_1d(np.asarray(c, float))
    inner = np.tile(GRID, (len(n), 1))
    log_h = np.zeros(len(n))
    narrow = is_narrow(n, c)
    if narrow.any():
        p = c[narrow] / n[narrow]
        s = 1.0 / np.sqrt(n[narrow] * p * (1 - p))
        own = np.log(p / (1 - p))[:, None] + s[:, None] * SPAN[None, :]
        inner[narrow] = np.column_stack([own, np.repeat(own[:, -1:], PAD, axis=1)])
        log_h[narrow] = np.log(s * (SPAN[1] - SPAN[0]))
    data = log_h[:, None] + c[:, None] * log_sigmoid(inner) + (n - c)[:, None] * log_sigmoid(-inner)
    data[narrow, len(SPAN) :] = -np.inf  # a narrow count's padding weighs nothing
    with np.errstate(divide="ignore"):
        low = np.where(narrow | (c > 0), -np.inf, 0.0)
        high = np.where(narrow | (c < n), -np.inf, 0.0)
    eta = np.column_stack([np.full(len(n), -np.inf), inner, np.full(len(n), np.inf)])
    return eta, np.column_stack([low, data, high])


def _hard(hard, mu):
    """Numpy ``hard = (w, μ_h, σ_h)`` as :func:`log_density` takes it (with an axis for the
    nodes, broadcast against ``mu``)."""
    if hard is None:
        return None
    w, mu_h, sigma_h = (np.asarray(v, float)[..., None] for v in hard)
    mu_h, sigma_h = np.broadcast_arrays(mu_h, sigma_h, mu)[:2]
    with np.errstate(divide="ignore"):
        return np.log(w), np.log1p(-w), mu_h, sigma_h


def _pairs(n, c):
    n, c = np.asarray(n, float).ravel(), np.asarray(c, float).ravel()
    pairs, inverse = np.unique(np.column_stack([n, c]), axis=0, return_inverse=True)
    return pairs[:, 0], pairs[:, 1], inverse.ravel()


def _log_prior(mu, sigma, hard, eta_u=None):
    """The prior side of one count's nodes (params' shape + (nodes,)): the grid's masses
    (:func:`log_grid_masses`) when ``eta_u`` is None, else log f at a narrow count's own nodes
    ``eta_u`` (its tails' data weights are −∞, so their prior side is left at 0)."""
    mu, sigma = np.asarray(mu, float)[..., None], np.asarray(sigma, float)[..., None]
    h = _hard(hard, mu)
    if eta_u is None:
        return log_grid_masses(mu, sigma, h)
    inner = log_density(eta_u[1:-1], mu, sigma, h)
    edge = np.zeros(inner.shape[:-1] + (1,))
    return np.concatenate([edge, inner, edge], axis=-1)


def _posterior_nodes(prior, log_w_u):
    """For one count's nodes: the normalised posterior weights W over the nodes (params' shape
    + (nodes,)) and log P(c | n, solvable) without its coefficient (params' shape), from the
    prior side of its nodes (:func:`_log_prior`)."""
    lj = log_w_u + prior
    lz = logsumexp(lj, axis=-1)
    return np.exp(lj - lz[..., None]), lz


def with_unsolvable(log_solvable, pi, c):
    """log P(c | n) from log P(c | n, solvable): (1 − π)·P(c | solvable), plus π for a count of
    zero (an unsolvable problem explains only c = 0). The numpy step of both families (the
    Beta's :func:`bayes_scaling.passk.law.log_marginal` and this module's); the model's PyTensor
    twin is :func:`bayes_scaling.passk.model._with_unsolvable`."""
    with np.errstate(divide="ignore"):
        solved = np.log1p(-np.asarray(pi, float)) + log_solvable
        return np.where(np.asarray(c) > 0, solved, np.logaddexp(np.log(pi), solved))


def _solvable_share(pi, lz, c):
    """1 − P(unsolvable | counts): 1 when c > 0, else (1 − π)·P0 / (π + (1 − π)·P0)."""
    if c > 0:
        return np.ones_like(lz)
    with np.errstate(divide="ignore"):
        return np.exp(np.log1p(-pi) + lz - with_unsolvable(lz, pi, c))


def population_curve(mu, sigma, pi, hard=None):
    """``curve(k)`` = :func:`population_pass_at_k` at any ``k``, with the grid's masses
    computed once (a search over k calls it many times)."""
    log_miss = log_sigmoid(-np.concatenate([[-np.inf], GRID, [np.inf]]))
    lm = _log_prior(mu, sigma, hard)
    weights = np.exp(lm - logsumexp(lm, axis=-1, keepdims=True))
    solvable = 1 - np.asarray(pi)

    def curve(k):
        miss = np.sum(weights * np.exp(np.asarray(k, float)[..., None] * log_miss), axis=-1)
        return solvable * (1 - miss)

    return curve


def population_pass_at_k(mu, sigma, pi, k, hard=None):
    """1 − π − (1 − π)·E[(1 − p)^k] over the mixture (the grid's masses,
    :func:`log_grid_masses`, the mass below it never solved), broadcasting ``mu, sigma, pi``
    (and ``hard``'s) against ``k``."""
    return population_curve(mu, sigma, pi, hard)(k)


def _each_count(mu, sigma, pi, n, c, hard):
    """``(inverse, counts)``: ``counts`` yields, per distinct count, the posterior weights over
    its nodes, log P(c | n, solvable), 1 − P(unsolvable | c) and the nodes (one count's weights
    in memory at a time); ``inverse`` maps the problems to their distinct counts."""
    n1, c1, inverse = _pairs(n, c)
    eta, log_w = nodes(n1, c1)
    narrow = is_narrow(n1, c1)
    on_grid = _log_prior(mu, sigma, hard) if not narrow.all() else None  # shared by the grid's

    def counts():
        for u in range(len(n1)):
            eta_u, w_u, prior = eta[u], log_w[u], on_grid
            if narrow[u]:  # its own nodes and tails, not the padding (weight 0)
                eta_u, w_u = eta_u[NARROW_COLUMNS], w_u[NARROW_COLUMNS]
                prior = _log_prior(mu, sigma, hard, eta_u)
            weights, lz = _posterior_nodes(prior, w_u)
            yield weights, lz, _solvable_share(pi, lz, c1[u]), eta_u

    return inverse, counts()


def _per_pair(mu, sigma, pi, n, c, hard, value):
    """``value(W, lz, share, eta_u)`` per distinct count, mapped back to the problems (last
    axis)."""
    inverse, counts = _each_count(mu, sigma, pi, n, c, hard)
    return np.concatenate([value(*each) for each in counts], axis=-1)[..., inverse]


def problems_curve(mu, sigma, pi, n, c, hard=None):
    """``(curve, unsolvable)``: ``curve(k)`` is the per problem pass@k given its counts at any
    ``k`` (a scalar or (S, 1)), shape (S, J), with the posterior weights over the nodes computed
    once (a search over k calls it many times; nodes no draw weighs above 1e-12 are dropped);
    ``unsolvable`` is :func:`unsolvable_weight`, from the same pass over the counts."""
    inverse, counts = _each_count(mu, sigma, pi, n, c, hard)
    parts = []
    for weights, _, share, eta in counts:
        keep = weights.reshape(-1, weights.shape[-1]).max(axis=0) > 1e-12
        parts.append((weights[..., keep], log_sigmoid(-eta[keep]), share))

    def curve(k):
        k = np.asarray(k, float)[..., None]
        cols = [share * (1 - np.sum(w * np.exp(k * miss), axis=-1)) for w, miss, share in parts]
        return np.concatenate(cols, axis=-1)[..., inverse]

    unsolvable = np.concatenate([1 - share for _, _, share in parts], axis=-1)[..., inverse]
    return curve, unsolvable


def problems_pass_at_k(mu, sigma, pi, n, c, k, hard=None):
    """Per problem pass@k given its counts: ``mu, sigma, pi`` of shape (S, 1), ``n, c`` of
    shape (J,), ``k`` a scalar or (S, 1); returns (S, J): (1 − w_j)·(1 − Σ_q W_q·(1 − p_q)^k)
    (:func:`problems_curve`)."""
    return problems_curve(mu, sigma, pi, n, c, hard)[0](k)


def unsolvable_weight(mu, sigma, pi, n, c, hard=None):
    """P(problem unsolvable | its counts): 0 when ever solved, else π / (π + (1 − π)·P0)."""
    return _per_pair(mu, sigma, pi, n, c, hard, lambda w, lz, share, eta: 1 - share)


def benchmark_pass_at_k(mu, sigma, pi, n, c, k, hard=None):
    """The benchmark's pass@k, the mean over problems of :func:`problems_pass_at_k`, for every
    k: parameters of shape (S, 1), ``n, c`` of shape (J,), ``k`` of shape (K,); returns (S, K).
    Problems with the same (n, c) are computed once."""
    inverse, counts = _each_count(mu, sigma, pi, n, c, hard)
    share_of = np.bincount(inverse) / len(inverse)  # each distinct count's share of problems
    k = np.atleast_1d(np.asarray(k, float))
    out = np.zeros((np.shape(mu)[0], len(k)))
    for u, (weights, _, share, eta_u) in enumerate(counts):  # (S, 1, Q), (S, 1), (S, 1), (Q,)
        miss = weights[:, 0, :] @ np.exp(log_sigmoid(-eta_u)[:, None] * k[None, :])  # (S, K)
        out += share_of[u] * share * (1 - miss)
    return out


def log_marginal(mu, sigma, pi, n, c, hard=None):
    """log P(c | n) per problem, the binomial coefficient included:
    log[π·[c = 0] + (1 − π)·C(n, c)·Σ_q h_q·p_q^c (1 − p_q)^(n − c)·f(η_q)]."""
    n_arr, c_arr = np.asarray(n, float), np.asarray(c, float)
    log_choose = gammaln(n_arr + 1) - gammaln(c_arr + 1) - gammaln(n_arr - c_arr + 1)

    def value(weights, lz, share, eta):
        return lz

    return with_unsolvable(log_choose + _per_pair(mu, sigma, pi, n, c, hard, value), pi, c_arr)


def simulate_rates(x, problems: int, rng: np.random.Generator) -> np.ndarray:
    """``problems`` success rates from the logit-normal mixture with parameters ``x`` (a
    mapping of :data:`LOGIT_PARAMS`), the unsolvable ones 0."""
    v = natural(x)
    hard = rng.random(problems) < v["hard_share"]
    eta = np.where(
        hard,
        rng.normal(v["mu_hard"], v["sigma_hard"], problems),
        rng.normal(v["mu"], v["sigma"], problems),
    )
    p = 1 / (1 + np.exp(-eta))
    return np.where(rng.random(problems) < v["pi"], 0.0, p)
