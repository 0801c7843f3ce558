"""Tests of bayes_scaling.data.datasets on the reference tables in ../shared/data (never copied
here).

No test touches the network: downloads are replaced by functions that return bytes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.data import datasets
from bayes_scaling.data.datasets import DatasetError, chinchilla, datablations, demo, gemstones
from bayes_scaling.errors import BayesScalingError

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CHINCHILLA_CSV = "chinchilla-epoch/svg_extracted_data.csv"
COOL_END = "gemstones/wandb_df_for_fitting_cool_end.jsonl"
ignore_replicates = pytest.mark.filterwarnings("ignore::bayes_scaling.errors.RunsWarning")


@pytest.fixture
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip("reference data ../shared/data is absent")
    return DATA


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail loudly if anything tries to reach the network; start without BAYES_SCALING_DATA."""

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.delenv(datasets.ENV_VAR, raising=False)


@pytest.fixture
def cache(monkeypatch, tmp_path) -> Path:
    """An empty folder as BAYES_SCALING_DATA."""
    folder = tmp_path / "cache"
    folder.mkdir()
    monkeypatch.setenv(datasets.ENV_VAR, str(folder))
    return folder


def test_demo():
    if not (resources.files("bayes_scaling") / "data" / "demo_runs.csv").is_file():
        pytest.skip("bayes_scaling/data/demo_runs.csv is absent")
    runs = demo()
    assert len(runs) > 0
    assert {"run_id", "n_params", "n_tokens", "compute", "loss"} <= set(runs.columns)


def test_chinchilla_rows_and_column_map(data_dir):
    raw = pd.read_csv(data_dir / CHINCHILLA_CSV)
    runs = chinchilla(data_dir)
    assert len(runs) == 245
    np.testing.assert_array_equal(runs["n_params"], raw["Model Size"])
    np.testing.assert_array_equal(runs["compute"], raw["Training FLOP"])
    np.testing.assert_array_equal(runs["loss"], raw["loss"])
    np.testing.assert_allclose(
        runs["n_tokens"], runs["compute"] / (6 * runs["n_params"]), rtol=1e-12
    )


def test_chinchilla_accepts_the_file_itself(data_dir):
    assert len(chinchilla(data_dir / CHINCHILLA_CSV)) == 245


def test_chinchilla_drop_highest_drops_the_highest_losses(data_dir):
    raw = pd.read_csv(data_dir / CHINCHILLA_CSV)
    runs = chinchilla(data_dir, drop_highest=5)
    assert len(runs) == 240
    highest = np.sort(raw["loss"].to_numpy())[-5:]
    assert runs["loss"].max() < highest.min()
    np.testing.assert_array_equal(np.sort(runs["loss"]), np.sort(raw["loss"])[:-5])
    # a run keeps its name (its row in the file) when others are dropped
    every = chinchilla(data_dir).set_index("run_id")
    assert runs["run_id"].is_unique and every.index[0] == "run0"
    np.testing.assert_array_equal(runs["loss"], every.loc[runs["run_id"], "loss"])


@pytest.mark.parametrize("bad", [-1, 245, 2.5, True, "5"])
def test_chinchilla_drop_highest_rejects_bad_values(data_dir, bad):
    with pytest.raises(DatasetError, match="drop_highest"):
        chinchilla(data_dir, drop_highest=bad)


@ignore_replicates
@pytest.mark.parametrize(
    ("subset", "rows", "file"),
    [
        ("fit182", 182, "datablations_c4_fit182.csv"),
        ("all", 296, "datablations_c4_runs.csv"),
    ],
)
def test_datablations_rows_and_column_map(data_dir, subset, rows, file):
    raw = pd.read_csv(data_dir / "datablations" / file)
    runs = datablations(data_dir, subset=subset)
    assert len(runs) == rows
    assert list(runs["run_id"]) == list(raw["run_name"])
    np.testing.assert_array_equal(runs["n_params"], raw["params"])
    np.testing.assert_array_equal(runs["n_tokens"], raw["tokens"])
    np.testing.assert_array_equal(runs["unique_tokens"], raw["unique_tokens"])
    np.testing.assert_array_equal(runs["loss"], raw["val_loss_c4"])
    np.testing.assert_allclose(runs["epochs"], runs["n_tokens"] / runs["unique_tokens"])
    np.testing.assert_allclose(runs["compute"], 6 * runs["n_params"] * runs["n_tokens"])


def test_a_file_given_with_another_choice_is_refused(data_dir):
    # the file would be read as the choice asked for, silently
    fit182 = data_dir / "datablations" / "datablations_c4_fit182.csv"
    with pytest.raises(DatasetError, match="holds the subset 'fit182', not 'all'"):
        datablations(fit182, subset="all")
    assert len(datablations(fit182)) == 182  # the file of the choice: read as given
    cool = data_dir / "gemstones" / "wandb_df_for_fitting_cool_end.jsonl"
    with pytest.raises(DatasetError, match="holds the variant 'cool_end', not 'hot_100b\\+'"):
        gemstones(cool, variant="hot_100b+")


