"""One module of argument validators, used by every public function and CLI command.

Each validator takes the value and the argument's name, returns the value in the form the code
wants (a float, a 1-d float array, a tuple of probabilities), and raises
:class:`~bayes_scaling.errors.ArgumentError` naming the argument, what was given and the fix.
Tables are checked by :func:`bayes_scaling.data.runs.load_runs` and raise ``RunsError`` instead.

>>> probability(0.9, "prob")
0.9
>>> probabilities([0.5, 0.9], "probs")
(0.5, 0.9)
>>> positive_array([1e22, 1e23], "compute").tolist()
[1e+22, 1e+23]
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable

import numpy as np

from bayes_scaling.errors import ArgumentError


def shown(value, width: int = 60) -> str:
    """``repr(value)`` cut to ``width`` characters, for error messages (a NumPy scalar as the
    plain number: ``nan``, not ``np.float64(nan)``)."""
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real | np.number):
        raise ArgumentError(name, f"expected a number, got {shown(value)}")
    out = float(value)
    if not math.isfinite(out):
        raise ArgumentError(name, f"expected a finite number, got {shown(value)}")
    return out


def probability(value, name: str = "prob") -> float:
    """A central interval probability: a number strictly between 0 and 1."""
    p = _real(value, name)
    if not 0.0 < p < 1.0:
        raise ArgumentError(
            name, f"must be strictly between 0 and 1 (e.g. 0.9), got {shown(value)}"
        )
    return p


def probabilities(values, name: str = "probs") -> tuple[float, ...]:
    """One or more interval probabilities (a number or a non-empty sequence), each in (0, 1)."""
    items = _items(values, name)
    return tuple(
        probability(v, f"{name}[{i}]" if len(items) > 1 else name) for i, v in enumerate(items)
    )


def fraction(value, name: str) -> float:
    """A level in [0, 1] (a quantile level, a CVaR level)."""
    q = _real(value, name)
    if not 0.0 <= q <= 1.0:
        raise ArgumentError(name, f"must lie in [0, 1] (e.g. 0.95), got {shown(value)}")
    return q


def positive(value, name: str) -> float:
    """A positive finite number (a size, a budget, a loss, a tolerance)."""
    x = _real(value, name)
    if x <= 0:
        raise ArgumentError(name, f"must be positive, got {shown(value)}")
    return x


def optional_positive(value, name: str) -> float | None:
    """None, or a positive finite number."""
    return None if value is None else positive(value, name)


def non_negative(value, name: str) -> float:
    """A finite number ≥ 0."""
    x = _real(value, name)
    if x < 0:
        raise ArgumentError(name, f"must be zero or positive, got {shown(value)}")
    return x


def count(value, name: str, minimum: int = 1) -> int:
    """A whole number ≥ ``minimum`` (draws, chains, samples, k)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral | np.integer):
        if isinstance(value, float | np.floating) and float(value).is_integer():
            value = int(value)
        else:
            raise ArgumentError(name, f"expected a whole number ≥ {minimum}, got {shown(value)}")
    if value < minimum:
        raise ArgumentError(name, f"must be a whole number ≥ {minimum}, got {shown(value)}")
    return int(value)


#: Seeds above this overflow the samplers' 64-bit seeds once a batch adds its task index.
MAX_SEED = 2**63 - 1


def seed(value, name: str = "seed") -> int | None:
    """None or a whole number from 0 to :data:`MAX_SEED` (a plain int, so it saves as JSON)."""
    if value is None:
        return None
    value = count(value, name, minimum=0)
    if value > MAX_SEED:
        raise ArgumentError(name, f"must be at most 2^63 - 1, got {shown(value)}")
    return value


def _items(values, name: str) -> list:
    if isinstance(values, str | bytes) or values is None:
        raise ArgumentError(name, f"expected a number or a list of numbers, got {shown(values)}")
    if isinstance(values, numbers.Real | np.number) and not isinstance(values, bool):
        return [values]
    if hasattr(values, "__array__") and not isinstance(values, np.ndarray):
        values = np.asarray(values)  # a Series, a DataArray
    if isinstance(values, np.ndarray):
        if values.ndim > 1:
            raise ArgumentError(name, f"expected a flat list of numbers, got shape {values.shape}")
        items = values.ravel().tolist()
    elif isinstance(values, Iterable):
        items = list(values)
    else:
        raise ArgumentError(name, f"expected a number or a list of numbers, got {shown(values)}")
    if not items:
        raise ArgumentError(name, "is empty; give at least one value")
    return items


