"""The Bayes-optimal N's search is Brent's bounded method without SciPy: the same minimum as
``scipy.optimize.minimize_scalar(method="bounded")`` on smooth, kinked and edge-bound functions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from bayes_scaling._numeric import minimise_bounded

FUNCTIONS = {
    "parabola": (lambda x: (x - 0.3) ** 2, -2.0, 2.0),
    "loss-like": (lambda x: 1.7 + 400 * np.exp(-0.34 * x) + 410 * np.exp(-0.28 * (50 - x)), 15, 35),
    "kink": (lambda x: abs(x - 1.234567), -3.0, 4.0),
    "two minima": (lambda x: np.sin(3 * x) + 0.1 * x, -2.0, 2.0),
    "minimum at the bound": (lambda x: x, 1.0, 5.0),
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_brent_without_scipy_finds_scipys_minimum(name):
    f, a, b = FUNCTIONS[name]
    ours = minimise_bounded(lambda x: float(f(x)), a, b, xtol=1e-6)
    theirs = optimize.minimize_scalar(f, bounds=(a, b), method="bounded", options={"xatol": 1e-6}).x
    assert ours == pytest.approx(theirs, abs=1e-8)
