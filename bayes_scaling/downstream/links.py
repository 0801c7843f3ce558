"""Links from an intermediate loss to a downstream metric, as data (the step 2 of a chain).

A link is a :class:`Link` record, like a :class:`~bayes_scaling.laws.Law`: a pure function
``fn(loss, p, xp)`` (``xp`` is ``numpy`` or ``pytensor.tensor``) giving the expected metric at a
loss, its inverse, parameter names and data-scaled default priors. ``p`` holds the sampled
parameters and three constants: ``chance`` (the metric of a model that knows nothing, e.g. 0.25
for four options; a sampled parameter when the caller does not give it), ``ceiling`` (the
metric's bound, 1 for an accuracy) and ``ref`` (the mean of the losses the link was fitted on).

Built-in links
--------------
``sigmoid`` (Bhagia et al. 2024, arXiv:2412.04403, eq. 2, written from a chance floor to a top)::

    m(L) = c + (top − c)·σ(−k·(L − L0)),   top = c + (ceiling − c)·share,   k = exp(log_slope)

accuracy rises from chance c towards ``top`` as the loss L falls, with midpoint L0.

``exponential`` (Gadre et al. 2024, arXiv:2403.08540, eq. 4: Err(L) = ε − k·exp(−γL))::

    m(L) = ε − exp(level − γ·(L − ref)),   ε = c (the chance error),   γ = exp(log_rate)

an error (lower is better) that falls from the chance error as the loss falls.

Register new links with :func:`register_link`; the observation noise of step 2 (Normal, sd
sqrt(floor² + σ_extra²)) is the model's, not the link's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from bayes_scaling.errors import LawError
from bayes_scaling.priors import Prior

#: Constants every link function reads from ``p`` besides its parameters.
LINK_CONSTANTS = ("chance", "ceiling", "ref")


@dataclass(frozen=True)
class Link:
    """A link from loss to metric, as data.

    Parameters
    ----------
    name : str
        Registry name, stored with every fit.
    params : tuple of str
        Sampled parameters (besides ``chance`` when it is learned, and the noise).
    fn : callable
        ``fn(loss, p, xp) -> metric``; ``p`` holds the parameters and :data:`LINK_CONSTANTS`.
    inverse : callable
        ``inverse(metric, p) -> loss`` (numpy/xarray): the loss at which the expected metric
        equals ``metric``; NaN where the link never reaches it.
    default_priors : callable
        ``default_priors(stats) -> {param: Prior}``, ``stats`` from :func:`link_stats`.
    chance_bounds : callable
        ``chance_bounds(stats) -> (lower, upper)``: the Uniform prior of ``chance`` when the caller
        does not give it.
    higher_is_better : bool
        True for an accuracy (the metric rises as the loss falls), False for an error.
    zero_loss_anchor : bool
        Whether fits anchor the link at zero loss by default (m(0) = the solved metric; see
        :mod:`bayes_scaling.downstream.model`): true of the sigmoid (the OLMo ladder paper's helper
        point), not of Gadre et al.'s exponential, whose ε − k need not be 0.
    derived : dict
        Reported quantities, name to ``f(p, xp)``.
    description : str
        One line with the formula.
    """

    name: str
    params: tuple[str, ...]
    fn: Callable
    inverse: Callable
    default_priors: Callable[[Mapping[str, float]], dict[str, Prior]]
    chance_bounds: Callable[[Mapping[str, float]], tuple[float, float]]
    higher_is_better: bool = True
    zero_loss_anchor: bool = False
    derived: dict[str, Callable] = field(default_factory=dict)
    description: str = ""

    def evaluate(self, posterior: xr.Dataset, loss, constants: Mapping[str, float]):
        """Expected metric for every draw at ``loss`` (an array or a DataArray broadcasting against
        the draws); ``constants`` gives :data:`LINK_CONSTANTS` not in the posterior."""
        p = {k: posterior[k] for k in self.params}
        for name in LINK_CONSTANTS:
            p[name] = posterior[name] if name in posterior else constants[name]
        with np.errstate(over="ignore"):  # exp(z) → inf far from the midpoint gives 0, rightly
            return self.fn(loss, p, np)

    def invert(self, posterior: xr.Dataset, metric, constants: Mapping[str, float]):
        """The loss at which each draw's expected metric equals ``metric`` (NaN: never)."""
        p = {k: posterior[k] for k in self.params}
        for name in LINK_CONSTANTS:
            p[name] = posterior[name] if name in posterior else constants[name]
        return self.inverse(metric, p)