@pytest.mark.parametrize(("variant", "rows"), [("cool_end", 199), ("hot_100b+", 770)])
def test_gemstones_rows_and_column_map(data_dir, variant, rows):
    raw = pd.read_json(data_dir / f"gemstones/wandb_df_for_fitting_{variant}.jsonl", lines=True)
    runs = gemstones(data_dir, variant=variant)
    assert len(runs) == rows
    np.testing.assert_array_equal(runs["n_params"], raw["params_active_precise"])
    np.testing.assert_array_equal(runs["n_tokens"], raw["tokens"])
    np.testing.assert_array_equal(runs["loss"], raw["final_loss"])
    np.testing.assert_array_equal(runs["width"], raw["width"])
    np.testing.assert_array_equal(runs["depth"], raw["depth"])
    np.testing.assert_allclose(runs["compute"], 6 * runs["n_params"] * runs["n_tokens"])
    assert list(runs["run_id"]) == list(raw["run_name"])
    assert runs.attrs["flops_per_param_token"] == 6.0  # load_runs' attrs survive the extras


def test_unknown_subset_and_variant(data_dir):
    with pytest.raises(DatasetError, match="fit182"):
        datablations(data_dir, subset="fit183")
    with pytest.raises(DatasetError, match="cool_end"):
        gemstones(data_dir, variant="cool_begin")


def test_path_without_the_file_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match="chinchilla-epoch/svg_extracted_data.csv"):
        chinchilla(tmp_path)
    with pytest.raises(DatasetError):
        chinchilla(tmp_path / "nowhere.csv")


def test_env_folder_is_used(data_dir, cache, monkeypatch):
    # A 50-line copy, so the row count proves which file was read.
    (cache / "gemstones").mkdir()
    lines = (data_dir / COOL_END).read_text().splitlines(keepends=True)[:50]
    (cache / COOL_END).write_text("".join(lines))
    monkeypatch.setattr(datasets, "_fetch", lambda url, timeout=None: pytest.fail("downloaded"))
    assert len(gemstones()) == 50


def test_download_is_verified_saved_and_reused(data_dir, cache, monkeypatch):
    urls = []

    def fake_fetch(url, timeout=None):
        urls.append(url)
        return (data_dir / CHINCHILLA_CSV).read_bytes()

    monkeypatch.setattr(datasets, "_fetch", fake_fetch)
    assert len(chinchilla(drop_highest=5)) == 240
    assert len(chinchilla()) == 245  # from the cache: no second download
    assert urls == [
        "https://raw.githubusercontent.com/epoch-research/analyzing-chinchilla/"
        "92258837425e1b5f2851d624287f0120583a3d0e/data/svg_extracted_data.csv"
    ]
    assert (cache / CHINCHILLA_CSV).read_bytes() == (data_dir / CHINCHILLA_CSV).read_bytes()


def test_default_cache_is_home_cache(data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(
        datasets, "_fetch", lambda url, timeout=None: (data_dir / COOL_END).read_bytes()
    )
    assert len(gemstones()) == 199
    assert (tmp_path / ".cache" / "bayes_scaling" / COOL_END).is_file()


def test_checksum_mismatch_raises_and_saves_nothing(cache, monkeypatch):
    monkeypatch.setattr(datasets, "_fetch", lambda url, timeout=None: b"x,y\n1,2\n")
    with pytest.raises(DatasetError, match="SHA-256 mismatch") as info:
        chinchilla()
    assert "path=" in str(info.value) and datasets.ENV_VAR in str(info.value)
    assert list(cache.rglob("*")) == []  # neither the file nor a temporary file


def test_offline_download_names_the_url_and_the_way_out(cache, monkeypatch):
    def offline(url, timeout=None):
        assert timeout is not None
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DatasetError) as info:
        gemstones(variant="hot_100b+")
    message = str(info.value)
    assert (
        "https://raw.githubusercontent.com/mcleish7/gemstone-scaling-laws/"
        "5f420478f6057b0cbb4d13405fb10ca64675bccb/wandb_dfs/"
        "wandb_df_for_fitting_hot_100b+.jsonl"
    ) in message
    assert "name resolution" in message
    assert "path=" in message and datasets.ENV_VAR in message
    assert isinstance(info.value, BayesScalingError) and isinstance(info.value, OSError)


