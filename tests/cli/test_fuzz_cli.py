"""Property tests of the CLI contract: every bad argument of every command is exit code 2 and
exactly one stderr line starting ``bayes-scaling: error:``, and it fails before any sampling.

Hypothesis generates about 1,000 bad command lines (derandomized). ``main`` runs in-process; the
sampling entry points of the CLI are replaced by a tripwire, so a case that would start NUTS fails
the test instead of running. summary / bands / allocate / report read one small real fit, made
once per session (tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bayes_scaling as bs
import bayes_scaling.inference as inference
from bayes_scaling.cli import main
from bayes_scaling.cli.registry import COMMANDS as COMMAND_REGISTRY
from bayes_scaling.cli.registry import load_deferred

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=80,  # x 13 commands: about 1,000 command lines
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
    ],
)
PREFIX = "bayes-scaling: error:"


@pytest.fixture(scope="session")
def files(tmp_path_factory, small_fit, downstream_fit, passk_fit) -> dict[str, Path]:
    """The session's real small fits (tests/conftest.py: a scaling law's, a downstream chain's,
    a pass@k fit's), their tables, and broken files of every kind."""
    root = tmp_path_factory.mktemp("cli_fuzz")
    downstream_fit.save(root / "downstream.nc")
    downstream_fit.runs.to_csv(root / "downstream.csv", index=False)
    passk_fit.save(root / "passk.nc")
    passk_fit.counts.to_csv(root / "counts.csv", index=False)
    (root / "candidates.csv").write_text("params,tokens\n1e8,4e9\n3e8,6e9\n1e9,2e10\n")
    small_fit.save(root / "fit.nc")
    bs.datasets.demo().to_csv(root / "runs.csv", index=False)
    (root / "empty.csv").write_text("")
    (root / "header.csv").write_text("params,tokens,loss\n")
    (root / "bad.csv").write_text("params,tokens,loss\n1e8,2e9,oops\n")
    (root / "garbage.csv").write_bytes(bytes(range(256)))
    (root / "corrupt.nc").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(200))
    (root / "text.nc").write_text("not a fit")
    (root / "folder.nc").mkdir()
    (root / "folder.csv").mkdir()
    (root / "afile").write_text("x")
    return {p.name: p for p in root.iterdir()} | {"root": root}


@pytest.fixture
def tripwire(no_sampling):
    """Any sampling the CLI starts fails the test (bad input must be caught before it): every
    sampler, compile and worker pool raises (``no_sampling`` in tests/conftest.py)."""


