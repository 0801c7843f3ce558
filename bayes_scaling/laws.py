"""Scaling laws, as data: a pure function plus its parameter names, default priors and optimum.

A law is a :class:`Law` record, not a class hierarchy. Its function ``fn(x, p, xp)`` takes

- ``x``: a mapping from input column (``"n_params"``, ``"n_tokens"``, ``"compute"``, ...) to arrays,
- ``p``: a mapping from parameter name to arrays (broadcastable against the inputs),
- ``xp``: the array namespace, ``numpy`` or ``pytensor.tensor``, for ``exp``, ``log`` and friends,

and returns the expected loss in nats. The same function builds the PyMC model and evaluates bands.

Built-in laws
-------------
``chinchilla`` (Hoffmann et al. 2022)::

    L(N, D) = E + A·N^(−α) + B·D^(−β),   parameters E, log_A, alpha, log_B, beta

``power`` (Kaplan et al. 2020, one variable x ∈ {N, D, C})::

    L(x) = E + A·x^(−α),                  parameters E, log_A, alpha

Coefficients are on the log scale. Register your own law with :func:`register_law`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from bayes_scaling.errors import LawError
from bayes_scaling.priors import (
    Prior,
    exponent_prior,
    irreducible_prior,
    log_coefficient_prior,
)

INPUT_COLUMNS = ("n_params", "n_tokens", "compute", "unique_tokens", "epochs")


@dataclass(frozen=True)
class Law:
    """A scaling law as data.

    Parameters
    ----------
    name : str
        Registry name, stored with every fit.
    inputs : tuple of str
        Runs-table columns the law reads, e.g. ``("n_params", "n_tokens")``.
    params : tuple of str
        Parameter names, in display order.
    fn : callable
        ``fn(x, p, xp) -> loss``, written with ``xp`` operations so it works for numpy and pytensor.
    default_priors : callable
        ``default_priors(stats) -> {param: Prior}``; ``stats`` comes from
        :func:`bayes_scaling.priors.runs_stats` so that defaults are scaled to the data.
    exponents : dict
        Exponent parameter to the input column whose spread identifies it (validated before a fit).
    centred : dict
        Log-coefficient parameter to ``(input, exponent)`` for terms ``exp(log_A − e·log x)``. These
        are sampled as ``log_A − e·mean(log x)``, which removes their correlation with ``e``; the
        prior stays on ``log_A`` itself (the shift has unit Jacobian).
    derived : dict
        Extra reported quantities, name to ``f(p, xp)``, e.g. ``A = exp(log_A)``.
    optimum : callable, optional
        ``optimum(p, compute, k) -> {"n_params": N*, "n_tokens": D*}``, the closed-form
        compute-optimal split, where one exists.
    description : str
        One line with the law's formula.
    """

    name: str
    inputs: tuple[str, ...]
    params: tuple[str, ...]
    fn: Callable
    default_priors: Callable[[Mapping[str, float]], dict[str, Prior]]
    exponents: dict[str, str] = field(default_factory=dict)
    centred: dict[str, tuple[str, str]] = field(default_factory=dict)
    derived: dict[str, Callable] = field(default_factory=dict)
    optimum: Callable | None = None
    description: str = ""

    def evaluate(self, posterior: xr.Dataset, inputs: Mapping[str, np.ndarray]) -> xr.DataArray:
        """Expected loss for every posterior draw at every point.

        Parameters
        ----------
        posterior : Dataset
            Parameter draws with dims ``(chain, draw)`` (a posterior group or prior draws).
        inputs : mapping
            Input column to 1-d arrays of equal length (the points).

        Returns
        -------
        DataArray
            Dims ``(chain, draw, point)``.
        """
        x = {k: xr.DataArray(np.asarray(v, float), dims="point") for k, v in inputs.items()}
        p = {k: posterior[k] for k in self.params}
        return self.fn(x, p, np).transpose(..., "point")


_REGISTRY: dict[str, Law] = {}


def register_law(law: Law, *, overwrite: bool = False) -> Law:
    """Add a law to the registry, so that ``fit(runs, law="name")`` and saved fits find it.

    Examples
    --------
    >>> def fn(x, p, xp):
    ...     return p["E"] + xp.exp(p["log_A"] - p["alpha"] * xp.log(x["compute"]))
    >>> my = Law("my_power", ("compute",), ("E", "log_A", "alpha"), fn,
    ...          default_priors=lambda s: power("compute").default_priors(s))
    >>> register_law(my, overwrite=True).name
    'my_power'
    """
    missing = set(law.params) - set(law.default_priors(_PROBE_STATS))
    if missing:
        raise LawError(f"law {law.name!r} has no default prior for {sorted(missing)}")
    unknown = set(law.inputs) - set(INPUT_COLUMNS)
    if unknown:
        raise LawError(
            f"law {law.name!r} reads unknown input(s) {sorted(unknown)}; "
            f"inputs are runs-table columns {list(INPUT_COLUMNS)}"
        )
    if law.name in _REGISTRY and not overwrite and _REGISTRY[law.name] is not law:
        raise LawError(f"a law named {law.name!r} is already registered; pass overwrite=True")
    _REGISTRY[law.name] = law
    return law


def get_law(law: str | Law) -> Law:
    """Look up a law by name (``"chinchilla"``, ``"power"``, ``"power:n_params"``, ...)."""
    if isinstance(law, Law):
        return law
    if law in _REGISTRY:
        return _REGISTRY[law]
    if law.startswith("power:"):
        return register_law(power(law.split(":", 1)[1]))
    raise LawError(
        f"unknown law {law!r}; known laws: {sorted(_REGISTRY)} "
        "(or power:n_params / power:n_tokens / power:compute)"
    )


def known_laws() -> list[str]:
    return sorted(_REGISTRY)


_PROBE_STATS = {
    "min_loss": 2.0,
    "median_loss": 3.0,
    "sd_log_loss": 0.1,
    **{f"ref_log_{c}": 20.0 for c in INPUT_COLUMNS},
}


# --- chinchilla -----------------------------------------------------------------------------------


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


def chinchilla_optimum(p, compute, k: float = 6.0):
    """Closed-form compute-optimal split of the Chinchilla law along C = k·N·D.

    With G = (αA / (βB))^(1/(α+β)), a = β/(α+β) and b = α/(α+β):
    N*(C) = G·(C/k)^a and D*(C) = G^(−1)·(C/k)^b.

    Works on numpy arrays or xarray objects (broadcasting draws against budgets).
    """
    alpha, beta = p["alpha"], p["beta"]
    log_g = (np.log(alpha) + p["log_A"] - np.log(beta) - p["log_B"]) / (alpha + beta)
    log_ck = np.log(compute / k)
    n_opt = np.exp(log_g + beta / (alpha + beta) * log_ck)
    return {"n_params": n_opt, "n_tokens": compute / (k * n_opt)}


def ratio_split(compute, tokens_per_param: float, k: float = 6.0):
    """The split with a fixed ratio r = D/N along C = k·N·D: N = sqrt(C / (k·r)), D = r·N.

    Works on numpy arrays or xarray objects.
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


