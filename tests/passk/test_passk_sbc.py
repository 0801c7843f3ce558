"""SBC of pass@k fits on simulated benchmarks (a test-sized run: few simulations, short chains)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.errors import ArgumentError


def test_simulated_benchmark_has_the_shape_and_the_prior():
    from bayes_scaling.passk.sbc import prior_draw, simulate_benchmark

    rng = np.random.default_rng(0)
    theta = prior_draw(4, "partial", rng)
    assert list(theta.index) == ["m0", "m1", "m2", "m3"]
    assert theta["unsolvable_logit"].nunique() == 1  # one share for the benchmark
    counts = simulate_benchmark(theta, problems=30, samples=50, rng=rng)
    assert len(counts) == 4 * 30 and (counts["samples"] == 50).all()
    assert counts["correct"].between(0, 50).all()
    many = prior_draw(20_000, "independent", rng)
    assert many["log_b"].mean() == pytest.approx(4.0, abs=0.1)  # log b ~ N(4, 4)
    assert many["log_b"].std() == pytest.approx(4.0, abs=0.1)


def test_sbc_arguments_are_checked_before_sampling(no_sampling):
    from bayes_scaling.passk.sbc import sbc_passk

    with pytest.raises(ArgumentError, match="pooling"):
        sbc_passk(2, pooling="joint")
    with pytest.raises(ArgumentError, match="n_sims"):
        sbc_passk(0)


def test_sbc_ranks_are_uniform_on_a_small_benchmark():
    # 24 simulated benchmarks of 2 models × 30 problems × 50 samples, 2 chains × 200 draws
    # thinned by 4 (L = 99): a coarse check that catches a wrong likelihood or prior (ranks
    # piled at an end), not a fine one
    from bayes_scaling.passk.sbc import sbc_passk, sbc_uniformity

    called = []
    ranks, sims, n_draws = sbc_passk(
        24, models=2, problems=30, samples=50, draws=200, tune=300, thin=4, rescue=False, seed=3,
        on_sim=lambda s, rank, sim: called.append((s, rank, sim)),
    )  # fmt: skip
    assert n_draws == 99 and len(ranks) == 24 and len(sims) == 24
    assert [s for s, _, _ in called] == list(range(24))  # progress after each simulation
    assert pd.DataFrame([r for _, r, _ in called]).equals(ranks)
    assert list(ranks.columns) == [
        f"{p}[m{i}]" for i in range(2) for p in ("log_a", "log_b", "unsolvable_logit")
    ]
    assert ranks.to_numpy().min() >= 0 and ranks.to_numpy().max() <= n_draws
    test = sbc_uniformity(ranks, n_draws, bins=4)
    assert (test["p_adjusted"] >= 0.01).all(), test


def test_sbc_of_the_beta_mixture_has_its_parameters_and_uniform_ranks():
    # the mixture's six parameters per model, simulated from its own prior (hard component
    # included); the same coarse check as above
    from bayes_scaling.passk.sbc import prior_draw, sbc_passk, sbc_uniformity, simulate_benchmark

    rng = np.random.default_rng(0)
    theta = prior_draw(20_000, "independent", rng, "beta-mixture")
    assert theta["unsolvable_logit"].mean() == pytest.approx(-6.0, abs=0.05)  # rare unsolvable
    assert theta["hard_logit"].std() == pytest.approx(1.0, abs=0.05)
    counts = simulate_benchmark(theta.iloc[:2], problems=4000, samples=100, rng=rng)
    assert counts["correct"].between(0, 100).all()
    with pytest.raises(ArgumentError, match="pooling"):
        sbc_passk(2, pooling="partial", difficulty="beta-mixture")
    ranks, sims, n_draws = sbc_passk(
        16, models=1, problems=40, samples=100, difficulty="beta-mixture", draws=200, tune=300,
        thin=4, rescue=False, seed=5,
    )  # fmt: skip
    assert list(ranks.columns) == [
        f"{p}[m0]"
        for p in ("log_a", "log_b", "unsolvable_logit", "log_a_hard", "log_hard_gap", "hard_logit")
    ]
    test = sbc_uniformity(ranks, n_draws, bins=4)
    assert (test["p_adjusted"] >= 0.01).all(), test