def run(argv, capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(argv, code, out, err) -> None:
    lines = err.splitlines()
    assert code == 2, (argv, code, err)
    assert len(lines) == 1 and err.endswith("\n"), (argv, err)
    assert lines[0].startswith(PREFIX) and "Traceback" not in err, (argv, err)
    assert out == "", (argv, out)


# --- bad values ---------------------------------------------------------------------------------


def _not_a_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return True
    return False


def _not_an_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return True
    return False


#: Text that parses as no number (some start with "-", which argparse may take for a flag).
NOT_NUMBER = st.one_of(
    st.sampled_from(["", "abc", "1e", "1,5", "--", "0x10", "1e21e2", "ten", "∞", "1 2"]),
    st.text(max_size=8).filter(_not_a_float),
)
BAD_POSITIVE = st.one_of(
    st.sampled_from(["0", "-0", "-1", "-1e21", "nan", "inf", "-inf", "1e400", "-0.5"]),
    st.floats(max_value=0.0, allow_nan=False).map(repr),
    NOT_NUMBER,
)
BAD_PROB = st.one_of(
    st.sampled_from(["0", "1", "1.0", "2.0", "-0.5", "nan", "inf", "95", "1e-400"]),
    st.floats(min_value=1.0, allow_infinity=False).map(repr),
    st.floats(max_value=0.0, allow_infinity=False).map(repr),
    NOT_NUMBER,
)
BAD_COUNT = st.one_of(
    st.sampled_from(["0", "-1", "1.5", "1e3", "many", "-0", ""]),
    st.integers(max_value=0).map(str),
    st.text(max_size=5).filter(_not_an_int),
)
BAD_SEED = st.one_of(st.integers(max_value=-1).map(str), st.sampled_from(["1.5", "x", ""]))


def _not_a_law(text: str) -> bool:
    try:
        bs.get_law(text)
    except Exception:  # noqa: BLE001 - anything get_law refuses
        return True
    return False


BAD_LAW = st.one_of(
    st.sampled_from(["", "bogus", "power:", "power:zzz", "data_constrained:alpha=x", "CHINCHILLA"]),
    st.text(max_size=12).filter(_not_a_law),
)


def bad_out(files, suffix: str, parents_made: bool = False) -> st.SearchStrategy:
    """Output paths that cannot work: a wrong suffix, a file as folder, a NUL byte, an empty
    name, an unwritable folder, and a missing folder unless the writer makes it (reports)."""
    root = files["root"]
    missing = [] if parents_made else [root / "missing" / "dir" / f"out{suffix}"]
    return st.sampled_from(
        [
            *missing,
            root / "out.txt",
            root / "afile" / f"out{suffix}",
            f"out{suffix}\x00x",
            "",
            "/proc/forbidden" + suffix,
        ]
    )


def bad_fit(files, own: str = "fit.nc") -> st.SearchStrategy:
    """Broken fit files, and the fits of the other kinds (scaling law, downstream, pass@k)."""
    foreign = [files[n] for n in ("fit.nc", "downstream.nc", "passk.nc") if n != own]
    return st.sampled_from(
        [
            *foreign,
            files["root"] / "missing.nc",
            files["corrupt.nc"],
            files["text.nc"],
            files["folder.nc"],
            files["runs.csv"],
            "",
            "a\x00b.nc",
        ]
    )


def bad_runs(files) -> st.SearchStrategy:
    return st.sampled_from(
        [
            files["root"] / "missing.csv",
            files["empty.csv"],
            files["header.csv"],
            files["bad.csv"],
            files["garbage.csv"],
            files["folder.csv"],
            files["fit.nc"],
            "",
        ]
    )


def _pairs(flag, values):
    return [flag, *values] if isinstance(values, list) else [flag, values]


def command_lines(files, command: str) -> st.SearchStrategy:
    """Bad command lines of ``command``: valid required parts, then one or more bad ones."""
    root, fit, runs = files["root"], files["fit.nc"], files["runs.csv"]
    pos = st.lists(st.sampled_from(["1e21", "1e22", "3e20"]), min_size=1, max_size=3)
    bad_list = st.lists(st.one_of(BAD_POSITIVE, st.sampled_from(["1e21"])), min_size=1).filter(
        lambda xs: any(x != "1e21" for x in xs)
    )
    bad_probs = st.lists(st.one_of(BAD_PROB, st.just("0.5")), min_size=1, max_size=4).filter(
        lambda xs: any(x != "0.5" for x in xs)
    )
    structural = {
        "unknown": st.sampled_from([["--bogus"], ["--prob"], ["--format", "xml"], ["extra"]]),
    }
    if command == "fit":
        base = [command, runs, "--out", root / "ok.nc"]
        slots = {
            "runs": bad_runs(files).map(lambda p: ["__runs__", p]),
            "out": bad_out(files, ".nc").map(lambda p: ["--out", p]),
            "wrong_suffix": st.sampled_from(["fit.h5", "fit.NC", "fit"]).map(
                lambda n: ["--out", root / n]
            ),
            "draws": BAD_COUNT.map(lambda v: ["--draws", v]),
            "chains": BAD_COUNT.map(lambda v: ["--chains", v]),
            "tune": st.sampled_from(["-1", "x", "1.5"]).map(lambda v: ["--tune", v]),
            "seed": BAD_SEED.map(lambda v: ["--seed", v]),
            "target": BAD_PROB.map(lambda v: ["--target-accept", v]),
            "law": BAD_LAW.map(lambda v: ["--law", v]),
            "likelihood": st.sampled_from(["cauchy", ""]).map(lambda v: ["--likelihood", v]),
            "scale": st.tuples(
                st.sampled_from(["--n-scale", "--d-scale", "--c-scale"]), BAD_POSITIVE
            ),
            "column": st.sampled_from(["--n-col", "--loss-col", "--d-col"]).map(
                lambda f: [f, "no_such_column"]
            ),
            **structural,
        }
    elif command == "summary":
        base = [command, fit]
        slots = {
            "fit": bad_fit(files).map(lambda p: ["__fit__", p]),
            "prob": BAD_PROB.map(lambda v: ["--prob", v]),
            "format": st.sampled_from(["xml", ""]).map(lambda v: ["--format", v]),
            **structural,
        }
    elif command == "bands":
        base = [command, fit, "--compute", "1e21"]
        slots = {
            "fit": bad_fit(files).map(lambda p: ["__fit__", p]),
            "compute": bad_list.map(lambda v: _pairs("--compute", v)),
            "mismatch": st.tuples(pos, pos)
            .filter(lambda ab: len(ab[0]) != len(ab[1]) and 1 not in (len(ab[0]), len(ab[1])))
            .map(lambda ab: ["--params", *ab[0], "--tokens", *ab[1], "--compute", "1e21"]),
            "three": st.just(["--params", "1e9", "--tokens", "2e10", "--compute", "1e21"]),
            "prob": bad_probs.map(lambda v: _pairs("--prob", v)),
            "tolerance": BAD_POSITIVE.map(lambda v: ["--tolerance", v]),
            "relative": st.sampled_from(["1", "2", "1.5"]).map(
                lambda v: ["--tolerance", v, "--relative"]
            ),
            "tpp": BAD_POSITIVE.map(lambda v: ["--tokens-per-param", v]),
            **structural,
        }
    elif command == "allocate":
        base = [command, fit, "--compute", "1e21"]
        slots = {
            "fit": bad_fit(files).map(lambda p: ["__fit__", p]),
            "compute": bad_list.map(lambda v: _pairs("--compute", v)),
            "params": BAD_POSITIVE.map(lambda v: ["--params", v]),
            "tpp": BAD_POSITIVE.map(lambda v: ["--tokens-per-param", v]),
            "target": BAD_POSITIVE.map(lambda v: ["--target", v]),
            "prob": BAD_PROB.map(lambda v: ["--prob", v]),
            "both": st.just(["--params", "1e9", "--tokens-per-param", "20"]),
            **structural,
        }
    elif command == "report":
        base = [command, fit, "--compute", "1e22", "--out", root / "ok.html"]
        slots = {
            "fit": bad_fit(files).map(lambda p: ["__fit__", p]),
            "compute": BAD_POSITIVE.map(lambda v: ["--compute", v]),
            "target": BAD_POSITIVE.map(lambda v: ["--target", v]),
            "params": BAD_POSITIVE.map(lambda v: ["--params", v]),
            "tolerance": st.one_of(BAD_POSITIVE, st.sampled_from(["1", "3"])).map(
                lambda v: ["--tolerance", v]
            ),
            "out": bad_out(files, ".html", parents_made=True).map(lambda p: ["--out", p]),
            "markdown": bad_out(files, ".md", parents_made=True).map(lambda p: ["--markdown", p]),
            "compare": bad_fit(files).map(lambda p: ["--compare", p]),
            **structural,
        }
    elif command == "backtest":
        base = [command, runs, "--cut-compute", "1e19"]
        slots = {
            "runs": bad_runs(files).map(lambda p: ["__runs__", p]),
            "cut": st.tuples(
                st.sampled_from(["--cut-compute", "--cut-tokens", "--cut-params"]), bad_list
            ).map(lambda fv: _pairs(*fv)),
            "prob": bad_probs.map(lambda v: _pairs("--prob", v)),
            "seed": BAD_SEED.map(lambda v: ["--seed", v]),
            "scheduler": st.sampled_from(["foo", "", "tcp//x", "local:"]).map(
                lambda v: ["--scheduler", v]
            ),
            "method": st.sampled_from(["bayesian", "ols"]).map(lambda v: ["--method", v]),
            "law": BAD_LAW.map(lambda v: ["--law", v]),
            "two_cuts": st.just(["--cut-tokens", "1e10"]),
            **structural,
        }
    elif command == "compare":
        base = [command, runs, "--compute", "1e21"]
        slots = {
            "runs": bad_runs(files).map(lambda p: ["__runs__", p]),
            "compute": bad_list.map(lambda v: _pairs("--compute", v)),
            "range": st.sampled_from(
                [["1e22", "1e21"], ["1e21", "1e21"], ["-1", "1e21"], ["x", "1"]]
            ).map(lambda v: ["--range", *v]),
            "half_sizes": st.sampled_from([["--params", "1e9"], ["--tokens", "1e10"]]),
            "mismatch": st.just(["--params", "1e9", "2e9", "--tokens", "1e10", "2e10", "3e10"]),
            "prob": BAD_PROB.map(lambda v: ["--prob", v]),
            "draws": BAD_COUNT.map(lambda v: ["--draws", v]),
            "chains": BAD_COUNT.map(lambda v: ["--chains", v]),
            "target": BAD_PROB.map(lambda v: ["--target-accept", v]),
            "pool": st.sampled_from(["partial", ""]).map(lambda v: ["--pool", v]),
            "pool_param": st.sampled_from(["E", "E=", "=partial", "E=sometimes"]).map(
                lambda v: ["--pool-param", v]
            ),
            "groups": st.sampled_from(["A", "b"]).map(lambda g: ["--groups", g, g]),
            "out": bad_out(files, ".nc").map(lambda p: ["--out", p]),
            "report": bad_out(files, ".html", parents_made=True).map(lambda p: ["--report", p]),
            "plot": bad_out(files, ".png").map(lambda p: ["--plot", p]),
            "law": BAD_LAW.map(lambda v: ["--law", v]),
            **structural,
        }
    elif command == "demo":
        base = [command, "--out", root / "demo_out"]
        slots = {
            "out": st.sampled_from([files["afile"], files["runs.csv"], "", "x\x00y"]).map(
                lambda p: ["--out", p]
            ),
            "draws": BAD_COUNT.map(lambda v: ["--draws", v]),
            "seed": BAD_SEED.map(lambda v: ["--seed", v]),
            **structural,
        }
    elif command == "fit-many":
        base = [command, runs, "--out-dir", root / "many_out"]
        slots = {
            "runs": bad_runs(files).map(lambda p: ["__runs__", p]),
            "more_runs": bad_runs(files).map(lambda p: ["__more__", p]),
            "out_dir": st.sampled_from([files["afile"], files["runs.csv"], "", "x\x00y"]).map(
                lambda p: ["--out-dir", p]
            ),
            **_sampler_slots(),
            "law": BAD_LAW.map(lambda v: ["--law", v]),
            "scheduler": BAD_SCHEDULER.map(lambda v: ["--scheduler", v]),
            "column": st.sampled_from(["--n-col", "--loss-col", "--d-col"]).map(
                lambda f: [f, "no_such_column"]
            ),
            **structural,
        }
    elif command == "sbc":
        base = [command, "--sims", "2"]
        slots = {
            "sims": BAD_COUNT.map(lambda v: ["--sims", v]),
            "runs": st.sampled_from([["10", "5"], ["0", "5"], ["x", "5"], ["-3", "4"]]).map(
                lambda v: ["--runs", *v]
            ),
            **_sampler_slots(),
            "alpha": BAD_PROB.map(lambda v: ["--alpha", v]),
            "law": BAD_LAW.map(lambda v: ["--law", v]),
            "scheduler": BAD_SCHEDULER.map(lambda v: ["--scheduler", v]),
            "plot": bad_out(files, ".png").map(lambda p: ["--plot", p]),
            **structural,
        }
    elif command == "design":
        return _lines(*_design(files))
    elif command == "downstream":
        return st.one_of(_lines(*_downstream_fit(files)), _lines(*_downstream_bands(files)))
    elif command == "passk":
        return st.one_of(_lines(*_passk_fit(files)), _lines(*_passk_bands(files)))
    else:  # a command registered later: usage errors only, until it gets its own bad values
        base, slots = [command], {"unknown": st.sampled_from([["--bogus"], ["--no-such", "1"]])}
    return _lines(base, slots)


#: Commands whose bad values (not only usage errors) command_lines generates.
COVERED = {"fit", "summary", "bands", "allocate", "report", "backtest", "compare", "demo"}
COVERED |= {"fit-many", "sbc", "design", "downstream", "passk"}


BAD_SCHEDULER = st.sampled_from(["foo", "", "tcp//x", "local:"])


def _sampler_slots() -> dict:
    return {
        "draws": BAD_COUNT.map(lambda v: ["--draws", v]),
        "chains": BAD_COUNT.map(lambda v: ["--chains", v]),
        "tune": st.sampled_from(["-1", "x", "1.5"]).map(lambda v: ["--tune", v]),
        "seed": BAD_SEED.map(lambda v: ["--seed", v]),
    }


STRUCTURAL = {"unknown": st.sampled_from([["--bogus"], ["--prob"], ["--format", "xml"], ["extra"]])}


def _design(files):
    base = ["design", files["fit.nc"], "--candidates", files["candidates.csv"]]
    base += ["--budget", "1e20", "--compute", "1e22"]
    runs = [files[n] for n in ("empty.csv", "bad.csv", "folder.csv", "passk.nc", "corrupt.nc")]
    slots = {
        "runs": st.sampled_from([*runs, files["root"] / "missing.csv", ""]).map(
            lambda p: ["__runs__", p]
        ),
        "candidates": bad_runs(files).map(lambda p: ["--candidates", p]),
        "budget": BAD_POSITIVE.map(lambda v: ["--budget", v]),
        "compute": BAD_POSITIVE.map(lambda v: ["--compute", v]),
        "objective": st.sampled_from(["best", "", "WIDTH"]).map(lambda v: ["--objective", v]),
        "prob": BAD_PROB.map(lambda v: ["--prob", v]),
        "worlds": BAD_COUNT.map(lambda v: ["--worlds", v]),
        **_sampler_slots(),
        **STRUCTURAL,
    }
    return base, slots


def _downstream_fit(files):
    base = ["downstream", "fit", files["downstream.csv"], "--metric", "metric", "--via", "via"]
    base += ["--out", files["root"] / "d_ok.nc"]
    slots = {
        "runs": bad_runs(files).map(lambda p: ["__runs__", p]),
        "metric": st.sampled_from(["nope", "", "n_params"]).map(lambda v: ["--metric", v]),
        "via": st.sampled_from(["nope", ""]).map(lambda v: ["--via", v]),
        "link": st.sampled_from(["logistic", "", "SIGMOID"]).map(lambda v: ["--link", v]),
        "chance": st.one_of(st.sampled_from(["1", "1.2", "-0.1", "nan", "inf"]), NOT_NUMBER).map(
            lambda v: ["--chance", v]
        ),
        "ceiling": st.sampled_from(["0", "-1", "nan", "x", "0.1"]).map(
            lambda v: ["--ceiling", v, "--chance", "0.25"]
        ),
        "law": BAD_LAW.map(lambda v: ["--law", v]),
        **_sampler_slots(),
        "checkpoints": bad_runs(files).map(lambda p: ["--checkpoints", p]),
        "noise_floor": BAD_POSITIVE.map(lambda v: ["--noise-floor", v]),
        "out": bad_out(files, ".nc").map(lambda p: ["--out", p]),
        **STRUCTURAL,
    }
    return base, slots


def _downstream_bands(files):
    base = ["downstream", "bands", files["downstream.nc"], "--compute", "1e22"]
    pos = st.lists(st.sampled_from(["1e9", "3e9", "1e10"]), min_size=2, max_size=3)
    slots = {
        "fit": bad_fit(files, "downstream.nc").map(lambda p: ["__fit__", p]),
        "compute": BAD_POSITIVE.map(lambda v: ["--compute", v]),
        "all_three": st.just(["--params", "1e9", "--tokens", "1e10"]),
        "mismatch": st.tuples(pos, pos)
        .filter(lambda ab: len(ab[0]) != len(ab[1]))
        .map(lambda ab: ["--params", *ab[0], "--tokens", *ab[1]]),
        "tpp": BAD_POSITIVE.map(lambda v: ["--tokens-per-param", v]),
        "prob": BAD_PROB.map(lambda v: ["--prob", v]),
        **STRUCTURAL,
    }
    return base, slots


def _passk_fit(files):
    base = ["passk", "fit", files["counts.csv"], "--out", files["root"] / "p_ok.nc"]
    slots = {
        "samples": bad_runs(files).map(lambda p: ["__runs__", p]),
        "column": st.sampled_from(["--problem-col", "--samples-col", "--correct-col"]).map(
            lambda f: [f, "no_such_column"]
        ),
        **_sampler_slots(),
        "out": bad_out(files, ".nc").map(lambda p: ["--out", p]),
        **STRUCTURAL,
    }
    return base, slots


def _passk_bands(files):
    base = ["passk", "bands", files["passk.nc"], "--k", "10"]
    slots = {
        "fit": bad_fit(files, "passk.nc").map(lambda p: ["__fit__", p]),
        "k": st.one_of(BAD_COUNT, st.sampled_from(["1e400", "2.5"])).map(lambda v: ["--k", v]),
        "prob": BAD_PROB.map(lambda v: ["--prob", v]),
        "kind": st.sampled_from(["new", "", "POPULATION"]).map(lambda v: ["--kind", v]),
        **STRUCTURAL,
    }
    return base, slots


def _lines(base: list, slots: dict) -> st.SearchStrategy:
    names = sorted(slots)
    chosen = st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)
    return chosen.flatmap(
        lambda picked: st.tuples(*(slots[n] for n in picked)).map(
            lambda parts: _assemble(base, [list(p) for p in parts])
        )
    )


