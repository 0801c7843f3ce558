"""Command line: a thin layer over the public API. Scripts depend on this contract.

Exit codes: 0 success (fit converged); 2 bad input (one line on stderr, no traceback);
3 a fit written, or read, that did not converge (one-line reason on stderr).

    bayes-scaling fit RUNS --law chinchilla --out FIT.nc [--seed S] [--draws N] [--chains K]
                          [--n-col/--d-col/--c-col/--loss-col NAME]
    bayes-scaling summary FIT.nc [--prob 0.95] [--format table|csv|json]
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

import json
import sys
import warnings
from pathlib import Path

import pandas as pd

from bayes_scaling.cli_parser import EXIT_BAD_INPUT, EXIT_NOT_CONVERGED, EXIT_OK, build_parser
from bayes_scaling.errors import FitFileError


def cmd_compare(args) -> int:
    from bayes_scaling.cli_compare import cmd_compare

    return cmd_compare(args)


def _formatted(df: pd.DataFrame, fmt: str, meta: dict) -> str:
    if fmt == "csv":
        return df.to_csv(index=False)
    if fmt == "json":
        return json.dumps({**meta, "rows": json.loads(df.to_json(orient="records"))}, indent=1)
    head = "converged" if meta["converged"] else f"NOT CONVERGED: {meta['reason']}"
    with pd.option_context("display.float_format", "{:.4g}".format):
        return f"# {head}\n{df.to_string(index=False)}\n"


def _status(result) -> int:
    if result.converged:
        return EXIT_OK
    print(f"bayes-scaling: fit did not converge: {result.diagnostics.reason()}", file=sys.stderr)
    return EXIT_NOT_CONVERGED


def _meta(result) -> dict:
    return {
        "converged": result.converged,
        "reason": result.diagnostics.reason(),
        "law": result.law.name,
    }


def cmd_fit(args) -> int:
    from bayes_scaling import fit, load_runs

    cols = _column_map(args)
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
    result = fit(
        runs,
        law=args.law,
        draws=args.draws,
        chains=args.chains,
        tune=args.tune,
        seed=args.seed,
        likelihood=args.likelihood,
        target_accept=args.target_accept,
        discrepancy=not args.no_discrepancy,
    )
    result.save(args.out)
    print(f"wrote {args.out}: {result!r}")
    return _status(result)


def cmd_summary(args) -> int:
    from bayes_scaling import load

    result = load(args.fit)
    print(_formatted(result.summary(prob=args.prob), args.format, _meta(result)), end="")
    return _status(result)


def cmd_bands(args) -> int:
    from bayes_scaling.errors import BayesScalingError

    if args.compute is None and (args.params is None or args.tokens is None):
        raise BayesScalingError("give --compute C..., or both --params N... and --tokens D...")
    result = _single_fit(args.fit)
    table = result.bands(
        params=args.params,
        tokens=args.tokens,
        compute=args.compute,
        probs=args.prob,
        tokens_per_param=args.tokens_per_param,
        discrepancy=not args.no_discrepancy,
        tolerance=args.tolerance,
        relative=args.relative,
    )
    meta = {**_meta(result), "discrepancy": table.attrs.get("discrepancy", "off")}
    if "trust_horizon" in table.attrs:
        meta["trust_horizon"] = table.attrs["trust_horizon"]
    print(_formatted(table, args.format, meta), end="")
    if args.format == "table":
        print(f"# {meta['discrepancy']}")
        if "trust_horizon" in meta:
            print(f"# trust horizon: {meta['trust_horizon']['sentence']}")
    return _status(result)


def cmd_allocate(args) -> int:
    result = _single_fit(args.fit)
    table = result.allocate(
        args.compute,
        params=args.params,
        tokens_per_param=args.tokens_per_param,
        target=args.target,
        prob=args.prob,
        discrepancy=not args.no_discrepancy,
    )
    print(_formatted(table, args.format, _meta(result)), end="")
    return _status(result)


def cmd_report(args) -> int:
    from bayes_scaling import load

    result = _single_fit(args.fit)
    report = result.report(
        args.compute,
        target=args.target,
        params=args.params,
        tokens_per_param=args.tokens_per_param,
        title=args.title,
        tolerance=args.tolerance,
        relative=not args.absolute,
        laws={(other := load(path)).law.name: other for path in args.compare or []},
        sensitivity=args.prior_sensitivity or None,
    )
    report.save(html_path=args.out, markdown_path=args.markdown)
    written = [str(p) for p in (args.out, args.markdown) if p]
    print(f"wrote {' and '.join(written)}")
    return _status(result)


def cmd_backtest(args) -> int:
    from bayes_scaling import load_runs
    from bayes_scaling.trust import CSV_COLUMNS, backtest, by_distance, coverage

    runs = load_runs(args.runs, **{k: v for k, v in _column_map(args).items() if v})
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
        probs=args.prob,
        method=args.method,
        seed=args.seed,
        client=_client(args.scheduler),
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
    print(_formatted(shown, args.format, meta), end="")
    if args.format == "table":
        print(_formatted(coverage(table), "table", meta), end="")
        print(_formatted(by_distance(table), "table", meta), end="")
        for cut, text in meta["discrepancy"].items():
            print(f"# cut {cut}: {text}")
    if not converged:
        print("bayes-scaling: a backtest fit did not converge", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    return EXIT_OK


def _single_fit(path):
    """A saved single-law fit; a grouped fit is a one-line error naming what to use instead."""
    from bayes_scaling import load
    from bayes_scaling.grouped import GroupedFit

    result = load(path)
    if isinstance(result, GroupedFit):
        raise FitFileError(
            f"{str(path)!r} is a grouped fit; use 'bayes-scaling compare {path}' (or "
            "GroupedFit.group_fit(name) in Python) for one group's bands"
        )
    return result


def _client(scheduler: str):
    """The ``client`` of :func:`bayes_scaling.fit_many` for ``--scheduler``."""
    return None if scheduler == "local" else scheduler


def _column_map(args) -> dict:
    return {
        "n_params": args.n_col,
        "n_tokens": args.d_col,
        "compute": args.c_col,
        "loss": args.loss_col,
        "run_id": args.run_col,
        "group": args.group_col,
    }


def cmd_demo(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from bayes_scaling import datasets, fit
    from bayes_scaling.plots import compute_grid, fan_chart, posterior_pairs, prior_posterior
    from bayes_scaling.priors import draw_priors
    from bayes_scaling.simulate import DEMO_TRUTH

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = datasets.demo()
    print(f"demo: {len(runs)} simulated runs (true law in data/README.md); fitting chinchilla law")
    result = fit(runs, law="chinchilla", seed=args.seed, draws=args.draws)
    result.save(out / "demo_fit.nc")
    print(_formatted(result.summary(), "table", _meta(result)))
    largest = float(runs["compute"].max())
    table = result.bands(compute=[largest, 10 * largest, 100 * largest], probs=(0.5, 0.9))
    print("# loss bands at 1x, 10x and 100x the largest run's compute (optimal split per draw)")
    print(_formatted(table, "table", _meta(result)))
    grid = compute_grid(runs, 100 * largest)
    figures = {
        "fan_chart.png": fan_chart(
            runs, result.bands(compute=grid, as_xarray=True), target_compute=100 * largest
        ),
        "posterior_pairs.png": posterior_pairs(result.posterior, reference={"truth": DEMO_TRUTH}),
        "prior_posterior.png": prior_posterior(
            draw_priors(result.priors, 4000, seed=0), result.posterior
        ),
    }
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=110, bbox_inches="tight")
    report = result.report(100 * largest, target=float(result.runs["loss"].min()) - 0.2)
    report.save(html_path=out / "report.html", markdown_path=out / "report.md")
    written = ["demo_fit.nc", *figures, "report.html", "report.md"]
    print(f"wrote {', '.join(str(out / n) for n in written)}")
    return _status(result)


COMMANDS = {
    "fit": cmd_fit,
    "summary": cmd_summary,
    "bands": cmd_bands,
    "allocate": cmd_allocate,
    "report": cmd_report,
    "backtest": cmd_backtest,
    "compare": cmd_compare,  # in cli_compare.py
    "demo": cmd_demo,
}


def main(argv=None) -> int:
    from bayes_scaling.errors import BayesScalingError, RunsWarning

    args = build_parser(COMMANDS).parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            code = args.func(args)
        except BayesScalingError as exc:
            print(f"bayes-scaling: error: {exc}", file=sys.stderr)
            code = EXIT_BAD_INPUT
    for w in caught:  # runs warnings as one line each; convergence is reported by _status
        if issubclass(w.category, RunsWarning):
            print(f"bayes-scaling: warning: {w.message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
