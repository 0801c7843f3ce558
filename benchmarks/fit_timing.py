"""First and second fit of the Chinchilla law in one process, on Epoch's 240 Chinchilla runs.

Run by hand: ``.venv/bin/python benchmarks/fit_timing.py [DATA_DIR]`` (default ../shared/data).
Prints a timing table and the posterior beside Epoch's and Hoffmann's numbers, and writes both as
CSV next to this script. The second fit uses different data (a 200-run subsample) of the same law.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

t0 = time.perf_counter()
import pandas as pd  # noqa: E402

import bayes_scaling as bs  # noqa: E402
from bayes_scaling import sampling  # noqa: E402

IMPORT_S = time.perf_counter() - t0
EPOCH = {
    "E": (1.8169, 1.769, 1.871),
    "A": (482.01, 285.2, 743.6),
    "B": (2085.43, 1042.4, 5810.3),
    "alpha": (0.3478, 0.317, 0.373),
    "beta": (0.3659, 0.331, 0.415),
}
HOFFMANN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def main(data_dir: Path) -> None:
    runs = bs.datasets.chinchilla(data_dir, drop_highest=5)
    rows = [{"step": "import bayes_scaling", "seconds": IMPORT_S}]
    start = time.perf_counter()
    first = bs.fit(runs, seed=2024)
    rows.append(
        {
            "step": "first fit (compile + sample), 240 runs",
            "seconds": time.perf_counter() - start,
            "sampling_s": first.settings["sampling_seconds"],
            "converged": first.converged,
            "compilations": sampling.COMPILE_COUNT,
        }
    )
    start = time.perf_counter()
    second = bs.fit(runs.sample(200, random_state=1), seed=7)
    rows.append(
        {
            "step": "second fit (same law, other data), 200 runs",
            "seconds": time.perf_counter() - start,
            "sampling_s": second.settings["sampling_seconds"],
            "converged": second.converged,
            "compilations": sampling.COMPILE_COUNT,
        }
    )
    timing = pd.DataFrame(rows)
    s = first.summary(prob=0.95).set_index("parameter")
    table = pd.DataFrame(
        {
            "median": s["median"],
            "lower95": s["lower"],
            "upper95": s["upper"],
            "epoch": {k: v[0] for k, v in EPOCH.items()},
            "epoch_lower95": {k: v[1] for k, v in EPOCH.items()},
            "epoch_upper95": {k: v[2] for k, v in EPOCH.items()},
            "hoffmann": HOFFMANN,
            "r_hat": s["r_hat"],
            "ess_bulk": s["ess_bulk"],
            "ess_tail": s["ess_tail"],
        }
    ).loc[["E", "A", "B", "alpha", "beta"]]
    here = Path(__file__).parent
    timing.to_csv(here / "fit_timing.csv", index=False)
    table.to_csv(here / "chinchilla_posterior.csv")
    print(timing.to_string(index=False, float_format="{:.2f}".format))
    print()
    print(table.to_string(float_format="{:.4g}".format))
    print(
        f"\ndivergences {first.diagnostics.n_divergent}, max R-hat "
        f"{first.diagnostics.max_rhat:.4f}, min ESS bulk {first.diagnostics.min_ess_bulk:.0f}"
    )


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
