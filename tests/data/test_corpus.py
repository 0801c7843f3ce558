"""Tests of the calibration-corpus loaders (bayes_scaling.data.ladders) and protocols
(bayes_scaling.data.corpus), on the reference tables in ../shared/data (never copied here).

No sampling, and no network: downloads are replaced by functions that return bytes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.data import datasets, ladders, olmo, olmo_files
from bayes_scaling.data.corpus import (
    DIRECTIONS,
    Ladder,
    corpus,
    corpus_table,
    direction_split,
    multiple,
    multiple_bin,
    split,
)
from bayes_scaling.data.datasets import DatasetError
from bayes_scaling.data.ladders import (
    LOSS_TO_LOSS_CORPORA,
    llama3_isoflops,
    loss_to_loss,
    olmo_ladder,
    olmo_paper_predictions,
    olmo_params,
    olmo_targets,
)
from bayes_scaling.errors import BayesScalingError, RunsError, RunsWarning

SIZES = ("190M", "370M", "760M", "1B", "3B")
MULTIPLES = (0.5, 1.0, 2.0, 5.0, 10.0)
CANONICAL = ["run_id", "n_params", "n_tokens", "compute", "loss"]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail loudly if anything tries to reach the network; start without BAYES_SCALING_DATA."""

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.delenv(datasets.ENV_VAR, raising=False)


def _need(data: Path, folder: str) -> Path:
    if not (data / folder).is_dir():
        pytest.skip(f"reference data {data / folder} is absent (see ../shared/data/README.md)")
    return data


@pytest.fixture
def olmo_data(shared_data) -> Path:
    return _need(shared_data, "olmo-ladder")


@pytest.fixture
def l2l_data(shared_data) -> Path:
    return _need(shared_data, "loss-to-loss")


@pytest.fixture
def llama_data(shared_data) -> Path:
    return _need(shared_data, "llama3-isoflops")


@pytest.fixture
def all_data(shared_data) -> Path:
    folders = ("gemstones", "datablations", "olmo-ladder", "loss-to-loss", "llama3-isoflops")
    for folder in (*folders, "scalebench"):
        _need(shared_data, folder)
    return shared_data


def _sane(runs: pd.DataFrame, c_is_6nd: bool = True) -> None:
    assert list(runs.columns[:5]) == CANONICAL
    assert runs["run_id"].is_unique
    for col in ("n_params", "n_tokens", "compute", "loss"):
        values = runs[col].to_numpy(float)
        assert np.isfinite(values).all() and (values > 0).all(), col
    if c_is_6nd:
        np.testing.assert_allclose(
            runs["compute"], 6 * runs["n_params"] * runs["n_tokens"], rtol=1e-9
        )


# --- pins --------------------------------------------------------------------------------------


def test_pins_match_the_reference_copies(all_data):
    for name, sha in olmo_files._OLMO_SHA256.items():
        assert hashlib.sha256((all_data / "olmo-ladder" / name).read_bytes()).hexdigest() == sha
    for source in (ladders._LOSS_TO_LOSS, ladders._LLAMA3, *ladders._STEP_LAW.values()):
        data = (all_data / source.folder / source.name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == source.sha256


def test_download_is_checked_and_saved(llama_data, tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path))
    real = (llama_data / "llama3-isoflops" / "isoflops.csv").read_bytes()
    urls = []
    monkeypatch.setattr(datasets, "_fetch", lambda url, timeout=None: urls.append(url) or b"x")
    with pytest.raises(DatasetError, match="SHA-256 mismatch"):
        llama3_isoflops()
    assert not (tmp_path / "llama3-isoflops" / "isoflops.csv").exists()
    assert urls == [ladders._LLAMA3.url] and "3e0656ee3dce" in urls[0]
    monkeypatch.setattr(datasets, "_fetch", lambda url, timeout=None: real)
    assert len(llama3_isoflops()) == 133
    assert (tmp_path / "llama3-isoflops" / "isoflops.csv").read_bytes() == real


