"""The data-constrained law (Muennighoff et al. 2023, "Scaling Data-Constrained Language Models").

The Chinchilla law with *effective* parameters N' and tokens D' that discount repetition::

    L(N, D, U) = E + A·N'^(−α) + B·D'^(−β)

    U_D = min(U, D)                                    unique tokens seen
    R_D = D/U_D − 1                                    repetitions of the data (epochs − 1)
    D'  = U_D + U_D·R*_D·(1 − exp(−R_D/R*_D))

    U_N = min(N_opt(U_D), N)                           parameters the unique data can use
    R_N = N/U_N − 1                                    excess parameters, in multiples of U_N
    N'  = U_N + U_N·R*_N·(1 − exp(−R_N/R*_N))

N_opt(U_D) is the compute-optimal parameter count of the *base* Chinchilla law for U_D tokens,
its closed-form optimum solved for N at D* = U_D: with G = (αA/(βB))^(1/(α+β)),
N_opt(U_D) = G·(G·U_D)^(β/α). This is the authors' definition (``utils/parametric_fit.ipynb``
and the README of huggingface/datablations: ``UN = min(N, D_to_N(U))``), computed from the same
base parameters as the rest of the law. A repeated token is worth less and less: D' saturates at
U_D·(1 + R*_D), so R*_D is the number of repetitions after which extra epochs are worth little
(their fit: 15.4); R*_N plays that role for excess parameters (5.3).

The authors take U_D = U (their runs all have U ≤ D); min(U, D) gives the same value on such
runs and the sensible one otherwise. Everything is evaluated on the log scale (log1p / expm1).

Parameters: ``E``, ``log_A``, ``alpha``, ``log_B``, ``beta`` (the base law) and ``log_RD``,
``log_RN`` (log R*_D, log R*_N); reported also as ``R_D_star`` and ``R_N_star``. The published
procedure fixes the base law (fitted to Chinchilla's C4 isoFLOP points) and fits only R*_D and R*_N:
:func:`data_constrained` with ``base=MUENNIGHOFF2023_BASE``, registered as
``"data_constrained:muennighoff2023"``.

The free law on the authors' 182 runs has two modes of similar density with the default
Student-t noise: one fits every run (E ≈ 2.05, β ≈ 0.43, ν ≈ 2.3), the other treats the ~20 runs
on 0.1-4 billion tokens as outliers (E ≈ 1.40, β ≈ 0.19, ν ≈ 0.85). With 4 chains, seeds 1 and 5
of 0-5 put chains in both; the fit then reports the modes and the runs they disagree on
(:mod:`bayes_scaling.inference.rescue`) instead of retrying until one is hidden. Without those
runs the second mode is the only one (E ≈ 1.33); with Normal noise one mode near the first
(E ≈ 2.15, β ≈ 0.38).
:func:`identification` says when a table has too few repeated-data or excess-parameter runs to
inform R*_D or R*_N.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from bayes_scaling.errors import LawError
from bayes_scaling.laws.chinchilla import _chinchilla_priors
from bayes_scaling.laws.law import Law
from bayes_scaling.priors import repetition_prior

BASE_PARAMS = ("E", "log_A", "alpha", "log_B", "beta")
PARAMS = (*BASE_PARAMS, "log_RD", "log_RN")
FAMILY = "data_constrained"

#: The published base law (notebook cell 29 of huggingface/datablations, fitted to Chinchilla's C4
#: isoFLOP points with α tied to β): a = 6.255414, b = 7.3049974, e = 0.6254804, α = β = 0.3526596,
#: so A = 521.0, B = 1488.4, E = 1.869. Their R*_D = 15.387756 and R*_N = 5.309743 on 182 runs.
MUENNIGHOFF2023_BASE = {
    "E": math.exp(0.6254804),
    "log_A": 6.255414,
    "alpha": 0.3526596,
    "log_B": 7.3049974,
    "beta": 0.3526596,
}


def _effective(unique, repeats, log_r_star, xp):
    """log of U + U·R*·(1 − exp(−R/R*)), stably: log U + log1p(−R*·expm1(−R/R*))."""
    r_star = xp.exp(log_r_star)
    return xp.log(unique) + xp.log1p(-r_star * xp.expm1(-repeats / r_star))


def _data_constrained_fn(x, p, xp):
    log_n, log_d = xp.log(x["n_params"]), xp.log(x["n_tokens"])
    log_ud = xp.minimum(xp.log(x["unique_tokens"]), log_d)
    log_d_eff = _effective(xp.exp(log_ud), xp.expm1(log_d - log_ud), p["log_RD"], xp)

    alpha, beta = p["alpha"], p["beta"]
    log_g = (xp.log(alpha) + p["log_A"] - xp.log(beta) - p["log_B"]) / (alpha + beta)
    log_n_opt = log_g + beta / alpha * (log_g + log_ud)  # N_opt(U_D) = G·(G·U_D)^(β/α)
    log_un = xp.minimum(log_n_opt, log_n)
    log_n_eff = _effective(xp.exp(log_un), xp.expm1(log_n - log_un), p["log_RN"], xp)

    return p["E"] + xp.exp(p["log_A"] - alpha * log_n_eff) + xp.exp(p["log_B"] - beta * log_d_eff)


def _check_base(base: Mapping[str, float]) -> dict[str, float]:
    unknown = set(base) - set(BASE_PARAMS)
    if unknown:
        raise LawError(
            f"unknown base parameter(s) {sorted(unknown)} for the data-constrained law; "
            f"fix any of {list(BASE_PARAMS)} (coefficients on the log scale: log_A, log_B)"
        )
    out = {}
    for k in BASE_PARAMS:
        if k in base:
            v = float(base[k])
            if not math.isfinite(v) or (k in ("alpha", "beta") and v <= 0) or (k == "E" and v < 0):
                raise LawError(f"base parameter {k}={base[k]!r} is not allowed")
            out[k] = v
    return out


def base_name(base: Mapping[str, float]) -> str:
    """The registry name of the law with this fixed base: ``data_constrained:E=1.87,alpha=...``."""
    return FAMILY + ":" + ",".join(f"{k}={v!r}" for k, v in _check_base(base).items())


def data_constrained(base: Mapping[str, float] | None = None, *, name: str | None = None) -> Law:
    """The data-constrained law of Muennighoff et al. (2023), with an optional fixed base law.

    L(N, D, U) = E + A·N'^(−α) + B·D'^(−β), with effective parameters N' and tokens D' that
    discount repetition (see the module docstring for the maths). Inputs: n_params, n_tokens and
    unique_tokens.

    Parameters
    ----------
    base : dict, optional
        Fixed values for any of the base-law parameters ``E, log_A, alpha, log_B, beta``. Fixed
        ones are constants; the others and ``log_RD``, ``log_RN`` are sampled. ``None`` samples
        all seven.
    name : str, optional
        Registry name. By default ``"data_constrained"`` without a base, and
        ``"data_constrained:<param>=<value>,..."`` with one, a name :func:`get_law` turns back
        into this law (so that saved fits reload).

    Returns
    -------
    Law
        Derived quantities ``R_D_star = exp(log_RD)``, ``R_N_star = exp(log_RN)`` (and ``A``, ``B``
        when sampled). Default priors: the Chinchilla ones for the base law and
        ``log R* ~ Normal(log 10, 1.5)`` (see :func:`bayes_scaling.priors.repetition_prior`).

    Examples
    --------
    >>> law = data_constrained(MUENNIGHOFF2023_BASE, name="data_constrained:muennighoff2023")
    >>> law.params
    ('log_RD', 'log_RN')
    >>> import numpy as np
    >>> x = {"n_params": 6.34e9, "n_tokens": 242e9, "unique_tokens": 25e9}
    >>> p = {"log_RD": np.log(15.387756), "log_RN": np.log(5.309743)}
    >>> round(float(law.fn(x, p, np)), 4)  # the README's example: 2.2256440889984477
    2.2256
    """
    fixed = _check_base(base or {})
    free = tuple(k for k in PARAMS if k not in fixed)
    if name is None:
        name = base_name(fixed) if fixed else FAMILY

    def fn(x, p, xp):
        return _data_constrained_fn(x, {**fixed, **p}, xp)

    def priors(stats):
        base_priors = _chinchilla_priors(stats)
        # D' saturates near the unique tokens: centre log_B's prior there, as it is sampled.
        if "ref_log_unique_tokens" in stats:
            base_priors["log_B"] = _chinchilla_priors(
                {**stats, "ref_log_n_tokens": stats["ref_log_unique_tokens"]}
            )["log_B"]
        every = {**base_priors, "log_RD": repetition_prior(), "log_RN": repetition_prior()}
        return {k: every[k] for k in free}

    derived = {
        "R_D_star": lambda p, xp: xp.exp(p["log_RD"]),
        "R_N_star": lambda p, xp: xp.exp(p["log_RN"]),
    }
    if "log_A" in free:
        derived["A"] = lambda p, xp: xp.exp(p["log_A"])
    if "log_B" in free:
        derived["B"] = lambda p, xp: xp.exp(p["log_B"])
    pairs = {"log_A": ("n_params", "alpha"), "log_B": ("unique_tokens", "beta")}
    return Law(
        name=name,
        inputs=("n_params", "n_tokens", "unique_tokens"),
        params=free,
        fn=fn,
        default_priors=priors,
        exponents={e: c for e, c in (("alpha", "n_params"), ("beta", "n_tokens")) if e in free},
        centred={k: v for k, v in pairs.items() if k in free and v[1] in free},
        derived=derived,
        description="L(N, D, U) = E + A·N'^(−α) + B·D'^(−β), N' and D' discounting repetition"
        + (f" (fixed {', '.join(f'{k}={v:.4g}' for k, v in fixed.items())})" if fixed else ""),
    )


def data_constrained_from_name(arg: str) -> Law:
    """The law named ``"data_constrained:<param>=<value>,..."`` (used by :func:`get_law`)."""
    base = {}
    for item in filter(None, arg.split(",")):
        key, sep, value = item.partition("=")
        try:
            base[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise LawError(
                f"cannot read {item!r} in law name 'data_constrained:{arg}'; write "
                "data_constrained:<param>=<value>,... (e.g. data_constrained:alpha=0.35,beta=0.35) "
                "or use a registered name such as data_constrained:muennighoff2023"
            )
    return data_constrained(base)


#: A run informs R* when its repetitions (epochs − 1, or excess parameters in multiples of
#: U_N) exceed this: well below R* a repeated token or parameter is still worth nearly a new one.
INFORMATIVE_REPEATS = 1.0
#: Fewer informative runs than this leave an R* to its prior.
MIN_INFORMATIVE = 5


def identification(posterior, runs) -> tuple[str, str] | None:
    """Which decay constants the runs barely inform, from a fit's draws: ``(what, advice)`` or
    None.

    R*_D is informed by runs that repeat their data (D/U − 1 > :data:`INFORMATIVE_REPEATS`),
    R*_N by runs with more parameters than their unique data can use, N/N_opt(U) − 1 above the
    same, with N_opt from the posterior medians of the base law (so the count is approximate).
    Fewer than :data:`MIN_INFORMATIVE` such runs is reported.
    """
    n = runs["n_params"].to_numpy(float)
    d = runs["n_tokens"].to_numpy(float)
    u = np.minimum(runs["unique_tokens"].to_numpy(float), d)
    what, advice = [], []
    if "log_RD" in posterior:
        k = int((d / u - 1 > INFORMATIVE_REPEATS).sum())
        if k < MIN_INFORMATIVE:
            what.append(
                f"only {k} runs repeat their data more than twice, so R*_D is barely identified"
            )
            advice.append("add runs of several epochs (D/U of 2-50) at a few model sizes")
    base = {k: float(np.median(posterior[k].values)) for k in BASE_PARAMS if k in posterior}
    if "log_RN" in posterior and {"log_A", "alpha", "log_B", "beta"} <= set(base):
        a, b = base["alpha"], base["beta"]
        log_g = (np.log(a) + base["log_A"] - np.log(b) - base["log_B"]) / (a + b)
        n_opt = np.exp(log_g + b / a * (log_g + np.log(u)))
        excess = n / n_opt - 1
        k = int((excess > INFORMATIVE_REPEATS).sum())
        if k < MIN_INFORMATIVE:
            what.append(
                f"only {k} runs have more than twice the parameters their unique data can use "
                "(N > 2·N_opt(U) at the posterior median), so R*_N is barely identified"
            )
            advice.append("add runs with N well above N_opt(U) (large models on few unique tokens)")
    if not what:
        return None
    return "; ".join(what), "; ".join(advice)
