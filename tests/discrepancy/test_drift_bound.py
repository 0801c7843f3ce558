"""The drift bound: a log-loss error never takes a loss below the draw's irreducible loss E.

The map (``with_error``) is checked against its docstring's claims in plain numpy; the answers
that carry the discrepancy (bands, allocation's L*, the compute a target needs, a grouped
comparison) are checked per draw at 1e30 FLOPs on the demo fit (real NUTS, the shared fixture)."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_scaling.answers import gap
from bayes_scaling.answers.allocation import loss_draws
from bayes_scaling.answers.bands import band_draws, resolve_sizes
from bayes_scaling.answers.decision import decide
from bayes_scaling.answers.targets import _noise, compute_to_reach
from bayes_scaling.discrepancy import irreducible_loss, with_error
from bayes_scaling.discrepancy.protocol import KNEE
from bayes_scaling.laws import get_law

FAR = 1e30


def _grid(seed=0, n=4000):
    rng = np.random.default_rng(seed)
    floor = rng.uniform(0.0, 2.5, n)
    loss = floor + rng.lognormal(-1.5, 1.0, n)
    return loss, floor


def test_no_draw_falls_below_its_floor_however_large_the_error():
    loss, floor = _grid()
    for delta in (-0.01, -0.3, -3.0, -300.0, 0.2, 5.0):
        out = with_error(loss, np.full_like(loss, delta), floor)
        assert np.all(out >= floor) and np.all(np.isfinite(out))
    # E itself is not reached, except where the exponential underflows next to E
    out = with_error(loss, np.full_like(loss, -0.3), floor)
    exponent = (loss * np.exp(-0.3) - floor) / (KNEE * (loss - floor))
    assert np.all(out[exponent > -30] > floor[exponent > -30]) and (exponent > -30).mean() > 0.5
    # upward (and δ = 0, inside the data) the error is the log-loss error as learned: L·e^δ
    for delta in (0.0, 0.3):
        np.testing.assert_array_equal(
            with_error(loss, delta + 0 * loss, floor), loss * np.exp(delta)
        )
    # without an irreducible loss the bend starts at δ = log ρ
    delta = np.random.default_rng(1).uniform(np.log(KNEE), 2, loss.shape)
    np.testing.assert_allclose(with_error(loss, delta, 0.0), loss * np.exp(delta), rtol=1e-12)


def test_the_error_is_used_as_learned_until_the_knee_then_bends_smoothly():
    loss, floor = _grid(2, 200)
    deltas = np.linspace(-2, 2, 4001)[:, None]
    out = with_error(loss[None], deltas, floor[None])
    assert np.all(np.diff(out, axis=0) >= 0)  # increasing in δ: quantiles keep their order
    x = loss[None] * np.exp(deltas)
    kept = x - floor[None] >= KNEE * (loss - floor)[None]
    np.testing.assert_array_equal(out[kept], x[kept])  # above the knee: L·e^δ exactly
    assert np.all(out[~kept] >= floor[None].repeat(len(deltas), 0)[~kept])
    # value and slope (in x) meet at the knee: x − E = ρ·R
    knee_x = floor + KNEE * (loss - floor)
    h = 1e-7 * knee_x
    for side in (-1, 1):
        step = (with_error(loss, np.log((knee_x + side * h) / loss), floor) - knee_x) / (side * h)
        np.testing.assert_allclose(step, 1.0, rtol=1e-4)


def test_irreducible_loss_is_e_or_zero():
    assert irreducible_loss(get_law("chinchilla"), {"E": 1.7}) == 1.7
    assert irreducible_loss(get_law("kaplan"), {"E": 1.7}) == 0.0


@pytest.fixture(scope="module")
def far(demo_fit):
    sizes = resolve_sizes(demo_fit, compute=np.array([1e22, FAR]))
    return demo_fit, sizes, demo_fit.posterior["E"]


def test_bands_never_below_e_far_out_where_the_old_form_went_below(far):
    fit, sizes, e = far
    draws = band_draws(fit, sizes).sel(band="law")
    assert bool((draws >= e).all())
    # the old form L·e^δ put draws under E at 1e30 FLOPs: the bound is doing something
    law = band_draws(fit, sizes, discrepancy=False).sel(band="law")
    post = fit.posterior
    shape = (post.sizes["chain"], post.sizes["draw"])
    delta = fit.discrepancy.error(sizes, draws_shape=shape, seed=fit.settings["seed"])
    assert float(((law * np.exp(delta)).isel(point=1) < e).mean()) > 0.05
    # a decade out (1e22) the bound moves the law band by little
    near = np.abs(draws.isel(point=0) / (law * np.exp(delta)).isel(point=0) - 1)
    assert float(near.median()) < 2e-3
    lower = fit.bands(compute=[FAR], prob=0.9, as_xarray=True)["lower"].sel(band="law")
    assert float(lower.min()) >= float(e.quantile(0.05)) - 1e-9


def test_allocation_loss_never_below_e(far):
    fit, sizes, e = far
    assert bool((loss_draws(fit, sizes["n_params"], sizes["n_tokens"]) >= e).all())
    ds = decide(fit, [1e24, FAR])
    assert bool((ds["loss_opt_discrepancy"] >= e).all())


def test_a_target_below_e_is_not_reached_by_drifting_far_out(far):
    fit, _, e = far
    target = float(e.quantile(0.05)) - 0.02  # below E's whole 90% interval
    needed = compute_to_reach(fit, target)
    assert float(needed.median()) == np.inf
    # per draw: where the run noise keeps E·e^ε above the target, no compute reaches it
    # (with L·e^δ a negative drift took such draws under the target far out)
    floor = e * np.exp(_noise(fit, None))
    assert bool(np.isinf(needed.where(floor > target, np.inf)).all())
    # a target above every E is reached, at finite compute, by most draws
    assert float(np.isfinite(compute_to_reach(fit, float(e.max()) + 0.05)).mean()) > 0.5


def test_a_grouped_comparison_keeps_each_group_above_its_e():
    law = get_law("chinchilla")
    p = {"E": np.array([[1.8]]), "log_A": np.log(np.array([[400.0]])),
         "alpha": np.array([[0.34]]), "log_B": np.log(np.array([[400.0]])),
         "beta": np.array([[0.28]])}  # fmt: skip
    terms = {"cs": np.full((1, 1), -0.3), "gs": np.ones((1, 1)), "cp": np.full((1, 1), -0.1),
             "gp": np.ones((1, 1)), "ref": np.full((1, 1), 1e21)}  # fmt: skip
    compute = np.geomspace(1e22, 1e34, 7)[None, :]
    loss = gap._loss(law, p, compute, 6.0, terms)
    assert np.all(loss >= 1.8)
    assert np.any(gap._loss(law, p, compute, 6.0) * np.exp(-0.4 * np.log10(compute / 1e21)) < 1.8)
