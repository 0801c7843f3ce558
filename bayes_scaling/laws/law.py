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
        ``optimum(p, compute, k) -> {"n_params": N*, "n_tokens": D*}``, the compute-optimal split
        along C = k·N·D: in closed form where one exists, else found per draw by
        :func:`numerical_optimum`. None for a law that cannot be split from compute alone.
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

    def __reduce_ex__(self, protocol):
        """One of the package's own laws crosses processes (a batch's tasks) as its name and comes
        back as the receiving process's own: every task then shares one function, and one compiled
        model per process. Any other law (a user's, a built-in re-registered with other priors)
        crosses by value."""
        if _PACKAGE.get(self.name) is not self:
            return super().__reduce_ex__(protocol)
        return (package_law, (self.name,))

    @property
    def reads_compute_only(self) -> bool:
        """True for L(C), a law in compute alone: its loss at a budget needs no split."""
        return tuple(self.inputs) == ("compute",)

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
#: The laws this package defines (by name), whatever the registry holds: see :func:`package_law`.
_PACKAGE: dict[str, Law] = {}

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
        if made.name in _REGISTRY:
            return _REGISTRY[made.name]
        _PACKAGE.setdefault(made.name, made)
        return register_law(made)
    raise LawError(
        f"unknown law {law!r}; known laws: {sorted(_REGISTRY)} (or power:<x> / broken:<x> with x "
        "one of n_params, n_tokens, compute; data_constrained:<name>=<value>,... for a fixed base)"
    )


def package_law(name: str) -> Law:
    """The package's own law ``name`` (a built-in, or one its families make from the name),
    whatever the registry holds under that name now: how a law crosses processes."""
    if name not in _PACKAGE:
        family, sep, arg = name.partition(":")
        if not (sep and family in _FAMILIES):
            raise LawError(f"no law of this package is named {name!r}")
        made = _FAMILIES[family](arg)
        _PACKAGE[made.name] = _REGISTRY.setdefault(made.name, made)
    return _PACKAGE[name]


def known_laws() -> list[str]:
    """Names of the registered laws."""
    return sorted(_REGISTRY)


def frontier_loss(law: Law, params, compute, k: float = FLOPS_PER_PARAM_TOKEN):
    """L*(C): the law's loss on its compute-optimal split at each budget (numpy or xarray).

    For a law in N and D with an optimum, L*(C) = L(N*(C), D*(C)); for a law in compute
    alone, L(C).
    """
    if law.optimum is not None:
        opt = law.optimum(params, compute, k)
        return law.fn({"n_params": opt["n_params"], "n_tokens": opt["n_tokens"]}, params, np)
    if law.reads_compute_only:
        return law.fn({"compute": compute}, params, np)
    raise LawError(
        f"law {law.name!r} has no compute-optimal split, so groups cannot be compared at a "
        "compute budget; use a law in N and D such as 'chinchilla', or a law in compute"
    )


#: The coarse scan of :func:`numerical_optimum`: GRID points of log N from N = 1 to D = 1 (an
#: e-fold apart at C/k = e^60), then REFINE golden-section steps inside the best point's neighbours.
GRID, REFINE = 61, 44
_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