def test_olmo_urls_point_into_the_paper_folder():
    assert olmo_files._olmo_source("ladder-runs/1B-2xC.csv").url.endswith(
        "67a3f440f787d020da35e3ca8eeae475fae754f5/src/scripts/paper/data/ladder-runs/1B-2xC.csv"
    )
    assert olmo_files._olmo_source("configs/final.json").url.endswith(
        "/src/scripts/paper/configs/final.json"
    )


# --- OLMo ladder -------------------------------------------------------------------------------


def test_olmo_params_formula_matches_final_json(olmo_data):
    config = json.loads((olmo_data / "olmo-ladder" / "configs" / "final.json").read_text())
    for size, (key, d_model, n_layers) in olmo._OLMO_SIZES.items():
        if key is not None:
            assert olmo_params(d_model, n_layers) == config[key]["n"], size
    assert olmo_params(3328, 16) == 3_169_537_280  # src/ladder/ladder.py MODEL_PARAMS["3B"]


def test_olmo_ladder_final(olmo_data):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RunsWarning)
        runs = olmo_ladder(olmo_data)
    _sane(runs)
    assert len(runs) == 25 and runs["run"].is_unique and runs["final"].all()
    assert set(zip(runs["size"], runs["multiple"], strict=True)) == {
        (s, m) for s in SIZES for m in MULTIPLES
    }
    assert not runs["rerun"].any() and "group" not in runs
    assert runs["in_paper"].sum() == 16  # 190M-1.3B at 1, 2, 5, 10xC
    config = json.loads((olmo_data / "olmo-ladder" / "configs" / "final.json").read_text())
    by_size = runs.groupby("size")["n_params"].first()
    assert by_size["1B"] == config["1.3B"]["n"] and by_size["190M"] == config["190M"]["n"]
    assert by_size["3B"] == 3_169_537_280
    np.testing.assert_allclose(
        runs["n_tokens"] / runs["n_params"], 20 * runs["multiple"], rtol=0.01
    )
    np.testing.assert_array_equal(runs["loss"], runs["val_c4_en"])
    assert runs["loss"].between(2.5, 4.0).all()
    assert ((runs["training_flops"] / runs["compute"]).between(1.1, 1.8)).all()
    for col in ("bpb_hellaswag_val", "acc_mmlu_avg_test", "val_pile", "acc_boolq_val"):
        assert runs[col].notna().all() and (runs[col] > 0).all(), col
    assert runs.filter(like="acc_").le(1).all().all()
    # more parameters and more tokens give a lower loss
    assert runs.groupby("size")["loss"].apply(lambda s: s.is_monotonic_decreasing).all()


def test_olmo_ladder_all_checkpoints(olmo_data):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RunsWarning)
        every = olmo_ladder(olmo_data, checkpoints="all")
    _sane(every)
    assert len(every) >= 2000
    per_run = every.groupby("run").size()
    assert len(per_run) == 25 and per_run.min() >= 30 and per_run.median() >= 80
    assert (every["group"] == every["run"]).all()
    assert every.groupby("run")["step"].apply(lambda s: s.is_monotonic_increasing).all()
    assert every.groupby("run")["final"].sum().eq(1).all()
    final = olmo_ladder(olmo_data)
    last = every[every["final"]].set_index("run").loc[final["run"]]
    np.testing.assert_array_equal(last["loss"], final["loss"])
    np.testing.assert_array_equal(last["n_tokens"], final["n_tokens"])


def test_olmo_ladder_reruns(olmo_data):
    with pytest.warns(RunsWarning, match="replicates"):
        runs = olmo_ladder(olmo_data, reruns=True)
    assert len(runs) == 30 and runs["rerun"].sum() == 5
    assert len(runs.attrs["replicates"]) == 5
    pairs = runs[runs["multiple"] == 1].groupby("size")["loss"]
    assert (pairs.max() - pairs.min()).lt(0.002).all()
    every = olmo_ladder(olmo_data, "all", reruns=True)  # one group per run: no replicates
    assert len(every) == 3569 and every.loc[every["rerun"], "run"].nunique() == 5


