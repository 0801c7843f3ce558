"""``bayes-scaling design``: which candidate runs to train next under a FLOP budget.

    bayes-scaling design RUNS --candidates POOL --budget FLOPS
        (--compute C [C ...] | --params N [N ...] --tokens D [D ...])
        [--law LAW] [--seed S] [--objective width|variance|regret] [--prob P]
        [--worlds K] [--draws N] [--chains K] [--tune T] [--no-rescue]
        [--n-col ... --loss-col NAME] [--format csv|json|table]

RUNS is a runs table (fitted first) or a saved fit (.nc / .zarr). POOL has one row per candidate
with ``params`` and ``tokens`` (an optional ``cost`` column in FLOPs; other columns ignored, no
loss needed). stdout has one row per chosen candidate in the order chosen: ``candidate`` (the
0-based row of POOL as read), ``params``, ``tokens``, ``compute``, ``cost``, ``cumulative_cost``,
``gain`` (expected reduction of the objective), ``objective`` (its expected value after the pick),
``ess``, ``tempered``, ``converged``. The picks cost at most ``--budget`` together and no
candidate is picked twice; candidates already in RUNS (same params and tokens) are skipped, said
on stderr, and so is the reason when nothing is picked (no candidate fits the budget, or none is
expected to narrow the objective). RUNS' columns are found as ``fit`` finds them (``--n-col`` ...
name others). Exit codes: 0; 3 when the fit did not converge (the picks are still printed); 2 bad
input (one line on stderr).
"""

from __future__ import annotations

import sys
from pathlib import Path

from bayes_scaling import _validate as check
from bayes_scaling._constants import DEFAULT_PROB
from bayes_scaling.cli.checks import FIT_SUFFIXES, path_text, sampler
from bayes_scaling.cli.output import column_map, formatted, read_fit, status
from bayes_scaling.cli.parser import (
    add_column_flags,
    add_format_flag,
    add_law_flag,
    add_sampler_flags,
)
from bayes_scaling.cli.parser import number as _number
from bayes_scaling.cli.parser import whole as _whole
from bayes_scaling.cli.registry import Command, register
from bayes_scaling.data import load_runs
from bayes_scaling.design.candidates import read_pool
from bayes_scaling.design.objectives import OBJECTIVES, check_law
from bayes_scaling.design.result import PICK_COLUMNS
from bayes_scaling.design.selection import design
from bayes_scaling.design.worlds import check_candidate_law
from bayes_scaling.errors import ArgumentError, BayesScalingError, FitFileError
from bayes_scaling.laws import get_law
from bayes_scaling.results import ScalingFit

#: The law fitted when RUNS is a table and no --law is given (a saved fit keeps its own).
DEFAULT_LAW = "chinchilla"


def design_arguments(p) -> None:
    """The flags of ``design``."""
    p.add_argument("runs", help="runs table (.csv, .parquet, .jsonl) or a saved fit (.nc, .zarr)")
    p.add_argument("--candidates", required=True, help="pool of candidate runs: params, tokens")
    p.add_argument("--budget", type=_number, required=True, help="FLOPs for the picks together")
    p.add_argument("--compute", type=_number, nargs="+", default=None, help="target budgets")
    p.add_argument("--params", type=_number, nargs="+", default=None, help="target sizes N")
    p.add_argument("--tokens", type=_number, nargs="+", default=None, help="target tokens D")
    add_law_flag(p, default=None, said="default for a runs table; a saved fit keeps its own")
    p.add_argument("--objective", choices=tuple(OBJECTIVES), default="width")
    p.add_argument("--prob", type=_number, default=DEFAULT_PROB, help="the band's probability")
    p.add_argument("--worlds", type=_whole, default=32, help="fantasy worlds (default 32)")
    add_sampler_flags(p)
    p.add_argument("--no-rescue", action="store_true", help="one sampling attempt, no rescue")
    add_column_flags(p)
    add_format_flag(p)


