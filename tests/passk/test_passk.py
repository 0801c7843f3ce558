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
from conftest import PASSK_TRUTH, simulate_counts
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import comb

from bayes_scaling.errors import ArgumentError, RunsError
from bayes_scaling.passk.data import load_counts, thin_counts
from bayes_scaling.passk.decisions import _law_pass
from bayes_scaling.passk.law import (
    chen_pass_at_k,
    population_pass_at_k,
    problems_pass_at_k,
)

TRUTH = PASSK_TRUTH
simulate = simulate_counts  # the benchmark the session's pass@k fit saw (tests/conftest.py)


@pytest.fixture(scope="module")
def sim_fit(passk_fit):
    # tests/conftest.py: the session's one real fit of simulate() (2 chains × 600 draws, seed 3)
    return passk_fit


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
    assert sim_fit.settings["adaptation"] == "diag"  # the Beta's three parameters: diagonal
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
    for kind in ("problems", "population"):
        out = sim_fit.samples_for(0.5, prob=[0.5, 0.9], kind=kind)
        assert np.isfinite(out["samples"]).all() and (out["samples"] % 1 == 0).all()
        s50, s90 = (int(v) for v in out["samples"])
        assert s50 <= s90
        # P(pass@k >= target) at the k found is the probability asked: the band's median at k50
        # and its 10% quantile (lower end of the 80% band) at k90 sit on the target
        band = sim_fit.bands(k=[s50, s90, max(1, s50 // 2)], prob=0.8, kind=kind)
        assert band["median"].iloc[0] == pytest.approx(0.5, abs=0.01), (kind, band)
        assert band["lower"].iloc[1] == pytest.approx(0.5, abs=0.01), (kind, band)
        assert band["median"].iloc[2] < 0.5 - 0.01, (kind, band)  # half the samples fall short
    far = sim_fit.samples_for(0.95, prob=0.9, kind="population")  # above the ceiling 1 - pi
    assert not np.isfinite(far["samples"].iloc[0])
    assert "not reachable" in far["note"].iloc[0]
    exp = sim_fit.exponent(k_range=(1, 1000)).set_index("quantity")
    assert 0 < exp.loc["exponent", "median"] < 1
    # two whole k one apart above 2^53 are one point of the (float) grid: refused, not NaN
    with pytest.raises(ArgumentError, match="k_range"):
        sim_fit.exponent(k_range=(2**53, 2**53 + 1))


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


def _easier_with_size(fit) -> None:
    """tests/conftest.py: bigger and longer models find the problems easier. The law's pass@10
    of a new model at the easiest (N, D) (m5's: 1e10, 1e11) beats one at the hardest (m0's:
    1e8, 1e10) in most draws, scatter included, and its medians are near the truth (0.06 and
    0.21: π = 0.3, a = 0.4, b = 40 and 6.7)."""
    got = _law_pass(fit, [1e8, 1e10], [1e10, 1e11], 10, seed=0)
    assert np.mean(got[:, 1] > got[:, 0]) > 0.7
    np.testing.assert_allclose(np.median(got, axis=0), [0.06, 0.21], atol=0.05)


def test_the_law_keeps_the_terms_the_sizes_identify():
    from bayes_scaling.passk.law import DESIGN_TERMS, identified_terms

    three_d = identified_terms([4e8] * 3 + [7e9] * 3, [6e9, 6e10, 3e11] * 2)
    assert three_d == DESIGN_TERMS
    assert identified_terms([1e8, 1e8, 1e9, 1e9], [1e10, 1e11] * 2) == (
        "const", "log_n", "log_d", "log_n_log_d"
    )  # fmt: skip
    assert identified_terms([1e8] * 3, [1e10, 1e11, 1e12]) == ("const", "log_d", "log_d_sq")
    assert identified_terms([1e8, 1e9], [1e10, 1e11]) == ("const", "log_n")  # N, D in step


def test_law_across_models_and_decisions(passk_law_fit):
    from bayes_scaling.passk.decisions import decision_table
    from bayes_scaling.passk.logit import LOGIT_PARAMS

    # tests/conftest.py: six simulated models (N, D), b falling with log N and log D, 40 problems
    fit = passk_law_fit
    assert fit.settings["difficulty"] == "logit-normal-mixture"  # the default, with the law
    assert fit.settings["law_rescue"][0]["target_accept"] == 0.99  # the hierarchy's smaller steps
    law = fit.law_posterior
    assert law is not None and set(law["coef"].dims) >= {"param", "term"}
    assert list(law["param"].values) == list(LOGIT_PARAMS) and fit.diagnostics.converged
    assert "models=6 problems=40 counts=240 " in repr(fit)  # problems, not (model, problem)s
    # two training lengths: no square in log D, which only its prior would set
    assert list(law["term"].values) == ["const", "log_n", "log_d", "log_n_log_d"]
    _easier_with_size(fit)
    ds = fit.size_vs_samples(2e13, tokens_per_sample=100)
    table = decision_table(ds)
    assert table["prob_best"].sum() == pytest.approx(1.0)
    assert table["chosen"].sum() == 1 and (table["expected_shortfall"] >= 0).all()
    new = fit.size_vs_samples(2e13, tokens_per_sample=100, n_params=[1e9, 1e10], n_tokens=1e11)
    assert new["k"].values.tolist() == [100.0, 10.0]


def test_the_two_stage_law_over_the_beta():
    from conftest import passk_ladder

    from bayes_scaling.passk.fit import fit_passk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_passk(passk_ladder(), seed=3, chains=2, draws=500, tune=300, difficulty="beta")
    law = fit.law_posterior
    assert list(law["param"].values) == ["log_a", "log_b", "unsolvable_logit"]
    assert fit.diagnostics.converged
    _easier_with_size(fit)
    ds = fit.size_vs_samples(2e13, tokens_per_sample=100, n_params=[1e9, 1e10], n_tokens=1e11)
    assert np.isfinite(ds["pass_at_k"].values).all()


def test_report_shows_every_model_and_bands_come_from_one_dataset(tmp_path):
    from bayes_scaling.passk.answers import BAND_COLUMNS, band_dataset
    from bayes_scaling.passk.fit import fit_passk

    counts = pd.concat([simulate(30, 100, seed=20 + i, model=f"m{i}") for i in range(7)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short chain may miss the gate: the page says so
        fit = fit_passk(
            counts, seed=4, chains=2, draws=400, tune=300, law=False, rescue=False,
            difficulty="beta-mixture",  # plumbing; the logit mixture's page: test_passk_logit
        )  # fmt: skip
    assert fit.models == [f"m{i}" for i in range(7)]
    ds = band_dataset(fit, [1000, 10], [0.9, 0.5])
    assert ds["lower"].dims == ("model", "k", "prob")
    table = fit.bands(k=[1000, 10], prob=[0.9, 0.5])
    assert list(table.columns) == BAND_COLUMNS
    order = [(m, k, p) for m in fit.models for k in (1000, 10) for p in (0.9, 0.5)]
    assert list(zip(table["model"], table["k"], table["prob"], strict=True)) == order
    for column in ("lower", "median", "upper"):
        expect = [float(ds[column].sel(model=m, k=k, prob=p)) for m, k, p in order]
        np.testing.assert_array_equal(table[column].to_numpy(), expect)
    with_flops = fit.bands(k=[10], prob=0.9, tokens_per_sample=100, n_params=1e9)
    assert with_flops["inference_flops"].tolist() == [2.0 * 1e9 * 100 * 10] * 7

    fit.report(tmp_path / "page.html", k=(10, 100))
    page = (tmp_path / "page.html").read_text(encoding="utf-8")
    for m in fit.models:  # every model in the table and in its own sentence
        assert page.count(f"<td>{m}</td>") == 2 and f"<li>{m}: pass@k" in page, m
    written = fit.report(tmp_path / "page.md", k=(10, 100), models=["m6", "m0"])
    md = (tmp_path / "page.md").read_text(encoding="utf-8")
    assert md.index("m6: pass@k") < md.index("m0: pass@k") and "m3: pass@k" not in md
    assert "left out because not asked for: m1, m2, m3, m4, m5" in md
    assert md.index("The decision") < md.index("m6: pass@k")
    assert (tmp_path / "figures" / "passk_fan.png").exists() and written.markdown == md
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left behind


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_fit_bands_and_exit_codes(sim_fit, tmp_path, capsys):
    from bayes_scaling.cli import main

    csv = tmp_path / "samples.csv"
    simulate(40, 100, seed=5).rename(columns={"correct": "ok"}).to_csv(csv, index=False)
    out = tmp_path / "p.nc"
    args = ["passk", "fit", str(csv), "--out", str(out), "--correct-col", "ok", "--seed", "1"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the Beta it simulates (the default difficulty's CLI: test_passk_logit)
        sampler = ["--chains", "2", "--draws", "500", "--tune", "400", "--difficulty", "beta"]
        assert main([*args, *sampler]) == 0
    capsys.readouterr()
    assert (
        main(["passk", "bands", str(out), "--k", "1000", "10", "--prob", "0.9", "--format", "csv"])
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "model,k,prob,lower,median,upper"
    assert [ln.split(",")[1] for ln in lines[1:]] == ["1000", "10"]
    # a k above 2^53 comes back as given, not rounded to a float's neighbour; 1e4 is a k too
    huge = "12345678901234567"
    assert (
        main(["passk", "bands", str(out), "--k", huge, "1e4", "--prob", "0.9", "--format", "csv"])
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split(",")[1] for ln in lines[1:]] == [huge, "10000"]
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
