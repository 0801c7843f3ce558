"""The joint law of Kaplan et al. (2020), "Scaling Laws for Neural Language Models", eq. (1.5).

::

    L(N, D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D

There is no irreducible term: as N, D → ∞ the loss goes to 0. With D → ∞ it is the power law
(N_c/N)^α_N, with N → ∞ the power law (D_c/D)^α_D. Kaplan et al. found α_N = 0.076, α_D = 0.095,
N_c = 8.8e13 (non-embedding parameters) and D_c = 5.4e13 tokens.

It is evaluated on the log scale, in log-sum-exp form (no overflow for N ≪ N_c)::

    log L = α_D · logaddexp((α_N/α_D)·(log N_c − log N), log D_c − log D)

Compute-optimal split along C = k·N·D: the loss rises with the bracket g = (N_c/N)^r + D_c·k·N/C,
r = α_N/α_D, whose minimum over N is at::

    N*(C) = (r · N_c^r · C / (k · D_c))^(1/(1+r)),    D* = C / (k · N*)

so N* ∝ C^(α_D/(α_N+α_D)), C^0.56 at their exponents (their N ∝ C^0.73 came from another
analysis, of L(N, S_min), not from this law).

Parameters: ``log_Nc`` (log N_c), ``alpha_N``, ``log_Dc`` (log D_c), ``alpha_D``; reported also as
``N_c`` and ``D_c``. The products α_N·(log N_c − log N) are what the data pin down, so log N_c and
α_N are correlated in the posterior; sampled directly with nutpie's low-rank mass matrix this still
converges in ~7 leapfrog steps per draw on the demo and Chinchilla tables (no divergences), so the
parameters are sampled as named.
"""

from __future__ import annotations

import numpy as np

from bayes_scaling._constants import FLOPS_PER_PARAM_TOKEN
from bayes_scaling.laws.law import Law
from bayes_scaling.priors import log_scale_prior, no_floor_exponent_prior


def _kaplan_fn(x, p, xp):
    a = p["alpha_N"] / p["alpha_D"] * (p["log_Nc"] - xp.log(x["n_params"]))
    b = p["log_Dc"] - xp.log(x["n_tokens"])
    return xp.exp(p["alpha_D"] * xp.logaddexp(a, b))


def kaplan_optimum(p, compute, k: float = FLOPS_PER_PARAM_TOKEN):
    """Closed-form compute-optimal split of the Kaplan law along C = k·N·D (numpy or xarray).

    Examples
    --------
    >>> p = {"log_Nc": np.log(8.8e13), "alpha_N": 0.076, "log_Dc": np.log(5.4e13), "alpha_D": 0.095}
    >>> opt = kaplan_optimum(p, 1e22)
    >>> round(float(opt["n_params"] * opt["n_tokens"] * 6 / 1e22), 6)
    1.0
    """
    r = p["alpha_N"] / p["alpha_D"]
    log_n = (np.log(r) + r * p["log_Nc"] + np.log(compute / k) - p["log_Dc"]) / (1.0 + r)
    n_opt = np.exp(log_n)
    return {"n_params": n_opt, "n_tokens": compute / (k * n_opt)}


def _kaplan_priors(stats):
    return {
        "log_Nc": log_scale_prior(stats, "n_params"),
        "alpha_N": no_floor_exponent_prior(),
        "log_Dc": log_scale_prior(stats, "n_tokens"),
        "alpha_D": no_floor_exponent_prior(),
    }


KAPLAN = Law(
    name="kaplan",
    inputs=("n_params", "n_tokens"),
    params=("log_Nc", "alpha_N", "log_Dc", "alpha_D"),
    fn=_kaplan_fn,
    default_priors=_kaplan_priors,
    exponents={"alpha_N": "n_params", "alpha_D": "n_tokens"},
    derived={"N_c": lambda p, xp: xp.exp(p["log_Nc"]), "D_c": lambda p, xp: xp.exp(p["log_Dc"])},
    optimum=kaplan_optimum,
    description="L(N, D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D",
)
