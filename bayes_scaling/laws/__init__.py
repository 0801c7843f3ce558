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

``farseer`` (a reduced form of Li et al. 2025, :mod:`.farseer`)::

    L(N, D) = E + A·N^(−α) + B·D^(−β(N)),  β(N) = β·(N/10⁹)^κ   (Chinchilla at κ = 0)

``data_constrained`` / ``data_constrained:muennighoff2023`` (Muennighoff et al. 2023,
:mod:`.data_constrained`)::

    L(N, D, U) = E + A·N'^(−α) + B·D'^(−β), with effective N', D' that discount repeated data

Coefficients are on the log scale. Register your own law with :func:`register_law`.

Links from a loss to a downstream metric (``sigmoid``, ``exponential``) belong to the downstream
capability: :mod:`bayes_scaling.downstream.links`.
"""

from bayes_scaling.laws.broken import broken
from bayes_scaling.laws.chinchilla import CHINCHILLA, chinchilla_optimum, ratio_split
from bayes_scaling.laws.data_constrained import (
    MUENNIGHOFF2023_BASE,
    data_constrained,
    data_constrained_from_name,
)
from bayes_scaling.laws.farseer import FARSEER
from bayes_scaling.laws.kaplan import KAPLAN
from bayes_scaling.laws.law import (
    _FAMILIES,
    _PACKAGE,
    _REGISTRY,
    INPUT_COLUMNS,
    Law,
    frontier_loss,
    get_law,
    known_laws,
    register_law,
)
from bayes_scaling.laws.power import power

_FAMILIES.update(power=power, broken=broken, data_constrained=data_constrained_from_name)

register_law(CHINCHILLA)
register_law(KAPLAN)
register_law(FARSEER)
for _x in ("n_params", "n_tokens"):
    register_law(power(_x))
    register_law(broken(_x))
_REGISTRY["power"] = register_law(power("compute"))
_REGISTRY["broken"] = register_law(broken("compute"))
register_law(data_constrained())
register_law(data_constrained(MUENNIGHOFF2023_BASE, name="data_constrained:muennighoff2023"))
_PACKAGE.update({_law.name: _law for _law in _REGISTRY.values()})  # the package's own laws
del _x

__all__ = [
    "CHINCHILLA",
    "FARSEER",
    "INPUT_COLUMNS",
    "KAPLAN",
    "MUENNIGHOFF2023_BASE",
    "Law",
    "broken",
    "chinchilla_optimum",
    "frontier_loss",
    "data_constrained",
    "get_law",
    "known_laws",
    "power",
    "ratio_split",
    "register_law",
]