def positive_array(values, name: str) -> np.ndarray:
    """One or more positive finite numbers, as a 1-d float array in the order given."""
    items = _items(values, name)
    out = np.empty(len(items))
    for i, v in enumerate(items):
        out[i] = positive(v, f"{name}[{i}]" if len(items) > 1 else name)
    return out


def optional_positive_array(values, name: str) -> np.ndarray | None:
    """None, or :func:`positive_array`."""
    return None if values is None else positive_array(values, name)


def reals(values, name: str, finite: bool = True) -> np.ndarray:
    """One or more real numbers of any sign (never NaN; ±inf only when not ``finite``)."""
    items = _items(values, name)
    out = np.empty(len(items))
    for i, v in enumerate(items):
        label = f"{name}[{i}]" if len(items) > 1 else name
        if isinstance(v, bool) or not isinstance(v, numbers.Real | np.number):
            raise ArgumentError(label, f"expected a number, got {shown(v)}")
        out[i] = float(v)
        if math.isnan(out[i]) or (finite and math.isinf(out[i])):
            raise ArgumentError(label, f"expected a finite number, got {shown(v)}")
    return out


def increasing(values, name: str, minimum: float = -math.inf, size: int = 1, finite: bool = True):
    """At least ``size`` strictly increasing numbers ≥ ``minimum`` (a grid, bin edges)."""
    out = reals(values, name, finite)
    if len(out) < size:
        raise ArgumentError(name, f"give at least {size} values, got {len(out)}")
    if out[0] < minimum:
        raise ArgumentError(name, f"values must be ≥ {minimum:g}, got {out[0]:g}")
    if np.any(np.diff(out) <= 0):
        raise ArgumentError(name, f"values must increase strictly, got {shown(out.tolist())}")
    return out


def matched(arrays: dict) -> dict:
    """Arrays by argument name that pair point by point: one length, or a single value for all."""
    size = max(len(v) for v in arrays.values())
    longest = next(name for name, v in arrays.items() if len(v) == size)
    for name, v in arrays.items():
        if len(v) not in (1, size):
            raise ArgumentError(
                name,
                f"has {len(v)} values but {longest} has {size}; give one {name} value per "
                f"{longest} value (or a single value for all)",
            )
    return {name: np.broadcast_to(v, size).copy() for name, v in arrays.items()}


def flag(value, name: str) -> bool:
    """True or False (a switch such as ``discrepancy`` or ``relative``)."""
    if not isinstance(value, bool | np.bool_):
        raise ArgumentError(name, f"expected True or False, got {shown(value)}")
    return bool(value)


#: Axes a fit's internal cuts can run along (``discrepancy="n_params"``, ...).
CUT_AXES = ("compute", "n_params", "n_tokens")


def discrepancy_axis(value, columns) -> bool | str:
    """A fit's ``discrepancy``: True or False, or the axis of its internal cuts, one of
    :data:`CUT_AXES` that is a column of the runs (``columns``)."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if not isinstance(value, str) or value not in CUT_AXES:
        raise ArgumentError(
            "discrepancy", f"expected True, False or one of {list(CUT_AXES)}, got {shown(value)}"
        )
    if value not in columns:
        raise ArgumentError(
            "discrepancy", f"the runs have no {value!r} column to cut along; give True (compute)"
        )
    return value


def one_of(value, name: str, choices: Iterable[str]) -> str:
    """One of a fixed set of strings."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ArgumentError(name, f"must be one of {list(choices)}, got {shown(value)}")
    return value


def tolerance(value, relative: bool, name: str = "tolerance") -> float:
    """A positive tolerance: nats, or a fraction below 1 when ``relative``."""
    tol = positive(value, name)
    if relative and tol >= 1:
        raise ArgumentError(
            name, f"a relative tolerance is a fraction below 1 (e.g. 0.02), got {tol}"
        )
    return tol


def renamed(aliases: dict, old: str, new: str, value, where: str = "", others: Iterable = ()):
    """Accept ``old=`` as the former name of keyword ``new``, with a FutureWarning.

    ``aliases`` is the function's ``**aliases``; any other key in it is an unknown argument,
    except ``others``: the function's other former names, each resolved by its own call.

    >>> renamed({}, "k", "flops_per_param_token", 6.0)
    6.0
    """
    unknown = set(aliases) - {old, *others}
    if unknown:
        name = sorted(unknown)[0]
        raise ArgumentError(name, f"{where + '() ' if where else ''}has no argument {name!r}")
    if old in aliases:
        if value is not None:
            raise ArgumentError(new, f"give {new}= only (the old name {old}= was given too)")
        warnings.warn(f"{old}= is now called {new}=", FutureWarning, stacklevel=3)
        return aliases[old]
    return value
