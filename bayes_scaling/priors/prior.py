"""``Prior``: a small serialisable prior, a PyMC distribution name and its numbers, with its reason.

Every prior is stored with the fit as JSON (:func:`priors_to_json`), so a saved fit says which
priors it was made with and why.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from bayes_scaling.errors import PriorError

#: PyMC distributions checked without importing PyMC (any other name is looked up in PyMC).
COMMON_DISTRIBUTIONS = frozenset(
    "Normal HalfNormal TruncatedNormal LogNormal StudentT HalfStudentT Cauchy HalfCauchy Gamma "
    "InverseGamma Exponential Uniform Beta Laplace Logistic Weibull SkewNormal Wald "
    "MvNormal".split()
)


def is_distribution(name: str) -> bool:
    """Whether ``name`` is a PyMC distribution (one with ``.dist``)."""
    if name in COMMON_DISTRIBUTIONS:
        return True
    import pymc as pm  # only for names outside the common list

    return hasattr(pm, name) and hasattr(getattr(pm, name), "dist")


@dataclass(frozen=True)
class Prior:
    """A prior: a PyMC distribution name and its parameters, plus why it was chosen.

    Parameters
    ----------
    dist : str
        Name of a PyMC distribution, e.g. ``"Normal"``, ``"LogNormal"``, ``"Uniform"``.
    params : dict
        Its keyword arguments, numbers only (so that the prior can be saved as JSON).
    why : str
        One sentence that explains the choice; shown in summaries and reports.

    Examples
    --------
    >>> Prior("Normal", {"mu": 0.34, "sigma": 0.05}, why="Hoffmann et al.'s alpha")
    Prior(Normal(mu=0.34, sigma=0.05))
    """

    dist: str
    params: dict = field(default_factory=dict)
    why: str = ""

    def __post_init__(self):
        if not is_distribution(self.dist):
            raise PriorError(f"unknown distribution {self.dist!r}; use a PyMC name like 'Normal'")
        for k, v in self.params.items():
            if not isinstance(v, int | float) or not np.isfinite(v):
                raise PriorError(f"{self.dist} parameter {k}={v!r} must be a finite number")

    def __repr__(self) -> str:
        return f"Prior({self})"

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v:.4g}" for k, v in self.params.items())
        return f"{self.dist}({args})"

    def to_pymc(self, name: str, **kwargs):
        """Create the random variable ``name`` inside the current PyMC model."""
        import pymc as pm  # only where a PyMC object is built: loading a fit never imports PyMC

        return getattr(pm, self.dist)(name, **{**self.params, **kwargs})

    def to_dist(self, **params):
        """An unnamed PyMC distribution (for ``pm.logp`` or ``pm.draw``)."""
        import pymc as pm  # only where a PyMC object is built: loading a fit never imports PyMC

        return getattr(pm, self.dist).dist(**{**self.params, **params})

    def to_dict(self) -> dict:
        return {"dist": self.dist, "params": dict(self.params), "why": self.why}

    @classmethod
    def from_any(cls, value: Prior | Mapping) -> Prior:
        """Accept a :class:`Prior` or a dict ``{"dist": "Normal", "mu": 0, "sigma": 1}``."""
        if isinstance(value, Prior):
            return value
        if isinstance(value, Mapping) and "dist" in value:
            params = dict(value.get("params", {}))
            params.update({k: v for k, v in value.items() if k not in ("dist", "params", "why")})
            return cls(
                value["dist"],
                {k: float(v) for k, v in params.items()},
                value.get("why", "set by the user"),
            )
        raise PriorError(f"cannot read a prior from {value!r}; use Prior('Normal', {{...}})")


def priors_to_json(priors: Mapping[str, Prior]) -> str:
    return json.dumps({k: p.to_dict() for k, p in priors.items()})


def priors_from_json(text: str) -> dict[str, Prior]:
    return {k: Prior(v["dist"], v["params"], v.get("why", "")) for k, v in json.loads(text).items()}
