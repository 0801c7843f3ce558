"""Property tests: every malformed runs table is a RunsError naming its row or column, never a
pandas / numpy / pyarrow traceback; a usable but suspicious one loads with RunsWarnings only.

Hypothesis generates about 1,300 tables (derandomized, so CI sees the same ones every run): as
DataFrames, as CSV / Parquet / JSON-lines files, and as damaged files (truncated, random bytes).
``load_runs`` does not sample, so the whole file takes seconds.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayes_scaling.data.runs import ALIASES, CANONICAL, check_runs_for_law, load_runs
from bayes_scaling.errors import RunsError, RunsWarning
from bayes_scaling.laws import get_law

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
CHINCHILLA = get_law("chinchilla")
WHERE = re.compile(r"\b(rows?|columns?)\b")
ALL_ALIASES = {name for names in ALIASES.values() for name in names}
NUMERIC_ROLES = ("n_params", "tokens_or_compute", "loss")

#: Cell values that no runs table may hold in a numeric column (each one is fatal).
BAD_CELLS = [
    math.nan,
    None,
    math.inf,
    -math.inf,
    -1.0,
    -3e9,
    0.0,
    -0.0,
    0,
    "",
    " ",
    "abc",
    "1e8x",
    "nan",
    "inf",
    "-inf",
    "1,000",
    "True",
    True,
    False,
    [1.0],
    {"value": 1e8},
    complex(1e8, 1.0),
    pd.Timestamp("2024-01-01"),
    b"1e8",
    pd.NA,
    10**400,
    "1e400",
    np.datetime64("2024-01-01"),
]


# --- generated tables ---------------------------------------------------------------------------


@st.composite
def good_tables(draw, min_rows: int = 2, max_rows: int = 8) -> tuple[pd.DataFrame, dict]:
    """A valid runs table with recognised (but varied) column names, and the name of each role."""
    rows = draw(st.integers(min_rows, max_rows))
    log_n = draw(st.lists(st.floats(7.0, 9.5), min_size=rows, max_size=rows).map(sorted))
    ratio = draw(st.lists(st.floats(5.0, 200.0), min_size=rows, max_size=rows))
    n = np.round(10.0 ** np.asarray(log_n))
    d = np.round(n * np.asarray(ratio))
    loss = 1.7 + 400 / n**0.34 + 400 / d**0.28
    names = {
        "n_params": draw(st.sampled_from(["params", "n_params", "N", "Parameters", "model size"])),
        "loss": draw(st.sampled_from(["loss", "final_loss", "Val Loss"])),
    }
    use_compute = draw(st.booleans())
    if use_compute:
        names["tokens_or_compute"] = draw(st.sampled_from(["compute", "FLOPs", "training_flop"]))
        third = 6.0 * n * d
    else:
        names["tokens_or_compute"] = draw(st.sampled_from(["tokens", "n_tokens", "D"]))
        third = d
    data = {
        names["n_params"]: n,
        names["tokens_or_compute"]: third,
        names["loss"]: loss,
    }
    if draw(st.booleans()):
        names["run_id"] = draw(st.sampled_from(["run_id", "name", "run"]))
        data[names["run_id"]] = [f"r{i}" for i in range(rows)]
    if draw(st.booleans()):
        names["group"] = "group"
        data["group"] = draw(
            st.lists(st.sampled_from(["a", "b", 1, 2.5]), min_size=rows, max_size=rows)
        )
    df = pd.DataFrame(data)
    order = draw(st.permutations(list(df.columns)))
    return df[list(order)], names


def _junk_name(text: str) -> str:
    name = f"notes {text}"
    return (
        name if name.strip().lower().replace(" ", "_").replace("-", "_") not in ALL_ALIASES else "x"
    )


@st.composite
def benign(draw, table: pd.DataFrame, names: dict) -> tuple[pd.DataFrame, dict]:
    """Changes that keep a table usable: junk columns, spacing, replicates, C in another unit."""
    df = table.copy()
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(
            st.sampled_from(
                ["junk", "junk_text", "case", "replicate", "c_unit", "as_text", "label"]
            )
        )
        if kind == "junk":
            df[_junk_name(draw(st.text(max_size=5)))] = draw(
                st.lists(
                    st.one_of(
                        st.none(), st.floats(allow_nan=True), st.text(max_size=4), st.booleans()
                    ),
                    min_size=len(df),
                    max_size=len(df),
                )
            )
        elif kind == "junk_text":
            df[draw(st.sampled_from([0, 7, ("a", "b"), "Unnamed: 9"]))] = "x"
        elif kind == "case":
            col = names["loss"]
            new = draw(st.sampled_from([col.upper(), f" {col} ", col.replace(" ", "-")]))
            if new not in df.columns:
                df = df.rename(columns={col: new})
                names = {**names, "loss": new}
        elif kind == "replicate" and len(df):
            df = pd.concat([df, df.iloc[[0]]], ignore_index=True)
        elif kind == "c_unit":
            n, third = df[names["n_params"]].astype(float), names["tokens_or_compute"]
            if third.lower() in ("tokens", "n_tokens", "d"):
                df["compute"] = (
                    6.0 * n * df[third].astype(float) * draw(st.sampled_from([1e3, 1e6, 1e-2]))
                )
        elif kind == "as_text":
            col = draw(st.sampled_from(NUMERIC_ROLES))
            df[names[col]] = [f" {float(v)!r}" for v in df[names[col]]]
        elif kind == "label":
            df = df.set_axis(pd.Index(list(df.columns), name="columns"), axis=1)
    return df, names


def _fatal_cell(draw, df: pd.DataFrame, names: dict) -> pd.DataFrame:
    col = names[draw(st.sampled_from(NUMERIC_ROLES))]
    rows = draw(st.lists(st.integers(0, len(df) - 1), min_size=1, max_size=3))
    df[col] = df[col].astype(object)
    for row in rows:
        df.iat[row, df.columns.get_loc(col)] = draw(st.sampled_from(BAD_CELLS))
    return df


@st.composite
def malformed(draw) -> tuple[pd.DataFrame, str, dict]:
    """A table that cannot be used (a RunsError is the only right answer), and what is wrong."""
    table, names = draw(good_tables())
    df, names = draw(benign(table, names))
    kind = draw(
        st.sampled_from(
            [
                "cell",
                "cells_column",
                "bool_column",
                "drop",
                "rename",
                "duplicate",
                "rival",
                "transpose",
                "no_rows",
                "no_columns",
                "n_unit",
                "d_unit",
                "overflow",
                "list_group",
                "title_row",
            ]
        )
    )
    if kind == "cell":
        df = _fatal_cell(draw, df.copy(), names)
    elif kind == "cells_column":
        col = names[draw(st.sampled_from(NUMERIC_ROLES))]
        df[col] = draw(st.lists(st.sampled_from(BAD_CELLS), min_size=len(df), max_size=len(df)))
    elif kind == "bool_column":
        col = names[draw(st.sampled_from(NUMERIC_ROLES))]
        df[col] = draw(st.lists(st.booleans(), min_size=len(df), max_size=len(df)))
    elif kind == "drop":
        df = df.drop(columns=names[draw(st.sampled_from(NUMERIC_ROLES))])
        df = df.drop(columns=[c for c in df.columns if c == "compute"])  # the C of "c_unit"
    elif kind == "rename":
        role = draw(st.sampled_from(NUMERIC_ROLES))
        new = draw(
            st.text(min_size=1, max_size=12).filter(
                lambda s: s.strip().lower().replace(" ", "_").replace("-", "_") not in ALL_ALIASES
            )
        )
        df = df.drop(columns=[c for c in df.columns if c == "compute" and c != names[role]])
        if new in df.columns:
            new = new + "_renamed"
        df = df.rename(columns={names[role]: new})
    elif kind == "duplicate":
        col = names[draw(st.sampled_from(NUMERIC_ROLES))]
        df = pd.concat([df, df[[col]]], axis=1)
    elif kind == "rival":
        role = draw(st.sampled_from(["n_params", "loss"]))
        rival = next(
            a
            for a in ("n_params", "params", "num_params", "loss", "final_loss")
            if a in ALIASES[role] and _norm(a) != _norm(names[role])
        )
        # a rival with other values (one with the same values is no choice: it loads)
        df[rival] = pd.to_numeric(df[names[role]], errors="coerce") * 2.0
    elif kind == "transpose":
        df = df.T.reset_index()
    elif kind == "no_rows":
        df = df.iloc[:0]
    elif kind == "no_columns":
        df = df[[]]
    elif kind == "n_unit":
        col = names["n_params"]
        df[col] = pd.to_numeric(df[col], errors="coerce") / draw(st.sampled_from([1e6, 1e9]))
    elif kind == "d_unit":
        col = names["tokens_or_compute"]
        df = df.drop(columns=[c for c in df.columns if c == "compute" and c != col])
        factors = [1e15, 1e18] if _norm(col) in ALIASES["compute"] else [1e9, 1e15]
        df[col] = pd.to_numeric(df[col], errors="coerce") / draw(st.sampled_from(factors))
    elif kind == "overflow":
        col = names["n_params"]
        df[col] = draw(st.sampled_from([1e300, 1e308, 1.7e308]))
        third = names["tokens_or_compute"]
        df[third] = 1e300
        df = df.drop(columns=[c for c in df.columns if c == "compute" and c != third])
    elif kind == "list_group":
        df["group"] = [[i] for i in range(len(df))]
    elif kind == "title_row":
        header = pd.DataFrame(
            [list(map(str, df.columns))], columns=[f"c{i}" for i in range(df.shape[1])]
        )
        body = df.set_axis([f"c{i}" for i in range(df.shape[1])], axis=1).astype(object)
        df = pd.concat([header, body], ignore_index=True)
    return df, kind, names


def _norm(name) -> str:
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


# --- the contract -------------------------------------------------------------------------------


def assert_names_where(err: RunsError, path: Path | None = None) -> None:
    assert err.problems, err
    message = str(err)
    assert "\n" not in message and "Traceback" not in message
    for problem in err.problems:
        named = problem.row is not None or problem.column is not None
        said = WHERE.search(problem.message) or (path is not None and path.name in problem.message)
        assert named or said, f"problem names no row, column or file: {problem}"


def load_checked(source, **kwargs) -> tuple[pd.DataFrame | None, RunsError | None]:
    """load_runs, asserting its contract: a RunsError that names where, or a clean table with
    RunsWarnings only."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            runs = load_runs(source, **kwargs)
        except RunsError as err:
            assert_names_where(err, source if isinstance(source, Path) else None)
            return None, err
    others = [w for w in caught if not issubclass(w.category, RunsWarning)]
    assert not others, [f"{w.category.__name__}: {w.message}" for w in others]
    for w in caught:
        assert WHERE.search(str(w.message)), str(w.message)
    assert list(runs.columns)[:1] == ["run_id"] and set(runs.columns) <= set(CANONICAL)
    for col in ("n_params", "n_tokens", "compute", "loss"):
        values = runs[col].to_numpy(float)
        assert np.all(np.isfinite(values) & (values > 0)), (col, values)
    return runs, None


