"""``bayes-scaling design``: the contract a check outside the repository runs, exactly.

stdout: one row per chosen candidate in the order chosen, with ``candidate`` (0-based row of the
pool as read), ``params``, ``tokens``, ``cost``, ``cumulative_cost``, ``gain``, ``objective``;
total cost ≤ --budget, no repeats; exit 0, 3 not converged (still answers), 2 bad input with one
line; a candidate already in RUNS skipped with a line on stderr.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from bayes_scaling import datasets
from bayes_scaling.cli.entry import main
from bayes_scaling.design.candidates import isoflop_grid

CONTRACT = ["candidate", "params", "tokens", "cost", "cumulative_cost", "gain", "objective"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("design")
    runs = datasets.demo()
    runs.to_csv(folder / "runs.csv", index=False)
    grid = isoflop_grid(runs, 1e21, n_budgets=4, per_budget=6)[["params", "tokens"]]
    first = runs.iloc[[5]][["n_params", "n_tokens"]].set_axis(["params", "tokens"], axis=1)
    pool = pd.concat([first, grid], ignore_index=True).assign(note="ignored")
    pool.to_csv(folder / "pool.csv", index=False)
    return folder


@pytest.mark.slow
def test_contract_csv_and_json(files, capsys):
    args = [
        "design",
        str(files / "runs.csv"),
        "--candidates",
        str(files / "pool.csv"),
        "--budget",
        "5e20",
        "--compute",
        "1e22",
        "--seed",
        "3",
    ]
    assert main([*args, "--format", "csv"]) == 0
    captured = capsys.readouterr()
    table = pd.read_csv(io.StringIO(captured.out))
    assert list(table.columns[: len(CONTRACT) + 1]) == [
        "candidate",
        "params",
        "tokens",
        "compute",
        *CONTRACT[3:],
    ]
    assert set(CONTRACT) <= set(table.columns)
    assert len(table) >= 1 and table["candidate"].is_unique
    assert table["cumulative_cost"].max() <= 5e20 and table["cost"].sum() <= 5e20
    assert np.allclose(table["cumulative_cost"], table["cost"].cumsum())
    pool = pd.read_csv(files / "pool.csv")
    assert np.allclose(pool.loc[table["candidate"], "params"], table["params"])
    assert 0 not in set(table["candidate"])  # row 0 is a run of RUNS: skipped, and said so
    assert captured.err.count("\n") == 1 and "skipped candidate 0" in captured.err
    assert main([*args, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["converged"] is True
    assert [r["candidate"] for r in out["rows"]] == table["candidate"].tolist()  # reproducible
    # JSON at full precision: the same numbers as the CSV (pandas' JSON kept 10 digits)
    assert [r["cumulative_cost"] for r in out["rows"]] == table["cumulative_cost"].tolist()
    # nothing affordable: no rows, exit 0, and the reason on stderr
    assert main([*args[:5], "1e10", *args[6:], "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["rows"] == []
    assert "nothing picked: the cheapest candidate costs" in captured.err


@pytest.mark.slow
def test_not_converged_still_answers_with_exit_3(files, capsys):
    code = main(
        [
            "design",
            str(files / "runs.csv"),
            "--candidates",
            str(files / "pool.csv"),
            "--budget",
            "5e20",
            "--params",
            "3e9",
            "--tokens",
            "6e10",
            "--seed",
            "1",
            "--draws",
            "30",
            "--tune",
            "60",
            "--no-rescue",
            "--format",
            "csv",
        ]
    )
    captured = capsys.readouterr()
    assert code == 3
    assert "did not converge" in captured.err
    table = pd.read_csv(io.StringIO(captured.out))
    assert not table["converged"].any()


@pytest.mark.parametrize(
    ("pool", "budget", "target", "message"),
    [
        (None, "0", ["--compute", "1e22"], "--budget"),
        (None, "-1e20", ["--compute", "1e22"], "--budget"),
        (pd.DataFrame({"params": [], "tokens": []}), "5e20", ["--compute", "1e22"], "empty"),
        (pd.DataFrame({"size": [1e8], "tokens": [1e9]}), "5e20", ["--compute", "1e22"], "params"),
        (pd.DataFrame({"params": [1e8], "data": [1e9]}), "5e20", ["--compute", "1e22"], "tokens"),
        (None, "5e20", ["--compute", "1e22", "--params", "1e9"], "--compute"),
        (None, "5e20", ["--params", "1e9"], "--tokens"),
        (
            None,
            "5e20",
            ["--params", "1e9", "--tokens", "1e10", "--objective", "regret"],
            "--objective",
        ),
        (None, "5e20", ["--compute", "1e22", "--law", "nonsense"], "--law"),
        (
            None,
            "5e20",
            ["--params", "1e9", "--tokens", "1e10", "--law", "data_constrained"],
            "--law: law 'data_constrained' reads unique_tokens",
        ),
        (
            None,
            "5e20",
            ["--compute", "1e22", "--law", "power:compute", "--objective", "regret"],
            "--objective: 'regret' compares splits of a budget between N and D",
        ),
        (None, "5e20", ["--compute", "1e22", "--law", "power:n_params"], "no compute-optimal"),
        (
            pd.DataFrame([[1e8, 2e8, 1e9]], columns=["params", "params", "tokens"]),
            "5e20",
            ["--compute", "1e22"],
            "appears 2 times (columns 0, 1)",
        ),
        (
            pd.DataFrame({"params": [1e8, 1e200], "tokens": [1e9, 1e200]}),
            "5e20",
            ["--compute", "1e22"],
            "row 1, column 'params': the run's compute 6·N·D overflows",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2(files, tmp_path, capsys, pool, budget, target, message):
    path = files / "pool.csv"
    if pool is not None:
        path = tmp_path / "bad.csv"
        pool.to_csv(path, index=False)
    args = ["design", str(files / "runs.csv"), "--candidates", str(path), "--budget", budget]
    assert main([*args, *target]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bayes-scaling: error:") and message in err


def test_a_saved_fit_keeps_its_law_and_refuses_another(files, tmp_path, capsys):
    from bayes_scaling import fit

    saved = tmp_path / "demo.nc"
    fit(datasets.demo(), seed=1, draws=200, tune=300, rescue=False, discrepancy=False).save(saved)
    args = ["design", str(saved), "--candidates", str(files / "pool.csv"), "--budget", "5e20"]
    assert main([*args, "--compute", "1e22", "--law", "power:compute"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a fit of the 'chinchilla' law" in err


def test_a_saved_fit_without_a_split_is_refused_a_budget_target(files, tmp_path, capsys):
    """Without --law, the budget check uses the saved fit's own law (not the table default)."""
    from bayes_scaling import fit

    saved = tmp_path / "size_only.nc"
    runs = datasets.demo()
    fit(runs, law="power:n_params", seed=1, draws=200, tune=300, rescue=False).save(saved)
    args = ["design", str(saved), "--candidates", str(files / "pool.csv"), "--budget", "5e20"]
    assert main([*args, "--compute", "1e22"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "law 'power:n_params' has no compute-optimal split" in err
    assert "tokens_per_param" not in err
    assert main([*args, "--compute", "1e22", "--law", "chinchilla"]) == 2  # the law first
    assert "a fit of the 'power:n_params' law, not 'chinchilla'" in capsys.readouterr().err
