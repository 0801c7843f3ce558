"""Shared fixtures. Reference tables are read from ../shared/data beside the project; tests that
need them skip with a reason when the folder is absent."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import matplotlib
import pytest

# One BLAS thread per test process. The suite runs on two pytest-xdist workers (pyproject.toml)
# and every NUTS run samples its chains in nutpie's own threads, so the two cores are busy
# already; OpenBLAS's extra threads then wait for a core by spinning. With one BLAS thread,
# tests/trust/test_trust.py, tests/discrepancy/test_calibration.py and tests/results/test_disk.py
# together took 37.0 s instead of 45.5 s (user CPU 65 s instead of 82 s) on a 2-core machine.
# Set when pytest loads this file (before the workers start), so that they, the notebooks'
# kernels and the CLI's subprocesses inherit it; a value already in the environment is kept.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

matplotlib.use("Agg")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TRIPPED = "a bad argument reached the sampler"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "chinchilla-epoch" / "svg_extracted_data.csv").exists():
        pytest.skip(f"reference data {SHARED_DATA} is absent (see ../shared/data/README.md)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def demo_fit():
    """One real NUTS fit of the packaged demo table, shared by tests that only read it."""
    from bayes_scaling import datasets, fit

    with warnings.catch_warnings():
        warnings.simplefilter("error", category=UserWarning)  # must converge quietly
        return fit(datasets.demo(), seed=11)


def trip_samplers(monkeypatch) -> None:
    """Make every way the package samples or compiles raise ``AssertionError(TRIPPED)``.

    Patched at the lowest level every fit passes through, not per command or function, so a
    capability or command added later is covered: nutpie's and PyMC's samplers (every NUTS run,
    whichever module imported ``sample_attempt``), the compiled-model cache (a compile or a load
    from disk), and the batch runner's worker processes and Dask cluster (whose samplers this
    process cannot patch).
    """
    import nutpie
    import pymc

    import bayes_scaling.inference.batch as batch
    import bayes_scaling.inference.compile_cache as compile_cache

    def tripped(*args, **kwargs):
        raise AssertionError(TRIPPED)

    for owner, name in (
        (nutpie, "sample"),
        (pymc, "sample"),
        (compile_cache, "compile_model"),
        (batch, "_run_local"),
        (batch, "_run_dask"),
    ):
        monkeypatch.setattr(owner, name, tripped)


@pytest.fixture
def no_sampling(monkeypatch):
    """Any sampling (or compiling) started in the test fails it: bad input must stop before."""
    trip_samplers(monkeypatch)


# --- small real fits of the capabilities, shared by their tests, the figures and the CLI fuzz ---

#: pass@k truth of the simulated benchmark: p ~ Beta(a, b), never solvable with probability pi.
PASSK_TRUTH = dict(a=0.4, b=8.0, pi=0.3)


def simulate_counts(problems=150, samples=200, seed=0, model=None, **truth):
    """Per-problem counts of a simulated benchmark (``PASSK_TRUTH`` unless overridden)."""
    import numpy as np
    import pandas as pd

    t = {**PASSK_TRUTH, **truth}
    rng = np.random.default_rng(seed)
    p = rng.beta(t["a"], t["b"], problems)
    p[rng.random(problems) < t["pi"]] = 0.0
    df = pd.DataFrame(
        {
            "problem": [f"q{i}" for i in range(problems)],
            "samples": samples,
            "correct": rng.binomial(samples, p),
        }
    )
    if model is not None:
        df.insert(0, "model", model)
    return df


@pytest.fixture(scope="session")
def passk_fit():
    """One real NUTS fit of a simulated 150-problem benchmark (2 chains × 600 draws)."""
    from bayes_scaling.passk.fit import fit_passk

    with warnings.catch_warnings():
        warnings.simplefilter("error", category=UserWarning)
        # the Beta that simulate_counts() draws from (the default, difficulty="auto", is the
        # logit-normal mixture)
        return fit_passk(
            simulate_counts(), seed=3, chains=2, draws=600, tune=500, difficulty="beta"
        )


@pytest.fixture(scope="session")
def downstream_ladder():
    """20 simulated runs over two decades of N and 1-30x Chinchilla tokens, the task loss
    measured to 0.2%: enough to identify E, so that step 1 passes the gate at once."""
    from bayes_scaling.downstream.model import simulate_downstream

    return simulate_downstream(
        sizes=(1e8, 3e8, 1e9, 3e9, 1e10), multiples=(1, 3, 10, 30), noise={"via": 0.002}, seed=2
    )


#: Sampler settings of the shared downstream fit (and of the tests that refit its ladder).
DOWNSTREAM_SAMPLER = {"draws": 500, "chains": 4, "tune": 500, "seed": 5, "discrepancy": False}


@pytest.fixture(scope="session")
def downstream_fit(downstream_ladder):
    """One real NUTS downstream chain (step 1, step 2 and the direct law) of that ladder."""
    import bayes_scaling as bs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return bs.fit_downstream(
            downstream_ladder, metric="metric", via="via", chance=0.25, **DOWNSTREAM_SAMPLER
        )


#: The six (N, D) of the simulated pass@k ladder: bigger and longer models find problems easier.
PASSK_SIZES = [(1e8, 1e10), (1e8, 1e11), (1e9, 1e10), (1e9, 1e11), (1e10, 1e10), (1e10, 1e11)]


def passk_ladder():
    """Six simulated models with N and D (:data:`PASSK_SIZES`, 40 problems × 200 samples each),
    bigger and longer models with a smaller b (easier problems)."""
    import numpy as np
    import pandas as pd

    parts = []
    for i, (n, d) in enumerate(PASSK_SIZES):
        b = 40.0 / (np.log10(n) - 7) / (np.log10(d) - 9)
        part = simulate_counts(40, 200, seed=10 + i, model=f"m{i}", b=b)
        parts.append(part.assign(n_params=n, n_tokens=d))
    return pd.concat(parts)


@pytest.fixture(scope="session")
def passk_law_fit():
    """One real NUTS fit, by default (the logit-normal mixture per model), of
    :func:`passk_ladder` and the difficulty law across its models."""
    from bayes_scaling.passk.fit import fit_passk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_passk(passk_ladder(), seed=2, chains=2, draws=1000, tune=400)


# --- short fits for tests of plumbing (argument checks, row order): no inference is claimed ---


@pytest.fixture(scope="session")
def small_fit():
    """The demo table, 2 chains × 300 draws, no rescue ladder: the gate may fail, unchecked."""
    import bayes_scaling as bs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bs.fit(bs.datasets.demo(), seed=1, draws=300, tune=300, chains=2, rescue=False)


@pytest.fixture(scope="session")
def small_grouped():
    """Two simulated recipes, 2 chains × 200 draws, no rescue ladder (the gate unchecked)."""
    import bayes_scaling as bs
    from bayes_scaling.model.simulate import two_recipe_ladder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bs.fit_groups(
            two_recipe_ladder(seed=1), seed=1, draws=200, tune=200, chains=2, rescue=False
        )
