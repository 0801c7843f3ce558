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

import numpy as np
import nutpie
import pyarrow as pa
import xarray as xr

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
#: nutpie's mass-matrix adaptation of the scaling-law fits (:mod:`bayes_scaling.inference.nuts`)
#: and of the pass@k logit-normal mixture: a diagonal plus the leading directions of the draws'
#: and gradients' covariance, so correlated parameters (a law's E and A; the mixture's centre,
#: spread and hard component) are sampled along their ridge. :func:`sample_attempt` defaults to
#: nutpie's diagonal, which samples the hierarchies (the pass@k joint fit and law) better.
ADAPTATION = "low_rank"


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
    adaptation: str = "diag",
):
    """NUTS on the compiled model of ``key`` with ``data``, as one rescue-ladder ``attempt``
    (its draws, tune, seed and target_accept): ``(posterior, sample_stats, seconds)``, Datasets.
    ``adaptation`` is nutpie's mass-matrix adaptation: ``"diag"`` (nutpie's default) or
    ``"low_rank"`` (:data:`ADAPTATION`).
    Holds :data:`SAMPLING` (threads in one process take turns)."""
    with SAMPLING:
        start = time.perf_counter()
        model = with_data(key, build, data)
        raw = nutpie.sample(
            model,
            draws=attempt.draws,
            tune=attempt.tune,
            chains=chains,
            seed=attempt.seed,
            progress_bar=progress,
            target_accept=attempt.target_accept,
            adaptation=adaptation,
            save_warmup=False,
            return_raw_trace=True,
        )
        seconds = time.perf_counter() - start
    return (*draws_to_datasets(raw, model), seconds)


#: Sample statistics nutpie leaves out of its DataTree unless asked to store them (per-draw
#: vectors: gradients, mass matrices, divergence positions), and the bookkeeping columns.
SKIPPED_STATS = frozenset(
    {
        "gradient",
        "unconstrained_draw",
        "mass_matrix_inv",
        "mass_matrix_eigvals",
        "mass_matrix_stds",
        "divergence_start",
        "divergence_end",
        "divergence_momentum",
        "divergence_start_gradient",
        "transformed_position",
        "transformed_gradient",
        "transformation_mu",
        "chain",
        "draw",
    }
)
#: nutpie's bookkeeping statistics, not kept either: constant after tuning (``step_size_bar``,
#: ``tuning``, ``num_eigenvalues``, ``transformation_*``), the mass matrix's internals
#: (``fisher_distance``), the position of the draw in its trajectory, a symmetric copy of the
#: acceptance, and per-divergence details beside ``diverging`` itself. Fewer variables make a
#: saved fit smaller and faster to open (a 240-run fit: 48 -> 37 variables, 754 -> 623 kB).
#: The statistics ArviZ's diagnostics read (``diverging``, ``energy``, ``step_size``, ``depth``,
#: ``n_steps``, ``logp``, ``mean_tree_accept``, ...) stay.
BOOKKEEPING_STATS = frozenset(
    {
        "divergence_draw",
        "divergence_message",
        "divergence_energy_error",
        "fisher_distance",
        "index_in_trajectory",
        "mean_tree_accept_sym",
        "num_eigenvalues",
        "step_size_bar",
        "transformation_index",
        "transformation_update_id",
        "tuning",
    }
)


def draws_to_datasets(raw, compiled) -> tuple[xr.Dataset, xr.Dataset]:
    """nutpie's raw trace (``nutpie.sample(..., return_raw_trace=True)``) as ``(posterior,
    sample_stats)`` Datasets with dims ``(chain, draw, ...)``: the variables nutpie's own DataTree
    holds (less :data:`BOOKKEEPING_STATS`), read from its Arrow batches directly.

    nutpie would build them through ArviZ (``arviz.from_dict``), which costs the import of all of
    ArviZ and about 0.2 s a call; the values are the same (tests compare them). Tuning draws are
    dropped; unconstrained copies of the parameters (``reparameterized_names``) are not kept.
    """
    draw_batches, stat_batches = raw.get_arrow_trace()
    coords = {name: np.asarray(values) for name, values in compiled.coords.items()}
    skip_draws = set(getattr(compiled, "reparameterized_names", ()) or ())
    return (
        _batches_to_dataset(draw_batches, stat_batches, skip_draws, coords),
        _batches_to_dataset(stat_batches, stat_batches, SKIPPED_STATS | BOOKKEEPING_STATS, coords),
    )


def _batches_to_dataset(batches, stat_batches, skip, coords) -> xr.Dataset:
    """One Dataset from one Arrow record batch a chain (rows after tuning), padded with NaN when
    the chains differ in length (an aborted run)."""
    kept = [~_values(stats.column("tuning"), False) for stats in stat_batches]
    n_draws = max(int(k.sum()) for k in kept)
    variables, used = {}, {}
    for name in batches[0].schema.names:
        if name in skip:
            continue
        field = batches[0].schema.field(name)
        meta = field.metadata or {}
        shape = [int(n) for n in meta.get(b"shape", b"").decode().split(",") if n]
        dims = [d for d in meta.get(b"dims", b"").decode().split(",") if d]
        if not dims:
            dims = [f"{name}_dim_{i}" for i in range(len(shape))]
        chains = []
        for batch, keep in zip(batches, kept, strict=True):
            values = _values(batch.column(name), bool(shape))
            values = values.reshape(len(keep), *shape)[keep]
            if len(values) < n_draws:
                pad = np.full((n_draws - len(values), *shape), np.nan)
                values = np.concatenate([values.astype(float), pad])
            chains.append(values)
        variables[name] = (("chain", "draw", *dims), np.stack(chains))
        used.update({d: n for d, n in zip(dims, shape, strict=True)})
    dim_coords = {d: coords[d] if d in coords else np.arange(n) for d, n in used.items()}
    dim_coords.update(chain=np.arange(len(batches)), draw=np.arange(n_draws))
    return xr.Dataset(variables, coords=dim_coords)


def _values(column, nested: bool) -> np.ndarray:
    """One Arrow column as NumPy, as nutpie fills it: NaN (floats) or None (strings) where null,
    0 for other types; ``nested`` (a vector a draw) flattened."""
    column = pa.array(column)
    if nested and hasattr(column, "flatten"):
        column = column.flatten()
    dtype = np.dtype(column.type.to_pandas_dtype())
    values = column.to_numpy(zero_copy_only=False)
    if column.null_count and dtype.kind not in "fO":
        values = np.where(column.is_null().to_numpy(zero_copy_only=False), 0, values).astype(dtype)
    return values