def _assemble(base: list, parts: list[list]) -> list:
    """The base line with the bad parts: ``__runs__`` / ``__fit__`` replace the command's input
    (the first positional after the command words), ``__more__`` adds a second input."""
    argv = list(base)
    at = 2 if base[0] in ("downstream", "passk") else 1
    for part in parts:
        if part and part[0] in ("__runs__", "__fit__"):
            argv[at] = part[1]
        elif part and part[0] == "__more__":
            argv.insert(at + 1, part[1])
        else:
            argv += part
    return argv


#: Every registered command, sub-commands included; a command registered later fails the fuzz
#: below until command_lines has its bad lines.
load_deferred(["--help"])  # the commands imported when a command line names them, too
COMMANDS = list(COMMAND_REGISTRY)


def test_the_fuzz_knows_the_bad_values_of_every_registered_command():
    missing = sorted(set(COMMAND_REGISTRY) - COVERED)
    assert not missing, f"add the bad values of {missing} to command_lines (and to COVERED)"


@pytest.mark.parametrize("command", COMMANDS)
def test_plumbing_bad_command_lines_are_one_line_exit_2(command, files, tripwire, capsys):
    seen: list[str] = []

    @FUZZ
    @given(command_lines(files, command))
    def check(argv):
        code, out, err = run(argv, capsys)
        assert_one_error_line(argv, code, out, err)
        seen.append(err)

    check()
    assert len(seen) >= FUZZ.max_examples  # every generated command line was run
    if os.environ.get("BAYES_SCALING_SHOW_FUZZ"):
        print(*sorted(set(seen))[:: max(1, len(set(seen)) // 25)], sep="", file=sys.__stderr__)


@FUZZ
@given(st.lists(st.text(max_size=10), max_size=6))
def test_plumbing_arbitrary_argv_never_tracebacks(files, tripwire, capsys, argv):
    """Random words: a usage error (exit 2, one line); never a traceback or a sampler."""
    if any("-h" in a for a in argv) or (argv and argv[0] in COMMANDS):
        return  # --help is not an error; a real command is fuzzed above
    code, out, err = run(argv, capsys)
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith(PREFIX), (argv, err)


# --- a save that fails after sampling keeps the fit -----------------------------------------------


def test_plumbing_fit_whose_save_fails_after_sampling_is_kept(files, monkeypatch, tmp_path, capsys):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    saved = bs.load(files["fit.nc"])

    def fit_then_lose_the_folder(*args, **kwargs):
        shutil.rmtree(out_dir)  # the folder vanishes while "sampling"
        return saved

    monkeypatch.setattr(inference, "fit", fit_then_lose_the_folder)
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["fit", files["runs.csv"], "--out", out_dir / "fit.nc"], capsys)
    assert_one_error_line("fit", code, out, err)
    assert "could not write" in err and "the fit was kept in" in err
    kept = Path(err.split("the fit was kept in ")[1].split("'")[1])
    assert kept.parent == tmp_path and kept.suffix == ".nc"
    assert bs.load(kept).posterior.sizes == saved.posterior.sizes


def test_plumbing_kept_fit_falls_back_to_the_temporary_folder(files, monkeypatch, tmp_path, capsys):
    out_dir, temp = tmp_path / "out", tmp_path / "temp"
    out_dir.mkdir()
    temp.mkdir()
    saved = bs.load(files["fit.nc"])

    def fit_then_lose_the_folders(*args, **kwargs):
        shutil.rmtree(out_dir)
        monkeypatch.setattr(Path, "cwd", classmethod(lambda cls: tmp_path / "gone"))
        return saved

    monkeypatch.setattr(inference, "fit", fit_then_lose_the_folders)
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    code, out, err = run(["fit", files["runs.csv"], "--out", out_dir / "fit.nc"], capsys)
    assert_one_error_line("fit", code, out, err)
    kept = Path(err.split("the fit was kept in ")[1].split("'")[1])
    assert kept.parent == temp and bs.load(kept).posterior.sizes == saved.posterior.sizes
