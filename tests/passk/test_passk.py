"""pass@k from per-problem counts: loader, closed forms, thinning, NUTS fits, save/load, CLI."""

from __future__ import annotations

import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import comb

from bayes_scaling.errors import ArgumentError, RunsError
from bayes_scaling.passk.data import load_counts, thin_counts
from bayes_scaling.passk.law import (
    chen_pass_at_k,
    population_pass_at_k,
    problems_pass_at_k,
)

TRUTH = dict(a=0.4, b=8.0, pi=0.3)


def simulate(problems=150, samples=200, seed=0, model=None, **truth):
    t = {**TRUTH, **truth}
    rng = np.random.default_rng(seed)
    p = rng.beta(t["a"], t["b"], problems)
    p[rng.random(problems) < t["pi"]] = 0.0
    df = pd.DataFrame(
        {
            "problem": [f"q{i}" for i in range(problems)],
            "samples": samples,
            "correct": rng.binomial(samples, p),
        }
    )
    if model is not None:
        df.insert(0, "model", model)
    return df


@pytest.fixture(scope="module")
def sim_fit():
    from bayes_scaling.passk.fit import fit_passk

    with warnings.catch_warnings():
        warnings.simplefilter("error", category=UserWarning)
        return fit_passk(simulate(), seed=3, chains=2, draws=600, tune=500)


# --- loader -------------------------------------------------------------------------------------


def test_loader_recognises_names_and_collapses_a_long_table():
    raw = pd.DataFrame(
        {
            "Model Nickname": ["m1", "m1", "m1", "m1"],
            "prompt_idx": [7, 7, 3, 3],
            "Num. Samples": [10, 10, 5, 5],
            "Num. Samples Correct": [2.0, 2.0, 0.0, 0.0],
            "k": [1, 2, 1, 2],
        }
    )
    out = load_counts(raw)
    assert list(out.columns) == ["model", "problem", "samples", "correct"]
    assert out["problem"].tolist() == ["7", "3"]  # rows in the order given
    assert out["correct"].tolist() == [2, 0]
    mapped = load_counts(
        pd.DataFrame({"q": ["a", "b"], "draws": [4, 4], "ok": [1, 0]}),
        problem="q",
        samples="draws",
        correct="ok",
    )
    assert mapped["model"].unique().tolist() == ["model"]


@pytest.mark.parametrize(
    "frame, where",
    [
        ({"problem": [1, 2], "samples": [5, 5], "correct": [1, 6]}, "row 1, column 'correct'"),
        ({"problem": [1, 2], "samples": [5, -5], "correct": [1, 0]}, "row 1, column 'samples'"),
        ({"problem": [1, 2], "samples": [5, 5], "correct": [1.5, 0]}, "row 0, column 'correct'"),
        ({"problem": [1, 1], "samples": [5, 5], "correct": [1, 0]}, "row 1, column 'problem'"),
        ({"problem": [1, 2], "samples": [5, 5], "correct": [0, 0]}, "no correct sample"),
    ],
)
def test_bad_counts_name_row_and_column(frame, where):
    with pytest.raises(RunsError, match=where):
        load_counts(pd.DataFrame(frame))


# --- closed forms -------------------------------------------------------------------------------


def test_closed_form_pass_at_k_matches_monte_carlo():
    rng = np.random.default_rng(1)
    a, b, pi = 0.3, 5.0, 0.2
    p = rng.beta(a, b, 400_000)
    p[rng.random(p.size) < pi] = 0
    for k in (1, 10, 1000):
        mc = 1 - np.mean((1 - p) ** k)
        assert population_pass_at_k(a, b, pi, k) == pytest.approx(mc, abs=3e-3)
    # per problem, given counts: the posterior of p_j, by importance weights on prior draws
    n, c = 20.0, 0.0
    w = np.where(p == 0, 1.0, (1 - p) ** n)
    mc = np.sum(w * (1 - (1 - p) ** 50)) / np.sum(w)
    closed = problems_pass_at_k(
        np.array([[a]]), np.array([[b]]), np.array([[pi]]), np.array([n]), np.array([c]), 50
    )
    assert closed[0, 0] == pytest.approx(mc, abs=5e-3)


def test_chen_estimator_is_the_exact_ratio():
    n, c = 12, 3
    for k in (1, 4, 9, 10, 12):
        exact = 1 - comb(n - c, k) / comb(n, k)
        assert chen_pass_at_k(n, c, k) == pytest.approx(exact)
    assert np.isnan(chen_pass_at_k(5, 1, 6))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 400), frac=st.floats(0, 1), keep=st.integers(1, 400), seed=st.integers(0, 99)
)
def test_thinning_stays_within_the_hypergeometric_support(n, frac, keep, seed):
    keep = min(keep, n)
    c = int(round(frac * n))
    df = pd.DataFrame({"model": "m", "problem": ["p"], "samples": [n], "correct": [c]})
    out = thin_counts(df, keep, seed)
    got = int(out["correct"].iloc[0])
    assert max(0, keep - (n - c)) <= got <= min(c, keep)
    assert int(out["samples"].iloc[0]) == keep
    assert thin_counts(df, keep, seed)["correct"].equals(out["correct"])  # seeded


def test_thinning_has_the_hypergeometric_mean():
    df = pd.DataFrame(
        {"model": "m", "problem": [str(i) for i in range(3000)], "samples": 1000, "correct": 37}
    )
    got = thin_counts(df, 100, 0)["correct"].mean()
    assert got == pytest.approx(3.7, abs=0.15)


# --- real NUTS ----------------------------------------------------------------------------------


