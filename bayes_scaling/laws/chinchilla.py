"""The Chinchilla law (Hoffmann et al. 2022) and the compute-optimal splits along C = k·N·D.

The law::

    L(N, D) = E + A·N^(−α) + B·D^(−β),   parameters E, log_A = log A, alpha, log_B = log B, beta

E is the irreducible loss (nats), N the parameter count, D the training tokens. Both coefficients
are sampled centred at the runs' mean log N and log D (see :class:`bayes_scaling.laws.Law`).
"""

from __future__ import annotations

import numpy as np

from bayes_scaling._constants import FLOPS_PER_PARAM_TOKEN
from bayes_scaling.laws.law import Law
from bayes_scaling.priors import exponent_prior, irreducible_prior, log_coefficient_prior


def _chinchilla_fn(x, p, xp):
    return (
        p["E"]
        + xp.exp(p["log_A"] - p["alpha"] * xp.log(x["n_params"]))
        + xp.exp(p["log_B"] - p["beta"] * xp.log(x["n_tokens"]))
    )


def _chinchilla_priors(stats):
    return {
        "E": irreducible_prior(stats),
        "log_A": log_coefficient_prior(stats, "n_params", n_terms=2),
        "alpha": exponent_prior(),
        "log_B": log_coefficient_prior(stats, "n_tokens", n_terms=2),
        "beta": exponent_prior(),
    }


def chinchilla_optimum(p, compute, k: float = FLOPS_PER_PARAM_TOKEN):
    """Closed-form compute-optimal split of the Chinchilla law along C = k·N·D.

    With G = (αA / (βB))^(1/(α+β)), a = β/(α+β) and b = α/(α+β):
    N*(C) = G·(C/k)^a and D*(C) = G^(−1)·(C/k)^b.

    Works on numpy arrays or xarray objects (broadcasting draws against budgets).

    Examples
    --------
    >>> p = {"E": 1.69, "log_A": np.log(406.4), "alpha": 0.34, "log_B": np.log(410.7), "beta": 0.28}
    >>> opt = chinchilla_optimum(p, 5.76e23)
    >>> round(float(opt["n_params"] * opt["n_tokens"] * 6 / 5.76e23), 6)
    1.0
    """
    alpha, beta = p["alpha"], p["beta"]
    log_g = (np.log(alpha) + p["log_A"] - np.log(beta) - p["log_B"]) / (alpha + beta)
    log_ck = np.log(compute / k)
    n_opt = np.exp(log_g + beta / (alpha + beta) * log_ck)
    return {"n_params": n_opt, "n_tokens": compute / (k * n_opt)}


def ratio_split(compute, tokens_per_param: float, k: float = FLOPS_PER_PARAM_TOKEN):
    """The split with a fixed ratio r = D/N along C = k·N·D: N = sqrt(C / (k·r)), D = r·N.

    Works on numpy arrays or xarray objects.

    Examples
    --------
    >>> split = ratio_split(6e20, 20)
    >>> float(split["n_tokens"] / split["n_params"])
    20.0
    """
    n = np.sqrt(compute / (k * float(tokens_per_param)))
    return {"n_params": n, "n_tokens": float(tokens_per_param) * n}


CHINCHILLA = Law(
    name="chinchilla",
    inputs=("n_params", "n_tokens"),
    params=("E", "log_A", "alpha", "log_B", "beta"),
    fn=_chinchilla_fn,
    default_priors=_chinchilla_priors,
    exponents={"alpha": "n_params", "beta": "n_tokens"},
    centred={"log_A": ("n_params", "alpha"), "log_B": ("n_tokens", "beta")},
    derived={"A": lambda p, xp: xp.exp(p["log_A"]), "B": lambda p, xp: xp.exp(p["log_B"])},
    optimum=chinchilla_optimum,
    description="L(N, D) = E + A·N^(−α) + B·D^(−β)",
)