def test_olmo_ladder_loss_col_and_paths(olmo_data, monkeypatch):
    runs = olmo_ladder(olmo_data / "olmo-ladder", loss_col="bpb_hellaswag_val")  # the folder
    np.testing.assert_array_equal(runs["loss"], runs["bpb_hellaswag_val"])
    monkeypatch.setenv(datasets.ENV_VAR, str(olmo_data))
    assert len(olmo_ladder()) == 25
    with pytest.raises(DatasetError, match="unknown loss_col 'c4'.*val_c4_en"):
        olmo_ladder(olmo_data, loss_col="c4")
    with pytest.raises(DatasetError, match="checkpoints.*'final' or 'all'"):
        olmo_ladder(olmo_data, checkpoints="last")


def test_olmo_targets(olmo_data):
    targets = olmo_targets(olmo_data)
    _sane(targets)
    assert list(targets["run_id"]) == ["7B-4T", "13B-5T"]
    assert list(targets["n_params"]) == [6_887_575_552, 13_202_396_160]
    assert targets["n_tokens"].iloc[1] == 5_000_088_518_656  # the paper's -d for 13B-5T
    assert 3.9e12 < targets["n_tokens"].iloc[0] < 4.0e12
    assert (targets["checkpoints_averaged"] == 1).all()
    assert targets["loss"].lt(olmo_ladder(olmo_data)["loss"].min()).all()
    # averaging the last five checkpoints reproduces the paper's "actual" 13B values
    paper = olmo_paper_predictions(olmo_data)
    five = olmo_targets(olmo_data, average_last=5).set_index("run_id").loc["13B-5T"]
    actual = paper[paper["method"] == "chained"].set_index("task")["actual"]
    for task in ("mmlu_avg_test", "hellaswag_val", "arc_challenge_test", "piqa_val"):
        assert five[f"acc_{task}"] == pytest.approx(actual[task], rel=1e-9), task
    bpb = paper[paper["method"] == "step1"].set_index("task")["actual"]
    assert five["bpb_hellaswag_val"] == pytest.approx(bpb["hellaswag_val"], rel=1e-9)
    with pytest.raises(DatasetError, match="average_last"):
        olmo_targets(olmo_data, average_last=0)


def test_olmo_paper_predictions(olmo_data):
    paper = olmo_paper_predictions(olmo_data)
    assert len(paper) == 32 and (paper["target"] == "13B-5T").all()
    assert paper.groupby("method").size().to_dict() == {
        "chained": 8,
        "chained_flops": 8,
        "step1": 8,
        "step2": 8,
    }
    assert set(paper.loc[paper["method"] == "step1", "metric"]) == {"bpb"}
    np.testing.assert_allclose(
        paper["relative_error"], (paper["predicted"] - paper["actual"]) / paper["actual"]
    )
    chained = paper[paper["method"] == "chained"]
    np.testing.assert_allclose(
        chained["reported_error"], chained["relative_error"].abs(), rtol=1e-6
    )
    steps = paper[paper["method"].isin(["step1", "step2"])]
    np.testing.assert_allclose(steps["reported_error"], steps["relative_error"], rtol=1e-6)
    assert paper.loc[paper["method"] == "step1", "fit_error"].notna().all()
    mmlu = chained.set_index("task").loc["mmlu_avg_test", "relative_error"]
    assert abs(mmlu) == pytest.approx(0.0067, abs=1e-4)  # the paper's 0.7% for MMLU


# --- loss-to-loss and Llama 3 ------------------------------------------------------------------