def _write(df: pd.DataFrame, path: Path, fmt: str) -> bool:
    """Write ``df`` as ``fmt``; returns False when the writer needed a lossy fallback."""
    if fmt == "csv":
        df.to_csv(path, index=False)
        return True
    if fmt == "parquet":
        try:
            df.to_parquet(path, index=False)
            return True
        except Exception:  # noqa: BLE001 - pyarrow cannot store every odd DataFrame
            fixed = df.copy()
            fixed.columns = [
                f"{c}" if list(map(str, df.columns)).count(str(c)) == 1 else f"{c}.{i}"
                for i, c in enumerate(df.columns)
            ]
            fixed = fixed.astype({c: str for c in fixed.columns if fixed[c].dtype == object})
            fixed.to_parquet(path, index=False)
            return False
    try:
        df.to_json(path, orient="records", lines=True)
        return True
    except Exception:  # noqa: BLE001 - duplicate names, complex numbers, bytes...
        with path.open("w") as fh:
            for row in df.itertuples(index=False):
                pairs = ", ".join(
                    f"{json.dumps(str(k))}: {json.dumps(v, default=str)}"
                    for k, v in zip(df.columns, row, strict=True)
                )
                fh.write("{" + pairs + "}\n")
        return False


# --- tests --------------------------------------------------------------------------------------


