"""pass@k input and its honesty: bad cells and columns as one line naming the row, the column and
the fix (Python keyword and CLI flag), long tables by their k column, k within bounds, and a
rescued fit whose saved diagnostics are those of its saved draws."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import simulate_counts

from bayes_scaling.errors import ROWS_NOTE, ArgumentError, RunsError
from bayes_scaling.passk.data import load_counts
from bayes_scaling.passk.reference import locate
from bayes_scaling.passk.sweep import BON_PATH, bon_jailbreaking

COUNTS = {"model": ["m1", "m1", "m2"], "problem": ["a", "b", "a"], "samples": [10, 10, 10]}


def _cli(argv, capsys) -> tuple[int, str]:
    from bayes_scaling.cli import main

    capsys.readouterr()
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def _one_line_error(code: int, err: str) -> str:
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("bayes-scaling: error: "), err
    assert "Traceback" not in err
    return err


# --- empty model and problem cells ---------------------------------------------------------------


@pytest.mark.parametrize(
    "column, value, where",
    [
        ("model", np.nan, "row 1, column 'model': the cell is empty"),
        ("model", "  ", "row 1, column 'model': the cell is empty"),
        ("problem", np.nan, "row 1, column 'problem': the cell is empty"),
        ("problem", None, "row 1, column 'problem': the cell is empty"),
    ],
)
def test_an_empty_model_or_problem_cell_names_its_row_and_column(column, value, where):
    frame = pd.DataFrame({**COUNTS, "correct": [1, 0, 2]})
    frame[column] = frame[column].astype(object)
    frame.loc[1, column] = value
    with pytest.raises(RunsError, match=where):
        load_counts(frame)


@pytest.mark.parametrize("column", ["model", "problem"])
def test_cli_an_empty_cell_is_one_line_and_exit_2_plumbing(column, tmp_path, capsys, no_sampling):
    frame = simulate_counts(20, 50, seed=1, model="m")
    frame.loc[3, column] = None
    frame.loc[7, column] = None
    frame.to_csv(tmp_path / "c.csv", index=False)
    err = _one_line_error(
        *_cli(["passk", "fit", tmp_path / "c.csv", "--out", tmp_path / "p.nc"], capsys)
    )
    assert f"row 3, column '{column}': the cell is empty" in err
    assert f"row 7, column '{column}'" in err


# --- columns named both ways, and a model column not recognised ----------------------------------


def test_a_missing_column_is_named_by_keyword_and_by_flag(tmp_path, capsys, no_sampling):
    frame = pd.DataFrame({"problem": ["a", "b"], "samples": [5, 5], "hits": [1, 0]})
    with pytest.raises(RunsError, match=r"columns=\{'correct': NAME\}"):
        load_counts(frame)
    frame.to_csv(tmp_path / "c.csv", index=False)
    argv = ["passk", "fit", tmp_path / "c.csv", "--out", tmp_path / "p.nc"]
    err = _one_line_error(*_cli(argv, capsys))
    assert "no column for correct" in err and "--correct-col NAME" in err
    assert "correct=<column>" not in err
    err = _one_line_error(*_cli([*argv, "--correct-col", "nope"], capsys))
    assert "column 'nope': no such column for correct" in err and "--correct-col NAME" in err


def test_an_unrecognised_model_column_is_one_short_line_naming_the_flag(tmp_path, capsys):
    parts = [simulate_counts(40, 100, seed=i, model=f"m{i}") for i in range(4)]
    frame = pd.concat(parts, ignore_index=True).rename(columns={"model": "llm"})
    with pytest.raises(RunsError) as info:
        load_counts(frame)
    text = str(info.value)
    assert len(info.value.problems) == 1 and len(text) < 400, text
    assert text.startswith("row 40, column 'problem': 120 rows repeat problems of earlier rows")
    assert "no model column was recognised" in text and "columns={'model': NAME}" in text
    assert "columns not used: llm" in text
    frame.to_csv(tmp_path / "c.csv", index=False)
    err = _one_line_error(
        *_cli(["passk", "fit", tmp_path / "c.csv", "--out", tmp_path / "p.nc"], capsys)
    )
    assert "--model-col NAME" in err and len(err) < 400, err


def test_repeats_with_a_model_column_list_a_few_and_count_the_rest():
    frame = pd.concat([simulate_counts(10, 20, seed=0, model="m")] * 2, ignore_index=True)
    with pytest.raises(RunsError) as info:
        load_counts(frame)
    text = str(info.value)
    assert text.startswith("row 10, column 'problem': problem 'q0' of model 'm' appears again")
    assert text.endswith(f"give one row per (model, problem) (7 more rows like these) {ROWS_NOTE}")
    assert len(info.value.problems) == 4


# --- long tables by their k column: best-of-N's "Scaling Parameter" ------------------------------


def test_a_long_table_with_a_scaling_parameter_column_is_collapsed():
    long = pd.DataFrame(
        {
            "Model": ["m"] * 4,
            "Problem Idx": [3, 3, 1, 1],
            "Num. Samples": [60, 60, 120, 120],
            "Num. Samples Correct": [2, 2, 0, 0],
            "Scaling Parameter": [1, 10, 1, 10],
        }
    )
    out = load_counts(long)
    assert out["problem"].tolist() == ["3", "1"] and out["samples"].tolist() == [60, 120]
    long.loc[1, "Num. Samples Correct"] = 5
    with pytest.raises(RunsError, match="row 1, column 'Problem Idx'.*with other counts"):
        load_counts(long)


def test_the_raw_best_of_n_file_loads_as_its_loader_reads_it():
    file = locate(None, BON_PATH)
    if not file.exists():
        pytest.skip(f"reference data absent: {file} (set BAYES_SCALING_DATA to /work/shared/data)")
    raw = load_counts(file)  # the file as it is: what `passk fit FILE` reads
    pd.testing.assert_frame_equal(raw, bon_jailbreaking(), check_like=False)
    assert len(raw) == 7 * 159


# --- plain values in messages, k within bounds ---------------------------------------------------


@pytest.mark.parametrize(
    "samples, correct, text",
    [
        ([10, 10], [np.nan, 0], "row 0, column 'correct': nan is not a count"),
        ([10, 10], [1, -1e8], "row 1, column 'correct': -1e+08 is negative"),
        ([100.5, 10], [1, 0], "row 0, column 'samples': 100.5 is not a whole number"),
        ([10, 1e20], [1, 0], "row 1, column 'samples': 1e+20 is too large for a count"),
        ([10, "many"], [1, 0], "row 1, column 'samples': 'many' is not a count"),
    ],
)
def test_messages_show_cells_as_plain_values(samples, correct, text):
    frame = pd.DataFrame({"problem": ["a", "b"], "samples": samples, "correct": correct})
    with pytest.raises(RunsError) as info:
        load_counts(frame)
    assert text in str(info.value) and "np." not in str(info.value), str(info.value)


def test_k_beyond_a_64_bit_integer_is_refused(passk_fit, tmp_path, capsys):
    largest = 2**63 - 1024  # the largest float64 below 2^63 (answers.K_LIMIT)
    for k in (1e19, 9.3e18, np.float64(2.0**63)):
        with pytest.raises(ArgumentError, match="k: is too large"):
            passk_fit.bands(k=[k])
    with pytest.raises(ArgumentError, match=r"k\[1\]: expected a whole number ≥ 1, got 2.5$"):
        passk_fit.bands(k=[10, np.float64(2.5)])
    assert passk_fit.bands(k=[largest], prob=0.5)["k"].tolist() == [largest]
    path = passk_fit.save(tmp_path / "p.nc")
    for k in ("1e19", "9.3e18", "9223372036854775807"):
        err = _one_line_error(*_cli(["passk", "bands", path, "--k", "10", k], capsys))
        assert "--k[1]: is too large" in err and "-9223372036854775808" not in err


# --- a rescued fit keeps the diagnostics of the draws it keeps -----------------------------------


def _iid(draws: int, chains: int = 4, seed: int = 0, stuck: bool = False) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(chains, draws)) + (np.arange(chains)[:, None] * 3.0 if stuck else 0.0)
    return xr.Dataset({"theta": (("chain", "draw"), x)})


def test_the_ladder_gates_the_draws_it_keeps_plumbing():
    # a stubbed sampler: the first attempt's chains sit apart, a longer one mixes
    from bayes_scaling.inference.rungs import Attempt
    from bayes_scaling.passk.joint import ladder
    from bayes_scaling.results import diagnostics

    def sample(attempt):
        post = _iid(attempt.draws, seed=attempt.seed % 1000, stuck=attempt.rung == "as asked")
        stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((4, attempt.draws), bool))})
        return post, stats, 0.0

    first = Attempt("as asked", 150, 100, 0.9, 1)
    post, stats, diag, record, _ = ladder(sample, first, ["theta"], True, chains=4)
    assert len(record) >= 2 and record[-1]["kept"]  # rescued by a longer run ...
    assert post.sizes["draw"] == 150 and diag.n_draws == 600  # ... thinned to the draws asked
    again = diagnostics.check(post, stats, ["theta"])
    assert diag.min_ess_bulk == pytest.approx(again.min_ess_bulk)  # gated on those draws
    assert diag.min_ess_bulk < 1000 and diag.converged
    # too few draws for the gate's ESS: one attempt, reported as failed
    first = Attempt("as asked", 20, 100, 0.9, 1)
    post, _, diag, record, _ = ladder(sample, first, ["theta"], True, chains=4)
    assert len(record) == 1 and not diag.converged and post.sizes["draw"] == 20


def test_a_rescued_fit_saves_the_diagnostics_of_its_saved_draws(tmp_path, capsys):
    import bayes_scaling as bs
    from bayes_scaling.results import diagnostics

    csv = tmp_path / "c.csv"
    simulate_counts(40, 100, seed=5, model="m").to_csv(csv, index=False)
    base = ["passk", "fit", csv, "--difficulty", "beta", "--seed", "2", "--tune", "5"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # 4 chains × 20 draws cannot hold an ESS of 400: not converged, whatever a rescue did
        code, err = _cli([*base, "--out", tmp_path / "short.nc", "--draws", "20"], capsys)
        assert code == 3 and "did not converge" in err, err
        short = bs.load(tmp_path / "short.nc")
        assert not short.converged and short.diagnostics.min_ess_bulk < 80
        code, err = _cli([*base, "--out", tmp_path / "long.nc", "--draws", "150"], capsys)
    fit = bs.load(tmp_path / "long.nc")
    models = fit.idata["models"].to_dataset().to_dataframe()
    assert int(models["attempts"].iloc[0]) > 1  # 5 tuning steps fail: the ladder rescued it
    assert fit.posterior.sizes["chain"] * fit.posterior.sizes["draw"] == 600
    gate = list(fit.settings["priors"])
    kept = fit.posterior.sel(model="m")
    again = diagnostics.check(kept, xr.Dataset(), gate)
    assert fit.diagnostics.n_draws == 600
    assert fit.diagnostics.min_ess_bulk == pytest.approx(again.min_ess_bulk)
    assert fit.diagnostics.max_rhat == pytest.approx(again.max_rhat)
    assert code == (0 if again.converged else 3)


# --- labels as written, counted problems, and the bands' list flags ------------------------------


def test_csv_labels_are_read_as_written(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text(
        "model,problem,samples,correct\n007,01,10,3\n007,1,10,1\nNA,01,10,2\nNA,1,10,0\n"
    )
    counts = load_counts(path)
    assert counts["model"].tolist() == ["007", "007", "NA", "NA"]  # not 7, not missing
    assert counts["problem"].tolist() == ["01", "1", "01", "1"]  # two problems, not one
    assert counts["samples"].tolist() == [10] * 4 and counts["correct"].tolist() == [3, 1, 2, 0]


def test_every_bad_cell_is_counted_and_a_bad_count_is_checked_no_further():
    frame = pd.DataFrame(
        {"model": [""] * 20 + ["a"], "problem": [f"q{i}" for i in range(21)], "samples": 10,
         "correct": 1}
    )  # fmt: skip
    with pytest.raises(RunsError) as info:
        load_counts(frame)
    assert str(info.value).endswith(f"... and 8 more problems {ROWS_NOTE}")  # 12 listed of 20
    with pytest.raises(RunsError) as info:
        load_counts(pd.DataFrame({"problem": ["a"], "samples": [10.5], "correct": [29]}))
    assert "not a whole number" in str(info.value) and "correct out of" not in str(info.value)


def test_bands_flags_repeat_and_choose_models(passk_fit, tmp_path, capsys):
    from bayes_scaling.cli import main

    path = str(passk_fit.save(tmp_path / "p.nc"))
    one = passk_fit.models[0]
    capsys.readouterr()
    argv = ["passk", "bands", path, "--k", "100", "--k", "10", "--prob", "0.5", "--prob", "0.9"]
    assert main([*argv, "--models", one, "--format", "csv"]) == 0
    rows = [r.split(",") for r in capsys.readouterr().out.splitlines()[1:]]
    # both --k lists and both --prob lists, in the order given, for the model asked only
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (one, "100", "0.5"), (one, "100", "0.9"), (one, "10", "0.5"), (one, "10", "0.9")
    ]  # fmt: skip
    err = _one_line_error(*_cli(["passk", "bands", path, "--k", "10", "--models", "nope"], capsys))
    assert "--models: unknown ['nope']" in err
