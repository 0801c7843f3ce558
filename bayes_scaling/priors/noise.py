"""A population prior on the run noise σ, learned across public ladders (``priors="learned"``).

σ is the scale of the run-to-run noise of *log* loss (so it is scale free). With a handful of
runs and five law parameters, the Chinchilla law can pass through every run, and under the
default HalfNormal(sd(log loss)) σ slides towards 0 into a funnel NUTS does not cross: a 6-run
subsample of fineweb-edu had σ's 5-95% at 4.6e-6 to 0.0029 and R-hat 1.09 after the whole rescue
ladder (``benchmarks/convergence.py``). Full ladders say what run noise looks like: their
posterior medians of σ lie between 0.0018 (the loss-to-loss corpora) and 0.038 (datablations,
where the law's misfit to repeated data counts as noise, as it will for a future run).

How it is learned, from each ladder's full-table posterior of log σ (mean m_l, sd v_l^½; the
default fit, :func:`noise_summary`), families weighted equally (:mod:`.population`):

1. the population of log σ: μ_σ = Σ_l w_l·m_l and
   s_σ² = Σ_l w_l·v_l + Σ_l w_l·(m_l − μ_σ)² · n/(n − 1) · (1 + 1/n);
2. the prior is σ ~ InverseGamma(α, β) with its 5% quantile at the population's,
   exp(μ_σ − 1.645·s_σ): a **floor** (the density vanishes like exp(−β/σ) towards 0), above
   which the tail falls only as σ^−(α+1), so a ladder noisier than the population (as
   datablations is to the others) is not pulled down;
3. α is chosen among :data:`SHAPES` by the leave-one-family-out log score: each family's σ
   (its posterior, by Gauss-Hermite quadrature) scored under the prior learned without it,
   families averaged. On the shipped corpus α = 1.5 won (mean log score per unit of log σ
   −1.23; 1.0: −1.28, 2.0: −1.29), and a LogNormal(μ_σ, s_σ) scored −2.26, its thin upper tail
   costing −9.0 on datablations. A prior learned without some families chooses its own α
   (without datablations, the noisiest, α = 3 wins among the rest).

The shipped :data:`~bayes_scaling.priors.learned.SHIPPED` file holds each ladder's summary
(``log_sigma``) and the result (``noise``), so a prior without a family is relearned without
refitting; ``scripts/learn-law-prior --noise-only`` regenerates it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from bayes_scaling.priors.population import family_weights, inflated_between
from bayes_scaling.priors.prior import Prior

#: The noise parameter with a learned prior, and each ladder's summary of it.
NOISE = "sigma"
NOISE_KEY = "log_sigma"
#: Shapes α of the InverseGamma compared by the leave-one-family-out log score.
SHAPES = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
#: α when there are too few families to score (fewer than :data:`MIN_FAMILIES`).
FALLBACK_SHAPE = 1.0
MIN_FAMILIES = 3
#: The quantile of the prior put at the population's (the floor).
FLOOR_QUANTILE = 0.05
METHOD = (
    "sigma ~ InverseGamma(shape, beta), its 5% quantile at exp(mu - 1.645 s) of the population "
    "of log sigma (mu: family-weighted mean of each ladder's full-table posterior mean of "
    "log sigma; s^2: mean within-ladder variance + between-ladder variance x n/(n-1) x (1 + 1/n), "
    "n = Kish effective ladders); shape chosen by the leave-one-family-out log score"
)


def noise_summary(sigma) -> dict[str, float]:
    """A ladder's posterior of log σ (draws of σ, any shape): ``{"mean": m, "sd": s}``."""
    log_sigma = np.log(np.asarray(sigma, float).ravel())
    return {"mean": float(log_sigma.mean()), "sd": float(log_sigma.std(ddof=1))}


