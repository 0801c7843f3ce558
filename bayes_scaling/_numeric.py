"""Small numerical helpers in NumPy: SciPy's cubic spline for the fit path, and quantiles of a
distribution on a grid (:func:`grid_quantiles`), and Brent's bounded minimiser
(:func:`minimise_bounded`, for the allocation's searches).

Every fit with a discrepancy interpolates its internal evidence from a coarse τ grid
(:func:`bayes_scaling.discrepancy.evidence.shared_loglik`), and that was the only use of
``scipy.interpolate`` in a ``bayes-scaling fit`` process. Importing it (with the
``scipy.optimize`` it pulls in) on top of what PyMC and the compiled model load cost about 0.2 s
and 18 MiB of a 4 s, 370 MiB process, so the spline is written out here. It matches
``scipy.interpolate.CubicSpline`` to rounding (tests compare them).
"""

from __future__ import annotations

import numpy as np


def cubic_spline(x, y, x_new, axis: int = 0) -> np.ndarray:
    """The not-a-knot cubic spline through (x, y) along ``axis``, evaluated at ``x_new``: the
    values of ``scipy.interpolate.CubicSpline(x, y, axis=axis)(x_new)``.

    The slopes s at the knots solve SciPy's tridiagonal system (here dense: grids of tens of
    knots), with the third derivative continuous at the second and the second-to-last knots;
    on [x_i, x_{i+1}] with h = x − x_i, Δ = x_{i+1} − x_i and m the secant slope the spline is
    y_i + s_i·h + c₁·h² + c₀·h³, with t = (s_i + s_{i+1} − 2m)/Δ, c₀ = t/Δ and
    c₁ = (m − s_i)/Δ − t. Needs at least 4 increasing knots and finite values; beyond the ends
    the end cubics extend.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.ndim != 1 or not -y.ndim <= axis < y.ndim:
        raise ValueError("cubic_spline needs 1-d knots x and an axis of y")
    axis = axis % y.ndim
    y = np.moveaxis(y, axis, 0)
    n = len(x)
    if n < 4 or y.shape[0] != n or not np.all(np.diff(x) > 0):
        raise ValueError("cubic_spline needs at least 4 increasing knots and one y per knot")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("cubic_spline needs finite knots and values")
    rest = y.shape[1:]
    y2 = y.reshape(n, -1)
    dx = np.diff(x)
    slope = np.diff(y2, axis=0) / dx[:, None]
    a = np.zeros((n, n))
    b = np.empty_like(y2)
    inner = np.arange(1, n - 1)
    a[inner, inner] = 2 * (dx[:-1] + dx[1:])
    a[inner, inner + 1] = dx[:-1]
    a[inner, inner - 1] = dx[1:]
    b[1:-1] = 3 * (dx[1:, None] * slope[:-1] + dx[:-1, None] * slope[1:])
    d = x[2] - x[0]
    a[0, 0], a[0, 1] = dx[1], d
    b[0] = ((dx[0] + 2 * d) * dx[1] * slope[0] + dx[0] ** 2 * slope[1]) / d
    d = x[-1] - x[-3]
    a[-1, -1], a[-1, -2] = dx[-2], d
    b[-1] = (dx[-1] ** 2 * slope[-2] + (2 * d + dx[-1]) * dx[-2] * slope[-1]) / d
    s = np.linalg.solve(a, b)
    t = (s[:-1] + s[1:] - 2 * slope) / dx[:, None]
    c0, c1 = t / dx[:, None], (slope - s[:-1]) / dx[:, None] - t
    x_new = np.asarray(x_new, dtype=float)
    i = np.clip(np.searchsorted(x, x_new.ravel(), side="right") - 1, 0, n - 2)
    h = (x_new.ravel() - x[i])[:, None]
    out = ((c0[i] * h + c1[i]) * h + s[:-1][i]) * h + y2[:-1][i]
    k = x_new.ndim
    return np.moveaxis(out.reshape(x_new.shape + rest), range(k), range(axis, axis + k))


def grid_quantiles(values, weights, probs) -> np.ndarray:
    """Quantiles of a distribution given as weights on a grid of ``values`` (any order).

    Each grid point stands for its cell, the mass spread evenly across it (as the discrepancy's
    draws jitter τ within its cell): the CDF is linear between the cells' edges, halfway between
    neighbours (in log on a geometric grid, and never below 0 on a grid that starts at 0 or
    above). Reading quantiles off the cumulative sums at the points themselves puts every
    quantile half a cell too low.

    Examples
    --------
    >>> float(grid_quantiles([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], 0.5))
    2.0
    """
    values, weights = np.asarray(values, float).ravel(), np.asarray(weights, float).ravel()
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order] / weights.sum()
    if v.size == 1:
        return np.full(np.shape(probs), v[0])
    steps = np.diff(v)
    geometric = v[0] > 0 and not np.allclose(steps, steps[0]) and np.allclose(*_ratios(v))
    x = np.log(v) if geometric else v
    mids = (x[:-1] + x[1:]) / 2
    edges = np.r_[2 * x[0] - mids[0], mids, 2 * x[-1] - mids[-1]]
    if geometric:
        edges = np.exp(edges)
    elif v[0] >= 0:
        edges[0] = max(edges[0], 0.0)
    return np.interp(probs, np.r_[0.0, np.cumsum(w)], edges)


def _ratios(v: np.ndarray) -> tuple[np.ndarray, float]:
    logs = np.diff(np.log(v))
    return logs, float(logs[0])


_GOLDEN = 0.5 * (3.0 - 5.0**0.5)
_SQRT_EPS = float(np.sqrt(np.finfo(float).eps))


def minimise_bounded(f, a: float, b: float, xtol: float = 1e-5, maxiter: int = 500) -> float:
    """The x in [a, b] that minimises the scalar function ``f``: Brent's bounded method.

    Brent (1973, ch. 5), the method of ``scipy.optimize.minimize_scalar(method="bounded")``,
    step for step (the same points, up to the order of floating-point operations: answers equal
    to about 1e-9), in plain Python: ``scipy.optimize`` alone takes longer to import
    (0.2–0.3 s) than a whole allocation. Each step is a
    golden-section step into the larger side of the bracket, a fraction (3 − √5)/2 ≈ 0.382 of
    it, or the vertex of the parabola through the best point x and the two before it, w and v,

        x̂ = x − ½·[(x − v)²(f(x) − f(w)) − (x − w)²(f(x) − f(v))]
               / [(x − v)(f(x) − f(w)) − (x − w)(f(x) − f(v))],

    when that lies inside the bracket and moves less than half the step before last; it stops
    when the bracket is within 2·(√ε·|x| + xtol/3) of x.

    >>> round(minimise_bounded(lambda x: (x - 0.3) ** 2, -2.0, 2.0), 6)
    0.3
    """
    x = w = v = a + _GOLDEN * (b - a)
    fx = fw = fv = f(x)
    step = last = 0.0
    for _ in range(maxiter):
        middle = 0.5 * (a + b)
        tol1 = _SQRT_EPS * abs(x) + xtol / 3.0
        tol2 = 2.0 * tol1
        if abs(x - middle) <= tol2 - 0.5 * (b - a):
            break
        golden = True
        if abs(last) > tol1:  # try the parabola through x, w, v
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = 2.0 * (q - r)
            p = -p if q > 0.0 else p
            q = abs(q)
            before, last = last, step
            if abs(p) < abs(0.5 * q * before) and q * (a - x) < p < q * (b - x):
                step, golden = p / q, False
                u = x + step
                if u - a < tol2 or b - u < tol2:
                    step = tol1 if middle >= x else -tol1
        if golden:
            last = (a - x) if x >= middle else (b - x)
            step = _GOLDEN * last
        u = x + (1.0 if step >= 0 else -1.0) * max(abs(step), tol1)
        fu = f(u)
        if fu <= fx:
            if u >= x:
                a = x
            else:
                b = x
            v, fv, w, fw, x, fx = w, fw, x, fx, u, fu
        else:
            if u < x:
                a = u
            else:
                b = u
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v == x or v == w:
                v, fv = u, fu
    return float(x)
