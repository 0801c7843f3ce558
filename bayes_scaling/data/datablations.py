"""Parse the datablations runs tables out of the authors' notebook (Muennighoff et al. 2023).

The runs of "Scaling Data-Constrained Language Models" are not published as a table: they are
Python dicts in ``utils/parametric_fit.ipynb`` of huggingface/datablations. This restates the
notebook's own parsing code (cells 2 and 26): run names such as ``"146m14b400m"`` encode N, D and
the unique tokens U.
"""

from __future__ import annotations

import ast
import json

import pandas as pd

# Notebook cells (by their Colab id) holding the data: cell 1 has every run, cell 25 the cleaned
# set. Only cell 2's parser strips the seed/opt/c4/v2 suffixes from the names.
_CELL_IDS = {"all": "sA3I2JBybBiA", "fit182": "rxDZjkRujyqy"}
_STRIP = ("op2", "seed1", "seed2", "seed3", "seed4", "opt1", "opt", "c4", "v2")


def _billions(text: str, tokens_map: dict) -> float:
    value = tokens_map[text] if text in tokens_map else float(text.replace("b", ".").strip("."))
    return value * 1e9


def _parse_name(name: str, params_map: dict, tokens_map: dict) -> tuple[float, float, float]:
    """(N, D, U) from a run name such as ``"146m14b400m"``: 146M params, 14B tokens, 400M unique."""
    start = 2
    while name[:start] not in params_map:
        start += 1
        if start > len(name):
            raise ValueError(f"no model size of PARAMS_MAP is a prefix of {name!r}")
    end = -4 if name[-1] in ("b", "m") or name[-2] not in ("b", "m") else -3
    while name[end:].count("b") > 1 or name[end:].count("m") > 1:
        end += 1
    unique = _billions(name[end:], tokens_map)
    return params_map[name[:start]], _billions(name[start:end], tokens_map), unique


def _cell_tables(notebook: dict, cell_id: str) -> dict[str, dict]:
    for cell in notebook.get("cells", []):
        if cell.get("metadata", {}).get("id") == cell_id:
            source = cell["source"]
            tree = ast.parse("".join(source) if isinstance(source, list) else source)
            return {
                node.targets[0].id: ast.literal_eval(node.value)
                for node in tree.body
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
            }
    raise ValueError(f"no cell with id {cell_id!r}")


def parse_datablations(notebook_bytes: bytes, subset: str) -> pd.DataFrame:
    """The runs table of ``subset`` ("all" or "fit182") from the notebook's bytes."""
    tables = _cell_tables(json.loads(notebook_bytes.decode("utf-8")), _CELL_IDS[subset])
    params_map, tokens_map = tables["PARAMS_MAP"], tables["TOKENS_MAP"]
    rows = []
    for run_name, loss in tables["NAMES_TO_VAL_LOSSES"].items():
        if loss == 0 or run_name.endswith("dedup"):  # unfinished runs; deduplicated-data runs
            continue
        name = run_name
        if subset == "all":
            for suffix in _STRIP:
                name = name.replace(suffix, "")
        n, d, u = _parse_name(name, params_map, tokens_map)
        row = (
            {"run_name": run_name, "run_name_normalized": name}
            if subset == "all"
            else {"run_name": run_name}
        )
        rows.append(
            {
                **row,
                "params": float(n),
                "tokens": float(d),
                "unique_tokens": float(u),
                "epochs": d / u,
                "val_loss_c4": float(loss),
            }
        )
    return pd.DataFrame(rows)
