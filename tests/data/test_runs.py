"""The runs table: recognition, derivation and one documented error per bad input (API and CLI)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from bayes_scaling import ArgumentError, RunsError, RunsWarning, load_runs
from bayes_scaling.cli import main
from bayes_scaling.data.runs import check_runs_for_law
from bayes_scaling.laws import get_law


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
        ("tokens", "lots", "row 2, column 'tokens' (read as 'n_tokens'): not a number: 'lots'"),
        ("params", np.inf, "row 2, column 'params' (read as 'n_params'): infinite value"),
        ("params", -5.0, "row 2, column 'params' (read as 'n_params'): must be > 0"),
        ("tokens", 0.0, "row 2, column 'tokens' (read as 'n_tokens'): must be > 0"),
        ("loss", 0.0, "row 2, column 'loss': must be > 0"),
    ],
)
def test_bad_values_name_row_and_column(column, value, expected):
    df = table()
    df[column] = df[column].astype(object)
    df.loc[2, column] = value
    with pytest.raises(RunsError, match=expected.replace("(", r"\(").replace(")", r"\)")) as err:
        load_runs(df)
    # the message names the table's own header; ``column`` stays the canonical name
    canon = {"tokens": "n_tokens", "params": "n_params"}.get(column, column)
    assert [(p.column, p.source) for p in err.value.problems] == [(canon, column)]


def test_every_problem_is_reported_not_only_the_first():
    df = table().astype(object)
    df.loc[1, "loss"] = -1.0
    df.loc[4, "tokens"] = "?"
    with pytest.raises(RunsError) as err:
        load_runs(df)
    assert len(err.value.problems) == 2


def test_compute_negative_is_an_error():
    df = table(flops=[1e19, 1e19, -1, 1e19, 1e19, 1e19]).drop(columns="tokens")
    with pytest.raises(
        RunsError, match=r"row 2, column 'flops' \(read as 'compute'\): must be > 0"
    ):
        load_runs(df)


def test_wrong_unit_suggests_scale_option():
    df = table(params=[100, 200, 400, 800, 1600, 3200])
    with pytest.raises(
        RunsError, match=r"row 0, column 'params' \(read as 'n_params'\).*wrong unit.*scale="
    ):
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


def test_rival_columns_with_the_same_values_are_no_choice():
    # run_id and run, or compute and training_flops, that agree: the canonical name is used
    df = table()
    df["n_params"] = df["params"]
    runs = load_runs(df)
    np.testing.assert_array_equal(runs["n_params"], df["params"])
    df["n_params"] = df["params"] * (1 + 1e-6)  # they disagree: a choice to make
    with pytest.raises(RunsError, match="both 'params' and 'n_params'"):
        load_runs(df)


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


# --- every malformed table is a RunsError naming where, with the fix ----------------------------


@pytest.mark.parametrize(
    ("content", "suffix", "expected"),
    [
        ("", ".csv", "'runs.csv' is empty: no header and no rows"),
        ("\n\n", ".csv", "is empty"),
        ("params,tokens,loss\n", ".csv", "no rows"),
        ("", ".jsonl", "no columns"),
        (b"\x89\xff\x00garbage", ".csv", "not UTF-8 text"),
        (b"PAR1garbage", ".parquet", "cannot read 'runs.parquet' as Parquet"),
        ('{"params": 1e8}\nnot json\n', ".jsonl", "cannot read 'runs.jsonl' as JSON lines"),
        ('params,tokens,loss\n"1e8,2e9,3.1\n', ".csv", "cannot read 'runs.csv' as CSV"),
        ("params,tokens,loss\n1e8,2e9,3.1,7\n2e8,4e9,3.0,7\n", ".csv", "row 0: rows of"),
        ("params,tokens,loss\n1e8,2e9,3.1\n", ".xlsx", "use a .csv, .parquet or .jsonl"),
    ],
)
def test_unreadable_and_empty_files(tmp_path, content, suffix, expected):
    path = tmp_path / f"runs{suffix}"
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    with pytest.raises(RunsError, match=re.escape(expected)):
        load_runs(path)


def test_header_only_parquet_and_paths_that_are_not_files(tmp_path):
    table().iloc[:0].to_parquet(tmp_path / "runs.parquet")
    with pytest.raises(RunsError, match="no rows; add one row per training run"):
        load_runs(tmp_path / "runs.parquet")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(RunsError, match="is a folder"):
        load_runs(tmp_path / "dir.csv")
    with pytest.raises(RunsError, match="no such file"):
        load_runs(tmp_path / "missing.csv")


def test_repeated_columns_are_named_in_frames_and_csv(tmp_path):
    df = pd.concat([table(), table()[["loss"]]], axis=1)
    with pytest.raises(RunsError, match=r"column 'loss': appears 2 times \(columns 2, 3\)"):
        load_runs(df)
    path = tmp_path / "runs.csv"
    path.write_text("params,tokens,loss,loss\n1e8,2e9,3.1,3.2\n2e8,4e9,3.0,3.1\n")
    with pytest.raises(RunsError, match="column 'loss': appears 2 times"):  # not "loss.1"
        load_runs(path)


def test_an_explicit_map_wins_over_a_recognised_name():
    runs = load_runs(table(val_loss_c4=[3.0] * 6), loss="val_loss_c4")
    assert runs["loss"].tolist() == [3.0] * 6
    with pytest.raises(RunsError, match="column 'params': mapped to both 'n_params' and 'loss'"):
        load_runs(table(), n_params="params", loss="params")


def test_transposed_table_and_title_line_say_so(tmp_path):
    with pytest.raises(RunsError, match=r"column 'index': holds names like .*looks transposed"):
        load_runs(table().T.reset_index())
    path = tmp_path / "runs.csv"
    table().T.to_csv(path)
    with pytest.raises(RunsError, match="looks transposed"):
        load_runs(path)
    titled = pd.concat(
        [
            pd.DataFrame([table().columns], columns=["a", "b", "c"]),
            table().set_axis(["a", "b", "c"], axis=1).astype(object),
        ]
    )
    with pytest.raises(RunsError, match="row 0: holds names like .*not on the first line"):
        load_runs(titled)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "row 2, column 'loss': not a number: True is a boolean"),
        (pd.Timestamp("2024-01-01"), "row 2, column 'loss': not a number: Timestamp"),
        ([3.0], "row 2, column 'loss': not a number: list [3.0]"),
        (complex(3, 1), "row 2, column 'loss': not a real number"),
        ("  ", "row 2, column 'loss': missing value (empty text)"),
        (10**400, "row 2, column 'loss': not a usable number"),
    ],
)
def test_cells_that_are_not_numbers(value, expected):
    df = table()
    df["loss"] = df["loss"].astype(object)
    df.at[2, "loss"] = value
    with pytest.raises(RunsError, match=re.escape(expected)):
        load_runs(df)


def test_boolean_and_list_columns():
    with pytest.raises(
        RunsError, match=r"column 'params' \(read as 'n_params'\): not a number: True is a boolean"
    ):
        load_runs(table(params=[True] * 6))
    with pytest.raises(RunsError, match="row 0, column 'group': list .* is not a name"):
        load_runs(table(group=[[i] for i in range(6)]))


def test_numbers_as_text_are_read():
    runs = load_runs(table().astype(str))
    assert runs["n_params"].iloc[0] == 1e8


def test_many_bad_rows_are_counted_not_all_listed():
    df = pd.concat([table()] * 5, ignore_index=True).assign(loss=np.nan)
    with pytest.raises(RunsError) as err:
        load_runs(df)
    assert len(err.value.problems) == 11 and "and 20 more rows" in str(err.value)


def test_the_count_of_more_bad_rows_names_the_tables_header_too():
    df = pd.concat([table()] * 2, ignore_index=True).astype(object).assign(tokens="x")
    with pytest.raises(RunsError) as err:
        load_runs(df)
    last = str(err.value.problems[-1])
    assert last == "column 'tokens' (read as 'n_tokens'): and 2 more rows with problems like these"


def test_derived_compute_that_overflows_is_an_error():
    with pytest.raises(RunsError, match=r"column 'compute': is inf as derived"):
        load_runs(table(params=[1e300] * 6, tokens=[1e300] * 6))
    with pytest.raises(RunsError, match=r"column 'n_tokens': is .* as derived"):
        load_runs(table(flops=[1e12] * 6).drop(columns="tokens"))  # D = C / 6N < 1e4


def test_unit_mistakes_in_a_usable_table_warn():
    with pytest.warns(
        RunsWarning, match=r"column 'flops' \(read as 'compute'\).*1e\+06x.*factor near 1e6"
    ):
        load_runs(table(flops=6e6 * table()["params"] * table()["tokens"]))
    with pytest.warns(
        RunsWarning, match=r"row 0, column 'tokens' \(read as 'n_tokens'\).*D/N below"
    ):
        load_runs(table(tokens=[2e4] * 6))
    with pytest.warns(RunsWarning, match=r"column 'loss'.*perplexities"):
        load_runs(table(loss=[30.0, 28, 26, 24, 22, 21]))


def test_a_single_run_loads_but_cannot_fit_a_law():
    runs = load_runs(table().iloc[:1])
    with pytest.raises(RunsError, match="1 run for a law with 5 parameters"):
        check_runs_for_law(runs, 5, get_law("chinchilla").exponents)


def test_bad_arguments_are_argument_errors():
    with pytest.raises(ArgumentError, match=r"scale\['n_params'\]: must be positive"):
        load_runs(table(), scale={"n_params": -1})
    with pytest.raises(ArgumentError, match="scale: unknown column 'N'"):
        load_runs(table(), scale={"N": 1e6})
    with pytest.raises(ArgumentError, match="flops_per_param_token"):
        load_runs(table(), flops_per_param_token=0)
    with pytest.raises(ArgumentError, match="source: expected a path"):
        load_runs([1, 2, 3])
