"""Checks of every command's arguments, run before any file is read or any sampler starts.

Each check raises :class:`~bayes_scaling.errors.ArgumentError` naming the flag, what was given and
the fix; ``main`` prints it as one line (``bayes-scaling: error: --prob: ...``) with exit code 2.
Checked values are written back to ``args`` in the form the commands pass on (floats, lists).

Output paths are checked before the work that fills them: the suffix, the folder (it must exist
and take a new file, which is tried), and an existing target of the wrong kind. A fit that still
cannot be saved after sampling is not lost: :func:`save_fit` keeps it under a unique name in the
current folder (or the temporary folder) and says where.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

from bayes_scaling import _validate as check
from bayes_scaling.errors import ArgumentError, BayesScalingError, FitFileError
from bayes_scaling.laws import get_law
from bayes_scaling.model.pooling import MODES

FIT_SUFFIXES = (".nc", ".zarr")
HTML_SUFFIXES = (".html", ".htm")
MARKDOWN_SUFFIXES = (".md", ".markdown")
PLOT_SUFFIXES = (".png", ".svg", ".pdf", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff", ".webp")
SCHEDULERS = ("serial", "local")
_ADDRESS = re.compile(r"^([a-z][a-z0-9+.-]*://\S+|[\w.-]+:\d{1,5})$")


def _show(value) -> str:
    return check.shown(value, 80)


# --- paths --------------------------------------------------------------------------------------


def path_text(value: str, flag: str) -> str:
    """A path argument that the operating system can take (not empty, no NUL byte)."""
    if not value or not value.strip():
        raise ArgumentError(flag, "is empty; give a file name")
    if "\x00" in value:
        raise ArgumentError(flag, f"{_show(value)} contains a NUL byte; give a file name")
    return value


def _try_write(folder: Path, flag: str, shown: str) -> None:
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ArgumentError(
            flag,
            f"cannot write into the folder {shown!r} ({exc.strerror or exc}); choose a "
            "writable folder",
        ) from None


def output_path(
    value: str, flag: str, suffixes: tuple[str, ...], *, make_parents: bool = False
) -> str:
    """Check an output file before the work that fills it.

    ``suffixes``: the allowed endings (``.zarr`` is a folder store, the rest files).
    ``make_parents``: the writer creates missing folders (reports), so the nearest existing
    folder above the file must be writable; otherwise the file's own folder must exist.
    """
    path_text(value, flag)
    path = Path(value)
    suffix = path.suffix if ".zarr" in suffixes or ".nc" in suffixes else path.suffix.lower()
    if suffix not in suffixes:
        raise ArgumentError(
            flag, f"{_show(value)} must end in {' or '.join(suffixes)}, e.g. out{suffixes[0]}"
        )
    try:
        exists, is_dir = path.exists(), path.is_dir()
        if exists and is_dir and suffix != ".zarr":
            raise ArgumentError(flag, f"{_show(value)} is a folder; give a file name")
        if exists and not is_dir and suffix == ".zarr":
            raise ArgumentError(
                flag, f"{_show(value)} is a file, but a .zarr store is a folder; remove it first"
            )
        if exists and not os.access(path, os.W_OK):
            raise ArgumentError(flag, f"{_show(value)} exists and is not writable")
        folder = path.parent
        if make_parents:
            while not folder.exists() and folder != folder.parent:
                folder = folder.parent
        if not folder.exists():
            raise ArgumentError(
                flag,
                f"the folder {str(folder)!r} does not exist; create it first "
                f"(mkdir -p {folder}) or choose another path",
            )
        if not folder.is_dir():
            raise ArgumentError(flag, f"{str(folder)!r} is a file, not a folder")
        _try_write(folder, flag, str(folder))
    except OSError as exc:  # a name too long, a loop of links, ...
        raise ArgumentError(flag, f"cannot use {_show(value)}: {exc.strerror or exc}") from None
    return value


def output_folder(value: str, flag: str) -> str:
    """A folder that will be created if needed and filled (``demo --out``)."""
    path_text(value, flag)
    path = Path(value)
    try:
        if path.exists() and not path.is_dir():
            raise ArgumentError(flag, f"{_show(value)} is a file; give a folder name")
        folder = path
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            raise ArgumentError(flag, f"{str(folder)!r} is a file, not a folder")
        _try_write(folder, flag, str(folder))
    except OSError as exc:
        raise ArgumentError(flag, f"cannot use {_show(value)}: {exc.strerror or exc}") from None
    return value


# --- values -------------------------------------------------------------------------------------


def _law(value: str, flag: str = "--law"):
    try:
        return get_law(value)
    except BayesScalingError as exc:
        raise ArgumentError(flag, str(exc)) from None
    except Exception as exc:  # a malformed law name ("data_constrained:alpha=x", ...)
        raise ArgumentError(flag, f"cannot make a law of {_show(value)}: {exc}") from None


def _same_length(named: dict[str, list | None]) -> None:
    """Lists given together pair point by point: equal lengths, or a single value for all."""
    present = {k: v for k, v in named.items() if v is not None}
    lengths = {len(v) for v in present.values()} - {1}
    if len(lengths) > 1:
        shown = ", ".join(f"{k} has {len(v)}" for k, v in present.items())
        raise ArgumentError(
            list(present)[-1],
            f"the lists of sizes must pair point by point ({shown} values); give the same "
            "number of values for each (or a single value for all)",
        )


def _positive_list(args, attr: str, flag: str) -> None:
    values = getattr(args, attr)
    if values is not None:
        setattr(args, attr, check.positive_array(values, flag).tolist())


def _positive(args, attr: str, flag: str) -> None:
    value = getattr(args, attr)
    if value is not None:
        setattr(args, attr, check.positive(value, flag))


def sampler(args, *, tune_minimum: int = 1) -> None:
    """The flags of :func:`~bayes_scaling.cli.parser.add_sampler_flags`, one rule for every
    fitting command: ``--draws``, ``--chains``, ``--tune`` ≥ 1 (nutpie panics with no tuning
    step: "assertion failed: early_end < num_tune"); ``--seed`` a seed; ``--target-accept`` in
    (0, 1). ``None`` keeps the fit's default."""
    if args.draws is not None:  # None: the fit's default length
        args.draws = check.count(args.draws, "--draws")
    if hasattr(args, "chains"):
        args.chains = check.count(args.chains, "--chains")
    if getattr(args, "tune", None) is not None:
        args.tune = check.count(args.tune, "--tune", minimum=tune_minimum)
    if hasattr(args, "target_accept"):
        args.target_accept = check.probability(args.target_accept, "--target-accept")
    args.seed = check.seed(args.seed, "--seed")


