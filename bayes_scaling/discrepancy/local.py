"""A local residual discrepancy: a Gaussian process on the fitted runs' residuals over
(log10 N, log10 D), in the manner of Kennedy & O'Hagan (2001). Every fit with a discrepancy and
a law of N and D learns one (:func:`learn`: the shipped (s, ℓ_N, ℓ_R) of ``local.json``, σ_n by
type-II maximum likelihood, the posterior-median residuals); it is part of the fit's
:class:`~bayes_scaling.discrepancy.record.Discrepancy` (``local``), saved with it, and added to δ
wherever :meth:`~bayes_scaling.discrepancy.record.Discrepancy.error` is used (bands, backtests,
allocation losses, downstream). The targets' root finder, whose position moves per draw, adds
g's marginal there with one normal per draw (:meth:`LocalMisfit.along`); the design works on the
distance terms alone (:meth:`~bayes_scaling.discrepancy.record.Discrepancy.curves`): far beyond
the data g is back to its prior, mean 0 and sd s = 1% of log loss.

The shipped discrepancy δ(x) = m·c(x)^γ + τ·η·d(x)^γ (:mod:`bayes_scaling.discrepancy.record`)
is zero at distance 0, so it cannot carry a misfit the law shows *inside* the data (on
chinchilla-epoch fitted below 1e21 FLOPs, the large models on 1-2 tokens per parameter sit
+1.4% above the law, and so do the held-out runs next to them). This module adds a term g(x)::

    log loss(x) = log L(x; θ) + δ(x) + g(x) + ε,      g ~ GP(0, k),
    k(x, x') = s² · exp(−½ (x − x')ᵀ M (x − x')),    x = (log10 N, log10 D),

with M = Tᵀ diag(1/ℓ_N², 1/ℓ_R²) T, T mapping (log N, log D) to (log N, log D − log N): one
length scale (in decades) along N at fixed tokens per parameter and one along tokens per
parameter (equal length scales give an isotropic kernel in those coordinates). Conditioned on the
residuals r_i = y_i − log L(x_i; θ_s) of the fitted runs with Gaussian noise σ_n (per posterior
draw s; the noise is the fit's σ or larger, see :func:`noise_by_ml`), the GP at new points x* is::

    mean_s(x*) = k*ᵀ (K + σ_n² I)⁻¹ r_s,      cov(x*) = k** − k*ᵀ (K + σ_n² I)⁻¹ k*,

linear in the residuals (one matrix H = k*ᵀ(K + σ_n² I)⁻¹ for all draws) and with a covariance
shared by all draws. Far from the runs the mean returns to 0 and the variance to s²; near them it
carries the local bias.

Offline evidence (issue 21 item 1; ``benchmarks/local_gp.py``): leave one family out on the
36 corpus protocols (parameter-only fits, per-draw residuals, families weighted equally), against
today's discrepancy with its population prior alone (2.78 nats per held-out run, 90% interval
score 0.125 on log loss, coverage 0.51/0.93 at 50/90%):

- shared s = 0.01, ℓ_N = ℓ_R = 0.5 decades, today's τ population kept: 2.85 nats, 0.123,
  0.61/0.96, better log density in every multiple bin (~3x, ~10x, ~30x);
- the same with the τ population relearned with g in place: 2.87 nats, 0.121, but 0.53/0.90 and
  0.76 at 90% in the ~30x bin: τ shrinks to a quarter (s = 0.02: to ~0), so the band no longer
  grows with distance (γ ≤ 1: the growth exponent's grid was too short, see below);
- (s, ℓ_N, ℓ_R, σ_n) by type-II maximum likelihood per fit (:func:`fit_hyper`): 2.80 nats,
  0.123, 0.57/0.93;
- chinchilla-epoch fitted below 1e21 FLOPs (23 held-out runs): 90% coverage 0.70 → 0.96-1.0 and
  the interval score 0.076 → 0.027-0.038 with every variant.

Shipped: s = 0.01, ℓ_N = ℓ_R = 0.5 decades, and the τ population relearned with g in place
(:mod:`bayes_scaling.discrepancy.prior`, ``local``) with γ up to 2. The whole pipeline, leave one
family out (``benchmarks/calibration.py --learned-only``, each fit's own internal backtest scored
with its own misfit), coverage at 50/80/90/95%, 90% interval score, nats per held-out run:

- no misfit: 0.53/0.81/0.91/0.97, 0.371, 2.764;
- misfit, τ population kept: 0.62/0.89/0.96/0.98, 0.364, 2.820 (too wide: τ counted it twice);
- misfit, τ relearned, γ ≤ 1: 0.54/0.83/0.90/0.97, 0.359, 2.836; ~30x bin 0.69 at 90%;
- misfit, τ relearned, γ ≤ 2 (shipped): 0.55/0.83/0.91/0.97, 0.356, 2.875; ~30x bin 0.87 at 90%.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from importlib import resources

import numpy as np
import xarray as xr

from bayes_scaling._lazy import scipy_function
from bayes_scaling.model.likelihoods import residual_draws

minimize = scipy_function("optimize", "minimize")  # SciPy on first use

#: (log N, log D) → (log N, log tokens per parameter).
TO_RATIO = np.array([[1.0, 0.0], [-1.0, 1.0]])
#: Bounds of type-II maximum likelihood: s (log loss), length scales (decades).
S_BOUNDS, ELL_BOUNDS = (1e-4, 0.3), (0.03, 5.0)


@dataclass(frozen=True)
class ResidualGP:
    """Hyper-parameters of the residual GP (module docstring).

    Attributes
    ----------
    s : float
        Prior sd of g (log loss); the GP's sd far from the runs.
    ell_n, ell_r : float
        Length scales in decades along N at fixed tokens per parameter and along tokens per
        parameter.
    noise : float
        Gaussian noise sd σ_n the residuals are conditioned with.
    """

    s: float
    ell_n: float
    ell_r: float
    noise: float

    def metric(self) -> np.ndarray:
        """M of the kernel on (log10 N, log10 D) differences."""
        return TO_RATIO.T @ np.diag([self.ell_n**-2, self.ell_r**-2]) @ TO_RATIO


def positions(n_params, n_tokens) -> np.ndarray:
    """x = (log10 N, log10 D), shape (n, 2).

    >>> positions([1e9], [2e10]).round(3).tolist()
    [[9.0, 10.301]]
    """
    return np.column_stack(
        [np.log10(np.asarray(n_params, float)), np.log10(np.asarray(n_tokens, float))]
    )


def kernel(a: np.ndarray, b: np.ndarray, gp: ResidualGP) -> np.ndarray:
    """s²·exp(−½ (a − b)ᵀ M (a − b)) for every pair of rows, shape (len(a), len(b)).

    >>> gp = ResidualGP(s=0.01, ell_n=0.5, ell_r=0.5, noise=0.003)
    >>> float(kernel(np.zeros((1, 2)), np.zeros((1, 2)), gp)[0, 0])
    0.0001
    """
    w = np.linalg.cholesky(gp.metric()).T  # M = WᵀW: Euclidean distance after x → Wx
    za, zb = a @ w.T, b @ w.T
    sq = ((za[:, None, :] - zb[None, :, :]) ** 2).sum(-1)
    return gp.s**2 * np.exp(-0.5 * sq)


def neg_log_marginal(residuals, x, gp: ResidualGP) -> float:
    """−log N(r; 0, K + σ_n² I), the type-II likelihood of the hyper-parameters."""
    r = np.asarray(residuals, float)
    chol = np.linalg.cholesky(kernel(x, x, gp) + gp.noise**2 * np.eye(len(r)))
    z = np.linalg.solve(chol, r)
    return float(0.5 * z @ z + np.log(np.diag(chol)).sum() + 0.5 * len(r) * np.log(2 * np.pi))


def fit_hyper(residuals, x, noise_floor: float, starts=((0.2, 0.2), (1.0, 1.0))) -> ResidualGP:
    """(s, ℓ_N, ℓ_R, σ_n) by type-II maximum likelihood on one set of residuals (e.g. the
    posterior-median residuals of the fitted runs), σ_n ≥ ``noise_floor`` (the fit's σ).

    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(8, 10, size=(40, 2))
    >>> r = 0.01 * np.sin(2 * x[:, 0]) + 0.002 * rng.standard_normal(40)
    >>> gp = fit_hyper(r, x, noise_floor=0.001)
    >>> gp.s > 0.003 and gp.noise < 0.005
    True
    """
    r, x = np.asarray(residuals, float), np.asarray(x, float)
    floor = float(noise_floor)
    bounds = [np.log(S_BOUNDS), np.log(ELL_BOUNDS), np.log(ELL_BOUNDS), np.log([floor, 0.3])]

    def objective(v):
        s, ell_n, ell_r, noise = np.exp(v)
        try:
            return neg_log_marginal(r, x, ResidualGP(s, ell_n, ell_r, noise))
        except np.linalg.LinAlgError:
            return 1e10

    best = None
    for ell_n, ell_r in starts:
        start = np.log([max(float(np.std(r)), 2e-4), ell_n, ell_r, floor * 1.2])
        res = minimize(objective, start, bounds=bounds, method="L-BFGS-B")
        if best is None or res.fun < best.fun:
            best = res
    return ResidualGP(*(float(v) for v in np.exp(best.x)))


def noise_by_ml(
    residuals, x, s: float, ell_n: float, ell_r: float, noise_floor: float
) -> ResidualGP:
    """Shared (s, ℓ_N, ℓ_R) (learned across ladders) with σ_n ≥ ``noise_floor`` by maximum
    likelihood on this table's residuals."""
    r, x = np.asarray(residuals, float), np.asarray(x, float)

    def objective(v):
        return neg_log_marginal(r, x, ResidualGP(s, ell_n, ell_r, float(np.exp(v[0]))))

    lo = np.log(noise_floor)
    res = minimize(objective, [lo + 0.4], bounds=[(lo, np.log(0.3))], method="L-BFGS-B")
    return ResidualGP(s, ell_n, ell_r, float(np.exp(res.x[0])))


def predict(residuals, x_fit, x_new, gp: ResidualGP) -> tuple[np.ndarray, np.ndarray]:
    """The GP at ``x_new`` given the residuals at ``x_fit``: mean and covariance.

    ``residuals`` has shape (n,) or (draws, n) (one set per posterior draw); the mean has shape
    (m,) or (draws, m), the covariance (m, m) (shared by the draws).

    >>> gp = ResidualGP(s=0.01, ell_n=0.3, ell_r=0.3, noise=0.001)
    >>> x = np.array([[9.0, 10.0], [9.2, 10.2]])
    >>> mean, cov = predict([0.01, 0.01], x, np.array([[9.1, 10.1], [14.0, 15.0]]), gp)
    >>> bool(mean[0] > 0.008 and abs(mean[1]) < 1e-6 and np.isclose(cov[1, 1], 1e-4))
    True
    """
    x_fit, x_new = np.asarray(x_fit, float), np.asarray(x_new, float)
    chol = np.linalg.cholesky(kernel(x_fit, x_fit, gp) + gp.noise**2 * np.eye(len(x_fit)))
    v = np.linalg.solve(chol, kernel(x_fit, x_new, gp))  # (n, m)
    h = np.linalg.solve(chol.T, v).T  # (m, n) = k*ᵀ (K + σ_n² I)⁻¹
    mean = np.asarray(residuals, float) @ h.T
    cov = kernel(x_new, x_new, gp) - v.T @ v
    return mean, 0.5 * (cov + cov.T)


# ---------------------------------------------------------------- the shipped local misfit
#: The shipped hyper-parameters (s, ℓ_N, ℓ_R) and their provenance.
SHIPPED = "local.json"
#: The grid of the noise σ_n's type-II maximum likelihood, as multiples of the fit's σ.
NOISE_GRID = np.geomspace(1.0, 30.0, 41)
#: Jitter (as a share of s²) added to the conditional covariance before its Cholesky factor.
JITTER = 1e-9


def shipped_hyper() -> dict:
    """The shipped (s, ℓ_N, ℓ_R) with their provenance (``local.json`` beside this module)."""
    return json.loads(resources.files(__package__).joinpath(SHIPPED).read_text())


@dataclass(frozen=True)
class LocalMisfit:
    """The residual GP of one fit, ready to predict: hyper-parameters, the fitted runs'
    positions and their posterior-median residuals r̄ (see the module docstring).

    The mean is shared by the posterior draws (r̄, not each draw's residuals: in the study, 2.83
    against 2.85 nats per held-out run and the same coverage). One posterior draw gets one joint
    draw of g at all the points asked, g ~ N(mean, cov) (:func:`predict`), so that each draw is
    one smooth curve. Where the points move from draw to draw (a per-draw optimal split), g is
    taken at each point's median position over the draws: the misfit is a function of the
    point asked for, smooth over half a decade, not of each draw's split.
    """

    gp: ResidualGP
    positions: np.ndarray
    residuals: np.ndarray

    @cached_property
    def _solved(self) -> tuple[np.ndarray, np.ndarray]:
        """(R, α) with R Rᵀ = (K + σ_n² I)⁻¹ (from one eigendecomposition of K) and
        α = (K + σ_n² I)⁻¹ r̄: then kᵀ(K + σ_n² I)⁻¹k' = (Rᵀk)ᵀ(Rᵀk') by matmuls only."""
        lam, vec = np.linalg.eigh(kernel(self.positions, self.positions, self.gp))
        root = vec / np.sqrt(np.clip(lam, 0, None) + self.gp.noise**2)
        return root, root @ (root.T @ self.residuals)

    def _at(self, x: np.ndarray, joint: bool) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance (``joint``) or variance of g at the rows of ``x``."""
        root, alpha = self._solved
        cross = kernel(self.positions, x, self.gp)  # (n, m)
        v = root.T @ cross
        if joint:
            cov = kernel(x, x, self.gp) - v.T @ v
            return cross.T @ alpha, 0.5 * (cov + cov.T)
        return cross.T @ alpha, np.clip(self.gp.s**2 - (v**2).sum(0), 0, None)

    @cached_property
    def largest_shift(self) -> float:
        """max |E g| at the fitted runs: how far the GP moves the law near the data."""
        return float(np.abs(self._at(self.positions, joint=False)[0]).max())

    def moments(self, sizes) -> tuple[xr.DataArray, xr.DataArray] | None:
        """Posterior mean and variance of g at ``sizes``, dims those of the points (None without
        n_params and n_tokens)."""
        x = _positions_of(sizes)
        if x is None:
            return None
        mean, var = self._at(x.values.reshape(-1, 2), joint=False)
        dims, shape = x.dims[:-1], x.shape[:-1]
        return xr.DataArray(mean.reshape(shape), dims=dims), xr.DataArray(
            var.reshape(shape), dims=dims
        )

    def joint(self, n_params, n_tokens) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean (m,) and joint covariance (m, m) of g at m runs (plain arrays): what
        a backtest's held-out runs carry besides the distance's error
        (:func:`~bayes_scaling.discrepancy.evidence.shared_loglik`)."""
        return self._at(positions(n_params, n_tokens), joint=True)

    def along(self, n_params, n_tokens, z) -> np.ndarray:
        """g_s at one position per draw (plain arrays broadcasting with ``z``, one standard
        normal per draw): mean(x_s) + sd(x_s)·z_s, the marginal of :meth:`error` at each
        position, for root finders that move x per draw (a draw keeps its z along its path)."""
        n, d = np.asarray(n_params, float), np.asarray(n_tokens, float)
        if n.size == 1 and d.size == 1:  # one position for every draw: the GP at it once
            mean, var = self._at(positions(n.ravel(), d.ravel()), joint=False)
            return mean[0] + np.sqrt(var[0] + JITTER * self.gp.s**2) * np.asarray(z, float)
        n, d, z = np.broadcast_arrays(n, d, z)
        mean, var = self._at(positions(n.ravel(), d.ravel()), joint=False)
        sd = np.sqrt(var + JITTER * self.gp.s**2)
        return (mean + sd * z.ravel()).reshape(z.shape)

    @staticmethod
    def normals(draws_shape, seed) -> np.ndarray:
        """One standard normal per draw: those :meth:`error` gives a single point."""
        return np.random.default_rng([int(seed), 13]).standard_normal((*draws_shape, 1))[..., 0]

    def error(self, sizes, *, draws_shape, seed) -> xr.DataArray | int:
        """g_s(x), dims (chain, draw, ...point dims); 0 without n_params and n_tokens.

        Drawn jointly at the distinct positions in a canonical order (sorted), so a point's
        draws do not depend on the order the points come in, and a point asked twice gets the
        same draws twice."""
        x = _positions_of(sizes)
        if x is None:
            return 0
        distinct, inverse = np.unique(x.values.reshape(-1, 2), axis=0, return_inverse=True)
        mean, cov = self._at(distinct, joint=True)
        chol = np.linalg.cholesky(cov + JITTER * self.gp.s**2 * np.eye(len(mean)))
        z = np.random.default_rng([int(seed), 13]).standard_normal((*draws_shape, len(mean)))
        g = (mean + z @ chol.T)[..., np.asarray(inverse).ravel()]
        return xr.DataArray(
            g.reshape(*draws_shape, *x.shape[:-1]), dims=("chain", "draw", *x.dims[:-1])
        )

    def describe(self) -> str:
        """One phrase: the GP's scale and the largest shift it makes at the fitted runs."""
        shift = self.largest_shift
        return (
            f"local misfit: a Gaussian process on the runs' residuals (sd {self.gp.s:.2g} of log "
            f"loss, length {self.gp.ell_n:.2g} decades of N and {self.gp.ell_r:.2g} of tokens per "
            f"parameter), shifting the law by up to {shift:.2%} near the runs"
        )

    def to_dataset(self) -> xr.Dataset:
        """Variables and attributes for the ``discrepancy`` group."""
        return xr.Dataset(
            {
                "local_positions": (("local_run", "position"), self.positions),
                "local_residuals": ("local_run", self.residuals),
            },
            coords={"position": ["log10_n_params", "log10_n_tokens"]},
            attrs={
                f"local_{k}": float(getattr(self.gp, k)) for k in ("s", "ell_n", "ell_r", "noise")
            },
        )

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> LocalMisfit | None:
        """The misfit saved in a ``discrepancy`` group, or None (none, or written before)."""
        if "local_residuals" not in ds:
            return None
        a = ds.attrs
        gp = ResidualGP(*(float(a[f"local_{k}"]) for k in ("s", "ell_n", "ell_r", "noise")))
        return cls(
            gp,
            np.asarray(ds["local_positions"], float),
            np.asarray(ds["local_residuals"], float),
        )


def _positions_of(sizes) -> xr.DataArray | None:
    """(log10 N, log10 D) of ``sizes`` with a trailing dim ``position`` (None without both)."""
    if sizes.get("n_params") is None or sizes.get("n_tokens") is None:
        return None
    n, d = sizes["n_params"], sizes["n_tokens"]
    if not isinstance(n, xr.DataArray) and not isinstance(d, xr.DataArray):
        # plain numbers and arrays in numpy (dims named as xarray names an unlabelled array)
        n, d = np.broadcast_arrays(np.log10(np.asarray(n, float)), np.log10(np.asarray(d, float)))
        names = tuple(f"dim_{i}" for i in range(n.ndim))
        return xr.DataArray(np.stack([n, d], axis=-1), dims=(*names, "position"))
    n, d = (
        np.log10(v if isinstance(v, xr.DataArray) else xr.DataArray(np.asarray(v, float)))
        for v in (n, d)
    )
    n, d = xr.broadcast(n, d)
    x = xr.concat([n, d], dim="position").transpose(..., "position")
    per_draw = [dim for dim in ("chain", "draw") if dim in x.dims]
    return x.median(per_draw) if per_draw else x  # see LocalMisfit


def applies(law) -> bool:
    """Whether a fit of ``law`` has a local misfit: a law of both N and D."""
    return {"n_params", "n_tokens"} <= set(law.inputs)


def learn(
    runs, law, posterior, hyper: dict | None = None, residuals: np.ndarray | None = None
) -> LocalMisfit | None:
    """The local misfit of a fit: the shipped (s, ℓ_N, ℓ_R), σ_n ≥ the fit's median σ by type-II
    maximum likelihood on a grid (:data:`NOISE_GRID`), conditioned on the posterior-median
    residuals of the fitted runs (``residuals``, when the caller has them already; else computed
    here). None for a law without both n_params and n_tokens."""
    if not applies(law):
        return None
    hyper = shipped_hyper() if hyper is None else hyper
    if residuals is None:
        inputs = {c: runs[c].to_numpy(float) for c in law.inputs}
        y = np.log(runs["loss"].to_numpy(float))
        residuals = np.median(residual_draws(law, posterior, inputs, y), axis=0)
    x = positions(runs["n_params"], runs["n_tokens"])
    sigma = float(np.median(posterior["sigma"]))
    # −log N(r̄; 0, K + σ_n² I) for every σ_n of the grid from one eigendecomposition of K
    lam, vec = np.linalg.eigh(
        kernel(x, x, ResidualGP(hyper["s"], hyper["ell_n"], hyper["ell_r"], 0))
    )
    lam, z2 = np.clip(lam, 0, None), (vec.T @ residuals) ** 2
    noise = sigma * NOISE_GRID
    total = lam[None, :] + noise[:, None] ** 2
    best = noise[np.argmin((z2 / total + np.log(total)).sum(1))]
    return LocalMisfit(
        ResidualGP(hyper["s"], hyper["ell_n"], hyper["ell_r"], float(best)), x, residuals
    )