# --- power (one variable) -------------------------------------------------------------------------


def power(x: str = "compute") -> Law:
    """Single-variable law L(x) = E + A·x^(−α), with x one of n_params, n_tokens or compute.

    Kaplan et al. (2020) fitted this form to each of N, D and C separately. Registered as
    ``"power:<x>"``; ``"power"`` alone means ``"power:compute"``.
    """
    aliases = {
        "n": "n_params",
        "d": "n_tokens",
        "c": "compute",
        "params": "n_params",
        "tokens": "n_tokens",
    }
    x = aliases.get(x, x)
    if x not in ("n_params", "n_tokens", "compute"):
        raise LawError(f"power law variable must be n_params, n_tokens or compute, not {x!r}")

    def fn(xs, p, xp):
        return p["E"] + xp.exp(p["log_A"] - p["alpha"] * xp.log(xs[x]))

    def priors(stats):
        return {
            "E": irreducible_prior(stats),
            "log_A": log_coefficient_prior(stats, x),
            "alpha": exponent_prior(),
        }

    return Law(
        name=f"power:{x}",
        inputs=(x,),
        params=("E", "log_A", "alpha"),
        fn=fn,
        default_priors=priors,
        exponents={"alpha": x},
        centred={"log_A": (x, "alpha")},
        derived={"A": lambda p, xp: xp.exp(p["log_A"])},
        description=f"L({x}) = E + A·{x}^(−α)",
    )


register_law(CHINCHILLA)
register_law(power("n_params"))
register_law(power("n_tokens"))
_REGISTRY["power"] = register_law(power("compute"))