def test_loss_to_loss(l2l_data):
    runs = loss_to_loss(l2l_data)
    _sane(runs)
    assert len(runs) == 529
    assert runs["corpus"].value_counts().to_dict() == {
        "fineweb-edu-100b": 91,
        "fineweb-100b": 90,
        "slimpajama-chunk1": 89,
        "smollm-corpus": 89,
        "proof-pile-2": 86,
        "starcoder": 84,
    }
    assert (runs["group"] == runs["corpus"]).all()
    stems = {c: ladders._CORPUS_VAL[c] for c in LOSS_TO_LOSS_CORPORA}
    own = [runs[f"val_{stems[c]}"].iloc[i] for i, c in enumerate(runs["corpus"])]
    np.testing.assert_array_equal(runs["loss"], own)
    assert sorted(runs["compute"].unique()) == pytest.approx(
        [2e17, 4.373448e17, 9.563525e17, 2.091279e18, 4.573051e18, 1e19, 2.2e19, 4.84e19],
        rel=1e-6,
    )
    for col in ("acc_hellaswag", "answer_loss_hellaswag", "ctx_loss_piqa", "val_c4", "train_loss"):
        assert runs[col].notna().all(), col
    assert not runs.columns.duplicated().any()
    for name in LOSS_TO_LOSS_CORPORA:
        one = loss_to_loss(l2l_data / "loss-to-loss" / "sweep.csv", corpus=name)  # the file
        assert len(one) == (runs["corpus"] == name).sum() and (one["corpus"] == name).all()
    with pytest.raises(DatasetError, match="unknown corpus 'fineweb'.*fineweb-100b"):
        loss_to_loss(l2l_data, corpus="fineweb")


def test_llama3_isoflops(llama_data):
    runs = llama3_isoflops(llama_data)
    _sane(runs)
    assert len(runs) == 133 and (runs["condition"] == "raw_loss").all()
    assert sorted(runs["budget"].unique()) == [
        6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21, 1e22
    ]  # fmt: skip
    np.testing.assert_array_equal(runs["compute"], runs["budget"])
    assert runs["loss"].between(0.69, 0.94).all()
    raw = pd.read_csv(llama_data / "llama3-isoflops" / "isoflops.csv")
    np.testing.assert_allclose(
        runs["n_params"], raw.loc[raw["condition"] == "raw_loss", "params"], rtol=1e-9
    )
    exp = llama3_isoflops(llama_data, condition="exp_loss")
    np.testing.assert_allclose(exp["loss"], np.exp(runs["loss"]), rtol=1e-9)
    with pytest.raises(DatasetError, match="unknown condition 'loss'.*raw_loss"):
        llama3_isoflops(llama_data, condition="loss")


# --- the corpus --------------------------------------------------------------------------------


def test_every_ladder_splits_into_fit_and_held_out(all_data):
    ladders_ = corpus(all_data)
    assert list(ladders_) == [
        "chinchilla-epoch",
        "gemstones",
        "datablations",
        "olmo-ladder",
        *(f"loss-to-loss/{c}" for c in LOSS_TO_LOSS_CORPORA),
        "llama3-isoflops",
        "step-law",
    ]
    for name, ladder in ladders_.items():
        runs = ladder.load()
        fit, held = split(ladder, runs)
        assert len(fit) and len(held), name
        assert len(fit) + len(held) <= len(runs)
        axis = ladder.cut_on
        assert held[axis].min() > fit[axis].max(), name
        assert held["compute"].max() > fit["compute"].max(), name
        if axis == "compute":  # the held-out runs sit 2-22x beyond the fitted ones
            assert held["compute"].min() >= 2 * fit["compute"].max(), name
            assert held["compute"].max() <= 100 * fit["compute"].max() * (1 + 1e-9), name
        assert ladder.caveat
    olmo_fit, olmo_held = split(ladders_["olmo-ladder"], ladders_["olmo-ladder"].load())
    assert set(olmo_fit["size"]) == {"190M", "370M", "760M"}
    assert set(olmo_held["size"]) == {"1B", "3B"} and len(olmo_held) == 10
    l2l = ladders_["loss-to-loss/starcoder"]
    fit, held = split(l2l, l2l.load())
    assert set(held["compute"].round(-16)) == {2.2e19, 4.84e19}
    assert fit["compute"].max() == pytest.approx(1e19)


def test_corpus_table(all_data):
    table = corpus_table(all_data)
    assert len(table) == 12 and table["name"].is_unique
    assert (table["fit_rows"] > 0).all() and (table["held_out_rows"] > 0).all()
    assert (table["fit_rows"] + table["held_out_rows"] <= table["rows"]).all()
    assert (table["compute_ratio"] > 1).all()
    row = table.set_index("name")
    for name in ("chinchilla-epoch", "gemstones", "datablations"):  # ~3-20x beyond the fit
        assert 3 <= row.loc[name, "min_ratio"] and row.loc[name, "compute_ratio"] <= 22, name
    assert row.loc["olmo-ladder", "cut_on"] == "n_params"
    assert row.loc["llama3-isoflops", "compute_ratio"] == pytest.approx(100)
    assert row.loc["chinchilla-epoch", "rows"] == 240


