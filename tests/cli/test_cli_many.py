"""``fit-many`` and ``sbc``: many fits from the command line, rows in the order given (real NUTS,
small fits)."""

from __future__ import annotations

import json

import pytest

from bayes_scaling import datasets, load
from bayes_scaling.cli import main


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    demo = datasets.demo()
    demo.to_csv(folder / "b_full.csv", index=False)
    demo.sample(32, random_state=1).to_csv(folder / "a_part.csv", index=False)
    return folder


def test_fit_many_fits_each_table_in_the_order_given(tables, tmp_path, capsys):
    out = tmp_path / "fits"
    given = [str(tables / "b_full.csv"), str(tables / "a_part.csv")]
    code = main(
        ["fit-many", *given, "--out-dir", str(out), "--draws", "300", "--tune", "400"]
        + ["--no-discrepancy", "--seed", "3", "--format", "json"]
    )
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["table"] for r in rows] == given  # not sorted: as given
    assert [r["runs"] for r in rows] == [48, 32]
    assert code == (0 if all(r["converged"] for r in rows) else 3)
    for row in rows:
        fit = load(row["file"])
        assert len(fit.runs) == row["runs"] and fit.converged == row["converged"]


def test_fit_many_takes_a_folder_sorted_by_name(tables, tmp_path, capsys):
    code = main(
        ["fit-many", str(tables), "--out-dir", str(tmp_path), "--draws", "200"]
        + ["--tune", "300", "--no-discrepancy", "--format", "csv"]
    )
    lines = capsys.readouterr().out.splitlines()
    assert code in (0, 3) and lines[0].startswith("table,runs,file,converged")
    assert [line.split(",")[0].rsplit("/", 1)[-1] for line in lines[1:]] == [
        "a_part.csv",
        "b_full.csv",
    ]


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["fit-many", "{tables}/missing.csv"], "no such file or folder"),
        (["fit-many", "{tables}", "{tables}/a_part.csv"], "share the name 'a_part'"),
        (["fit-many", "{tables}", "--scheduler", "nowhere"], "--scheduler"),
        (["fit-many", "{tables}", "--draws", "0"], "--draws"),
        (["fit-many", "{tables}/a_part.csv", "{few}"], "few.csv: 3 runs for a law with 5"),
        (["sbc", "--sims", "3", "--runs", "30", "20"], "--runs"),
        (["sbc", "--sims", "0"], "--sims"),
    ],
)
def test_plumbing_bad_many_fit_input_is_one_line_and_exit_2(argv, needle, tables, tmp_path, capsys):
    datasets.demo().head(3).to_csv(tmp_path / "few.csv", index=False)  # loads, cannot be fitted
    argv = [a.format(tables=tables, few=tmp_path / "few.csv") for a in argv]
    if argv[0] == "fit-many":
        argv += ["--out-dir", str(tmp_path)]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and needle in err


def test_sbc_command_prints_a_uniformity_row_per_parameter(capsys):
    code = main(
        ["sbc", "--sims", "4", "--runs", "20", "24", "--draws", "120", "--tune", "200"]
        + ["--seed", "2", "--format", "json"]
    )
    out = json.loads(capsys.readouterr().out)
    assert code in (0, 3) and out["converged"] == (code == 0)
    assert {"E", "alpha", "beta"} <= {str(r.get("parameter")) for r in out["rows"]}
    # a simulation whose fit failed the gate is kept in the ranks and said, exit 3
    assert out["failed_simulations"] == 0 or (code == 3 and "failed the gate" in out["reason"])


def test_plumbing_report_prior_sensitivity_runs_where_scheduler_says(
    demo_fit, tmp_path, monkeypatch
):
    import bayes_scaling.trust as trust

    fit_file = demo_fit.save(tmp_path / "fit.nc")
    seen = {}

    def sensitivity(fit, compute, client):
        seen.update(compute=compute, client=client)
        return None  # the report then has no sensitivity section

    monkeypatch.setattr(trust, "prior_sensitivity", sensitivity)
    argv = ["report", str(fit_file), "--compute", "1e22", "--out", str(tmp_path / "r.html")]
    assert main([*argv, "--prior-sensitivity", "--scheduler", "local"]) == 0
    assert seen == {"compute": [1e22], "client": None}  # local: worker processes (client None)
    assert main([*argv, "--scheduler", "nowhere"]) == 2


def test_plumbing_a_fit_that_cannot_be_saved_does_not_lose_the_others(
    tables, tmp_path, capsys, monkeypatch, small_fit
):
    # fit-many once stopped at the first failed save: the batch's other fits, already sampled,
    # were never written and no table was printed. The sampler is stubbed (small_fit stands for
    # every table's fit); the first save fails as a full disk would.
    import bayes_scaling.cli.many as many
    from bayes_scaling.errors import FitFileError
    from bayes_scaling.inference.batch import TaskResult

    done = [TaskResult(name, small_fit, seconds=0.1) for name in ("b", "a")]
    monkeypatch.setattr(many.inference, "fit_many", lambda tasks, **kw: done[: len(tasks)])
    real = many.save_fit

    def full_disk_once(result, path):
        if path.stem == "b_full":
            raise FitFileError(f"[Errno 28] No space left on device: {str(path)!r}")
        return real(result, path)

    monkeypatch.setattr(many, "save_fit", full_disk_once)
    given = [str(tables / "b_full.csv"), str(tables / "a_part.csv")]
    code = main(["fit-many", *given, "--out-dir", str(tmp_path), "--format", "json"])
    captured = capsys.readouterr()
    rows = json.loads(captured.out)["rows"]
    assert code == 2 and captured.err.count("\n") == 1
    assert "1 of 2 fits could not be saved" in captured.err and "No space left" in captured.err
    assert rows[0]["file"] == "" and "No space left" in rows[0]["error"]
    assert load(rows[1]["file"]).runs.shape == small_fit.runs.shape