@settings(FUZZ, max_examples=300)
@given(malformed())
def test_malformed_dataframes_raise_runs_error(case):
    df, kind, _ = case
    runs, err = load_checked(df)
    assert err is not None, f"{kind}: a malformed table loaded:\n{df}\n{runs}"


@settings(FUZZ, max_examples=200)  # each a file written and read back
@given(malformed(), st.sampled_from(["csv", "parquet", "jsonl"]))
def test_malformed_files_raise_runs_error(tmp_path_factory, case, fmt):
    df, kind, _ = case
    path = tmp_path_factory.getbasetemp() / f"fuzz.{fmt}"
    native = _write(df, path, fmt)
    runs, err = load_checked(path)
    # CSV keeps every fault but a list cell (its text "[0]" is a fine group name); Parquet and
    # JSON lines may also turn an odd cell into a number (a date into epoch milliseconds)
    if kind != "list_group" and (fmt == "csv" or (native and kind not in ("cell", "cells_column"))):
        assert err is not None, f"{kind}: a malformed {fmt} file loaded:\n{df}\n{runs}"


@settings(FUZZ, max_examples=150)
@given(good_tables(), st.data())
def test_usable_tables_load_with_runs_warnings_only(tables, data):
    table, names = tables
    df, _ = data.draw(benign(table, names))
    runs, err = load_checked(df)
    assert err is None, err
    assert len(runs) == len(df)


