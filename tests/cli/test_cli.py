"""The CLI contract: exit codes, formats and columns.

Real fits, run in-process so that they share one compiled model."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.cli import main
from bayes_scaling.data import datasets


@pytest.fixture(scope="module")
def fit_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli")
    runs = path / "runs.csv"
    datasets.demo().rename(columns={"n_params": "params", "n_tokens": "tokens"}).to_csv(
        runs, index=False
    )
    out = path / "fit.nc"
    assert main(["fit", str(runs), "--law", "chinchilla", "--out", str(out), "--seed", "4"]) == 0
    return out


def test_summary_formats(fit_file, capsys):
    assert main(["summary", str(fit_file), "--format", "csv", "--prob", "0.9"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(table.columns) == [
        "parameter",
        "mean",
        "sd",
        "median",
        "lower",
        "upper",
        "r_hat",
        "ess_bulk",
        "ess_tail",
        "converged",  # the gate on every row: a saved stdout keeps a failure
    ]
    assert "alpha" in set(table["parameter"]) and table["converged"].all()
    assert main(["summary", str(fit_file), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["converged"] is True and doc["rows"][0]["parameter"] == "E"
    assert main(["summary", str(fit_file)]) == 0
    assert capsys.readouterr().out.startswith("# converged")


def test_bands_csv_columns_and_modes(fit_file, capsys):
    assert (
        main(
            [
                "bands",
                str(fit_file),
                "--compute",
                "1e21",
                "1e22",
                "--prob",
                "0.5",
                "0.9",
                "--format",
                "csv",
            ]
        )
        == 0
    )
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(table.columns) == [
        "params",
        "tokens",
        "compute",
        "distance",
        "band",
        "prob",
        "lower",
        "median",
        "upper",
        "converged",
        "discrepancy",
    ]
    assert len(table) == 2 * 2 * 2
    assert (
        main(["bands", str(fit_file), "--params", "1e9", "--tokens", "2e10", "--format", "json"])
        == 0
    )
    assert len(json.loads(capsys.readouterr().out)["rows"]) == 8


def test_bands_without_sizes_is_bad_input(fit_file, capsys):
    assert main(["bands", str(fit_file), "--params", "1e9"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_json_output_is_strict_json_in_the_rows_and_the_header():
    # a design whose objective is NaN put "initial": NaN in its header, which strict parsers refuse
    from bayes_scaling.cli.output import formatted

    table = pd.DataFrame({"a": [1.0, np.nan], "b": [np.inf, 2.0]})
    meta = {"converged": True, "initial": np.float64("nan"), "more": {"x": [float("-inf"), 1]}}
    text = formatted(table, "json", meta)

    def refuse(constant):
        raise ValueError(constant)

    doc = json.loads(text, parse_constant=refuse)
    assert doc["initial"] is None and doc["more"] == {"x": [None, 1]}
    assert doc["rows"] == [{"a": 1.0, "b": None}, {"a": None, "b": 2.0}]


def test_bad_input_is_one_line_even_after_warnings(tmp_path, capsys):
    # two rows share (N, D) (a warning) and three runs cannot fit five parameters (the error):
    # the error is the only line, the warning collected on the way is not printed after it
    runs = tmp_path / "few.csv"
    pd.DataFrame(
        {"params": [1e8, 1e8, 4e8], "tokens": [2e9, 2e9, 8e9], "loss": [3.1, 3.0, 2.7]}
    ).to_csv(runs, index=False)
    assert main(["fit", str(runs), "--out", str(tmp_path / "f.nc")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bayes-scaling: error:"), err


def test_non_converged_fit_exits_3_with_one_line_reason(tmp_path, capsys):
    runs = tmp_path / "runs.csv"
    datasets.demo().to_csv(runs, index=False)
    out = tmp_path / "short.nc"
    code = main(
        ["fit", str(runs), "--out", str(out), "--draws", "30", "--tune", "60", "--seed", "1"]
        + ["--no-rescue"]
    )
    err = capsys.readouterr().err
    assert code == 3 and out.exists()
    assert err.count("\n") == 1 and "did not converge" in err
    assert main(["summary", str(out)]) == 3  # the flag travels with the saved fit
    assert "NOT CONVERGED" in capsys.readouterr().out
    for command in (["summary", str(out)], ["allocate", str(out), "--compute", "1e22"]):
        assert main([*command, "--format", "csv"]) == 3  # and into a CSV saved from stdout
        assert not pd.read_csv(io.StringIO(capsys.readouterr().out))["converged"].any()


def test_console_script_bad_input_has_no_traceback(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("params,tokens,loss\n1e8,2e9,3.1\n2e8,4e9,oops\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bayes_scaling.cli",
            "fit",
            str(bad),
            "--out",
            str(tmp_path / "x.nc"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "bayes-scaling: error: row 1, column 'loss': not a number: 'oops' (rows count from 0: "
        "row 0 is the table's first data row)"
    )


def test_demo_writes_fit_and_plots(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--draws", "1000"]) == 0
    out = capsys.readouterr().out
    assert "loss bands at 1x, 10x and 100x" in out and "alpha" in out
    for name in (
        "demo_fit.nc",
        "fan_chart.png",
        "posterior_pairs.png",
        "prior_posterior.png",
        "report.html",
        "report.md",
    ):
        assert (tmp_path / name).stat().st_size > 1000


def test_runs_warnings_are_one_line_each_and_not_fatal(tmp_path, capsys):
    runs = datasets.demo()
    runs.loc[0, "compute"] *= 10  # C disagrees with 6ND by 10x
    runs = pd.concat([runs, runs.iloc[[5]].assign(run_id="again")], ignore_index=True)
    path = tmp_path / "runs.csv"
    runs.to_csv(path, index=False)
    code = main(["fit", str(path), "--out", str(tmp_path / "f.nc"), "--seed", "2"])
    err = capsys.readouterr().err.splitlines()
    assert code in (0, 3)
    assert any("warning: row 0 (run_id 'sim000'), column 'compute'" in line for line in err)
    assert any("kept as replicates" in line for line in err)


def test_allocate_formats_and_target(fit_file, capsys):
    args = [
        "allocate",
        str(fit_file),
        "--compute",
        "1e21",
        "1e22",
        "--tokens-per-param",
        "20",
        "--target",
        "2.5",
    ]
    assert main([*args, "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(table.columns) == [
        "compute", "quantity", "estimate", "lower", "upper", "note", "converged"
    ]  # fmt: skip
    quantities = set(table["quantity"])
    assert {
        "n_params_opt",
        "tokens_per_param_opt",
        "regret_mean",
        "prob_reach_opt",
        "compute_needed_p90",
        "extrapolation",
    } <= quantities
    assert main([*args[:4], "--target", "1.0", "--format", "json"]) == 0
    rows = {r["quantity"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert rows["compute_needed_p90"]["estimate"] is None  # E ~ 1.9: not reachable
    assert "not reachable" in rows["compute_needed_p90"]["note"]
    code = main(  # argparse: one line on stderr, exit 2 (returned, not raised)
        ["allocate", str(fit_file), "--compute", "1e21", "--params", "1e9"]
        + ["--tokens-per-param", "20"]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("bayes-scaling: error:")


def test_report_writes_html_and_markdown(fit_file, tmp_path, capsys):
    html_path, md_path = tmp_path / "r.html", tmp_path / "r.md"
    code = main(
        [
            "report",
            str(fit_file),
            "--compute",
            "1e22",
            "--target",
            "2.6",
            "--out",
            str(html_path),
            "--markdown",
            str(md_path),
        ]
    )
    assert code == 0 and "wrote" in capsys.readouterr().out
    page = html_path.read_text()
    assert 'id="question"' in page and "data:image/png;base64," in page
    assert "prob-reach-opt" in page and md_path.read_text().startswith("#")


def test_backtest_csv_contract(tmp_path, capsys):
    from bayes_scaling.model.simulate import DEMO_TRUTH, simulate_runs

    runs = simulate_runs(
        DEMO_TRUTH,
        budgets=[1e17, 1e18, 1e19, 1e20, 1e21],
        sizes_per_budget=8,
        seed=5,
        sigma=0.01,
        nu=None,
    )
    path = tmp_path / "runs.csv"
    runs.to_csv(path, index=False)
    code = main(
        ["backtest", str(path), "--cut-compute", "3e20", "--prob", "0.5", "0.9", "--format", "csv"]
    )
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert code == 0
    assert list(table.columns) == [
        "cut",
        "params",
        "tokens",
        "compute",
        "loss",
        "prob",
        "lower",
        "upper",
        "covered",
        "pit",
    ]
    assert len(table) == 2 * 8


def test_backtest_methods_side_by_side_and_json(tmp_path, capsys):
    from bayes_scaling.model.simulate import DEMO_TRUTH, simulate_runs

    runs = simulate_runs(
        DEMO_TRUTH,
        budgets=[1e17, 1e18, 1e19, 1e20, 1e21],
        sizes_per_budget=8,
        seed=5,
        sigma=0.01,
        nu=None,
    )
    path = tmp_path / "runs.csv"
    runs.to_csv(path, index=False)
    args = ["backtest", str(path), "--cut-compute", "3e20", "--prob", "0.9"]
    code = main([*args, "--method", "bayes", "bayes_params", "--format", "csv"])
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert code == 0 and list(table.columns)[-1] == "method"
    assert set(table["method"]) == {"bayes", "bayes_params"}
    assert len(table) == 2 * 8
    cut = float(np.quantile(runs["n_tokens"], 0.8))
    args = ["backtest", str(path), "--cut-tokens", str(cut), "--prob", "0.9", "--format", "json"]
    assert main(args) in (0, 3)  # 3: a fit below the cut did not converge (said in the JSON)
    out = json.loads(capsys.readouterr().out)
    assert out["cut_on"] == "n_tokens" and len(out["rows"]) == (runs["n_tokens"] >= cut).sum()
    assert "converged" in out
    assert "extrapolation discrepancy" in next(iter(out["discrepancy"].values()))


def test_bands_tolerance_gives_the_trust_horizon(fit_file, capsys):
    code = main(
        [
            "bands",
            str(fit_file),
            "--compute",
            "1e21",
            "1e23",
            "--tolerance",
            "0.02",
            "--relative",
            "--format",
            "json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert "within_tolerance" in out["rows"][0]
    assert out["trust_horizon"]["tolerance"] == 0.02 and out["trust_horizon"]["relative"]
    assert main(["bands", str(fit_file), "--compute", "1e23", "--no-discrepancy"]) == 0
    assert "# off" in capsys.readouterr().out


# --- every bad input is one line and exit 2, before any file is read or any sampler starts ------


# ``no_sampling`` (tests/conftest.py): every sampler, compile and worker pool raises.


def _one_error_line(capsys) -> str:
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and err.endswith("\n"), err
    assert err.startswith("bayes-scaling: error: ") and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], "the following arguments are required: command"),
        (["fitt"], "invalid choice: 'fitt'"),
        (["fit", "runs.csv"], "fit: the following arguments are required: --out"),
        (["summary", "f.nc", "--bogus"], "unrecognized arguments: --bogus"),
        (["summary", "f.nc", "--prob", "x"], "summary: argument --prob: not a number: 'x'"),
        (["fit", "r.csv", "--out", "f.nc", "--draws", "1.5"], "not a whole number: '1.5'"),
        (["bands", "f.nc", "--prob"], "bands: argument --prob: expected at least one argument"),
    ],
)
def test_usage_errors_are_one_line_exit_2(capsys, argv, expected):
    assert main(argv) == 2
    assert expected in _one_error_line(capsys)


def _third_smallest(path) -> str:
    """A cut with two runs below it in N (too few for the Chinchilla law), as a CLI argument."""
    import pandas as pd

    return repr(float(pd.read_csv(path)["n_params"].nsmallest(3).iloc[-1]))


def test_plumbing_bad_values_fail_fast_before_any_sampling(tmp_path, capsys, no_sampling):
    runs = tmp_path / "runs.csv"
    datasets.demo().to_csv(runs, index=False)
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "corrupt.nc").write_bytes(b"not a fit")
    fit = ["fit", str(runs), "--out", str(tmp_path / "f.nc")]
    cases = [
        (["fit", str(runs), "--out", "missing/dir/fit.nc"], "--out: the folder 'missing/dir'"),
        (["fit", str(runs), "--out", str(tmp_path / "fit.h5")], "must end in .nc or .zarr"),
        ([*fit, "--draws", "0"], "--draws: must be a whole number ≥ 1, got 0"),
        ([*fit, "--chains", "0"], "--chains: must be a whole number ≥ 1, got 0"),
        ([*fit, "--n-scale", "-1e6"], "--n-scale: must be positive"),
        (["fit", str(tmp_path / "empty.csv"), "--out", "f.nc"], "'empty.csv' is empty"),
        (["summary", str(tmp_path / "corrupt.nc")], "is not a readable NetCDF/Zarr fit file"),
        (["summary", str(tmp_path / "nope.nc")], "no such fit file"),
        (["summary", "f.nc", "--prob", "2.0"], "--prob: must be strictly between 0 and 1"),
        (["summary", "f.nc", "--prob", "0"], "--prob: must be strictly between 0 and 1"),
        (["bands", "f.nc", "--compute", "-1e21"], "--compute: must be positive, got -1e+21"),
        (
            ["bands", "f.nc", "--params", "1e9", "2e9", "--tokens", "1e10", "2e10", "3e10"],
            "--tokens: the lists of sizes must pair point by point",
        ),
        (["allocate", "f.nc", "--compute", "1e21", "--prob", "1"], "--prob: must be strictly"),
        (["report", "f.nc", "--compute", "1e22", "--out", "r.pdf"], "--out: 'r.pdf' must end"),
        (["backtest", str(runs), "--cut-compute", "0"], "--cut-compute: must be positive"),
        (["backtest", str(runs), "--cut-compute", "1e30"], "--cut-compute: 1e+30 on compute"),
        (
            ["backtest", str(runs), "--cut-params", _third_smallest(runs)],
            "--cut-params: 4.25601e+06 on n_params leaves 2 runs to fit, which cannot fit",
        ),
        (["compare", str(runs), "--out", "no/dir/g.nc"], "--out: the folder 'no/dir'"),
        (["compare", str(runs), "--range", "1e22", "1e21"], "--range: LOW must be below HIGH"),
        (["demo", "--draws", "0"], "--draws: must be a whole number ≥ 1"),
    ]
    for argv, expected in cases:
        assert main(argv) == 2, argv
        assert expected in _one_error_line(capsys), argv


def test_summary_prob_defaults_to_the_package_default(fit_file, capsys):
    from bayes_scaling._constants import DEFAULT_PROB

    assert main(["summary", str(fit_file), "--format", "json"]) == 0
    default = json.loads(capsys.readouterr().out)
    assert main(["summary", str(fit_file), "--format", "json", "--prob", str(DEFAULT_PROB)]) == 0
    assert json.loads(capsys.readouterr().out) == default


def test_plumbing_the_tripwire_catches_every_fitting_function(no_sampling, tmp_path):
    """``no_sampling`` (tests/conftest.py) patches the lowest level every fit passes through, so
    each public fitting function, valid input and all, trips it before any draw is made."""
    import bayes_scaling as bs
    from bayes_scaling.inference.batch import FitTask
    from bayes_scaling.model.simulate import two_recipe_ladder
    from bayes_scaling.trust.backtests import backtest
    from bayes_scaling.trust.sbc import sbc

    runs = datasets.demo()
    counts = pd.DataFrame({"problem": ["a", "b", "c"], "samples": 10, "correct": [0, 2, 5]})
    calls = {
        "fit": lambda: bs.fit(runs, seed=1),
        "fit_groups": lambda: bs.fit_groups(two_recipe_ladder(seed=1), seed=1),
        "backtest": lambda: backtest(runs, cut=3e19, seed=1),
        "sbc": lambda: sbc(n_sims=2, seed=1),
        "fit_many local": lambda: bs.fit_many([FitTask(runs)]),
        "fit_many serial": lambda: bs.fit_many([FitTask(runs)], client="serial"),
        "fit_passk": lambda: bs.fit_passk(counts, seed=1),
        "fit_downstream": lambda: bs.fit_downstream(
            runs.assign(acc=np.linspace(0.3, 0.6, len(runs)), via=runs["loss"]),
            metric="acc",
            via="via",
            chance=0.25,
        ),
    }
    for name, call in calls.items():
        try:
            out = call()
        except AssertionError as exc:
            assert "reached the sampler" in str(exc), name
            continue
        # a batch returns each task's error instead of raising
        errors = [r.error or "" for r in out] if isinstance(out, list) else []
        assert errors and all("reached the sampler" in e for e in errors), (name, out)


def test_figures_are_saved_atomically_and_failures_name_the_flag(tmp_path):
    # compare --plot, sbc --plot and demo once wrote with a plain savefig: a full disk left a
    # truncated file where the old one was, with an error naming neither the path nor the flag
    import matplotlib.pyplot as plt

    from bayes_scaling import ArgumentError
    from bayes_scaling.cli.output import save_figure

    fig = plt.figure()
    old = tmp_path / "old.png"
    old.write_bytes(b"the figure that was there")
    with pytest.raises(ArgumentError, match="--plot.*use .png"):
        save_figure(fig, tmp_path / "old.xyz", "--plot")
    with pytest.raises(ArgumentError, match="--plot: cannot write .*missing"):
        save_figure(fig, tmp_path / "missing" / "f.png", "--plot")
    save_figure(fig, old, "--plot")
    assert old.read_bytes().startswith(b"\x89PNG")
    plt.close(fig)
