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

from bayes_scaling.answers.gap import check_request, difference_table, loss_difference
from bayes_scaling.cli.checks import save_fit
from bayes_scaling.cli.output import column_map, formatted, read_fit, result_meta, status
from bayes_scaling.data import load_runs
from bayes_scaling.errors import FitFileError
from bayes_scaling.inference.grouped import fit_groups
from bayes_scaling.laws import get_law
from bayes_scaling.plots import comparison_plot
from bayes_scaling.report import comparison_report
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
            out["sizes"] = json.loads(sizes.to_json(orient="records"))
        print(json.dumps(out, indent=1))
    elif args.format == "csv":  # one table: crossover summary and gate repeated on every row
        extra = {
            **crossing,
            "converged": result.converged,
            "discrepancy": comparison.discrepancy != "off",
        }
        print(table.assign(**extra).to_csv(index=False), end="")
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


def _crossing_line(x: dict, prob: float) -> str:
    return (
        f"crossover (B overtakes A) in [{x['range_lower']:.3g}, {x['range_upper']:.3g}] FLOPs: "
        f"probability {x['p_crossover_in_range']:.2f}; median {x['crossover']:.3g} "
        f"({prob:.0%} interval {x['crossover_lower']:.3g}-{x['crossover_upper']:.3g}); "
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
        comparison_plot(comparison).savefig(args.plot, dpi=110, bbox_inches="tight")
    if args.report:
        comparison_report(comparison, args.report)