@settings(FUZZ, max_examples=100)
@given(good_tables(min_rows=1, max_rows=4), st.sampled_from(["frame", "csv", "jsonl"]))
def test_too_few_runs_for_the_law_is_a_runs_error(tmp_path_factory, tables, where):
    table, _ = tables
    source = table
    if where != "frame":
        source = tmp_path_factory.getbasetemp() / f"few.{where}"
        _write(table, source, where)
    runs, err = load_checked(source)
    assert err is None, err
    with pytest.raises(RunsError) as info:
        check_runs_for_law(
            runs, len(CHINCHILLA.params), CHINCHILLA.exponents, inputs=CHINCHILLA.inputs
        )
    assert_names_where(info.value)
    assert f"{len(runs)} run" in str(info.value)


@settings(FUZZ, max_examples=200)
@given(
    st.sampled_from([".csv", ".parquet", ".jsonl", ".csv.gz", ".pq", ".txt", ".xlsx", ""]),
    st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(str.encode),
        st.sampled_from([b"", b"\n", b"\n\n", b",,,\n,,,\n", b"{}\n{}\n", b"[1, 2]\n", b"null\n"]),
    ),
    st.integers(0, 400),
)
def test_damaged_files_raise_runs_error(tmp_path_factory, suffix, garbage, cut):
    folder = tmp_path_factory.getbasetemp()
    good = folder / f"good{suffix}"
    table = pd.DataFrame(
        {"params": [1e8, 2e8, 4e8], "tokens": [2e9, 4e9, 8e9], "loss": [3.1, 3.0, 2.9]}
    )
    if suffix in (".parquet", ".pq"):
        table.to_parquet(good)
    else:
        good.write_bytes(table.to_csv(index=False).encode())
    for data in (garbage, good.read_bytes()[:cut], good.read_bytes()[:cut] + garbage):
        path = folder / f"damaged{suffix}"
        path.write_bytes(data)
        load_checked(path)


def test_paths_that_are_not_tables(tmp_path):
    (tmp_path / "folder.csv").mkdir()
    for path in (
        tmp_path / "missing.csv",
        tmp_path / "folder.csv",
        tmp_path,
        tmp_path / "a\x00b.csv",
    ):
        with pytest.raises(RunsError):
            load_runs(path)
