"""Compiled models, once per structure: ``compiled_for(key, build)``.

Every sampler of the package (scaling laws, grouped fits, and the newer models) compiles a PyMC
model through nutpie once per *structure* (what decides the graph: law, likelihood, prior
families, ...) and afterwards only swaps data with ``compiled.with_data(...)``. The key must
hold everything that changes the graph and nothing that is data.

Across processes, :mod:`bayes_scaling.inference.compile_cache` keeps the compiled callbacks on
disk (keyed by the model's graph and the library versions; see ARCHITECTURE.md, "Compiled models
across processes"): a new process with a known structure loads them in about a second instead of
compiling for five or more.

:data:`STATS` counts models made ready (``compiles``, whether compiled or loaded from disk) and
the disk cache's outcomes (``disk_hits``, ``disk_misses``, ``disk_writes``, ``disk_errors``,
``disk_off``, ``uncacheable``); tests count these instead of timing them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

import nutpie

from bayes_scaling.inference import compile_cache

#: Compiled models of this process by structure key: (PyMC model, nutpie compiled model).
_COMPILED: dict[Hashable, tuple] = {}
#: Counters of this process: models made ready, and the disk cache's outcomes.
STATS = {
    "compiles": 0,
    "disk_hits": 0,
    "disk_misses": 0,
    "disk_writes": 0,
    "disk_errors": 0,
    "disk_off": 0,
    "uncacheable": 0,
}
#: One sampling at a time per process: a cached model's shared data decide the start point.
SAMPLING = threading.RLock()


def compiled_for(key: Hashable, build: Callable[[], object]) -> tuple:
    """``(model, compiled)`` for this structure key, building and compiling on first use.

    Parameters
    ----------
    key : hashable
        Everything that decides the compiled graph (never the data).
    build : callable
        ``build() -> pm.Model``, called only when the key is new in this process. Its compiled
        form comes from the disk cache when an earlier process compiled an identical model.

    Returns
    -------
    tuple
        The PyMC model (whose shared data the caller sets before sampling, so the start point
        follows the data) and nutpie's compiled model (``compiled.with_data(**data)``).
    """
    if key not in _COMPILED:
        model = build()
        _COMPILED[key] = (model, compile_cache.compile_model(model, STATS))
        STATS["compiles"] += 1
    return _COMPILED[key]


def with_data(key: Hashable, build: Callable[[], object], data: dict):
    """The compiled model for ``key`` with ``data`` (name -> array) swapped in, in the PyMC
    model's shared variables too (so the initial point follows this table)."""
    model, compiled = compiled_for(key, build)
    for name, value in data.items():
        model[name].set_value(value)
    return compiled.with_data(**data)


def sample_attempt(
    key: Hashable,
    build: Callable[[], object],
    data: dict,
    attempt,
    chains: int,
    progress: bool = False,
):
    """NUTS on the compiled model of ``key`` with ``data``, as one rescue-ladder ``attempt``
    (its draws, tune, seed and target_accept): ``(posterior, sample_stats, seconds)``, Datasets.
    Holds :data:`SAMPLING` (threads in one process take turns)."""
    with SAMPLING:
        start = time.perf_counter()
        trace = nutpie.sample(
            with_data(key, build, data),
            draws=attempt.draws,
            tune=attempt.tune,
            chains=chains,
            seed=attempt.seed,
            progress_bar=progress,
            target_accept=attempt.target_accept,
            save_warmup=False,
        )
        seconds = time.perf_counter() - start
    return trace["posterior"].to_dataset(), trace["sample_stats"].to_dataset(), seconds