def test_simulated_truth_is_recovered(sim_fit):
    assert sim_fit.converged
    s = sim_fit.summary(prob=0.95).set_index("parameter")
    for name in ("a", "b", "pi"):
        assert s.loc[name, "lower"] <= TRUTH[name] <= s.loc[name, "upper"], name
    bands = sim_fit.bands(k=[10, 10_000], prob=0.95, kind="population")
    truth = population_pass_at_k(TRUTH["a"], TRUTH["b"], TRUTH["pi"], np.array([10, 10_000]))
    assert ((bands["lower"] <= truth) & (truth <= bands["upper"])).all()


def test_bands_rows_in_the_order_given_and_bad_k(sim_fit):
    out = sim_fit.bands(k=[1000, 10, 100], prob=[0.9, 0.5])
    assert out["k"].tolist() == [1000, 1000, 10, 10, 100, 100]
    assert out["prob"].tolist() == [0.9, 0.5] * 3
    assert (out["lower"] <= out["median"]).all() and (out["median"] <= out["upper"]).all()
    with pytest.raises(ArgumentError, match="k"):
        sim_fit.bands(k=[10, 0])


def test_samples_for_and_exponent(sim_fit):
    out = sim_fit.samples_for(0.5, prob=[0.5, 0.9])
    assert out["samples"].iloc[0] <= out["samples"].iloc[1]
    assert np.isfinite(out["samples"]).all()
    far = sim_fit.samples_for(0.95, prob=0.9, kind="population")  # above the ceiling 1 - pi
    assert not np.isfinite(far["samples"].iloc[0])
    assert "not reachable" in far["note"].iloc[0]
    exp = sim_fit.exponent(k_range=(1, 1000)).set_index("quantity")
    assert 0 < exp.loc["exponent", "median"] < 1


def test_save_load_round_trip_without_pymc(sim_fit, tmp_path):
    import bayes_scaling as bs

    path = sim_fit.save(tmp_path / "p.nc")
    back = bs.load(path)
    assert isinstance(back, bs.PassKFit) and back.converged
    pd.testing.assert_frame_equal(back.counts, sim_fit.counts[back.counts.columns])
    pd.testing.assert_frame_equal(back.bands(k=[50]), sim_fit.bands(k=[50]))
    code = (
        "import sys, bayes_scaling as bs; f = bs.load(sys.argv[1]); f.bands(k=[10]); "
        "assert not {'pymc', 'nutpie', 'pytensor'} & set(sys.modules), 'sampler imported'"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)


def test_law_across_models_and_decisions():
    from bayes_scaling.passk.decisions import decision_table
    from bayes_scaling.passk.fit import fit_passk

    sizes = [(1e8, 1e10), (1e8, 1e11), (1e9, 1e10), (1e9, 1e11), (1e10, 1e10), (1e10, 1e11)]
    parts = []
    for i, (n, d) in enumerate(sizes):
        b = 40.0 / (np.log10(n) - 7) / (np.log10(d) - 9)  # bigger, longer: easier
        part = simulate(40, 200, seed=10 + i, model=f"m{i}", b=b)
        parts.append(part.assign(n_params=n, n_tokens=d))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_passk(pd.concat(parts), seed=2, chains=2, draws=1000, tune=400)
    law = fit.law_posterior
    assert law is not None and set(law["coef"].dims) >= {"param", "term"}
    ds = fit.size_vs_samples(2e13, tokens_per_sample=100)
    table = decision_table(ds)
    assert table["prob_best"].sum() == pytest.approx(1.0)
    assert table["chosen"].sum() == 1 and (table["expected_shortfall"] >= 0).all()
    new = fit.size_vs_samples(2e13, tokens_per_sample=100, n_params=[1e9, 1e10], n_tokens=1e11)
    assert new["k"].values.tolist() == [100.0, 10.0]


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_fit_bands_and_exit_codes(sim_fit, tmp_path, capsys):
    from bayes_scaling.cli import main

    csv = tmp_path / "samples.csv"
    simulate(40, 100, seed=5).rename(columns={"correct": "ok"}).to_csv(csv, index=False)
    out = tmp_path / "p.nc"
    args = ["passk", "fit", str(csv), "--out", str(out), "--correct-col", "ok", "--seed", "1"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main([*args, "--chains", "2", "--draws", "500", "--tune", "400"]) == 0
    capsys.readouterr()
    assert (
        main(["passk", "bands", str(out), "--k", "1000", "10", "--prob", "0.9", "--format", "csv"])
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "model,k,prob,lower,median,upper"
    assert [ln.split(",")[1] for ln in lines[1:]] == ["1000", "10"]
    assert main(["passk", "bands", str(out), "--k", "0"]) == 2
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"problem": [1, 2], "samples": [3, 3], "correct": [1, 4]}).to_csv(bad)
    assert main(["passk", "fit", str(bad), "--out", str(tmp_path / "b.nc")]) == 2
    assert "row 1, column 'correct'" in capsys.readouterr().err
    # a saved fit that did not converge reads back with exit code 3 (plumbing)
    failed = replace(sim_fit.diagnostics, failures=("R-hat 1.05 > 1.01 for a",))
    from bayes_scaling.passk.result import PassKFit, make_tree

    tree = make_tree(
        sim_fit.posterior,
        sim_fit.idata["models"].to_dataset(),
        sim_fit.counts,
        failed,
        sim_fit.settings,
    )
    path = PassKFit(tree, sim_fit.counts, failed, sim_fit.settings).save(tmp_path / "f.nc")
    assert main(["passk", "bands", str(Path(path)), "--k", "10"]) == 3
