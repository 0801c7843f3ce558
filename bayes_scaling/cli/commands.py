"""The core commands on one law: ``fit``, ``summary``, ``bands``, ``allocate``, ``report``.

Each is a :class:`~bayes_scaling.cli.registry.Command` record: its flags, its check (in
:mod:`.checks`) and its run, registered when this module is imported. Exit codes: 0 success (fit
converged); 2 bad input (one line on stderr starting ``bayes-scaling: error:``, no traceback);
3 a fit written, or read, that did not converge (one-line reason on stderr).
"""

from __future__ import annotations

import sys
from pathlib import Path

from bayes_scaling import inference
from bayes_scaling._constants import DEFAULT_PROB, DEFAULT_PROBS
from bayes_scaling.answers.choices import check_choice
from bayes_scaling.cli import checks
from bayes_scaling.cli.output import (
    client_of,
    column_map,
    formatted,
    law_fit,
    result_meta,
    single_fit,
    status,
    write_fit,
)
from bayes_scaling.cli.parser import (
    EXIT_NOT_CONVERGED,
    EXIT_OK,
    add_column_flags,
    add_format_flag,
    add_law_flag,
    add_sampler_flags,
    number,
)
from bayes_scaling.cli.registry import Command, register
from bayes_scaling.data import load_runs


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
        priors=args.priors,
    )
    return write_fit(result, args.out)


def cmd_summary(args) -> int:

    result = law_fit(args.fit)
    summary = result.summary(prob=args.prob)
    print(formatted(summary, args.format, result_meta(result), gate_column=True), end="")
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
        unique_tokens=args.unique_tokens,
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
    print(formatted(table, args.format, result_meta(result), gate_column=True), end="")
    return status(result)


def cmd_report(args) -> int:
    result = single_fit(args.fit)
    check_choice(result, args.params, args.tokens_per_param)  # before any refit
    laws = {}
    for path in args.compare or []:  # two fits of one law (other priors) are two entries
        other = single_fit(path)
        label, n = other.law.name, 1
        if label in laws or label == result.law.name:
            label = f"{label} ({Path(path).stem})"
        while label in laws:  # the same file name in two folders
            n += 1
            label = f"{other.law.name} ({Path(path).stem} {n})"
        laws[label] = other
    report = result.report(
        args.compute,
        target=args.target,
        params=args.params,
        tokens_per_param=args.tokens_per_param,
        title=args.title,
        tolerance=args.tolerance,
        relative=not args.absolute,
        laws=laws,
        sensitivity=_sensitivity(result, args),
        skill=_skill(result, laws, args),
    )
    report.save(html_path=args.out, markdown_path=args.markdown)
    written = [str(p) for p in (args.out, args.markdown) if p]
    print(f"wrote {' and '.join(written)}")
    code = status(result)
    failed = [label for label, other in laws.items() if not other.converged]
    if failed and code == EXIT_OK:  # the page leans on the compared fits too
        print(
            f"bayes-scaling: compared fit(s) did not converge: {', '.join(failed)}",
            file=sys.stderr,
        )
        code = EXIT_NOT_CONVERGED
    return code


def _sensitivity(result, args):
    """``--prior-sensitivity``: the refits under other priors, run where ``--scheduler`` says."""
    if not args.prior_sensitivity:
        return None
    from bayes_scaling import trust  # imports the SBC and the samplers' helpers: only when asked

    return trust.prior_sensitivity(result, compute=[args.compute], client=client_of(args.scheduler))


def _skill(result, laws, args):
    """``--skill``: the compared laws weighed by backtest skill, refits where ``--scheduler``
    says."""
    if not args.skill:
        return None
    from bayes_scaling import trust  # as in _sensitivity

    return trust.law_skill({result.law.name: result, **laws}, client=client_of(args.scheduler))


# --- flags --------------------------------------------------------------------------------------


def fit_arguments(f) -> None:
    f.add_argument("runs", help="runs table: .csv, .parquet or .jsonl")
    add_law_flag(f)
    f.add_argument("--out", required=True, help="output fit file (.nc or .zarr)")
    add_sampler_flags(f, target_accept=0.95)
    f.add_argument("--likelihood", choices=("student_t", "normal"), default="student_t")
    f.add_argument(
        "--no-discrepancy",
        action="store_true",
        help="do not learn the extrapolation discrepancy (parameter-only bands)",
    )
    f.add_argument(
        "--discrepancy-prior",
        default="learned",
        help="prior of the discrepancy: learned (default), within-table, or a prior file",
    )
    f.add_argument(
        "--no-rescue",
        action="store_true",
        help="report a failed diagnostics gate at once instead of escalating (longer runs, ...)",
    )
    f.add_argument(
        "--priors",
        choices=("default", "learned"),
        default="default",
        help="the law's priors: default (data-scaled, weak) or learned (a correlated population "
        "prior learned across public ladders; chinchilla law only)",
    )
    add_column_flags(f)
    f.add_argument("--n-scale", type=number, default=None, help="multiply N (e.g. 1e6)")
    f.add_argument("--d-scale", type=number, default=None, help="multiply D (e.g. 1e9)")
    f.add_argument("--c-scale", type=number, default=None, help="multiply C (e.g. 1e18)")