def test_split_refuses_a_foreign_table(llama_data):
    ladder = corpus(llama_data)["llama3-isoflops"]
    runs = ladder.load()
    small = runs[runs["compute"] <= 1e20].reset_index(drop=True)
    with pytest.raises(RunsError, match="no held-out runs for 'llama3-isoflops'.*load"):
        split(ladder, small)
    with pytest.raises(RunsError, match="compute"):
        split(ladder, runs.drop(columns="compute"))
    fit, held = split(ladder, runs)
    assert fit.attrs.get("replicates", []) == [] and held["compute"].min() == 3e20


def test_ladder_protocol_is_checked():
    with pytest.raises(ValueError, match="cut_on"):
        Ladder("x", lambda: None, "loss", 1.0, (2.0, 3.0), "")
    with pytest.raises(ValueError, match="fit_below < predict"):
        Ladder("x", lambda: None, "compute", 3.0, (2.0, 4.0), "")
    ladder = Ladder("x", lambda: None, "compute", 1.0, (2.0, 3.0), "")
    with pytest.raises(AttributeError):
        ladder.fit_below = 2.0  # immutable


# --- bad inputs --------------------------------------------------------------------------------


def test_missing_files_and_folders_name_the_fix(tmp_path):
    for load, wanted in (
        (olmo_ladder, "olmo-ladder/configs/final.json"),
        (olmo_targets, "olmo-ladder/configs/final.json"),
        (olmo_paper_predictions, "olmo-ladder/figures/chained_main.csv"),
        (loss_to_loss, "loss-to-loss/sweep.csv"),
        (llama3_isoflops, "llama3-isoflops/isoflops.csv"),
    ):
        with pytest.raises(DatasetError, match=f"no {wanted} at .*folder laid out like"):
            load(tmp_path)  # a folder without the dataset
    with pytest.raises(DatasetError, match="pass the file itself"):
        loss_to_loss(tmp_path / "missing.csv")
    with pytest.raises(DatasetError, match="pass the file itself"):
        llama3_isoflops(tmp_path / "missing.csv")
    assert issubclass(DatasetError, BayesScalingError)


def test_olmo_wants_a_folder_and_complete_files(olmo_data, tmp_path):
    with pytest.raises(DatasetError, match="folder of files.*olmo-ladder"):
        olmo_ladder(olmo_data / "olmo-ladder" / "configs" / "final.json")
    copy = tmp_path / "olmo-ladder"
    shutil.copytree(olmo_data / "olmo-ladder", copy)
    (copy / "ladder-runs" / "3B-5xC.csv").unlink()
    with pytest.raises(DatasetError, match="no olmo-ladder/ladder-runs/3B-5xC.csv"):
        olmo_ladder(tmp_path)
    shutil.copy(copy / "ladder-runs" / "3B-2xC.csv", copy / "ladder-runs" / "3B-5xC.csv")
    (copy / "configs" / "final.json").write_text("{not json")
    with pytest.raises(RunsError, match="final.json"):
        olmo_ladder(tmp_path)
    shutil.copy(olmo_data / "olmo-ladder" / "configs" / "final.json", copy / "configs")
    raw = pd.read_csv(copy / "ladder-runs" / "760M-2xC.csv")
    raw.loc[len(raw) - 1, "eval/c4_en-validation/CrossEntropyLoss"] = -1.0
    raw.to_csv(copy / "ladder-runs" / "760M-2xC.csv", index=False)
    with pytest.raises(RunsError, match="760M-2xC.*loss.*must be > 0") as err:
        olmo_ladder(tmp_path)
    assert err.value.problems[0].column == "loss"
    raw.drop(columns="throughput/total_tokens").to_csv(
        copy / "ladder-runs" / "760M-2xC.csv", index=False
    )
    with pytest.raises(RunsError, match="throughput/total_tokens.*missing from '760M-2xC.csv'"):
        olmo_ladder(tmp_path)


