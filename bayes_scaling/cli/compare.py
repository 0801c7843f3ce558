"""``bayes-scaling compare``: a grouped fit (or a saved one) and two groups compared.

Output: the table per budget (``--format table|csv|json``), the headline sentence, the crossover
line, the parameter differences and, with ``--params/--tokens``, the difference at those sizes;
``--plot`` and ``--report`` write the figure and the decision page. Exit codes as in :mod:`.cli`.
By default the grouped fit learns the law's error beyond the data (shared by the groups and
specific to each) and every number carries it; ``--no-discrepancy`` gives parameter-only answers
(and, when fitting, skips learning it).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling._constants import DEFAULT_PROB
from bayes_scaling.answers.difference import difference_table, loss_difference
from bayes_scaling.answers.gap import check_request
from bayes_scaling.cli import checks
from bayes_scaling.cli.checks import save_fit
from bayes_scaling.cli.output import (
    column_map,
    formatted,
    json_rows,
    read_fit,
    result_meta,
    save_figure,
    status,
)
from bayes_scaling.cli.parser import (
    add_column_flags,
    add_format_flag,
    add_law_flag,
    add_sampler_flags,
    number,
)
from bayes_scaling.cli.registry import Command, register
from bayes_scaling.data import load_runs
from bayes_scaling.errors import FitFileError
from bayes_scaling.laws import get_law
from bayes_scaling.results import GroupedFit


def cmd_compare(args) -> int:

    a, b = args.groups or (None, None)
    with_error = not args.no_discrepancy
    if Path(args.runs).suffix in (".nc", ".zarr"):  # a grouped fit saved with --out
        result = read_fit(args.runs)
        if not isinstance(result, GroupedFit):
            raise FitFileError(f"{args.runs!r} is a single fit; compare needs a grouped fit")
    else:
        runs = load_runs(args.runs, **{k: v for k, v in column_map(args).items() if v})
        if "group" in runs:  # check the request before minutes of sampling
            check_request(get_law(args.law), runs["group"].dropna().unique(), a, b, args.prob)
        from bayes_scaling.inference.grouped import fit_groups  # the sampler: only here

        result = fit_groups(
            runs,
            law=args.law,
            pool=args.pool,
            pooling=args.pooling,  # --pool-param, parsed by checks.check_compare
            seed=args.seed,
            draws=args.draws,
            chains=args.chains,
            tune=args.tune,
            target_accept=args.target_accept,
            likelihood=args.likelihood,
            discrepancy=with_error,
        )
        if args.out:
            save_fit(result, args.out)
    rng = tuple(args.range) if args.range else None
    comparison = result.compare(
        a, b, compute=args.compute, compute_range=rng, prob=args.prob, discrepancy=with_error
    )
    table, crossing = comparison.table(), comparison.crossover_summary()
    sizes = None
    if args.params or args.tokens:
        draws = loss_difference(
            result, a, b, params=args.params, tokens=args.tokens, discrepancy=with_error
        )
        sizes = difference_table(draws, args.prob)
    meta = {
        **result_meta(result),
        "a": comparison.a,
        "b": comparison.b,
        "pool": result.pooling.preset,
        "discrepancy": comparison.discrepancy,
    }
    if args.format == "json":
        out = json.loads(comparison.to_json())
        if sizes is not None:
            out["sizes"] = json_rows(sizes)
        print(json.dumps(out, indent=1))
    elif args.format == "csv":  # one table: crossover summary and gate repeated on every row
        extra = {
            **crossing,
            "converged": result.converged,
            "discrepancy": comparison.discrepancy != "off",
        }
        print(_one_table(table, sizes).assign(**extra).to_csv(index=False), end="")
    else:
        print(formatted(table, "table", meta), end="")
        print(f"# {comparison.headline()}")
        print(f"# {_crossing_line(crossing, args.prob)}")
        print(f"# {_error_line(comparison.discrepancy)}")
        print(formatted(comparison.parameters, "table", meta).split("\n", 1)[1], end="")
        if sizes is not None:
            print(formatted(sizes, "table", meta).split("\n", 1)[1], end="")
    _compare_files(comparison, args)
    return status(result)


def _one_table(table, sizes):
    """The budgets' rows, then (with --params/--tokens) the sizes' rows: one CSV, each row with
    ``compute`` or ``n_params``/``n_tokens`` set and the other blank."""
    if sizes is None:
        return table
    rows = pd.concat([table, sizes], ignore_index=True)
    first = ["compute", "n_params", "n_tokens"]
    return rows[first + [c for c in rows.columns if c not in first]]


def _crossing_line(x: dict, prob: float) -> str:
    if np.isfinite(x["crossover"]):
        when = (
            f"median {x['crossover']:.3g} ({prob:.0%} interval {x['crossover_lower']:.3g}-"
            f"{x['crossover_upper']:.3g})"
        )
    elif x["p_crossover_in_range"] > 0:  # a median needs 1% of the draws to cross
        when = "too few draws cross there for a median"
    else:
        when = "no draw crosses there"
    return (
        f"crossover (B overtakes A) in [{x['range_lower']:.3g}, {x['range_upper']:.3g}] FLOPs: "
        f"probability {x['p_crossover_in_range']:.2f}; {when}; "
        f"no crossover: B ahead throughout {x['p_b_ahead_throughout']:.2f}, A ahead throughout "
        f"{x['p_a_ahead_throughout']:.2f}, A overtakes B {x['p_a_overtakes_b']:.2f}"
    )


def _error_line(discrepancy: str) -> str:
    if discrepancy == "off":
        return "parameter-only: no law error beyond the data (--no-discrepancy, or none learned)"
    return (
        "losses carry the law's error beyond the data; the part shared by the groups cancels "
        f"from the sign of the difference ({discrepancy})"
    )


def _compare_files(comparison, args) -> None:
    """The figure (--plot) and the report (--report) of a comparison."""
    if not (args.plot or args.report):
        return
    import matplotlib

    matplotlib.use("Agg")
    if args.plot:
        from bayes_scaling.plots import comparison_plot  # matplotlib: only here

        save_figure(comparison_plot(comparison), args.plot, "--plot")
    if args.report:
        from bayes_scaling.report import comparison_report

        comparison_report(comparison, args.report)


def compare_arguments(c) -> None:
    c.add_argument("runs", help="runs table with a group column, or a grouped fit saved by --out")
    add_law_flag(c)
    c.add_argument(
        "--pool",
        choices=("exponents", "all", "none"),
        default="exponents",
        help="exponents: exponents partially pooled, coefficients per group, E shared (default); "
        "all: every law parameter partially pooled; none: every law parameter per group",
    )
    c.add_argument(
        "--pool-param",
        nargs="+",
        default=[],
        metavar="NAME=MODE",
        help="override the preset per parameter, e.g. E=independent sigma=partial "
        "(modes: shared, partial, independent)",
    )
    c.add_argument(
        "--groups", nargs=2, default=None, metavar=("A", "B"), help="baseline, candidate"
    )
    c.add_argument("--compute", type=number, nargs="+", default=None, help="budgets (FLOPs)")
    c.add_argument(
        "--range",
        type=number,
        nargs=2,
        default=None,
        metavar=("LOW", "HIGH"),
        help="compute range in which to look for a crossover",
    )
    c.add_argument("--params", type=number, nargs="+", help="also compare at these N ...")
    c.add_argument("--tokens", type=number, nargs="+", help="... and D (same length)")
    c.add_argument("--prob", type=number, default=DEFAULT_PROB)
    c.add_argument("--likelihood", choices=("student_t", "normal"), default="student_t")
    add_sampler_flags(c, draws=2000, tune=1500, target_accept=0.98)  # fit_groups' defaults
    c.add_argument(
        "--no-discrepancy",
        action="store_true",
        help="parameter-only: no law error beyond the data (shared or recipe-specific)",
    )
    c.add_argument("--out", default=None, help="save the grouped fit (.nc or .zarr)")
    c.add_argument("--report", default=None, help="write the comparison report (.html)")
    c.add_argument("--plot", default=None, help="write the comparison figure (.png, .svg)")
    add_column_flags(c)
    add_format_flag(c)


register(
    Command(
        "compare",
        "does group B scale better than A? (hierarchical fit)",
        compare_arguments,
        cmd_compare,
        checks.check_compare,
        usage="""bayes-scaling compare RUNS|GROUPED.nc --group-col G --law chinchilla
                      [--pool exponents|all|none] [--pool-param NAME=MODE ...] [--groups A B]
                      --compute C... [--range LOW HIGH] [--params N... --tokens D...]
                      [--out FIT.nc] [--report R.html] [--plot F.png] [--format table|csv|json]""",
    )
)
