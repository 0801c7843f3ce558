"""``bayes-scaling passk``: fit per-problem counts, and pass@k bands at any k.

    bayes-scaling passk fit samples.csv --out p.nc [--model-col M] [--problem-col P]
                                        [--samples-col N] [--correct-col C] [--seed S]
                                        [--draws N] [--chains K] [--tune T] [--no-law]
                                        [--pooling partial|independent|crossed]
                                        [--difficulty beta|beta-mixture|logit-normal-mixture]
                                        (default: auto)
    bayes-scaling passk bands p.nc --k 1000 10000 [--prob 0.5 0.9] [--kind problems|population]
                                   [--format csv|json|table]

``samples.csv`` has one row per (model, problem) with the number of samples and the number
correct; the model column is optional (one model). ``bands`` prints ``model, k, prob, lower,
median, upper``: for each model, each k and each prob in the order given. Exit codes as for
``fit``: 0 converged, 3 written (or read) but not converged, 2 bad input (one line on stderr).
"""

from __future__ import annotations

from bayes_scaling import _validate as check
from bayes_scaling._constants import DEFAULT_PROBS
from bayes_scaling.cli.checks import FIT_SUFFIXES, output_path, path_text, sampler
from bayes_scaling.cli.output import formatted, read_fit, status, write_fit
from bayes_scaling.cli.parser import add_format_flag, add_sampler_flags, exact_number
from bayes_scaling.cli.parser import number as _number
from bayes_scaling.cli.registry import Command, register
from bayes_scaling.errors import ArgumentError, FitFileError
from bayes_scaling.passk.answers import ks
from bayes_scaling.passk.law import DIFFICULTIES
from bayes_scaling.passk.result import PassKFit

#: The columns ``passk bands`` prints.
BANDS_COLUMNS = ["model", "k", "prob", "lower", "median", "upper"]
_COLUMN_FLAGS = {
    "model": "model_col",
    "problem": "problem_col",
    "samples": "samples_col",
    "correct": "correct_col",
}


def passk_arguments(top) -> None:
    """``passk fit`` and ``passk bands``."""
    sub = top.add_subparsers(dest="passk_command", required=True, parser_class=type(top))
    f = sub.add_parser("fit", help="fit per-problem counts and save the posterior")
    f.add_argument("samples", help="counts table (.csv, .parquet, .jsonl): one row per problem")
    f.add_argument("--out", required=True, help="output file (.nc or .zarr)")
    for canon, dest in _COLUMN_FLAGS.items():
        f.add_argument(f"--{canon}-col", dest=dest, default=None, help=f"column holding {canon}")
    add_sampler_flags(f, draws=1000, tune=1000)  # fit_passk's defaults
    f.add_argument("--no-law", action="store_true", help="skip the law across models")
    f.add_argument(
        "--pooling",
        choices=("partial", "independent", "crossed"),
        default=None,
        help="one joint fit of every model along N and D (partial), each on its own "
        "(independent), or one fit whose problems' difficulty every model shares (crossed); "
        "default: crossed for several models on shared problems without the law across "
        "models, else independent",
    )
    f.add_argument(
        "--difficulty",
        choices=DIFFICULTIES,
        default=None,
        help="the solvable problems' success rates: one Beta, or a two-component mixture with a "
        "hard component, of Betas or of normals in logit p (both per model; the law across "
        "models for the Beta and the normals in logit p); default: the Beta when the models "
        "are pooled, else the logit-normal mixture",
    )

    b = sub.add_parser("bands", help="pass@k bands of a saved pass@k fit")
    b.add_argument("fit")
    # a repeated --k / --prob / --models adds to the list (argparse's "extend"; its default
    # stays None, since extend would append to a default list)
    b.add_argument(
        "--k", type=exact_number, nargs="+", action="extend", required=True,
        help="samples a problem (whole numbers ≥ 1), rows in the order given",
    )  # fmt: skip
    b.add_argument(
        "--prob", type=_number, nargs="+", action="extend", default=None,
        help=f"central interval probabilities (default {' '.join(map(str, DEFAULT_PROBS))})",
    )  # fmt: skip
    b.add_argument(
        "--models", nargs="+", action="extend", default=None,
        help="only these models, in this order (default: every model of the fit)",
    )  # fmt: skip
    b.add_argument("--kind", choices=("problems", "population"), default="problems")
    add_format_flag(b)


def check_passk(args) -> None:
    """Arguments checked before any file is read or any sampler starts."""
    if args.passk_command == "fit":
        path_text(args.samples, "samples")
        output_path(args.out, "--out", FIT_SUFFIXES)
        for canon, dest in _COLUMN_FLAGS.items():
            value = getattr(args, dest)
            if value is not None and not value.strip():
                raise ArgumentError(f"--{canon}-col", "is empty; give the name of a column")
        if args.difficulty is not None and args.pooling == "crossed":
            raise ArgumentError(
                "--pooling",
                "the crossed fit has its own difficulty (a normal in logit p per model); drop "
                "--difficulty or --pooling crossed",
            )
        if args.difficulty not in (None, "beta") and args.pooling == "partial":
            raise ArgumentError(
                "--pooling",
                f"the {args.difficulty} is fitted per model; drop --pooling partial or use "
                "--difficulty beta",
            )
        sampler(args)
        return
    path_text(args.fit, "fit")
    args.prob = list(check.probabilities(args.prob or DEFAULT_PROBS, "--prob"))
    args.k = [int(k) for k in ks(args.k, "--k")]  # the API's rule: whole, 1 to K_LIMIT


def run(args) -> int:
    """Run ``passk fit`` or ``passk bands``; the exit code."""
    if args.passk_command == "fit":
        from bayes_scaling.passk.fit import fit_passk

        columns = {c: getattr(args, d) for c, d in _COLUMN_FLAGS.items() if getattr(args, d)}
        result = fit_passk(
            args.samples,
            columns=columns,
            law=False if args.no_law else None,
            **({"pooling": args.pooling} if args.pooling else {}),
            **({"difficulty": args.difficulty} if args.difficulty else {}),
            seed=args.seed,
            draws=args.draws,
            chains=args.chains,
            tune=args.tune,
        )
        return write_fit(result, args.out)
    result = read_fit(args.fit)
    if not isinstance(result, PassKFit):
        raise FitFileError(
            f"{str(args.fit)!r} is not a pass@k fit; write one with 'bayes-scaling passk fit'"
        )
    table = result.bands(k=args.k, prob=args.prob, kind=args.kind, models=args.models)
    meta = {"converged": result.converged, "reason": result.diagnostics.reason(), "kind": args.kind}
    print(formatted(table[BANDS_COLUMNS], args.format, meta), end="")
    return status(result)


register(
    Command(
        "passk",
        "pass@k from per-problem counts (test-time compute)",
        passk_arguments,
        run,
        check_passk,
        usage=__doc__.split("\n\n")[1],
    )
)
