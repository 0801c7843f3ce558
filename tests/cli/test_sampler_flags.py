"""Every fitting command takes ``--seed --draws --tune --chains`` with one rule, and the API the
same: ``--tune 0`` is refused before any sampling (nutpie panics with no tuning step)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bayes_scaling import ArgumentError, datasets
from bayes_scaling.cli import main

RUNS = str(Path(__file__).resolve().parents[2] / "bayes_scaling" / "data" / "demo_runs.csv")

COMMANDS = {
    "fit": ["fit", RUNS, "--out", "{tmp}/f.nc"],
    "compare": ["compare", RUNS, "--group-col", "run_id", "--compute", "1e22"],
    "fit-many": ["fit-many", RUNS, "--out-dir", "{tmp}"],
    "sbc": ["sbc", "--sims", "2"],
    "passk fit": ["passk", "fit", "counts.csv", "--out", "{tmp}/p.nc"],
    "downstream fit": [
        "downstream",
        "fit",
        RUNS,
        "--metric",
        "m",
        "--via",
        "v",
        "--out",
        "{tmp}/d.nc",
    ],
    "design": ["design", RUNS, "--candidates", "pool.csv", "--budget", "1e20", "--compute", "1e22"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("flag", ["--tune", "--draws", "--chains"])
def test_plumbing_zero_length_is_one_line_exit_2_for_every_fitting_command(
    command, flag, tmp_path, no_sampling, capsys
):
    argv = [a.format(tmp=tmp_path) for a in COMMANDS[command]] + [flag, "0"]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert len(err.splitlines()) == 1 and f"{flag}: must be a whole number ≥ 1" in err, err


def test_the_api_refuses_no_tuning_before_sampling(no_sampling):
    with pytest.raises(ArgumentError, match="tune"):
        import bayes_scaling as bs

        bs.fit(datasets.demo(), tune=0)


@pytest.mark.parametrize("bad", ["foo", "loss", "unique_tokens", 1.0, None])
def test_the_api_refuses_a_discrepancy_axis_it_cannot_cut_before_sampling(bad, no_sampling):
    # an unknown axis once failed with a KeyError after the main fit; "loss" was accepted and
    # scored nothing (the result was the prior alone)
    import bayes_scaling as bs

    runs = datasets.demo()
    for fit in (bs.fit, lambda r, **k: bs.fit_groups(r.assign(group="a"), **k)):
        with pytest.raises(ArgumentError, match="discrepancy"):
            fit(runs, discrepancy=bad)
    with pytest.raises(ArgumentError, match="no 'n_tokens' column"):
        bs.fit(runs.drop(columns="n_tokens"), law="power:n_params", discrepancy="n_tokens")
