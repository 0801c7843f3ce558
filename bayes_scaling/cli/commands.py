"""Command line: a thin layer over the public API. Scripts depend on this contract.

Exit codes: 0 success (fit converged); 2 bad input (one line on stderr starting
``bayes-scaling: error:``, no traceback; usage errors included); 3 a fit written, or read, that
did not converge (one-line reason on stderr). Arguments and output paths are checked
(:mod:`.checks`) before any file is read or any sampler starts; a fit whose file cannot be written
after sampling is kept under another name, said in the error line.

    bayes-scaling fit RUNS --law chinchilla --out FIT.nc [--seed S] [--draws N] [--chains K]
                          [--n-col/--d-col/--c-col/--loss-col NAME]
    bayes-scaling summary FIT.nc [--prob 0.9] [--format table|csv|json]
    bayes-scaling bands FIT.nc (--params N... --tokens D... | --compute C...) [--prob P...]
                          [--tokens-per-param R] [--format table|csv|json]
    bayes-scaling allocate FIT.nc --compute C... [--params N | --tokens-per-param R] [--target L]
                          [--format table|csv|json]
    bayes-scaling report FIT.nc --compute C [--target L] [--out report.html] [--markdown report.md]
    bayes-scaling backtest RUNS --law chinchilla --cut-compute C [C2 ...] [--prob P...]
                          [--cut-tokens D ... | --cut-params N ...]
                          [--method bayes bayes_params huber] [--format table|csv|json]
                          [--scheduler serial|local|tcp://host:8786]
    bayes-scaling compare RUNS|GROUPED.nc --group-col G --law chinchilla
                          [--pool exponents|all|none] [--pool-param NAME=MODE ...] [--groups A B]
                          --compute C... [--range LOW HIGH] [--params N... --tokens D...]
                          [--out FIT.nc] [--report R.html] [--plot F.png] [--format table|csv|json]
    bayes-scaling demo [--out DIR]
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from bayes_scaling import inference, plots, trust
from bayes_scaling.cli import downstream, many, passk
from bayes_scaling.cli.checks import check_args, save_fit
from bayes_scaling.cli.output import (
    client_of,
    column_map,
    formatted,
    read_fit,
    result_meta,
    single_fit,
    status,
)
from bayes_scaling.cli.parser import (
    EXIT_BAD_INPUT,
    EXIT_NOT_CONVERGED,
    EXIT_OK,
    build_parser,
    error_line,
    one_line,
)
from bayes_scaling.data import datasets, load_runs
from bayes_scaling.errors import BayesScalingError, RunsWarning
from bayes_scaling.model.simulate import DEMO_TRUTH
from bayes_scaling.priors import draw_priors
from bayes_scaling.trust.backtests import CSV_COLUMNS, backtest, by_distance, coverage


def cmd_fit(args) -> int:

    cols = column_map(args)
    scale = {
        k: v
        for k, v in (
            ("n_params", args.n_scale),
            ("n_tokens", args.d_scale),
            ("compute", args.c_scale),
        )
        if v
    }
    runs = load_runs(args.runs, scale=scale, **{k: v for k, v in cols.items() if v})
    result = inference.fit(
        runs,
        law=args.law,
        draws=args.draws,
        chains=args.chains,
        tune=args.tune,
        seed=args.seed,
        likelihood=args.likelihood,
        target_accept=args.target_accept,
        discrepancy=not args.no_discrepancy,
        discrepancy_prior=args.discrepancy_prior,
        rescue=not args.no_rescue,
    )
    save_fit(result, args.out)
    print(f"wrote {args.out}: {result!r}")
    return status(result)


def cmd_summary(args) -> int:

    result = read_fit(args.fit)
    print(formatted(result.summary(prob=args.prob), args.format, result_meta(result)), end="")
    return status(result)


def cmd_bands(args) -> int:

    result = single_fit(args.fit)
    table = result.bands(
        params=args.params,
        tokens=args.tokens,
        compute=args.compute,
        prob=args.prob,
        tokens_per_param=args.tokens_per_param,
        discrepancy=not args.no_discrepancy,
        tolerance=args.tolerance,
        relative=args.relative,
    )
    meta = {**result_meta(result), "discrepancy": table.attrs.get("discrepancy", "off")}
    if "trust_horizon" in table.attrs:
        meta["trust_horizon"] = table.attrs["trust_horizon"]
    print(formatted(table, args.format, meta), end="")
    if args.format == "table":
        print(f"# {meta['discrepancy']}")
        if "trust_horizon" in meta:
            print(f"# trust horizon: {meta['trust_horizon']['sentence']}")
    return status(result)


def cmd_allocate(args) -> int:
    result = single_fit(args.fit)
    table = result.allocate(
        args.compute,
        params=args.params,
        tokens_per_param=args.tokens_per_param,
        target=args.target,
        prob=args.prob,
        discrepancy=not args.no_discrepancy,
    )
    print(formatted(table, args.format, result_meta(result)), end="")
    return status(result)


def cmd_report(args) -> int:

    result = single_fit(args.fit)
    report = result.report(
        args.compute,
        target=args.target,
        params=args.params,
        tokens_per_param=args.tokens_per_param,
        title=args.title,
        tolerance=args.tolerance,
        relative=not args.absolute,
        laws={(other := read_fit(path)).law.name: other for path in args.compare or []},
        sensitivity=_sensitivity(result, args),
    )
    report.save(html_path=args.out, markdown_path=args.markdown)
    written = [str(p) for p in (args.out, args.markdown) if p]
    print(f"wrote {' and '.join(written)}")
    return status(result)


def _sensitivity(result, args):
    """``--prior-sensitivity``: the refits under other priors, run where ``--scheduler`` says."""
    if not args.prior_sensitivity:
        return None
    return trust.prior_sensitivity(result, compute=[args.compute], client=client_of(args.scheduler))


def cmd_backtest(args) -> int:

    runs = load_runs(args.runs, **{k: v for k, v in column_map(args).items() if v})
    cut_on, cuts = next(
        (col, v)
        for col, v in (
            ("compute", args.cut_compute),
            ("n_tokens", args.cut_tokens),
            ("n_params", args.cut_params),
        )
        if v
    )
    table = backtest(
        runs,
        law=args.law,
        cut=cuts,
        cut_on=cut_on,
        prob=args.prob,
        method=args.method,
        seed=args.seed,
        client=client_of(args.scheduler),
    )
    converged = all(table.attrs["converged"].values())
    meta = {
        "converged": converged,
        "law": args.law,
        "method": args.method,
        "cut_on": cut_on,
        "discrepancy": {f"{k:g}": v for k, v in table.attrs["discrepancy"].items()},
        "reason": "" if converged else "a fit below a cut did not converge",
    }
    several = ["method"] if len(args.method) > 1 else []
    shown = table[CSV_COLUMNS + several] if args.format == "csv" else table
    print(formatted(shown, args.format, meta), end="")
    if args.format == "table":
        print(formatted(coverage(table), "table", meta), end="")
        print(formatted(by_distance(table), "table", meta), end="")
        for cut, text in meta["discrepancy"].items():
            print(f"# cut {cut}: {text}")
    if not converged:
        print("bayes-scaling: a backtest fit did not converge", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    return EXIT_OK


def cmd_demo(args) -> int:
    import matplotlib

    matplotlib.use("Agg")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = datasets.demo()
    print(f"demo: {len(runs)} simulated runs (true law in data/README.md); fitting chinchilla law")
    result = inference.fit(runs, law="chinchilla", seed=args.seed, draws=args.draws)
    save_fit(result, out / "demo_fit.nc")
    print(formatted(result.summary(), "table", result_meta(result)))
    largest = float(runs["compute"].max())
    table = result.bands(compute=[largest, 10 * largest, 100 * largest], prob=(0.5, 0.9))
    print("# loss bands at 1x, 10x and 100x the largest run's compute (optimal split per draw)")
    print(formatted(table, "table", result_meta(result)))
    grid = plots.compute_grid(runs, 100 * largest)
    figures = {
        "fan_chart.png": plots.fan_chart(
            runs, result.bands(compute=grid, as_xarray=True), target_compute=100 * largest
        ),
        "posterior_pairs.png": plots.posterior_pairs(
            result.posterior, reference={"truth": DEMO_TRUTH}
        ),
        "prior_posterior.png": plots.prior_posterior(
            draw_priors(result.priors, 4000, seed=0), result.posterior
        ),
    }
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=110, bbox_inches="tight")
    report = result.report(100 * largest, target=float(result.runs["loss"].min()) - 0.2)
    report.save(html_path=out / "report.html", markdown_path=out / "report.md")
    written = ["demo_fit.nc", *figures, "report.html", "report.md"]
    print(f"wrote {', '.join(str(out / n) for n in written)}")
    return status(result)


def cmd_compare(args) -> int:
    """``compare`` (in :mod:`.compare`, imported when run: it loads the sampler)."""
    from bayes_scaling.cli.compare import cmd_compare as run  # same stage, on first use

    return run(args)


COMMANDS = {
    "fit": cmd_fit,
    "summary": cmd_summary,
    "bands": cmd_bands,
    "allocate": cmd_allocate,
    "report": cmd_report,
    "backtest": cmd_backtest,
    "compare": cmd_compare,  # in compare.py
    "demo": cmd_demo,
    "downstream": downstream.run,  # in downstream.py
    "passk": passk.run,  # in passk.py
}


#: Command groups that define their own flags and functions.
EXTRA_PARSERS = (many.add_parsers, downstream.add_parser, passk.add_parser)


def main(argv=None) -> int:
    """Run one command; return its exit code (0, 2 bad input, 3 not converged).

    Every error, usage errors included, is one line on stderr starting ``bayes-scaling: error:``.
    ``--help`` prints the help and returns 0.
    """
    try:
        args = build_parser(COMMANDS, EXTRA_PARSERS).parse_args(argv)
    except SystemExit as exc:  # --help (0), or a usage error already printed as one line (2)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            check_args(args)
            code = args.func(args)
        except (BayesScalingError, OSError) as exc:
            print(error_line(str(exc)), file=sys.stderr)
            code = EXIT_BAD_INPUT
    for w in caught:  # runs warnings as one line each; convergence is reported by _status
        if issubclass(w.category, RunsWarning):
            print(one_line(f"bayes-scaling: warning: {w.message}"), file=sys.stderr)
    return code