def link_stats(loss, metric, chance=None, ceiling: float = 1.0) -> dict[str, float]:
    """Summaries that default link priors are scaled to: the losses' mean, min, max and range,
    the metric's min, max and sd, and the chance level and ceiling (chance NaN when unknown)."""
    x, y = np.asarray(loss, float), np.asarray(metric, float)
    return {
        "loss_mean": float(x.mean()),
        "loss_min": float(x.min()),
        "loss_max": float(x.max()),
        "loss_range": float(max(np.ptp(x), 1e-3 * max(abs(x.mean()), 1e-3))),
        "metric_min": float(y.min()),
        "metric_max": float(y.max()),
        "metric_sd": float(y.std()) if len(y) > 1 else 0.05,
        "chance": float("nan") if chance is None else float(chance),
        "ceiling": float(ceiling),
    }


# --- sigmoid (Bhagia et al. 2024) -----------------------------------------------------------


def _sigmoid_fn(loss, p, xp):
    top = p["chance"] + (p["ceiling"] - p["chance"]) * p["share"]
    z = xp.exp(p["log_slope"]) * (loss - p["midpoint"])
    return p["chance"] + (top - p["chance"]) / (1 + xp.exp(z))


def _sigmoid_inverse(metric, p):
    top = p["chance"] + (p["ceiling"] - p["chance"]) * p["share"]
    s = (metric - p["chance"]) / (top - p["chance"])
    with np.errstate(divide="ignore", invalid="ignore"):
        logit = np.log(s) - np.log1p(-s)
        out = p["midpoint"] - logit / np.exp(p["log_slope"])
    return xr.where((s > 0) & (s < 1), out, np.nan) if isinstance(out, xr.DataArray) else out


def _sigmoid_priors(stats):
    width = stats["loss_range"]
    return {
        "share": Prior(
            "Beta",
            {"alpha": 2.0, "beta": 1.0},
            why="the top as a share of the way from chance to the ceiling; leans high, any allowed",
        ),
        "midpoint": Prior(
            "Normal",
            {"mu": stats["loss_mean"], "sigma": max(2 * width, 0.25 * abs(stats["loss_mean"]))},
            why="the loss halfway from chance to the top, near the runs' losses or well beyond",
        ),
        "log_slope": Prior(
            "Normal",
            {"mu": float(np.log(4 / width)), "sigma": 1.5},
            why="steepness: a full rise over about the runs' loss range, 20x either way at 95%",
        ),
    }


def _sigmoid_chance_bounds(stats):
    return 0.0, max(stats["metric_min"], 1e-6)


SIGMOID = Link(
    name="sigmoid",
    params=("share", "midpoint", "log_slope"),
    fn=_sigmoid_fn,
    inverse=_sigmoid_inverse,
    default_priors=_sigmoid_priors,
    chance_bounds=_sigmoid_chance_bounds,
    higher_is_better=True,
    zero_loss_anchor=True,
    derived={
        "top": lambda p, xp: p["chance"] + (p["ceiling"] - p["chance"]) * p["share"],
        "slope": lambda p, xp: xp.exp(p["log_slope"]),
    },
    description="m(L) = c + (top − c)·σ(−k·(L − L0))",
)


# --- exponential (Gadre et al. 2024) --------------------------------------------------------


