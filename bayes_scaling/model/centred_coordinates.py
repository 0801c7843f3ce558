"""E anchored at the runs' centre: a reparameterisation for tables that do not reach the plateau.

For a law ``L = E + Σ_j exp(log_A_j − e_j·log x_j)`` (Chinchilla, one-variable power laws), the
runs pin the loss and its slopes near their centre well, but not how the curve bends, so E, the
coefficients and the exponents slide along a curved ridge (E down, exponent down, coefficient
up). The default coordinates (logit E, centred log coefficients, log exponents) follow it badly:
on the fitted parts of the gemstones and OLMo ladders, 6 fits of 4 x (1000 + 1000) gave R-hat
up to 1.06 and tail ESS down to 24, and none passed the gate.

This module samples instead

    ℓ = log L_c          the loss at the centre of the runs (mean log of every input),
    ρ = logit r          r = (L_c − E)/L_c, the reducible share of that loss,
    w_1..w_{K−1}         the split of the reducible loss between the K terms (softmax, w_K = 0),

so that ``E = L_c·(1 − r)`` and ``log_A_j = ℓ + log r + log s_j + e_j·mean(log x_j)``. Along the
ridge ℓ stays put and log e_j + log r is constant: a straight line, which nutpie's low-rank mass
matrix adapts to. E > 0 holds by construction, and so does an upper bound U of E's prior (the
lowest observed loss, by default): E = T·σ(−ρ) with T = min(L_c, U), so E ranges over exactly
(0, min(L_c, U)) and the reducible loss is L_c − E. (With E = L_c·(1 − r) and the bound left to
the prior, a table too noisy to keep E off U put a wall of −inf density inside the coordinates:
BoolQ's task loss on the OLMo ladder diverged on 21% of transitions.)

The model is unchanged: the priors on E and on each ``log_A_j`` are added as a potential with the
Jacobian of the change of variables, |∂(E, c_1..c_K)/∂(ℓ, ρ, w)| = E·σ(ρ)·L_c/(L_c − E) (which is
E when T = L_c), so the posterior is the default one. Measured on those two fits and two
simulated ladders far from their plateau (4 fits each, 16 in all, 2000 draws after 2000 tuning
steps, target_accept 0.95): 13 passed the
gate against 10 with the default coordinates, with fewer than half the leapfrog steps per draw
(OLMo: 14-15 against 36-38). At target_accept 0.99: 12 against 7.

It applies to ungrouped fits of such laws whose E prior is positive (the default Uniform(0, min
loss) is); :func:`anchorable` says when.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from bayes_scaling.laws import Law
from bayes_scaling.priors import Prior

#: The sampled coordinates (internal: dropped from the posterior, which keeps E and log_A_j).
LEVEL, SHARE, SPLIT = "anchor_level", "anchor_share", "anchor_split"
INTERNAL = (LEVEL, SHARE, SPLIT)
#: Entries of the model's ``constants`` vector: the start of ℓ and of ρ (so chains start inside
#: E's prior whatever the table, since PyMC's start point reads the model's data).
CONSTANTS = ("anchor_log_level", "anchor_share")
#: ℓ = start + LEVEL_STEP·(flat coordinate): start jitter of ±0.1 in log loss, not ±1.
LEVEL_STEP = 0.1
#: Prior families whose support is E > 0 (what the anchored coordinates can represent).
POSITIVE = frozenset(
    {"HalfNormal", "HalfCauchy", "HalfStudentT", "LogNormal", "Gamma", "Exponential", "Weibull"}
)
DESCRIPTION = "E anchored at the runs' centre (the loss there and its reducible share sampled)"


def _sum_of_centred_terms(law: Law) -> bool:
    """True when ``law.fn`` is E + Σ exp(log_A − e·log x) over its centred terms (checked
    numerically at random points, so any registered law of that form qualifies)."""
    exponents = {e for _, e in law.centred.values()}
    if "E" not in law.params or not law.centred:
        return False
    if set(law.params) != {"E", *law.centred, *exponents}:
        return False
    rng = np.random.default_rng(0)
    x = {c: np.exp(rng.uniform(15.0, 25.0, 4)) for c in law.inputs}
    p = {"E": 1.3}
    expected = np.full(4, 1.3)
    for name, (col, exponent) in law.centred.items():
        p[name], p[exponent] = rng.uniform(2.0, 8.0), rng.uniform(0.1, 0.6)
        expected = expected + np.exp(p[name] - p[exponent] * np.log(x[col]))
    try:
        got = np.asarray(law.fn(x, p, np), float)
    except Exception:  # a law that needs other inputs or parameters is not of this form
        return False
    return got.shape == expected.shape and bool(np.allclose(got, expected, rtol=1e-9))


def _positive(prior: Prior) -> bool:
    if prior.dist in POSITIVE:
        return True
    lower = prior.params.get("lower")
    return prior.dist in ("Uniform", "TruncatedNormal") and lower is not None and lower >= 0


def anchorable(law: Law, priors: Mapping[str, Prior], pooling=None) -> bool:
    """Whether the anchored coordinates apply: an ungrouped fit of a law E + Σ A_j·x_j^(−e_j)
    whose E prior lives on E > 0."""
    return (
        pooling is None and "E" in priors and _positive(priors["E"]) and _sum_of_centred_terms(law)
    )


def start_values(runs: pd.DataFrame, priors: Mapping[str, Prior]) -> dict[str, float]:
    """Start of ℓ and ρ: the table's typical loss L_0, and E at a quarter of the lowest of L_0
    and E's upper bound (so that a ±1 jitter of ρ stays inside E's prior)."""
    log_level = float(np.mean(np.log(runs["loss"].to_numpy(float))))
    level = float(np.exp(log_level))
    upper = priors["E"].params.get("upper", float(runs["loss"].min()))
    e0 = min(level, float(upper)) / 4
    return {CONSTANTS[0]: log_level, CONSTANTS[1]: float(np.log((level - e0) / e0))}


def anchored_parameters(law: Law, priors: Mapping[str, Prior], params: Mapping, const, hyper):
    """Add the anchored coordinates to the current PyMC model; return E and the log
    coefficients (as Deterministics named as the law's parameters). ``params`` holds the
    exponents, ``const`` the model's named constants and ``hyper(name)`` a prior's numbers."""
    import pymc as pm
    import pytensor.tensor as pt
    # only where a PyMC object is built: loading a fit never imports PyMC

    log_level = const[CONSTANTS[0]] + LEVEL_STEP * pm.Flat(LEVEL)
    rho = const[CONSTANTS[1]] + pm.Flat(SHARE)
    upper = hyper("E").get("upper")  # a bound of E's prior, built into the coordinates
    log_top = log_level if upper is None else pt.minimum(log_level, pt.log(upper))
    log_e = log_top - pt.softplus(rho)  # E = T·σ(−ρ), T = min(L_c, U)
    log_red = log_level + pt.log1mexp(log_e - log_level)  # log(L_c − E)
    terms = list(law.centred)
    if len(terms) > 1:
        w = pt.concatenate([pm.Flat(SPLIT, shape=len(terms) - 1), pt.zeros(1)])
        log_share = w - pt.logsumexp(w)
    else:
        log_share = pt.zeros(1)
    out = {"E": pm.Deterministic("E", pt.exp(log_e))}
    log_jac = log_e - pt.softplus(-rho) + log_level - log_red  # log E when T = L_c
    logp = pm.logp(priors["E"].to_dist(**hyper("E")), out["E"]) + log_jac
    for j, name in enumerate(terms):
        col, exponent = law.centred[name]
        centred = log_red + log_share[j]
        out[name] = pm.Deterministic(name, centred + params[exponent] * const[f"ref_log_{col}"])
        logp = logp + pm.logp(priors[name].to_dist(**hyper(name)), out[name])
    pm.Potential("prior_anchored", logp)
    return out