def summary_arguments(s) -> None:
    s.add_argument("fit")
    s.add_argument("--prob", type=number, default=DEFAULT_PROB)
    add_format_flag(s)


def bands_arguments(b) -> None:
    b.add_argument("fit")
    b.add_argument("--params", type=number, nargs="+")
    b.add_argument("--tokens", type=number, nargs="+")
    b.add_argument("--compute", type=number, nargs="+")
    b.add_argument("--tokens-per-param", type=number, default=None)
    b.add_argument(
        "--unique-tokens",
        type=number,
        nargs="+",
        default=None,
        help="unique tokens at each point, for a data-constrained law",
    )
    b.add_argument("--prob", type=number, nargs="+", default=list(DEFAULT_PROBS))
    b.add_argument(
        "--tolerance",
        type=number,
        default=None,
        help="half-width (nats, or a fraction with --relative): adds within_tolerance and the "
        "trust horizon",
    )
    b.add_argument("--relative", action="store_true", help="read --tolerance as a fraction")
    b.add_argument(
        "--no-discrepancy", action="store_true", help="parameter-only bands (optimistic)"
    )
    add_format_flag(b)


def allocate_arguments(a) -> None:
    a.add_argument("fit")
    a.add_argument("--compute", type=number, nargs="+", required=True)
    choice = a.add_mutually_exclusive_group()
    choice.add_argument("--params", type=number, default=None, help="a proposed N to assess")
    choice.add_argument(
        "--tokens-per-param", type=number, default=None, help="a proposed D/N ratio to assess"
    )
    a.add_argument("--target", type=number, default=None, help="target loss (nats)")
    a.add_argument("--prob", type=number, default=DEFAULT_PROB)
    a.add_argument(
        "--no-discrepancy", action="store_true", help="parameter-only losses and targets"
    )
    add_format_flag(a)


def report_arguments(r) -> None:
    r.add_argument("fit")
    r.add_argument("--compute", type=number, required=True)
    r.add_argument("--target", type=number, default=None)
    choice = r.add_mutually_exclusive_group()
    choice.add_argument("--params", type=number, default=None)
    choice.add_argument("--tokens-per-param", type=number, default=None)
    r.add_argument("--title", default=None)
    r.add_argument(
        "--tolerance",
        type=number,
        default=0.02,
        help="trust horizon tolerance: fraction of the loss (default 0.02), or nats with "
        "--absolute",
    )
    r.add_argument("--absolute", action="store_true", help="read --tolerance in nats")
    r.add_argument(
        "--compare", nargs="+", default=None, help="saved fits of other laws on the same runs"
    )
    r.add_argument(
        "--prior-sensitivity",
        action="store_true",
        help="refit under wide and informed priors and report what moves",
    )
    r.add_argument(
        "--skill",
        action="store_true",
        help="with --compare: also weigh the laws by backtest skill (each law refitted below two "
        "internal compute cuts); when these weights disagree with the LOO ones the stacked band "
        "is the default",
    )
    r.add_argument(
        "--scheduler",
        default="serial",
        help="where --prior-sensitivity's and --skill's refits run: serial (default), local "
        "(worker processes) or a Dask scheduler address such as tcp://host:8786",
    )
    r.add_argument("--out", default="report.html")
    r.add_argument("--markdown", default=None)


register(
    Command(
        "fit",
        "fit a law to a runs table and save the posterior",
        fit_arguments,
        cmd_fit,
        checks.check_fit,
        usage="""bayes-scaling fit RUNS --law chinchilla --out FIT.nc [--seed S] [--draws N]
                      [--tune T] [--chains K] [--n-col/--d-col/--c-col/--loss-col NAME]
                      [--priors default|learned]""",
    ),
    Command(
        "summary",
        "posterior table of a saved fit",
        summary_arguments,
        cmd_summary,
        checks.check_summary,
        usage="bayes-scaling summary FIT.nc [--prob 0.9] [--format table|csv|json]",
    ),
    Command(
        "bands",
        "loss bands of a saved fit",
        bands_arguments,
        cmd_bands,
        checks.check_bands,
        usage="""bayes-scaling bands FIT.nc (--params N... --tokens D... | --compute C...)
                      [--prob P...] [--tokens-per-param R] [--tolerance T [--relative]]
                      [--format table|csv|json]""",
    ),
    Command(
        "allocate",
        "compute-optimal split, its risk, and a target loss",
        allocate_arguments,
        cmd_allocate,
        checks.check_allocate,
        usage="""bayes-scaling allocate FIT.nc --compute C... [--params N | --tokens-per-param R]
                      [--target L] [--format table|csv|json]""",
    ),
    Command(
        "report",
        "self-contained HTML (and Markdown) decision report",
        report_arguments,
        cmd_report,
        checks.check_report,
        usage="""bayes-scaling report FIT.nc --compute C [--target L] [--out report.html]
                      [--markdown report.md] [--prior-sensitivity] [--skill]""",
    ),
)