def check_design(args) -> None:
    """Arguments checked before any file is read or any sampler starts."""
    path_text(args.runs, "RUNS")
    path_text(args.candidates, "--candidates")
    try:
        law = get_law(args.law or DEFAULT_LAW)
    except BayesScalingError as exc:
        raise ArgumentError("--law", str(exc)) from None
    args.budget = check.positive(args.budget, "--budget")
    args.prob = check.probability(args.prob, "--prob")
    args.worlds = check.count(args.worlds, "--worlds", minimum=2)
    for attr in ("compute", "params", "tokens"):
        if getattr(args, attr) is not None:
            setattr(args, attr, check.positive_array(getattr(args, attr), f"--{attr}").tolist())
    points = args.params is not None or args.tokens is not None
    if args.compute is not None and points:
        raise ArgumentError("--compute", "give --compute C..., or --params N... with --tokens D...")
    if args.compute is None and (args.params is None or args.tokens is None):
        flag = "--compute" if not points else ("--tokens" if args.tokens is None else "--params")
        raise ArgumentError(flag, "give the target: --compute C..., or --params N... --tokens D...")
    if points and len(args.params) != len(args.tokens):
        raise ArgumentError(
            "--tokens",
            f"pairs with --params point by point ({len(args.params)} vs "
            f"{len(args.tokens)} values); give as many of each",
        )
    if args.law is not None or Path(args.runs).suffix not in FIT_SUFFIXES:
        _check_compute_target(law, args)  # before a table is fitted; a saved fit's law when read
    if args.objective == "regret" and args.compute is None:
        raise ArgumentError("--objective", "regret is defined at budgets; give --compute")
    sampler(args)


def _check_compute_target(law, args) -> None:
    """A budget target names a run only through the law's compute-optimal split; the regret
    objective needs a law in N and D; a candidate gives N and D alone."""
    # the flag that chose the law: --law, or the saved fit itself
    check_candidate_law(law, "--law" if args.law is not None else "RUNS")
    if args.compute is not None and law.optimum is None and "compute" not in law.inputs:
        raise ArgumentError(
            "--compute",
            f"law {law.name!r} has no compute-optimal split, so a budget names no run; give "
            "--params N... --tokens D..., or a law in N and D",
        )
    check_law(OBJECTIVES[args.objective](), law, "--objective")


def _current_fit(args):
    if Path(args.runs).suffix in FIT_SUFFIXES:
        result = read_fit(args.runs)
        if not isinstance(result, ScalingFit):
            raise FitFileError(f"{args.runs!r} is not a single-law fit; give its runs table")
        if args.law is not None and get_law(args.law).name != result.law.name:
            raise ArgumentError(
                "--law",
                f"{args.runs!r} is a fit of the {result.law.name!r} law, not {args.law!r}; drop "
                "--law, or give the runs table to fit that law",
            )
        _check_compute_target(result.law, args)
        return result
    from bayes_scaling import inference  # the sampler, imported when a fit runs

    return inference.fit(
        load_runs(args.runs, **{k: v for k, v in column_map(args).items() if v}),
        law=args.law or DEFAULT_LAW,
        seed=args.seed,
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        progress=False,
        rescue=not args.no_rescue,
    )


def run(args) -> int:
    """Read the pool (before any sampling), fit RUNS, design, print the picks; the exit code."""
    pool = read_pool(args.candidates)
    fit = _current_fit(args)
    result = design(
        fit,
        pool[["params", "tokens", "cost"]],
        args.budget,
        compute=args.compute,
        params=args.params,
        tokens=args.tokens,
        objective=args.objective,
        prob=args.prob,
        seed=args.seed,
        n_worlds=args.worlds,
    )
    if result.skipped:
        shown = ", ".join(map(str, result.skipped[:20])) + (
            " ..." if len(result.skipped) > 20 else ""
        )
        print(
            f"bayes-scaling: note: skipped candidate{'s' if len(result.skipped) > 1 else ''} "
            f"{shown}: already in RUNS (same params and tokens)",
            file=sys.stderr,
        )
    if result.picks.empty:
        print(f"bayes-scaling: note: nothing picked: {_why_none(pool, result)}", file=sys.stderr)
    meta = {
        "converged": result.converged,
        "reason": result.reason,
        "objective": result.objective,
        "initial": result.initial,
        "budget": result.budget,
        "skipped": result.skipped,
    }
    print(formatted(result.picks[PICK_COLUMNS], args.format, meta), end="")
    return status(fit)


def _why_none(pool, result) -> str:
    """Why a design picked nothing: the budget, or no candidate expected to help."""
    left = pool[~pool["candidate"].isin(result.skipped)]
    if left.empty:
        return "every candidate is already in RUNS"
    cheapest = float(left["cost"].min())
    if cheapest > result.budget:
        return f"the cheapest candidate costs {cheapest:.4g} FLOPs, more than --budget"
    return (
        f"no candidate is expected to narrow the {result.objective} at the target "
        f"(now {result.initial:.4g}); the runs already pin it down, or the target lies too far out"
    )


register(
    Command(
        "design",
        "which candidate runs to train next under a FLOP budget",
        design_arguments,
        run,
        check_design,
        usage=__doc__.split("\n\n")[1],
    )
)
