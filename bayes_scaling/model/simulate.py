"""A seeded simulator of runs tables from a known law, for the demo table, tests and SBC.

Runs are laid out as an isoFLOP design, as scaling-law ladders are: at each of a few compute budgets
C, model sizes N spread around the budget's optimum, with D = C / (6N). Observed loss is
``exp(log L(N, D; θ) + ε)`` with ε ~ σ·StudentT(ν) (or Normal when ``nu`` is None).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_scaling._constants import FLOPS_PER_PARAM_TOKEN
from bayes_scaling.laws import frontier_loss, get_law, ratio_split

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
    k: float = FLOPS_PER_PARAM_TOKEN,
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
        carries information about it that a fit ignores (:mod:`bayes_scaling.trust.sbc`).

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


#: A two-recipe ladder for group comparisons: recipe B has larger exponents and larger coefficients
#: than A (the demo law), so B is worse on small budgets and better on large ones; same E.
RECIPE_TRUTHS = {
    "A": DEMO_TRUTH,
    "B": {
        "E": 1.9,
        "log_A": float(np.log(750.0)),
        "alpha": 0.36,
        "log_B": float(np.log(3800.0)),
        "beta": 0.34,
    },
}


def optimal_loss(
    truth: dict, compute, law="chinchilla", k: float = FLOPS_PER_PARAM_TOKEN
) -> np.ndarray:
    """L*(C): the law's loss on its own compute-optimal split N*(C), D*(C) = C/(k·N*)."""
    return np.asarray(frontier_loss(get_law(law), truth, np.asarray(compute, float), k))


def true_crossover(
    truth_a: dict, truth_b: dict, lo=1e15, hi=1e27, k: float = FLOPS_PER_PARAM_TOKEN
) -> float:
    """The compute C at which L*_B(C) = L*_A(C) (B better above it); NaN if none in [lo, hi].

    Assumes at most one sign change of L*_A − L*_B in the range, as for two Chinchilla laws
    with one shared E.
    """
    from scipy.optimize import brentq

    def gap(log_c):
        return float(optimal_loss(truth_a, 10**log_c, k=k) - optimal_loss(truth_b, 10**log_c, k=k))

    a, b = np.log10(lo), np.log10(hi)
    if np.sign(gap(a)) == np.sign(gap(b)):
        return float("nan")
    return float(10 ** brentq(gap, a, b, xtol=1e-10))


def true_multiplier(
    truth_a: dict, truth_b: dict, compute, k: float = FLOPS_PER_PARAM_TOKEN
) -> np.ndarray:
    """k(C): recipe B at C matches recipe A at k(C)·C, i.e. L*_A(k·C) = L*_B(C).

    Greater than 1 where B is better. NaN where A never reaches B's loss (B's loss at or below E).
    """
    from scipy.optimize import brentq

    out = []
    for c in np.atleast_1d(np.asarray(compute, float)):
        target = float(optimal_loss(truth_b, c, k=k))

        def gap(log_m, c=c, target=target):
            return float(optimal_loss(truth_a, c * 10**log_m, k=k)) - target

        if np.sign(gap(-12.0)) == np.sign(gap(12.0)):
            out.append(np.nan)
        else:
            out.append(10 ** brentq(gap, -12.0, 12.0, xtol=1e-12))
    return np.asarray(out)


def two_recipe_ladder(
    truths: dict | None = None, *, budgets=DEMO_BUDGETS, seed: int = 0, **kwargs
) -> pd.DataFrame:
    """One isoFLOP ladder per recipe (column ``group``), each from its own true law.

    ``truths`` maps group name to law parameters (default :data:`RECIPE_TRUTHS`, whose true
    crossover is :func:`true_crossover` ``(RECIPE_TRUTHS["A"], RECIPE_TRUTHS["B"])``, about 1e19
    FLOPs, inside the default budgets). Other keywords go to :func:`simulate_runs`.

    Examples
    --------
    >>> table = two_recipe_ladder(seed=1)
    >>> table.groupby("group").size().to_dict()
    {'A': 48, 'B': 48}
    """
    truths = RECIPE_TRUTHS if truths is None else truths
    seeds = np.random.SeedSequence(seed).spawn(len(truths))
    tables = []
    for (name, truth), s in zip(truths.items(), seeds, strict=True):
        t = simulate_runs(truth, budgets=budgets, seed=int(s.generate_state(1)[0]), **kwargs)
        tables.append(t.assign(group=name, run_id=name + "-" + t["run_id"]))
    return pd.concat(tables, ignore_index=True)


def demo_table() -> pd.DataFrame:
    """The packaged demo table (48 runs): :data:`DEMO_TRUTH` with :data:`DEMO_NOISE`."""
    return simulate_runs(DEMO_TRUTH, seed=DEMO_SEED, **DEMO_NOISE)


if __name__ == "__main__":  # regenerate bayes_scaling/data/demo_runs.csv
    from pathlib import Path

    out = Path(__file__).parents[1] / "data" / "demo_runs.csv"
    demo_table().to_csv(out, index=False)
    print(f"wrote {out}")
