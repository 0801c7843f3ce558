"""The cubic spline of the fit path against SciPy's (bayes_scaling._numeric)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import CubicSpline

from bayes_scaling._numeric import cubic_spline


@pytest.mark.parametrize("knots", [4, 5, 9, 31])
@pytest.mark.parametrize(("shape", "axis"), [((), 0), ((3, 2), 1), ((4,), 0), ((2,), -1)])
def test_cubic_spline_is_scipys_not_a_knot_spline(knots, shape, axis):
    rng = np.random.default_rng(knots)
    x = np.log(np.geomspace(1e-4, 0.3, knots)) + rng.uniform(0, 0.05, knots)
    other = list(shape)
    y = rng.normal(size=(knots, *other))
    y = np.moveaxis(y, 0, axis % y.ndim)
    x_new = np.sort(rng.uniform(x[0] - 0.5, x[-1] + 0.5, size=(5, 3)), axis=None).reshape(5, 3)
    expected = CubicSpline(x, y, axis=axis)(x_new)
    got = cubic_spline(x, y, x_new, axis=axis)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


def test_cubic_spline_at_a_scalar_is_a_0d_array_as_scipys():
    x, y = np.linspace(0.0, 3.0, 6), np.sin(np.linspace(0.0, 3.0, 6))
    got = cubic_spline(x, y, 1.3)
    assert got.shape == () and np.isclose(got, CubicSpline(x, y)(1.3), rtol=1e-12)


def test_cubic_spline_goes_through_its_knots_and_is_exact_on_cubics():
    x = np.array([0.0, 0.5, 1.5, 2.0, 3.5, 4.0])
    cubic = 1.0 - 2.0 * x + 0.5 * x**2 - 0.25 * x**3
    np.testing.assert_allclose(cubic_spline(x, cubic, x), cubic, atol=1e-12)
    fine = np.linspace(-1.0, 5.0, 41)
    np.testing.assert_allclose(
        cubic_spline(x, cubic, fine), 1.0 - 2.0 * fine + 0.5 * fine**2 - 0.25 * fine**3, atol=1e-9
    )


@pytest.mark.parametrize(
    "x", [[0.0, 1.0, 2.0], [0.0, 1.0, 1.0, 2.0], [0.0, 2.0, 1.0, 3.0]], ids=["3", "tie", "order"]
)
def test_cubic_spline_refuses_fewer_than_four_increasing_knots(x):
    with pytest.raises(ValueError, match="at least 4 increasing knots"):
        cubic_spline(np.array(x), np.zeros(len(x)), [0.5])


def test_cubic_spline_refuses_a_missing_axis_and_values_that_are_not_finite():
    x = np.arange(5.0)
    with pytest.raises(ValueError, match="an axis of y"):
        cubic_spline(x, np.zeros(5), [0.5], axis=1)
    with pytest.raises(ValueError, match="finite"):
        cubic_spline(x, np.array([0.0, 1.0, np.nan, 2.0, 3.0]), [0.5])


@pytest.mark.parametrize("geometric", [False, True])
def test_grid_quantiles_match_draws_spread_over_their_cells(geometric):
    # the discrepancy's tau: weights on a grid, draws jittered uniformly within a cell (in log τ
    # on a geometric grid), as Discrepancy.draw_scale draws them
    from bayes_scaling._numeric import grid_quantiles

    rng = np.random.default_rng(0)
    grid = np.geomspace(0.001, 0.05, 26) if geometric else np.linspace(0.001, 0.05, 26)
    weights = rng.gamma(2.0, size=grid.size)
    cell = rng.choice(grid.size, size=400_000, p=weights / weights.sum())
    jitter = rng.uniform(-0.5, 0.5, cell.size)
    if geometric:
        draws = grid[cell] * np.exp(jitter * np.log(grid[1] / grid[0]))
    else:
        draws = grid[cell] + jitter * (grid[1] - grid[0])
    probs = [0.05, 0.25, 0.5, 0.75, 0.95]
    got = grid_quantiles(grid[::-1], weights[::-1], probs)  # any order
    np.testing.assert_allclose(got, np.quantile(draws, probs), rtol=0.01)  # cumsum: 4% off
