"""Allocation risk and target answers on hand-built posteriors with known answers (no sampling)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from bayes_scaling import BayesScalingError, datasets, get_law
from bayes_scaling.answers import allocation as al
from bayes_scaling.answers.targets import compute_to_reach, prob_reach, target_answer
from bayes_scaling.results.diagnostics import Diagnostics
from bayes_scaling.results.scaling import ScalingFit

K = 6.0


def hand_fit(**params) -> ScalingFit:
    """A ScalingFit whose posterior is the given draws (one chain), with ~no run noise."""
    arrays = {k: np.atleast_1d(np.asarray(v, float)) for k, v in params.items()}
    n = max(a.size for a in arrays.values())
    arrays = {k: np.broadcast_to(a, n) for k, a in arrays.items()}
    arrays.setdefault("sigma", np.full(n, 1e-12))
    post = xr.Dataset(
        {k: (("chain", "draw"), a[None, :]) for k, a in arrays.items()},
        coords={"chain": [0], "draw": np.arange(n)},
    )
    tree = xr.DataTree.from_dict({"posterior": post})
    diag = Diagnostics(1.0, 1000.0, 1000.0, 0, n)
    settings = {"seed": 0, "likelihood": "normal", "flops_per_param_token": K}
    return ScalingFit(tree, get_law("chinchilla"), {}, diag, datasets.demo(), settings)


def law(p, n, d):
    return p["E"] + np.exp(p["log_A"]) * n ** -p["alpha"] + np.exp(p["log_B"]) * d ** -p["beta"]


SYM = {"log_A": np.log(400.0), "log_B": np.log(1600.0), "alpha": 0.3, "beta": 0.3}


def sym_optimum(p, c):
    """For alpha = beta the optimum is N* = G sqrt(C/6), G = (A/B)^(1/(2 alpha))."""
    g = (np.exp(p["log_A"]) / np.exp(p["log_B"])) ** (1 / (2 * p["alpha"]))
    n = g * np.sqrt(c / K)
    return n, c / (K * n)


def test_risk_measures_are_exact():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert al.expected()(x) == 2.5
    assert al.quantile(0.5)(x) == 2.5
    assert al.cvar(0.75)(x) == 4.0
    assert al.cvar(0.0)(x) == 2.5
    assert al.prob_above(2.5)(x) == 0.5


def test_optimal_allocation_and_exact_regret():
    draws = [dict(SYM, E=1.8), dict(SYM, E=1.8, log_B=np.log(6400.0))]
    fit = hand_fit(**{k: [d[k] for d in draws] for k in draws[0]})
    c, chosen = 1e22, 3e9
    opt = al.optimal_allocation(fit, [c])
    for i, p in enumerate(draws):
        n_star, d_star = sym_optimum(p, c)
        assert float(opt["n_params"][0, i, 0]) == pytest.approx(n_star, rel=1e-10)
        assert float(opt["allocation_exponent"][0, i]) == pytest.approx(0.5)
    reg = al.regret(fit, c, params=chosen)
    expect = [law(p, chosen, c / (K * chosen)) - law(p, *sym_optimum(p, c)) for p in draws]
    np.testing.assert_allclose(reg.values.ravel(), expect, rtol=1e-10)
    assert np.all(reg >= 0)
    by_ratio = al.regret(fit, c, tokens_per_param=20)
    n20 = np.sqrt(c / (K * 20))
    np.testing.assert_allclose(
        by_ratio.values.ravel(), [law(p, n20, 20 * n20) - law(p, *sym_optimum(p, c)) for p in draws]
    )


def test_bayes_optimal_n_minimises_expected_loss_and_differs_from_mean_fit():
    draws = [dict(SYM, E=1.8, alpha=0.25, beta=0.35), dict(SYM, E=1.8, alpha=0.40, beta=0.28)]
    fit = hand_fit(**{k: [d[k] for d in draws] for k in draws[0]})
    c = 1e23
    grid = np.geomspace(1e8, 1e13, 200001)
    mean_loss = np.mean([law(p, grid, c / (K * grid)) for p in draws], axis=0)
    assert al.choose_params(fit, c) == pytest.approx(grid[np.argmin(mean_loss)], rel=1e-3)
    q95 = np.quantile([law(p, grid, c / (K * grid)) for p in draws], 0.95, axis=0)
    assert al.choose_params(fit, c, al.quantile(0.95)) == pytest.approx(
        grid[np.argmin(q95)], rel=1e-3
    )
    single = hand_fit(**{k: [v] for k, v in draws[0].items()})
    n_star = al.optimal_allocation(single, [c])["n_params"]
    assert al.choose_params(single, c) == pytest.approx(n_star.values.item(), rel=1e-5)
    assert al.choose_params(fit, c) != pytest.approx(
        float(al.mean_parameter_optimum(fit, c)["n_params"]), rel=1e-2
    )


def test_probability_of_reaching_target_and_compute_needed_are_exact():
    es = [1.70, 1.75, 1.80, 1.85]
    fit = hand_fit(E=es, **SYM)
    c = 1e24
    losses = [law(dict(SYM, E=e), *sym_optimum(dict(SYM, E=e), c)) for e in es]
    target = (losses[1] + losses[2]) / 2  # the first two draws reach it at C, the others do not
    assert prob_reach(fit, c, target) == 0.5
    # alpha = beta: L*(C) = E + K_ (C/6)^(-alpha/2), so C_reach = 6 (K_ / (target - E))^(2/alpha)
    n1, d1 = sym_optimum(dict(SYM, E=0.0), 6.0)
    k_ = law(dict(SYM, E=0.0), n1, d1)
    exact = [6 * (k_ / (target - e)) ** (2 / 0.3) for e in es]
    got = compute_to_reach(fit, target).values.ravel()
    np.testing.assert_allclose(got, exact, rtol=1e-9)
    answer = target_answer(fit, target, prob=(0.5, 0.9))
    assert answer.compute_needed[0.5] == pytest.approx(exact[1], rel=1e-9)  # smallest C, P >= 0.5
    assert answer.prob_unreachable == 0.0


def test_not_reachable_is_said_instead_of_a_number():
    fit = hand_fit(E=[1.70, 1.75, 1.95, 2.00], **SYM)
    answer = target_answer(fit, 1.9, prob=(0.5, 0.9))
    assert answer.prob_unreachable == 0.5 and answer.prob_irreducible_above == 0.5
    assert answer.compute_needed[0.5] is not None  # p = 0.5 <= 1 - q
    assert answer.compute_needed[0.9] is None
    text = " ".join(answer.sentences())
    assert "not reachable at any compute with probability 50%" in text
    assert "No compute reaches 1.9 nats with probability 90%" in text
    table = fit.allocate(1e24, target=1.9)
    row = table.set_index("quantity").loc["compute_needed_p90"]
    assert np.isnan(row["estimate"]) and "not reachable with probability 90%" in row["note"]


def test_allocation_needs_a_law_with_an_optimum_and_a_single_choice():
    fit = hand_fit(E=1.8, **SYM)
    with pytest.raises(BayesScalingError, match="either params .* or tokens_per_param"):
        al.regret(fit, 1e22, params=1e9, tokens_per_param=20)
    with pytest.raises(BayesScalingError, match="compute: must be positive"):
        al.optimal_allocation(fit, [-1.0])
    fit.law = get_law("power")
    with pytest.raises(BayesScalingError, match="no compute-optimal split"):
        al.optimal_allocation(fit, [1e22])


def test_frontier_minimum_sits_at_the_bayes_optimum():
    fit = hand_fit(E=1.8, **SYM)
    ds = al.frontier(fit, 1e22, prob=(0.5, 0.9))
    best = float(ds["n_params"][int(np.argmin(ds["expected_loss"].values))])
    assert best == pytest.approx(ds.attrs["bayes_n"], rel=0.15)  # grid resolution
    assert ds["lower"].dims == ("prob", "n_params")
    np.testing.assert_allclose(ds["n_tokens"] * ds["n_params"] * K, 1e22)


def test_search_objective_equals_loss_draws_measure(small_fit):
    """The numpy objective of the N search gives the risk of :func:`loss_draws` at each point."""
    assert small_fit.discrepancy is not None and small_fit.discrepancy.local is not None
    compute, measure = 1e23, al.quantile(0.9)
    k = al.flops_of(small_fit)
    for discrepancy in (True, False):
        objective = al._search_objective(small_fit, compute, k, measure, discrepancy)
        for n in (3e9, 2e10, 1e11):
            draws = al.loss_draws(small_fit, n, compute / (k * n), k, discrepancy=discrepancy)
            want = measure(np.asarray(draws).ravel())
            assert objective(np.log(n)) == pytest.approx(want, rel=1e-12)
