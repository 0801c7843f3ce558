"""``bayes-scaling demo``: fit the bundled simulated table, print the results, write the figures.

bayes-scaling demo [--out DIR] [--seed S] [--draws N]
"""

from __future__ import annotations

from pathlib import Path

from bayes_scaling import inference, plots
from bayes_scaling.cli import checks
from bayes_scaling.cli.checks import save_fit
from bayes_scaling.cli.output import formatted, result_meta, save_figure, status
from bayes_scaling.cli.parser import whole
from bayes_scaling.cli.registry import Command, register
from bayes_scaling.data import datasets
from bayes_scaling.model.simulate import DEMO_TRUTH
from bayes_scaling.priors import draw_priors


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
            result.posterior,
            ("alpha", "beta", "E"),
            reference={"truth": DEMO_TRUTH},
            converged=result.converged,
        ),
        "prior_posterior.png": plots.prior_posterior(
            draw_priors(result.priors, 4000, seed=0), result.posterior, converged=result.converged
        ),
    }
    for name, fig in figures.items():
        save_figure(fig, out / name, "--out")
    report = result.report(100 * largest, target=float(result.runs["loss"].min()) - 0.2)
    report.save(html_path=out / "report.html", markdown_path=out / "report.md")
    written = ["demo_fit.nc", *figures, "report.html", "report.md"]
    print(f"wrote {', '.join(str(out / n) for n in written)}")
    return status(result)


def demo_arguments(d) -> None:
    d.add_argument("--out", default="bayes_scaling_demo")
    d.add_argument("--seed", type=whole, default=1)
    d.add_argument("--draws", type=whole, default=1000)


register(
    Command(
        "demo",
        "fit the bundled demo table, print results, write plots",
        demo_arguments,
        cmd_demo,
        checks.check_demo,
        usage=__doc__.split("\n\n")[1],
    )
)
