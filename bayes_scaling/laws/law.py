"""The ``Law`` record, the registry of laws by name, and ``frontier_loss``.

A law is data, not a class hierarchy: a pure function ``fn(x, p, xp)`` (inputs, parameters, and
the array namespace, ``numpy`` or ``pytensor.tensor``) returning the expected loss in nats, plus its
parameter names, default priors and, where one exists, its closed-form compute-optimal split. The
built-in laws and their maths are listed in :mod:`bayes_scaling.laws`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from bayes_scaling._constants import FLOPS_PER_PARAM_TOKEN
from bayes_scaling.errors import LawError
from bayes_scaling.priors import Prior

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

#: Stand-in data summaries, used to check that a law has a default prior for every parameter.
_PROBE_STATS = {
    "min_loss": 2.0,
    "median_loss": 3.0,
    "sd_log_loss": 0.1,
    **{f"ref_log_{c}": 20.0 for c in INPUT_COLUMNS},
    **{f"min_log_{c}": 18.0 for c in INPUT_COLUMNS},
    **{f"max_log_{c}": 22.0 for c in INPUT_COLUMNS},
}


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


#: Families of laws made on demand from their name: ``"<family>:<argument>"``.
_FAMILIES: dict[str, Callable[[str], Law]] = {}


def get_law(law: str | Law) -> Law:
    """Look up a law by name.

    Names: ``"chinchilla"``, ``"kaplan"``, ``"power"`` / ``"power:n_params"``, ``"broken"`` /
    ``"broken:n_tokens"``, ``"data_constrained"``, ``"data_constrained:muennighoff2023"`` or
    ``"data_constrained:alpha=0.35,beta=0.35"`` (a fixed base), or any registered law.

    Examples
    --------
    >>> get_law("broken").name
    'broken:compute'
    """
    if isinstance(law, Law):
        return law
    if not isinstance(law, str):
        raise LawError(f"a law is a name such as 'chinchilla' or a Law record, got {law!r}")
    if law in _REGISTRY:
        return _REGISTRY[law]
    family, sep, arg = law.partition(":")
    if sep and family in _FAMILIES:
        made = _FAMILIES[family](arg)  # "power:n" and "power:n_params" are one law
        return _REGISTRY.get(made.name) or register_law(made)
    raise LawError(
        f"unknown law {law!r}; known laws: {sorted(_REGISTRY)} (or power:<x> / broken:<x> with x "
        "one of n_params, n_tokens, compute; data_constrained:<name>=<value>,... for a fixed base)"
    )


def known_laws() -> list[str]:
    """Names of the registered laws."""
    return sorted(_REGISTRY)


def frontier_loss(law: Law, params, compute, k: float = FLOPS_PER_PARAM_TOKEN):
    """L*(C): the law's loss on its compute-optimal split at each budget (numpy or xarray).

    For a law in N and D with a closed-form optimum, L*(C) = L(N*(C), D*(C)); for a law in compute
    alone, L(C).
    """
    if law.optimum is not None:
        opt = law.optimum(params, compute, k)
        return law.fn({"n_params": opt["n_params"], "n_tokens": opt["n_tokens"]}, params, np)
    if tuple(law.inputs) == ("compute",):
        return law.fn({"compute": compute}, params, np)
    raise LawError(
        f"law {law.name!r} has no compute-optimal split, so groups cannot be compared at a "
        "compute budget; use a law in N and D such as 'chinchilla', or a law in compute"
    )