def _exponential_fn(loss, p, xp):
    return p["chance"] - xp.exp(p["level"] - xp.exp(p["log_rate"]) * (loss - p["ref"]))


def _exponential_inverse(metric, p):
    gap = p["chance"] - metric
    with np.errstate(divide="ignore", invalid="ignore"):
        out = p["ref"] - (np.log(gap) - p["level"]) / np.exp(p["log_rate"])
    return xr.where(gap > 0, out, np.nan) if isinstance(out, xr.DataArray) else out


def _exponential_priors(stats):
    chance = stats["chance"] if np.isfinite(stats["chance"]) else stats["ceiling"]
    gap = max(chance - (stats["metric_min"] + stats["metric_max"]) / 2, 0.02)
    slope = max(stats["metric_max"] - stats["metric_min"], 0.01) / stats["loss_range"]
    return {
        "level": Prior(
            "Normal",
            {"mu": float(np.log(gap)), "sigma": 1.5},
            why="log of the gap below the chance error at the runs' mean loss",
        ),
        "log_rate": Prior(
            "Normal",
            {"mu": float(np.log(slope / gap)), "sigma": 1.5},
            why="the rate γ: the runs' slope over the gap, 20x either way at 95%",
        ),
    }


def _exponential_chance_bounds(stats):
    return min(stats["metric_max"], stats["ceiling"] - 1e-6), stats["ceiling"]


EXPONENTIAL = Link(
    name="exponential",
    params=("level", "log_rate"),
    fn=_exponential_fn,
    inverse=_exponential_inverse,
    default_priors=_exponential_priors,
    chance_bounds=_exponential_chance_bounds,
    higher_is_better=False,
    derived={"rate": lambda p, xp: xp.exp(p["log_rate"])},
    description="m(L) = ε − exp(level − γ·(L − ref))",
)


# --- registry -------------------------------------------------------------------------------

_LINKS: dict[str, Link] = {}
_PROBE = link_stats([0.8, 1.0, 1.2], [0.3, 0.4, 0.5], 0.25)


def register_link(link: Link, *, overwrite: bool = False) -> Link:
    """Add a link to the registry, so that ``fit_downstream(..., link="name")`` and saved fits
    find it.

    Examples
    --------
    >>> def fn(loss, p, xp):
    ...     return p["chance"] + (p["ceiling"] - p["chance"]) * xp.exp(-p["rate"] * loss)
    >>> def inv(m, p):
    ...     return -np.log((m - p["chance"]) / (p["ceiling"] - p["chance"])) / p["rate"]
    >>> decay = Link("decay", ("rate",), fn, inv,
    ...              default_priors=lambda s: {"rate": Prior("HalfNormal", {"sigma": 5.0})},
    ...              chance_bounds=lambda s: (0.0, s["metric_min"]))
    >>> register_link(decay, overwrite=True).name
    'decay'
    """
    missing = set(link.params) - set(link.default_priors(_PROBE))
    if missing:
        raise LawError(f"link {link.name!r} has no default prior for {sorted(missing)}")
    clash = set(link.params) & {*LINK_CONSTANTS, "sigma", "sigma_extra"}
    if clash:
        raise LawError(f"link {link.name!r} uses reserved names {sorted(clash)} as parameters")
    if link.name in _LINKS and not overwrite and _LINKS[link.name] is not link:
        raise LawError(f"a link named {link.name!r} is already registered; pass overwrite=True")
    _LINKS[link.name] = link
    return link


def get_link(link: str | Link) -> Link:
    """Look up a link by name (``"sigmoid"``, ``"exponential"`` or a registered one)."""
    if isinstance(link, Link):
        return link
    if isinstance(link, str) and link in _LINKS:
        return _LINKS[link]
    raise LawError(f"unknown link {link!r}; known links: {known_links()} (or register_link)")


def known_links() -> list[str]:
    """Names of the registered links."""
    return sorted(_LINKS)


register_link(SIGMOID)
register_link(EXPONENTIAL)