def log_sigma_population(ladders: list[Mapping]) -> tuple[float, float]:
    """(μ_σ, s_σ) of log σ over ladders holding :data:`NOISE_KEY` (step 1 of the module)."""
    w = family_weights(ladders)
    means = np.array([[lad[NOISE_KEY]["mean"]] for lad in ladders])
    within = w @ np.array([lad[NOISE_KEY]["sd"] ** 2 for lad in ladders])
    return float(w @ means[:, 0]), float(np.sqrt(inflated_between(means, w)[0, 0] + within))


def scale_for(mu: float, s: float, shape: float) -> float:
    """β of InverseGamma(shape, β) whose :data:`FLOOR_QUANTILE` quantile is exp(μ − z·s)."""
    from scipy.special import gammaincinv  # only when a prior is learned

    z = 1.6448536269514722  # the standard Normal's 95% quantile
    return float(np.exp(mu - z * s) * gammaincinv(shape, 1 - FLOOR_QUANTILE))


def log_score(summary: Mapping[str, float], shape: float, scale: float) -> float:
    """log E[p(log σ)] of a ladder's posterior of log σ (Normal(mean, sd), 40-point
    Gauss-Hermite) under InverseGamma(shape, scale), per unit of log σ."""
    from scipy.special import gammaln

    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    log_s = summary["mean"] + summary["sd"] * nodes
    log_p = shape * np.log(scale) - gammaln(shape) - shape * log_s - scale * np.exp(-log_s)
    return float(np.log(weights @ np.exp(log_p) / weights.sum()))


def shape_scores(ladders: list[Mapping], shapes: Iterable[float] = SHAPES) -> dict[str, float]:
    """Leave-one-family-out log score of each shape (step 3 of the module), by shape."""
    families = sorted({lad["family"] for lad in ladders})
    scores = {}
    for shape in shapes:
        per_family = []
        for family in families:
            rest = [lad for lad in ladders if lad["family"] != family]
            scale = scale_for(*log_sigma_population(rest), shape)
            own = [
                log_score(lad[NOISE_KEY], shape, scale)
                for lad in ladders
                if lad["family"] == family
            ]
            per_family.append(np.mean(own))
        scores[f"{shape:g}"] = float(np.mean(per_family))
    return scores


def noise_population(ladders: Iterable[Mapping]) -> dict:
    """The learned noise prior from ladders' summaries that hold :data:`NOISE_KEY`:
    ``{"mu", "sigma"}`` (log σ's population), ``"shape"``, ``"beta"`` (the InverseGamma) and
    ``"shape_scores"``; ``{}`` when a ladder lacks its summary (no noise prior rather than a
    biased one).

    Examples
    --------
    >>> noise_population(learned_prior().ladders)["shape"]   # doctest: +SKIP
    1.5
    """
    ladders = list(ladders)
    if not ladders or any(NOISE_KEY not in lad for lad in ladders):
        return {}
    mu, s = log_sigma_population(ladders)
    if len({lad["family"] for lad in ladders}) >= MIN_FAMILIES:
        scores = shape_scores(ladders)
        shape = float(max(scores, key=scores.get))
    else:
        scores, shape = {}, FALLBACK_SHAPE
    return {
        "mu": mu,
        "sigma": s,
        "shape": shape,
        "beta": scale_for(mu, s, shape),
        "shape_scores": scores,
    }


def noise_prior(noise: Mapping, name: str = "learned") -> Prior:
    """σ ~ InverseGamma(shape, beta) from a population prior's ``noise`` entry."""
    from scipy.special import gammaincinv

    shape, beta = float(noise["shape"]), float(noise["beta"])
    low, mid = (beta / gammaincinv(shape, 1 - q) for q in (FLOOR_QUANTILE, 0.5))
    return Prior(
        "InverseGamma",
        {"alpha": shape, "beta": beta},
        why=f"run-to-run noise of log loss, {name} population prior across public ladders' "
        f"full tables: a floor (5% below {low:.2g}, median {mid:.2g}), a heavy upper tail",
    )
