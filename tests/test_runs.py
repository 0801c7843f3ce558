"""The runs table: recognition, derivation and one documented error per bad input (API and CLI)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_scaling import RunsError, RunsWarning, load_runs
from bayes_scaling.cli import main
from bayes_scaling.laws import get_law
from bayes_scaling.runs import check_runs_for_law


def table(**cols):
    base = {
        "params": [1e8, 2e8, 4e8, 8e8, 1.6e9, 3.2e9],
        "tokens": [2e9, 4e9, 8e9, 1.6e10, 3.2e10, 6.4e10],
        "loss": [3.4, 3.2, 3.0, 2.85, 2.7, 2.6],
    }
    base.update(cols)
    return pd.DataFrame(base)


def test_recognises_common_names_and_derives_compute():
    runs = load_runs(table())
    assert list(runs.columns) == ["run_id", "n_params", "n_tokens", "compute", "loss"]
    np.testing.assert_allclose(runs["compute"], 6 * runs["n_params"] * runs["n_tokens"])


def test_derives_tokens_from_compute_with_epoch_names():
    df = pd.DataFrame(
        {"Model Size": [1e8, 4e8], "Training FLOP": [1e19, 4e19], "val_loss": [3, 2.8]}
    )
    runs = load_runs(df)
    np.testing.assert_allclose(runs["n_tokens"], runs["compute"] / (6 * runs["n_params"]))


def test_explicit_column_map_and_optional_columns():
    df = table(val_ppl=[1.0] * 6, arch=list("aabbcc"), U=[1e9] * 6).drop(columns="loss")
    runs = load_runs(df, loss="val_ppl", group="arch")
    assert runs["group"].tolist() == list("aabbcc")
    np.testing.assert_allclose(runs["epochs"], runs["n_tokens"] / 1e9)


@pytest.mark.parametrize("suffix", ["csv", "parquet", "jsonl"])
def test_reads_files(tmp_path, suffix):
    path = tmp_path / f"runs.{suffix}"
    df = table()
    {
        "csv": lambda: df.to_csv(path, index=False),
        "parquet": lambda: df.to_parquet(path),
        "jsonl": lambda: df.to_json(path, orient="records", lines=True),
    }[suffix]()
    assert len(load_runs(path)) == 6


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("loss", np.nan, "row 2, column 'loss': missing value"),
        ("tokens", "lots", "row 2, column 'n_tokens': not a number: 'lots'"),
        ("params", np.inf, "row 2, column 'n_params': infinite value"),
        ("params", -5.0, "row 2, column 'n_params': must be > 0"),
        ("tokens", 0.0, "row 2, column 'n_tokens': must be > 0"),
        ("loss", 0.0, "row 2, column 'loss': must be > 0"),
    ],
)
def test_bad_values_name_row_and_column(column, value, expected):
    df = table()
    df[column] = df[column].astype(object)
    df.loc[2, column] = value
    with pytest.raises(RunsError, match=expected.replace("(", r"\(")):
        load_runs(df)


def test_every_problem_is_reported_not_only_the_first():
    df = table().astype(object)
    df.loc[1, "loss"] = -1.0
    df.loc[4, "tokens"] = "?"
    with pytest.raises(RunsError) as err:
        load_runs(df)
    assert len(err.value.problems) == 2


def test_compute_negative_is_an_error():
    df = table(flops=[1e19, 1e19, -1, 1e19, 1e19, 1e19]).drop(columns="tokens")
    with pytest.raises(RunsError, match="row 2, column 'compute': must be > 0"):
        load_runs(df)


def test_wrong_unit_suggests_scale_option():
    df = table(params=[100, 200, 400, 800, 1600, 3200])
    with pytest.raises(RunsError, match=r"row 0, column 'n_params'.*wrong unit.*scale="):
        load_runs(df)
    runs = load_runs(df, scale={"n_params": 1e6})
    assert runs["n_params"].iloc[0] == 1e8


def test_missing_column_and_unknown_mapping():
    with pytest.raises(RunsError, match="missing column"):
        load_runs(table().drop(columns="loss"))
    with pytest.raises(RunsError, match="column 'nope': mapped to 'loss' but not in the table"):
        load_runs(table(), loss="nope")


def test_ambiguous_columns_are_an_error():
    with pytest.raises(RunsError, match="both 'params' and 'n_params'"):
        load_runs(table(n_params=[1e8] * 6))


def test_compute_far_from_6nd_warns():
    df = table(flops=[1e30] + [6 * 1e8 * 2e9] * 5)
    with pytest.warns(RunsWarning, match=r"row 0.*'compute'.*check the units"):
        load_runs(df)


def test_duplicates_are_kept_and_reported():
    df = pd.concat([table(), table().iloc[[0]]], ignore_index=True)
    with pytest.warns(RunsWarning, match="kept as replicates"):
        runs = load_runs(df)
    assert len(runs) == 7 and runs.attrs["replicates"] == [[0, 6]]


def test_too_few_runs_for_the_law():
    runs = load_runs(table().iloc[:3])
    with pytest.raises(RunsError, match="3 runs for a law with 5 parameters"):
        check_runs_for_law(runs, 5, get_law("chinchilla").exponents)


def test_no_spread_says_why_the_exponent_is_not_identified():
    runs = load_runs(table(params=[5e8] * 6))
    with pytest.raises(RunsError, match=r"'n_params'.*exponent 'alpha' cannot be identified"):
        check_runs_for_law(runs, 5, get_law("chinchilla").exponents)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d.assign(loss=d["loss"].astype(object).where(d.index != 3, "x")),
            "row 3, column 'loss': not a number",
        ),
        (lambda d: d.assign(params=d["params"] / 1e6), "wrong unit"),
        (lambda d: d.assign(params=5e8), "cannot be identified"),
        (lambda d: d.iloc[:2], "2 runs for a law with 5 parameters"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys, mutate, message):
    path = tmp_path / "runs.csv"
    mutate(table()).to_csv(path, index=False)
    code = main(["fit", str(path), "--out", str(tmp_path / "f.nc")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