def test_bad_sweep_and_isoflops_files_raise_runs_errors(l2l_data, llama_data, tmp_path):
    raw = pd.read_csv(l2l_data / "loss-to-loss" / "sweep.csv")
    bad = raw.copy()
    bad["params"] = bad["params"].astype(object)
    bad.loc[3, "params"] = "abc"
    bad.to_csv(tmp_path / "sweep.csv", index=False)
    with pytest.raises(RunsError) as err:
        loss_to_loss(tmp_path / "sweep.csv")
    problem = err.value.problems[0]
    assert (
        problem.column == "n_params" and str(problem.row).startswith("3 ") and "abc" in str(problem)
    )
    raw.drop(columns="data").to_csv(tmp_path / "sweep.csv", index=False)
    with pytest.raises(RunsError, match="'data'.*missing from 'sweep.csv'"):
        loss_to_loss(tmp_path / "sweep.csv")
    iso = pd.read_csv(llama_data / "llama3-isoflops" / "isoflops.csv")
    iso["tokens"] = iso["tokens"].astype(object)
    iso.loc[0, "tokens"] = "n/a"
    iso.to_csv(tmp_path / "isoflops.csv", index=False)
    with pytest.raises(RunsError, match="row 0, column 'tokens'.*not a positive number"):
        llama3_isoflops(tmp_path / "isoflops.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(RunsError, match="empty"):
        llama3_isoflops(tmp_path / "empty.csv")


def test_step_law_is_the_tuned_ladder_of_the_sweep(all_data):
    runs = ladders.step_law(all_data)
    _sane(runs)
    assert len(runs) == 42 and (runs["part"] == "train").sum() == 41
    assert runs["compute"].is_monotonic_increasing
    with pytest.warns(RunsWarning, match="replicates"):  # many settings per (N, D)
        every = ladders.step_law(all_data / "scalebench", tuned=False)
    assert len(every) == 2819 and every["run_id"].is_unique
    # each tuned row is the lowest loss of its (N, D)
    best = every.groupby(["n_params", "n_tokens"])["loss"].min()
    got = runs.set_index(["n_params", "n_tokens"])["loss"]
    assert np.allclose(got.sort_index(), best.sort_index())
    top = runs.iloc[-1]
    assert top["part"] == "test" and top["n_tokens"] == 1e11


def test_every_ladder_has_a_protocol_in_every_direction(all_data):
    for name, ladder in corpus(all_data).items():
        runs = ladder.load()
        for direction in DIRECTIONS:
            parts = direction_split(ladder, runs, direction)
            assert parts is not None, (name, direction)
            fit, held = parts
            assert len(held) >= 3 and len(fit) >= 15, (name, direction)
            along = multiple(fit, held, direction)
            if direction == "compute" and ladder.cut_on == "n_params":
                continue  # OLMo's own protocol cuts on N
            assert (along > 1).all(), (name, direction)
            assert set(multiple_bin(along)) <= {"~3x", "~10x", "~30x"}
            if direction == "n_params":  # tokens per parameter within the fitted range
                tpp, fit_tpp = (
                    held["n_tokens"] / held["n_params"],
                    fit["n_tokens"] / fit["n_params"],
                )
                assert tpp.min() >= fit_tpp.min() * (1 - 1e-6), name
                assert tpp.max() <= fit_tpp.max() * (1 + 1e-6), name
            if direction == "n_tokens":  # N within the fitted range
                assert held["n_params"].max() <= fit["n_params"].max() * (1 + 1e-6), name
    np.testing.assert_array_equal(
        multiple_bin([1.0, 4.9, 5.0, 16.9, 17.0, 300]),
        ["~3x", "~3x", "~10x", "~10x", "~30x", "~30x"],
    )
    with pytest.raises(ValueError, match="direction"):
        direction_split(corpus(all_data)["olmo-ladder"], runs, "epochs")
