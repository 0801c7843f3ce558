"""A seeded simulator of runs tables from a known law, for the demo table, tests and SBC.

Runs are laid out as an isoFLOP design, as scaling-law ladders are: at each of a few compute budgets
C, model sizes N spread around the budget's optimum, with D = C / (6N). Observed loss is
``exp(log L(N, D; θ) + ε)`` with ε ~ σ·StudentT(ν) (or Normal when ``nu`` is None).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_scaling.laws import get_law, ratio_split

#: The demo table's true law (Chinchilla form), documented in data/README.md.
DEMO_TRUTH = {
    "E": 1.9,
    "log_A": float(np.log(350.0)),
    "alpha": 0.32,
    "log_B": float(np.log(1500.0)),
    "beta": 0.30,
}
DEMO_NOISE = {"sigma": 0.012, "nu": 5.0}
DEMO_BUDGETS = (3e17, 1e18, 3e18, 1e19, 3e19, 1e20)
DEMO_SEED = 20261122


def simulate_runs(
    truth: dict[str, float],
    *,
    law="chinchilla",
    budgets=DEMO_BUDGETS,
    sizes_per_budget: int = 8,
    spread: float = 0.7,
    sigma: float = 0.012,
    nu: float | None = 5.0,
    seed: int = 0,
    k: float = 6.0,
    tokens_per_param: float | None = None,
) -> pd.DataFrame:
    """Simulate an isoFLOP ladder of runs from a law with known parameters.

    Parameters
    ----------
    truth : dict
        True law parameters, e.g. ``{"E": 1.9, "log_A": 5.9, "alpha": 0.32, ...}``.
    law : str or Law
        A law in N and D (``"chinchilla"``).
    budgets : sequence of float
        Compute budgets C in FLOPs.
    sizes_per_budget : int
        Runs per budget, N log-spaced ±``spread`` decades around the true optimum, jittered.
    sigma, nu : float
        Run-to-run noise on log loss: σ·StudentT(ν), or σ·Normal when ``nu`` is None.
    seed : int
        Seed of every random choice.
    tokens_per_param : float, optional
        Centre each budget's sizes on the fixed ratio D/N = ``tokens_per_param`` instead of the true
        optimum. Simulation-based calibration needs this: a design that depends on the truth
        carries information about it that a fit ignores (:mod:`bayes_scaling.calibration`).

    Returns
    -------
    DataFrame
        Columns ``run_id, n_params, n_tokens, compute, loss`` (a table :func:`load_runs` accepts).

    Examples
    --------
    >>> simulate_runs(DEMO_TRUTH, budgets=[1e18, 1e19], sizes_per_budget=3, seed=1).shape
    (6, 5)
    """
    law = get_law(law)
    rng = np.random.default_rng(seed)
    rows = []
    for c in budgets:
        if tokens_per_param is not None:
            n_opt = ratio_split(c, tokens_per_param, k)["n_params"]
        else:
            n_opt = (
                float(law.optimum(truth, c, k)["n_params"])
                if law.optimum
                else ratio_split(c, 20, k)["n_params"]
            )
        offsets = np.linspace(-spread, spread, sizes_per_budget)
        offsets = offsets + rng.uniform(-0.1, 0.1, sizes_per_budget)
        for n in n_opt * 10.0**offsets:
            rows.append((n, c / (k * n), c))
    n, d, c = (np.array(v) for v in zip(*rows, strict=True))
    mean = law.fn({"n_params": n, "n_tokens": d, "compute": c}, truth, np)
    noise = rng.standard_t(nu, len(n)) if nu is not None else rng.standard_normal(len(n))
    loss = np.exp(np.log(mean) + sigma * noise)
    return pd.DataFrame(
        {
            "run_id": [f"sim{i:03d}" for i in range(len(n))],
            "n_params": np.round(n),
            "n_tokens": np.round(d),
            "compute": c,
            "loss": np.round(loss, 5),
        }
    )


def demo_table() -> pd.DataFrame:
    """The packaged demo table (48 runs): :data:`DEMO_TRUTH` with :data:`DEMO_NOISE`."""
    return simulate_runs(DEMO_TRUTH, seed=DEMO_SEED, **DEMO_NOISE)


if __name__ == "__main__":  # regenerate bayes_scaling/data/demo_runs.csv
    from pathlib import Path

    out = Path(__file__).parent / "data" / "demo_runs.csv"
    demo_table().to_csv(out, index=False)
    print(f"wrote {out}")