def numerical_optimum(fn: Callable) -> Callable:
    """The compute-optimal split of a law in N and D that has no closed form, found per draw.

    Along the budget C = k·N·D the loss is a function of x = log N alone,
    f(x) = L(eˣ, C/(k·eˣ); θ). Its minimum is found for every draw and budget at once: a scan of
    ``GRID`` points over x ∈ [0, log(C/k)] (from one parameter to one token), then golden-section
    search inside the two grid steps around the scan's best point (to about 1e-8 in log N). The
    scan keeps it from a poor local minimum when f has several; a minimum at the scan's edge (a
    draw whose exponent is near 0) is returned as the edge.

    Only arithmetic is used, so ``p`` and ``compute`` may be numpy arrays, floats or xarray
    objects that broadcast (draws against budgets), as for a closed-form optimum.

    Parameters
    ----------
    fn : callable
        The law's ``fn(x, p, xp)`` with inputs ``n_params`` and ``n_tokens``.

    Returns
    -------
    callable
        ``optimum(p, compute, k) -> {"n_params": N*, "n_tokens": D*}``, with the attribute
        ``numerical = True`` (a closed form has none).

    Examples
    --------
    >>> from bayes_scaling.laws.chinchilla import _chinchilla_fn, chinchilla_optimum
    >>> p = {"E": 1.69, "log_A": np.log(406.4), "alpha": 0.34, "log_B": np.log(410.7), "beta": 0.28}
    >>> found = numerical_optimum(_chinchilla_fn)(p, 5.76e23)["n_params"]
    >>> bool(abs(found / chinchilla_optimum(p, 5.76e23)["n_params"] - 1) < 1e-7)
    True
    """

    def optimum(p, compute, k: float = FLOPS_PER_PARAM_TOKEN):
        # one evaluation with the caller's objects gives the broadcast shape; the search itself
        # runs on numpy views of the inputs (5x faster than xarray arithmetic), then is wrapped
        template = fn({"n_params": compute, "n_tokens": compute}, p, np)
        if isinstance(template, xr.DataArray):
            dims = template.dims
            log_n = _argmin_log_n(fn, _NumpyView(p, dims), _numpy_in(compute, dims), k)
            n = xr.DataArray(np.exp(log_n), dims=dims, coords=template.coords)
        else:
            n = np.exp(_argmin_log_n(fn, p, compute, k))
        return {"n_params": n, "n_tokens": compute / (k * n)}

    optimum.numerical = True  # callers that ask it many times may tabulate it once
    return optimum


def _argmin_log_n(fn: Callable, p, compute, k: float):
    """log N* per element: the scan, then golden-section search (see :func:`numerical_optimum`);
    NaN where the loss is nowhere finite (a draw with NaN or infinite parameters)."""
    top = np.log(compute / k)

    def loss(x):
        n = np.exp(x)
        return fn({"n_params": n, "n_tokens": compute / (k * n)}, p, np)

    shape = np.shape(loss(0.5 * top))
    best_x, best_f = np.zeros(shape), np.full(shape, np.inf)
    for fraction in np.linspace(0.0, 1.0, GRID):
        x = fraction * top
        f = loss(x)
        better = f < best_f  # NaN (an overflow) never wins
        best_x = np.where(better, x, best_x)
        best_f = np.where(better, f, best_f)
    step = top / (GRID - 1)
    lo, hi = np.maximum(best_x - step, 0.0), np.minimum(best_x + step, top)
    # golden section, one new evaluation a step: the kept interior point is reused
    left, right = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
    f_left, f_right = loss(left), loss(right)
    for _ in range(REFINE):
        keep_left = f_left < f_right  # then the minimum lies in [lo, right]
        hi = np.where(keep_left, right, hi)
        lo = np.where(keep_left, lo, left)
        new = np.where(keep_left, hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo))
        f_new = loss(new)
        left, right = np.where(keep_left, new, right), np.where(keep_left, left, new)
        f_left, f_right = np.where(keep_left, f_new, f_right), np.where(keep_left, f_left, f_new)
    return np.where(np.isfinite(best_f), 0.5 * (lo + hi), np.nan)


def _numpy_in(value, dims: tuple[str, ...]):
    """A DataArray as a numpy array laid out along ``dims`` (size-1 where it lacks a dim)."""
    if not isinstance(value, xr.DataArray):
        return value
    missing = [d for d in dims if d not in value.dims]
    return value.expand_dims(missing).transpose(*dims).values


class _NumpyView(Mapping):
    """Read-only view of a parameter mapping whose DataArrays come out as numpy along ``dims``
    (each converted once)."""

    def __init__(self, params, dims: tuple[str, ...]):
        self._params, self._dims, self._done = params, dims, {}

    def __getitem__(self, name):
        if name not in self._done:
            self._done[name] = _numpy_in(self._params[name], self._dims)
        return self._done[name]

    def __iter__(self):
        return iter(self._params)

    def __len__(self):
        return len(self._params)
