"""Grouped runs: per parameter, whether the groups share it, pool it partially, or keep it apart.

A runs table with a ``group`` column (architecture, data recipe, optimiser, ...) is fitted as one
hierarchical model of any law (see :func:`bayes_scaling.results.grouped.fit_groups`). For each
parameter θ (law parameters, and the noise ``sigma`` and ``nu``) and groups g = 1..G:

``shared``
    One θ for all groups, with the law's prior.
``independent``
    θ_g drawn independently from the law's prior: G separate fits that share nothing else.
``partial``
    θ_g drawn around a population value μ_θ (which has the law's prior) on the parameter's natural
    unconstrained scale h, non-centred::

        h(θ_g) = h(μ_θ) + τ_θ·z_g,   z ~ ZeroSumNormal(1) over groups,   τ_θ ~ HalfNormal(s_θ)

    with h = log for positive priors (LogNormal, HalfNormal, Gamma, ...: τ is then a relative
    spread), h = identity for Normal priors (log coefficients: τ in nats of log A), and h = logit
    within the bounds for Uniform priors (E). PyMC's ZeroSumNormal(1) gives each of G offsets a
    standard deviation √((G−1)/G), so with two groups h(θ_B) − h(θ_A) has standard deviation
    τ·√2: τ = 0.1 on the log scale lets two groups' exponents differ by about 14% (1 sd).
    The offsets sum to zero, so μ_θ is the groups' centre on the scale h, identified by the data,
    and τ_θ only sets how far apart the groups may be: with few runs per group, θ_g shrinks
    towards μ_θ as far as the data allow. Log coefficients with a centred parameterisation (see
    :class:`~bayes_scaling.laws.Law`) are pooled the same way, with μ sampled centred. (Centred
    forms, θ_g ~ Normal(h(μ), τ), diverged on simulated ladders; see ARCHITECTURE.md.)

Presets (``pool=``), with the defaults of the hyper-prior scale s_θ:

=============== ============== ============================= ================ ===========
preset          exponents      coefficients (log A, log B)   others (E, ...)  sigma, nu
=============== ============== ============================= ================ ===========
``exponents``   partial        independent                   shared           shared
``all``         partial        partial                       partial          shared
``none``        independent    independent                   independent      shared
=============== ============== ============================= ================ ===========

"Exponents" are the law's ``exponents`` (α, β; Kaplan's α_N, α_D), "coefficients" its centred log
coefficients (``Law.centred``: log A, log B); everything else, such as E, Kaplan's log scales or
a break's location, counts as "others".

``exponents`` is the default: groups trained on the same data distribution share the irreducible
loss E (the entropy of the text does not depend on the model), their exponents are expected to be
similar but not equal, and their coefficients are free (they absorb constant-factor differences).
When groups differ in data (a new mix, another tokenizer), E is not shared: use ``all`` or set
``{"E": "independent"}``. Every choice is per parameter through ``overrides``.

s_θ: 0.2 for exponents and other positive parameters on the log scale (at τ = 0.2, two groups'
exponents differ by about 28%, 1 sd), 0.06 for an exponent given a Normal prior (absolute,
about 0.2 × a typical exponent of 0.3), 1.0 for log coefficients (a factor of e), 0.5 on the
logit scale of bounded parameters such as E, and 0.5 for sigma and nu.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_scaling._constants import NOISE_PARAMS
from bayes_scaling.errors import PriorError, RunsError
from bayes_scaling.priors import Prior

MODES = ("shared", "partial", "independent")
PRESETS = ("exponents", "all", "none")
#: Prior families whose parameter is positive: pooled on the log scale.
POSITIVE = ("LogNormal", "HalfNormal", "Gamma", "Exponential", "HalfCauchy", "HalfStudentT")
#: Prior families on the real line: pooled as they are.
REAL = ("Normal", "StudentT", "Cauchy", "Logistic")


def pool_scale(prior: Prior) -> str:
    """The scale h on which a parameter with this prior is pooled: log, identity or logit."""
    if prior.dist in POSITIVE:
        return "log"
    if prior.dist in REAL:
        return "identity"
    if prior.dist == "Uniform":
        return "logit"
    raise PriorError(
        f"cannot pool a parameter with a {prior.dist} prior partially; give it a Normal, "
        "LogNormal or Uniform prior, or pool it 'shared' or 'independent'"
    )


def tau_prior(law, name: str, prior: Prior) -> Prior:
    """Default hyper-prior τ_θ ~ HalfNormal(s_θ) of a partially pooled parameter (see module)."""
    scale = pool_scale(prior)
    if name in law.exponents and scale == "identity":
        s, what = 0.06, "absolute spread of the exponent"
    elif name in law.centred or scale == "identity":
        s, what = 1.0, "nats of the log coefficient"
    elif scale == "logit":
        s, what = 0.5, "logit scale within the prior's bounds"
    elif name in NOISE_PARAMS:
        s, what = 0.5, "relative spread of the noise"
    else:
        s, what = 0.2, "relative spread on the log scale"
    return Prior("HalfNormal", {"sigma": s}, why=f"spread of {name} across groups, {what}")


def pooling_modes(law, pool: str = "exponents", overrides: Mapping | None = None) -> dict:
    """Mode of every law parameter and of ``sigma``/``nu``, from a preset plus overrides."""
    if pool not in PRESETS:
        raise PriorError(f"unknown pooling preset {pool!r}; choose one of {list(PRESETS)}")
    modes = {}
    for name in law.params:
        if pool == "none":
            modes[name] = "independent"
        elif pool == "all" or name in law.exponents:
            modes[name] = "partial"
        else:
            modes[name] = "independent" if name in law.centred else "shared"
    modes.update(sigma="shared", nu="shared")
    for name, mode in (overrides or {}).items():
        if name not in modes:
            raise PriorError(
                f"no parameter {name!r} to pool in law {law.name!r}; parameters are {list(modes)}"
            )
        if mode not in MODES:
            raise PriorError(f"pooling mode {mode!r} for {name!r}; choose one of {list(MODES)}")
        modes[name] = mode
    for name, (_, exponent) in law.centred.items():
        if modes[name] == "shared" and modes[exponent] != "shared":
            raise PriorError(
                f"{name} is shared but its exponent {exponent} varies by group; a shared "
                f"coefficient is only defined with a shared exponent: pool {name} "
                f"'partial' or 'independent' (or {exponent} 'shared')"
            )
    return modes


@dataclass(frozen=True)
class Pooling:
    """How a grouped fit treats each parameter, and which groups there are (in code order).

    Parameters
    ----------
    groups : tuple of str
        Group labels; run i belongs to ``groups[code_i]``.
    modes : dict
        Parameter name to ``"shared"``, ``"partial"`` or ``"independent"``.
    column : str
        The runs-table column the groups came from (stored for the record).
    preset : str
        The preset the modes started from.
    """

    groups: tuple[str, ...]
    modes: dict
    column: str = "group"
    preset: str = "exponents"

    def mode(self, name: str) -> str:
        return self.modes.get(name, "shared")

    def varying(self, names) -> list[str]:
        """The names among ``names`` that have one value per group."""
        return [n for n in names if self.mode(n) != "shared"]

    def partial(self, names) -> list[str]:
        return [n for n in names if self.mode(n) == "partial"]

    def codes(self, runs: pd.DataFrame) -> np.ndarray:
        """Each run's group index; a run of an unknown group is a :class:`RunsError`."""
        labels = runs["group"].astype(str).to_numpy()
        index = {g: i for i, g in enumerate(self.groups)}
        unknown = [(runs.index[i], v) for i, v in enumerate(labels) if v not in index]
        if unknown:
            row, value = unknown[0]
            raise RunsError(
                f"row {row}, column 'group': group {value!r} is not one of the fitted groups "
                f"{list(self.groups)}; refit with it or drop those runs"
            )
        return np.array([index[v] for v in labels], dtype=int)

    def structure(self) -> tuple:
        """What in the pooling decides the compiled graph (for the model cache)."""
        return (len(self.groups), tuple(sorted(self.modes.items())))

    def to_json(self) -> str:
        return json.dumps(
            {
                "groups": list(self.groups),
                "modes": self.modes,
                "column": self.column,
                "preset": self.preset,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Pooling:
        d = json.loads(text)
        return cls(tuple(d["groups"]), dict(d["modes"]), d["column"], d["preset"])


def mu_name(param: str) -> str:
    """Name of the population value μ of a partially pooled parameter."""
    return f"{param}_mu"


def tau_name(param: str) -> str:
    """Name of the spread τ across groups of a partially pooled parameter."""
    return f"{param}_tau"


def z_name(param: str) -> str:
    return f"{param}_z"
