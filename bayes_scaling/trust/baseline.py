"""The classical baseline: Huber loss on log loss, L-BFGS-B from a grid, and a bootstrap.

This is Approach 3 of Hoffmann et al. (2022) as replicated by Besiroglu et al. (2024, Epoch AI),
written from the papers' description. The Chinchilla law L(N, D) = E + A·N^(−α) + B·D^(−β) is
fitted on the log scale with A = exp(a), B = exp(b), E = exp(e)::

    log L̂(N, D) = logsumexp(a − α·log N,  b − β·log D,  e)

    minimise  Σ_i Huber_δ(log L̂(N_i, D_i) − log L_i),   δ = 1e-3

    Huber_δ(r) = r²/2 if |r| ≤ δ, else δ·(|r| − δ/2)

by L-BFGS-B with the analytic gradient (below) from every point of a grid of starts, keeping the
best. With w_j the softmax weights of the three terms and ψ(r) = clip(r, −δ, δ)::

    ∂/∂a = Σ ψ·w₁,  ∂/∂α = −Σ ψ·w₁·log N,  ∂/∂b = Σ ψ·w₂,  ∂/∂β = −Σ ψ·w₂·log D,  ∂/∂e = Σ ψ·w₃

Uncertainty comes from a nonparametric bootstrap: resample the runs with replacement and refit.
Shortcut, by default: each resample starts from the full-data optimum only, not from the whole grid
(the optimum of a resample lies close to it, and this is ~4500 times cheaper); pass
``full_grid=True`` to refit every resample from the grid, as Epoch did.

The result, :class:`BaselineFit`, holds the bootstrap draws as a posterior-like Dataset with dims
``(chain=1, draw=n_boot)``, so the loss bands of :mod:`bayes_scaling.answers.bands` apply to it.
Its bands are the bootstrap percentile intervals of the mean curve (``band == "law"``); there is
no predictive band, since the method has no noise model.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling import _validate as check
from bayes_scaling._constants import DEFAULT_PROB, FLOPS_PER_PARAM_TOKEN, SAMPLE_DIMS
from bayes_scaling._lazy import scipy_function
from bayes_scaling.answers.bands import bands_to_frame, loss_bands
from bayes_scaling.errors import ArgumentError, BayesScalingError
from bayes_scaling.laws import get_law

minimize = scipy_function("optimize", "minimize")  # SciPy on first use

#: Internal order of the optimised vector θ.
THETA = ("a", "b", "e", "alpha", "beta")
#: Epoch AI's grid of starting points (6·6·5·5·5 = 4500 starts).
EPOCH_GRID = {
    "a": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "b": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "e": (-1.0, -0.5, 0.0, 0.5, 1.0),
    "alpha": (0.0, 0.5, 1.0, 1.5, 2.0),
    "beta": (0.0, 0.5, 1.0, 1.5, 2.0),
}
#: A coarse grid of 3·3·3·2·2 = 108 starts, for quick fits.
SMALL_GRID = {
    "a": (0.0, 10.0, 20.0),
    "b": (0.0, 10.0, 20.0),
    "e": (-1.0, 0.0, 1.0),
    "alpha": (0.5, 1.0),
    "beta": (0.5, 1.0),
}
PARAMETERS = ("E", "log_A", "alpha", "log_B", "beta", "A", "B")
SUMMARY_COLUMNS = ["parameter", "estimate", "se", "lower", "upper"]
_OPTIONS = {"maxiter": 10_000, "ftol": 1e-15, "gtol": 1e-12}
#: The options of :func:`bootstrap_fit` besides the runs (``backtest(baseline=...)`` takes them).
BOOTSTRAP_OPTIONS = ("n_boot", "delta", "seed", "grid", "full_grid")


def _data(runs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log N, log D and log loss of the runs; raises ArgumentError for a table it cannot fit."""
    if not isinstance(runs, pd.DataFrame):
        raise ArgumentError("runs", f"expected a runs table (DataFrame), got {type(runs).__name__}")
    missing = sorted({"n_params", "n_tokens", "loss"} - set(runs.columns))
    if missing:
        raise ArgumentError("runs", f"the table needs columns {missing} (see load_runs)")
    if len(runs) < len(THETA):
        raise ArgumentError(
            "runs", f"has {len(runs)} runs; the law has {len(THETA)} parameters, give more runs"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        cols = [np.log(runs[c].to_numpy(float)) for c in ("n_params", "n_tokens", "loss")]
    if not all(np.all(np.isfinite(c)) for c in cols):
        raise ArgumentError("runs", "n_params, n_tokens and loss must be finite and > 0")
    return cols[0], cols[1], cols[2]


def _logsumexp_terms(theta, log_n, log_d) -> tuple[np.ndarray, np.ndarray]:
    """log L̂ at every run and the softmax weights of its three terms (plain numpy: scipy's
    ``logsumexp`` costs more than the rest of an objective evaluation)."""
    a, b, e, alpha, beta = theta
    t = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    top = t.max(axis=0)
    s = np.exp(t - top)
    total = s.sum(axis=0)
    return top + np.log(total), s / total


def huber_objective(theta, log_n, log_d, log_loss, delta: float = 1e-3) -> float:
    """Σ_i Huber_δ(logsumexp(a − α·log N_i, b − β·log D_i, e) − log L_i).

    Parameters
    ----------
    theta : array of 5 floats
        ``(a, b, e, alpha, beta)``, with A = exp(a), B = exp(b), E = exp(e).
    log_n, log_d, log_loss : arrays
        Log parameters, log tokens and log loss (nats) of the runs.
    delta : float
        Huber threshold on the log-loss residual.

    Examples
    --------
    >>> x = np.log([1e8, 1e9])
    >>> huber_objective([0.0, 0.0, 0.5, 0.3, 0.3], x, x, np.array([0.5, 0.5])) > 0
    True
    """
    return _objective_and_gradient(theta, log_n, log_d, log_loss, delta)[0]


def huber_gradient(theta, log_n, log_d, log_loss, delta: float = 1e-3) -> np.ndarray:
    """Analytic gradient of :func:`huber_objective` with respect to ``(a, b, e, alpha, beta)``.

    With w = softmax of the three terms and ψ(r) = clip(r, −δ, δ): ∂/∂a = Σψ·w₁,
    ∂/∂b = Σψ·w₂, ∂/∂e = Σψ·w₃, ∂/∂α = −Σψ·w₁·log N, ∂/∂β = −Σψ·w₂·log D.
    """
    return _objective_and_gradient(theta, log_n, log_d, log_loss, delta)[1]


def _objective_and_gradient(theta, log_n, log_d, log_loss, delta):
    log_mean, w = _logsumexp_terms(theta, log_n, log_d)
    r = log_mean - log_loss
    absr = np.abs(r)
    value = np.sum(np.where(absr <= delta, 0.5 * r**2, delta * (absr - 0.5 * delta)))
    psi_w = np.clip(r, -delta, delta) * w
    grad = np.array(
        [
            psi_w[0].sum(),
            psi_w[1].sum(),
            psi_w[2].sum(),
            -(psi_w[0] * log_n).sum(),
            -(psi_w[1] * log_d).sum(),
        ]
    )
    return float(value), grad


def _starts(grid: str | Mapping[str, Sequence[float]]) -> np.ndarray:
    named = {"epoch": EPOCH_GRID, "small": SMALL_GRID}
    if not isinstance(grid, Mapping):
        grid = named[check.one_of(grid, "grid", named)]
    missing = set(THETA) - set(grid)
    if missing:
        raise ArgumentError("grid", f"needs values for {sorted(missing)} (keys {THETA})")
    axes = [check.reals(grid[k], f"grid[{k!r}]") for k in THETA]
    return np.array(list(itertools.product(*axes)), float)


def check_options(
    n_boot: int = 1000, delta: float = 1e-3, seed: int = 0, grid="epoch", full_grid: bool = False
) -> dict:
    """The options of :func:`bootstrap_fit`, validated (ArgumentError naming a bad one)."""
    return {
        "n_boot": check.count(n_boot, "n_boot", minimum=2),
        "delta": check.positive(delta, "delta"),
        "seed": check.count(seed, "seed", minimum=0),
        "starts": _starts(grid),
        "full_grid": check.flag(full_grid, "full_grid"),
    }


def _minimise(starts, data, delta) -> tuple[np.ndarray, float]:
    best_x, best_f = None, np.inf
    for x0 in starts:
        res = minimize(
            _objective_and_gradient,
            x0,
            args=(*data, delta),
            jac=True,
            method="L-BFGS-B",
            options=_OPTIONS,
        )
        if np.isfinite(res.fun) and res.fun < best_f:
            best_x, best_f = res.x, float(res.fun)
    if best_x is None:
        raise BayesScalingError("no start of the grid reached a finite objective")
    return best_x, best_f


def _as_params(theta) -> dict[str, float]:
    a, b, e, alpha, beta = (float(v) for v in theta)
    return {"E": float(np.exp(e)), "log_A": a, "alpha": alpha, "log_B": b, "beta": beta}


def huber_fit(runs: pd.DataFrame, *, delta: float = 1e-3, grid="epoch") -> dict[str, float]:
    """Point estimate of the Chinchilla law by Huber loss on log loss (Hoffmann et al. Approach 3).

    Parameters
    ----------
    runs : DataFrame
        A runs table with ``n_params``, ``n_tokens`` and ``loss`` (nats).
    delta : float
        Huber threshold δ on the log-loss residual (1e-3, as Hoffmann et al. and Epoch).
    grid : {"epoch", "small"} or mapping
        Starting points: ``"epoch"`` is Epoch AI's 4500-point grid (:data:`EPOCH_GRID`),
        ``"small"`` 108 points; or a mapping from each of ``a, b, e, alpha, beta`` to values.

    Returns
    -------
    dict
        ``E, log_A, alpha, log_B, beta`` and ``objective`` (the minimised Huber sum).

    Examples
    --------
    >>> from bayes_scaling.model.simulate import DEMO_TRUTH, simulate_runs
    >>> runs = simulate_runs(DEMO_TRUTH, sigma=1e-6, nu=None)
    >>> round(huber_fit(runs, grid="small")["alpha"], 3)
    0.32
    """
    data = _data(runs)
    delta, starts = check.positive(delta, "delta"), _starts(grid)
    theta, value = _minimise(starts, data, delta)
    return {**_as_params(theta), "objective": value}


@dataclass
class BaselineFit:
    """Huber point estimate plus bootstrap draws, shaped like a posterior.

    Attributes
    ----------
    point : dict
        Full-data estimate: ``E, log_A, alpha, log_B, beta, A, B`` and ``objective``.
    draws : Dataset
        Bootstrap estimates of ``E, log_A, alpha, log_B, beta, A, B``, dims ``(chain=1, draw)``.
    runs : DataFrame
    delta : float
    seconds : float
        Wall time of the grid fit plus the bootstrap.
    """

    point: dict
    draws: xr.Dataset
    runs: pd.DataFrame
    delta: float
    seconds: float

    #: What the loss bands read of a fit (as :class:`~bayes_scaling.ScalingFit` has them): the
    #: method has no noise model (σ = 0, so the predictive band equals the law band, and only the
    #: law band is reported), no discrepancy and no sampler to fail.
    law = get_law("chinchilla")
    discrepancy = None
    converged = True
    settings = {"likelihood": "normal", "flops_per_param_token": FLOPS_PER_PARAM_TOKEN, "seed": 0}

    @property
    def posterior(self) -> xr.Dataset:
        """The bootstrap draws with σ = 0, dims ``(chain=1, draw)``."""
        return self.draws.assign(sigma=xr.zeros_like(self.draws["E"]))

    def summary(self, prob: float = DEFAULT_PROB) -> pd.DataFrame:
        """Point estimate, bootstrap standard error and percentile interval of each parameter.

        The interval is the equal-tailed bootstrap percentile interval: quantiles (1 − prob)/2
        and (1 + prob)/2 of the draws.

        Examples
        --------
        >>> fit.summary().columns.tolist()  # doctest: +SKIP
        ['parameter', 'estimate', 'se', 'lower', 'upper']
        """
        prob = check.probability(prob, "prob")
        tail = (1 - prob) / 2
        rows = []
        for name in PARAMETERS:
            v = self.draws[name].values.ravel()
            lo, hi = np.quantile(v, [tail, 1 - tail])
            rows.append([name, self.point[name], v.std(ddof=1), lo, hi])
        table = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
        table.attrs.update(prob=prob, n_boot=self.draws.sizes["draw"], delta=self.delta)
        return table

    def bands(self, params=None, tokens=None, compute=None, prob=None, **aliases):
        """Bootstrap percentile bands of the mean loss curve L(N, D), as ``band == "law"`` rows.

        Sizes as in :func:`bayes_scaling.answers.bands.loss_bands`: ``params`` with ``tokens``, or
        ``compute`` with one of them, or ``compute`` alone, where each bootstrap draw uses its own
        compute-optimal split N*(C), D*(C) from :func:`bayes_scaling.laws.chinchilla_optimum`.
        Row i of each probability is point i as given. ``prob``: one probability or several
        (default :data:`bayes_scaling._constants.DEFAULT_PROBS`); ``probs=`` is its old name.

        Returns
        -------
        DataFrame
            Columns :data:`bayes_scaling.answers.bands.BAND_COLUMNS`.

        Examples
        --------
        >>> fit.bands(compute=[1e21, 1e22]).band.unique().tolist()  # doctest: +SKIP
        ['law']
        """

        prob = check.renamed(aliases, "probs", "prob", prob, where="bands")
        ds = loss_bands(self, params=params, tokens=tokens, compute=compute, prob=prob)
        frame = bands_to_frame(ds.sel(band=["law"]))
        return frame.reset_index(drop=True)


def _draws_dataset(thetas: np.ndarray) -> xr.Dataset:
    params = [_as_params(t) for t in thetas]
    ds = xr.Dataset(
        {k: (SAMPLE_DIMS, np.array([[p[k] for p in params]])) for k in params[0]},
        coords={"chain": [0], "draw": np.arange(len(params))},
    )
    return ds.assign(A=np.exp(ds["log_A"]), B=np.exp(ds["log_B"]))[list(PARAMETERS)]


def bootstrap_fit(
    runs: pd.DataFrame,
    *,
    n_boot: int = 1000,
    delta: float = 1e-3,
    seed: int = 0,
    grid="epoch",
    full_grid: bool = False,
) -> BaselineFit:
    """Huber fit on all runs plus a nonparametric bootstrap of it (Besiroglu et al. 2024).

    Each of ``n_boot`` resamples draws len(runs) runs with replacement
    (``numpy.random.default_rng(seed)``) and is refitted. By default a resample starts from the
    full-data optimum only (a shortcut; see the module docstring); ``full_grid=True`` starts it
    from every point of ``grid``.

    Parameters
    ----------
    runs : DataFrame
        Runs table with ``n_params``, ``n_tokens`` and ``loss``.
    n_boot : int
        Number of bootstrap resamples.
    delta : float
        Huber threshold on the log-loss residual.
    seed : int
        Seed of the resampling.
    grid : {"epoch", "small"} or mapping
        Starting points of the full-data fit; see :func:`huber_fit`.
    full_grid : bool
        Refit every resample from the whole grid (slow: n_boot grid fits).

    Examples
    --------
    >>> from bayes_scaling.model.simulate import DEMO_TRUTH, demo_table
    >>> fit = bootstrap_fit(demo_table(), n_boot=20, grid="small")
    >>> fit.draws.sizes["draw"], fit.summary().shape
    (20, (7, 5))
    """
    options = check_options(n_boot, delta, seed, grid, full_grid)
    n_boot, delta, seed = options["n_boot"], options["delta"], options["seed"]
    starts, full_grid = options["starts"], options["full_grid"]
    data = _data(runs)
    start = time.perf_counter()
    theta, value = _minimise(starts, data, delta)
    rng = np.random.default_rng(seed)
    thetas = np.empty((n_boot, len(THETA)))
    for i in range(n_boot):
        idx = rng.integers(0, len(runs), len(runs))
        from_ = starts if full_grid else theta[None]
        thetas[i] = _minimise(from_, [c[idx] for c in data], delta)[0]
    point = _as_params(theta)
    point.update(A=float(np.exp(point["log_A"])), B=float(np.exp(point["log_B"])))
    point["objective"] = value
    return BaselineFit(
        point=point,
        draws=_draws_dataset(thetas),
        runs=runs,
        delta=delta,
        seconds=time.perf_counter() - start,
    )
