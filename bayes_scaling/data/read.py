"""Reading a runs table as it is: a DataFrame, or a CSV, Parquet or JSON-lines file.

:func:`read_table` gives the raw table, before any column is recognised or checked (that is
:func:`bayes_scaling.data.runs.load_runs`). A file that cannot be read raises
:class:`~bayes_scaling.errors.RunsError` naming the file and the fix.
"""

from __future__ import annotations

import warnings
from os import PathLike
from pathlib import Path

import pandas as pd

from bayes_scaling.data.messages import one_line, short
from bayes_scaling.errors import ArgumentError, Problem, RunsError

_READERS = {
    ".csv": "CSV",
    ".csv.gz": "CSV",
    ".parquet": "Parquet",
    ".pq": "Parquet",
    ".jsonl": "JSON lines",
    ".ndjson": "JSON lines",
    ".jsonl.gz": "JSON lines",
}


def read_table(source: str | PathLike | pd.DataFrame, *, text: bool = False) -> pd.DataFrame:
    """A table as it is, from a DataFrame or a ``.csv`` / ``.parquet`` / ``.jsonl`` file.

    Named index levels of a DataFrame (e.g. ``run_id`` after ``set_index``) become columns.
    ``text``: every cell of a CSV as written (``"007"`` stays ``"007"``, ``NA`` a name), only an
    empty cell missing; for tables whose labels are names, the numbers converted by the caller.

    Raises
    ------
    RunsError
        When the file is missing, not a file, of another format, or cannot be parsed.
    ArgumentError
        When ``source`` is neither a path nor a DataFrame.
    """
    if isinstance(source, pd.DataFrame):
        return _index_to_columns(source.copy())
    if isinstance(source, bool) or not isinstance(source, str | PathLike):
        raise ArgumentError(
            "source",
            f"expected a path to a .csv, .parquet or .jsonl file, or a DataFrame; got "
            f"{type(source).__name__} {short(source)}",
        )
    try:
        path = Path(source)
        name = str(path)
        if "\x00" in name:
            raise ValueError("embedded null byte")
        exists, is_dir = path.exists(), path.is_dir()
    except (OSError, ValueError, TypeError) as exc:
        raise RunsError(f"cannot use {str(source)!r} as a file name: {one_line(exc)}") from None
    if not exists:
        raise RunsError(f"no such file: {name!r}")
    if is_dir:
        raise RunsError(f"{name!r} is a folder; give the runs table file inside it")
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    kind = next(
        (
            _READERS[s]
            for s in ("".join(suffixes), suffixes[-1] if suffixes else "")
            if s in _READERS
        ),
        None,
    )
    if kind is None:
        raise RunsError(
            f"cannot read {path.name!r}: use a .csv, .parquet or .jsonl file, or a DataFrame"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", pd.errors.ParserWarning)
            if kind == "CSV":
                df = _read_csv(path, text)
            elif kind == "Parquet":
                df = pd.read_parquet(path)
            else:
                df = pd.read_json(path, lines=True, convert_dates=False)
    except RunsError:
        raise
    except pd.errors.EmptyDataError:
        raise RunsError(
            f"{path.name!r} is empty: no header and no rows; write a header line naming the "
            "columns (for runs: n_params, n_tokens or compute, loss) and one row per record"
        ) from None
    except UnicodeDecodeError as exc:
        raise RunsError(
            f"{path.name!r} is not UTF-8 text (byte {exc.object[exc.start : exc.start + 1]!r} at "
            f"position {exc.start}); save it as UTF-8 {kind}"
        ) from None
    except ImportError as exc:
        raise RunsError(
            f"reading {path.name!r} needs an extra package ({one_line(exc)}); "
            "pip install pyarrow, or save the table as CSV"
        ) from None
    except Exception as exc:  # any reader failure means: not a readable table of this kind
        raise RunsError(
            f"cannot read {path.name!r} as {kind}: {type(exc).__name__}: {one_line(exc)}; "
            f"check that the file is a complete {kind} table"
        ) from None
    if not isinstance(df, pd.DataFrame):  # pragma: no cover - readers return DataFrames
        raise RunsError(f"{path.name!r} did not give a table")
    return _index_to_columns(df)


def _read_csv(path: Path, text: bool = False) -> pd.DataFrame:
    as_text = {"dtype": str, "keep_default_na": False, "na_values": [""]} if text else {}
    df = pd.read_csv(path, low_memory=False, **as_text)
    if not isinstance(df.index, pd.RangeIndex):  # pandas moved the first field(s) to the index
        raise RunsError(
            Problem(
                0,
                None,
                f"rows of {path.name!r} have {df.shape[1] + df.index.nlevels} fields but the "
                f"header names {df.shape[1]} columns; give every column a name in the header "
                "line (and remove any title line above the header)",
            )
        )
    # pandas renames a repeated header name to "name.1"; put the names back as written so that
    # the repeat is reported instead of silently ignored
    header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
    if header.shape[1] == df.shape[1]:
        raw = [str(v) for v in header.iloc[0]]
        df.columns = [r if r.strip() else c for r, c in zip(raw, df.columns, strict=True)]
    return df


def _index_to_columns(df: pd.DataFrame) -> pd.DataFrame:
    names = [n for n in df.index.names if n is not None and n not in set(df.columns)]
    if names and len(names) == df.index.nlevels:
        df = df.reset_index()
    return df
