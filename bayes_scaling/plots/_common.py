"""Small helpers shared by the plot modules: draws as flat arrays, axis labels, figure setup."""

from __future__ import annotations

import numpy as np
import xarray as xr

#: Display names of the parameters that have a usual symbol.
LABELS = {
    "E": "E (irreducible loss, nats)",
    "alpha": "α (params exponent)",
    "beta": "β (tokens exponent)",
    "log_A": "log A",
    "log_B": "log B",
    "A": "A",
    "B": "B",
    "sigma": "σ (noise of log loss)",
    "nu": "ν (Student-t dof)",
}

#: Short names, for the crowded axes of a corner plot.
SYMBOLS = {"alpha": "α", "beta": "β", "sigma": "σ", "nu": "ν", "log_A": "log A", "log_B": "log B"}


def label(name: str, short: bool = False) -> str:
    """Axis label of parameter ``name``."""
    return (SYMBOLS if short else LABELS).get(name, name)


def flat_draws(ds: xr.Dataset, name: str) -> np.ndarray:
    """All finite draws of ``ds[name]`` as a 1-d float array (every dim flattened)."""
    values = np.asarray(ds[name].values, float).ravel()
    return values[np.isfinite(values)]


def check_vars(ds: xr.Dataset, names, what: str) -> list[str]:
    """``names`` as a list, or a ValueError that lists what ``ds`` does have."""
    names = [names] if isinstance(names, str) else list(names)
    missing = [n for n in names if n not in ds.data_vars]
    if missing:
        raise ValueError(f"{what} has no variable(s) {missing}; it has {list(ds.data_vars)}")
    if not names:
        raise ValueError(f"no variables to plot from the {what}")
    return names