def _runs_input(args) -> None:
    path_text(args.runs, "runs file")
    column_flags(args)


def column_flags(args) -> None:
    """The ``--*-col`` flags given are not empty."""
    for flag in ("n", "d", "c", "loss", "run", "group"):
        value = getattr(args, f"{flag}_col", None)
        if value is not None and not value.strip():
            raise ArgumentError(f"--{flag}-col", "is empty; give the name of a column")


def check_fit(args) -> None:
    _law(args.law)
    sampler(args)
    for attr, flag in (
        ("n_scale", "--n-scale"),
        ("d_scale", "--d-scale"),
        ("c_scale", "--c-scale"),
    ):
        _positive(args, attr, flag)
    _runs_input(args)
    output_path(args.out, "--out", FIT_SUFFIXES)


def check_summary(args) -> None:
    args.prob = check.probability(args.prob, "--prob")
    path_text(args.fit, "fit file")


def check_bands(args) -> None:
    for attr in ("params", "tokens", "compute"):
        _positive_list(args, attr, f"--{attr}")
    if args.compute is None and (args.params is None or args.tokens is None):
        flag = "--tokens" if args.params is not None else "--params"
        if args.params is None and args.tokens is None:
            flag = "--compute"
        raise ArgumentError(flag, "give --compute C..., or both --params N... and --tokens D...")
    if args.compute is not None and args.params is not None and args.tokens is not None:
        raise ArgumentError(
            "--compute", "give at most two of --params, --tokens and --compute (the third follows)"
        )
    _same_length({"--params": args.params, "--tokens": args.tokens, "--compute": args.compute})
    _positive(args, "tokens_per_param", "--tokens-per-param")
    if args.tokens_per_param is not None and args.compute is None:
        raise ArgumentError("--tokens-per-param", "splits a compute budget; give --compute too")
    args.prob = list(check.probabilities(args.prob, "--prob"))
    if args.tolerance is not None:
        args.tolerance = check.tolerance(args.tolerance, args.relative, "--tolerance")
    elif args.relative:
        raise ArgumentError("--relative", "reads --tolerance as a fraction; give --tolerance too")
    path_text(args.fit, "fit file")


def check_allocate(args) -> None:
    _positive_list(args, "compute", "--compute")
    for attr, flag in (
        ("params", "--params"),
        ("tokens_per_param", "--tokens-per-param"),
        ("target", "--target"),
    ):
        _positive(args, attr, flag)
    args.prob = check.probability(args.prob, "--prob")
    path_text(args.fit, "fit file")


def check_report(args) -> None:
    for attr, flag in (
        ("compute", "--compute"),
        ("target", "--target"),
        ("params", "--params"),
        ("tokens_per_param", "--tokens-per-param"),
    ):
        _positive(args, attr, flag)
    args.tolerance = check.tolerance(args.tolerance, not args.absolute, "--tolerance")
    path_text(args.fit, "fit file")
    for path in args.compare or []:
        path_text(path, "--compare")
    if getattr(args, "skill", False) and not args.compare:
        raise ArgumentError("--skill", "weighs compared laws; give their fits with --compare")
    output_path(args.out, "--out", HTML_SUFFIXES, make_parents=True)
    if args.markdown is not None:
        output_path(args.markdown, "--markdown", MARKDOWN_SUFFIXES, make_parents=True)
    scheduler(args)