# --- datablations download: a stand-in notebook with the real notebook's layout ----------------
# The notebook's lookup tables (cells 1 and 25 of utils/parametric_fit.ipynb); the run names and
# losses come from the shared CSVs at test time.
TOKENS_MAP = {
    "100m": 0.1,
    "200m": 0.2,
    "400m": 0.4,
    "800m": 0.8,
    "1b25": 1.25,
    "1b5": 1.5,
    "1b9": 1.9,
    "2b7": 2.7,
    "2b8": 2.8,
    "3b9": 3.9,
    "4b": 4,
    "5b9": 5.9,
    "7b5": 7.5,
    "13b": 13,
    "14b": 14,
    "20b": 20,
    "174b": 174,
    "178b": 178,
}
PARAMS_MAP = {
    "7m": 7.098752e06,
    "14m": 1.41e07,
    "20m": 19.703712e06,
    "25m": 35.5e06,
    "44m": 4.4e07,
    "83m": 8.27e07,
    "146m": 1.465e08,
    "196m": 201.236224e06,
    "220m": 2.205e08,
    "221m": 2.205e08,
    "280m": 2.81e08,
    "421m": 4.212e08,
    "574m": 573.7e06,
    "619m": 6.187e08,
    "1b1": 1.0963e09,
    "1b5": 1.5173e09,
    "2b2": 2.160013824e09,
    "2b8": 2.81e09,
    "3b8": 3.581186048e09,
    "3b9": 3.89971072e09,
    "4b2": 4.2465e09,
    "8b7": 8.67e09,
}


def _notebook(data_dir: Path, tamper: bool = False) -> bytes:
    def cell(cell_id, file):
        table = pd.read_csv(data_dir / "datablations" / file)
        lines = [
            "### DATA POINTS ###\n",
            "NAMES_TO_VAL_LOSSES = {\n",
            '    # "2b855b55bdedup": 2.758145E+00,\n',  # skipped: a comment,
            '    "146m1b5100mdedup": 4.169387E+00,\n',  # deduplicated data,
            '    "3b926b400m": 0, # unfinished\n',
        ]  # and a loss of 0
        lines += [
            f'    "{name}": {loss!r},\n'
            for name, loss in zip(table["run_name"], table["val_loss_c4"], strict=True)
        ]
        if tamper:
            lines[-1] = lines[-1].replace(": ", ": 1")
        lines += ["}\n", f"TOKENS_MAP = {TOKENS_MAP!r}\n", f"PARAMS_MAP = {PARAMS_MAP!r}\n"]
        return {"cell_type": "code", "metadata": {"id": cell_id}, "source": lines}

    cells = [
        {"cell_type": "markdown", "metadata": {"id": "x"}, "source": ["#### Data"]},
        cell("sA3I2JBybBiA", "datablations_c4_runs.csv"),
        cell("rxDZjkRujyqy", "datablations_c4_fit182.csv"),
    ]
    return json.dumps({"nbformat": 4, "cells": cells}, indent=1).encode()


@ignore_replicates
def test_datablations_download_parses_the_notebook_exactly(data_dir, cache, monkeypatch):
    urls = []
    monkeypatch.setattr(
        datasets, "_fetch", lambda url, timeout=None: urls.append(url) or _notebook(data_dir)
    )
    assert len(datablations(subset="all")) == 296
    assert len(datablations(subset="fit182")) == 182  # saved by the first download
    assert urls == [
        "https://raw.githubusercontent.com/huggingface/datablations/"
        "13701315b163f1c54642b94ad237b2699187c3ee/utils/parametric_fit.ipynb"
    ]
    for file in ("datablations_c4_runs.csv", "datablations_c4_fit182.csv"):
        saved = (cache / "datablations" / file).read_bytes()
        assert saved == (data_dir / "datablations" / file).read_bytes()
        assert hashlib.sha256(saved).hexdigest() in {
            s.sha256 for s in datasets._DATABLATIONS.values()
        }


def test_datablations_download_with_changed_values_is_refused(data_dir, cache, monkeypatch):
    monkeypatch.setattr(
        datasets, "_fetch", lambda url, timeout=None: _notebook(data_dir, tamper=True)
    )
    with pytest.raises(DatasetError, match="SHA-256 mismatch"):
        datablations()
    assert not (cache / "datablations" / "datablations_c4_fit182.csv").exists()


def test_datablations_download_of_another_file_is_a_parse_error(cache, monkeypatch):
    monkeypatch.setattr(datasets, "_fetch", lambda url, timeout=None: b'{"cells": []}')
    with pytest.raises(DatasetError, match="cannot parse"):
        datablations()


def test_offline_datablations_message(cache, monkeypatch):
    def offline(url, timeout=None):
        raise TimeoutError("timed out")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DatasetError, match="parametric_fit.ipynb") as info:
        datablations()
    assert "path=" in str(info.value) and datasets.ENV_VAR in str(info.value)


@ignore_replicates
def test_env_folder_copy_of_shared_layout(data_dir, cache):
    shutil.copytree(data_dir / "datablations", cache / "datablations")
    assert len(datablations(subset="all")) == 296


def test_demo_reads_the_packaged_file(monkeypatch, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "demo_runs.csv").write_text(
        "run_id,n_params,n_tokens,compute,loss\na,1e8,2e9,1.2e18,3.1\nb,4e8,8e9,1.92e19,2.8\n"
    )
    monkeypatch.setattr(datasets.resources, "files", lambda package: tmp_path)
    assert list(demo()["run_id"]) == ["a", "b"]
    (tmp_path / "data" / "demo_runs.csv").unlink()
    with pytest.raises(DatasetError, match="demo_runs.csv"):
        demo()
