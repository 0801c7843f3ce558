"""Scaling laws, as data: a pure function plus its parameter names, default priors and optimum.

A law is a :class:`Law` record, not a class hierarchy. Its function ``fn(x, p, xp)`` takes

- ``x``: a mapping from input column (``"n_params"``, ``"n_tokens"``, ``"compute"``, ...) to arrays,
- ``p``: a mapping from parameter name to arrays (broadcastable against the inputs),
- ``xp``: the array namespace, ``numpy`` or ``pytensor.tensor``, for ``exp``, ``log`` and friends,

and returns the expected loss in nats. The same function builds the PyMC model and evaluates bands.

Built-in laws (one module each)
-------------------------------
``chinchilla`` (Hoffmann et al. 2022, :mod:`.chinchilla`)::

    L(N, D) = E + A·N^(−α) + B·D^(−β)

``power`` / ``power:<x>`` (one variable x ∈ {N, D, C}, :mod:`.power`)::

    L(x) = E + A·x^(−α)

``kaplan`` (Kaplan et al. 2020, :mod:`.kaplan`)::

    L(N, D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D

``broken`` / ``broken:<x>`` (Caballero et al. 2022, one break, :mod:`.broken`)::

    L(x) = E + A·x^(−α)·(1 + (x/x_b)^(1/f))^(−Δα·f)

``data_constrained`` / ``data_constrained:muennighoff2023`` (Muennighoff et al. 2023,
:mod:`.data_constrained`)::

    L(N, D, U) = E + A·N'^(−α) + B·D'^(−β), with effective N', D' that discount repeated data

Coefficients are on the log scale. Register your own law with :func:`register_law`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

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


# The law modules import Law from this (partly initialised) package, so they come last.
from bayes_scaling.laws.broken import broken  # noqa: E402
from bayes_scaling.laws.chinchilla import CHINCHILLA, chinchilla_optimum, ratio_split  # noqa: E402
from bayes_scaling.laws.data_constrained import (  # noqa: E402
    MUENNIGHOFF2023_BASE,
    data_constrained,
    data_constrained_from_name,
)
from bayes_scaling.laws.kaplan import KAPLAN  # noqa: E402
from bayes_scaling.laws.power import power  # noqa: E402

_FAMILIES.update(power=power, broken=broken, data_constrained=data_constrained_from_name)

register_law(CHINCHILLA)
register_law(KAPLAN)
for _x in ("n_params", "n_tokens"):
    register_law(power(_x))
    register_law(broken(_x))
_REGISTRY["power"] = register_law(power("compute"))
_REGISTRY["broken"] = register_law(broken("compute"))
register_law(data_constrained())
register_law(data_constrained(MUENNIGHOFF2023_BASE, name="data_constrained:muennighoff2023"))
del _x

__all__ = [
    "CHINCHILLA",
    "INPUT_COLUMNS",
    "KAPLAN",
    "MUENNIGHOFF2023_BASE",
    "Law",
    "broken",
    "chinchilla_optimum",
    "data_constrained",
    "get_law",
    "known_laws",
    "power",
    "ratio_split",
    "register_law",
]