def check_backtest(args) -> None:
    _law(args.law)
    for attr in ("cut_compute", "cut_tokens", "cut_params"):
        _positive_list(args, attr, "--" + attr.replace("_", "-"))
    args.prob = list(check.probabilities(args.prob, "--prob"))
    args.seed = check.seed(args.seed, "--seed")
    scheduler(args)
    _runs_input(args)


def scheduler(args) -> None:
    scheduler = args.scheduler
    if scheduler not in SCHEDULERS and not _ADDRESS.match(scheduler or ""):
        raise ArgumentError(
            "--scheduler",
            f"expected serial, local or a Dask scheduler address such as tcp://host:8786, got "
            f"{_show(scheduler)}",
        )


def pool_overrides(items) -> dict[str, str]:
    """``--pool-param NAME=MODE ...`` as a dict; a bad item names the fix."""
    overrides = {}
    for item in items:
        name, sep, mode = item.partition("=")
        name, mode = name.strip(), mode.strip()
        if not sep or not name:
            raise ArgumentError(
                "--pool-param", f"{_show(item)}: write NAME=MODE, e.g. E=independent"
            )
        overrides[name] = check.one_of(mode, f"--pool-param {name}", MODES)
    return overrides


def check_compare(args) -> None:
    _law(args.law)
    sampler(args)
    args.prob = check.probability(args.prob, "--prob")
    args.pooling = pool_overrides(args.pool_param)
    if args.groups is not None and args.groups[0] == args.groups[1]:
        raise ArgumentError("--groups", f"compare two different groups, not {args.groups[0]!r}")
    for attr in ("compute", "params", "tokens"):
        _positive_list(args, attr, f"--{attr}")
    if (args.params is None) != (args.tokens is None):
        raise ArgumentError(
            "--tokens" if args.tokens is None else "--params",
            "give both --params N... and --tokens D... to compare at those sizes",
        )
    _same_length({"--params": args.params, "--tokens": args.tokens})
    if args.range is not None:
        low, high = check.positive_array(args.range, "--range").tolist()
        if not low < high:
            raise ArgumentError("--range", f"LOW must be below HIGH, got {low:g} {high:g}")
        args.range = [low, high]
    _runs_input(args)
    if args.out is not None:
        output_path(args.out, "--out", FIT_SUFFIXES)
    if args.report is not None:
        output_path(args.report, "--report", HTML_SUFFIXES, make_parents=True)
    if args.plot is not None:
        output_path(args.plot, "--plot", PLOT_SUFFIXES)


def check_demo(args) -> None:
    args.draws = check.count(args.draws, "--draws")
    args.seed = check.seed(args.seed, "--seed")
    output_folder(args.out, "--out")


def check_args(args) -> None:
    """Run the checks of ``args.command``'s record (they may normalise ``args`` in place)."""
    if getattr(args, "check", None) is not None:
        args.check(args)


# --- saving a fit -------------------------------------------------------------------------------


def _rescue_targets(path: Path):
    suffix = path.suffix if path.suffix in FIT_SUFFIXES else ".nc"
    prefix = f"{path.stem or 'fit'}-kept-"
    for folder in (Path.cwd(), Path(tempfile.gettempdir())):
        try:
            if suffix == ".zarr":
                yield Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=folder))
            else:
                fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
                os.close(fd)
                yield Path(name)
        except OSError:
            continue


#: Set by :func:`~bayes_scaling.cli.entry.main` on Ctrl-C: from then on nothing is saved.
INTERRUPTED = threading.Event()


def save_fit(result, path) -> Path:
    """Save ``result`` to ``path``; if that fails, keep it elsewhere and raise a one-line error
    that says where (the sampling is not lost).

    The save is atomic (:func:`~bayes_scaling.results.base.save_tree`): on any failure, a full
    disk included, a file already at ``path`` is left as it was. After Ctrl-C nothing is written
    (``KeyboardInterrupt``)."""
    if INTERRUPTED.is_set():
        raise KeyboardInterrupt
    try:
        return result.save(path)
    except (FitFileError, OSError) as exc:
        failure = exc
    for target in _rescue_targets(Path(path)):
        try:
            result.save(target)
        except BaseException as exc:  # noqa: BLE001 (no placeholder left behind, then re-raise)
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)
            if not isinstance(exc, FitFileError | OSError):
                raise
            continue
        raise FitFileError(
            f"{failure}; the fit was kept in {str(target)!r} instead (move it where you want it)"
        ) from failure
    raise FitFileError(f"{failure}; the fit could not be kept anywhere else either") from failure
