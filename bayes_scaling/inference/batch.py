"""Many fits at once: ``fit_many(tasks, client=None)`` on local worker processes or on Dask.

A :class:`FitTask` is a runs table, a law and the options of :func:`bayes_scaling.fit`. Backtests,
SBC and prior-sensitivity sweeps build tasks and hand them here; so can a user with one table per
group, metric or data mix.

Where the fits run (``client``):

- ``None`` (default): local worker processes (a ``concurrent.futures.ProcessPoolExecutor``, one
  process per core unless ``workers`` says otherwise);
- ``"serial"``: one after the other in this process; the fastest choice for a few fits on a small
  machine, because this process may already hold the compiled model;
- a ``dask.distributed.Client``, or a scheduler address such as ``"tcp://10.0.0.5:8786"``: on that
  cluster.

Every worker process keeps its compiled models (:mod:`bayes_scaling.inference.sampling` caches them
per law structure), so a worker compiles each law once and then only swaps data. A fit's draws
depend only on its table, options and seed, not on the worker or on what that worker fitted before,
so the results equal the serial ones. A task that raises is returned with its error; the others are
unaffected. Results come back in task order.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import cloudpickle
import pandas as pd

from bayes_scaling import _validate as check
from bayes_scaling.errors import BayesScalingError


@dataclass(frozen=True)
class FitTask:
    """One fit to run: ``fit(runs, law=law, **options)``.

    Parameters
    ----------
    runs : DataFrame or path
        The runs table.
    law : str or Law
        A registered law name (cheapest to ship) or a :class:`~bayes_scaling.laws.Law`.
    options : dict
        Keyword arguments of :func:`bayes_scaling.fit` (``seed``, ``priors``, ``draws``, ...).
    name : str, optional
        A label for progress and the summary table (default: the task's position).
    """

    runs: Any
    law: Any = "chinchilla"
    options: dict = field(default_factory=dict)
    name: str | None = None


@dataclass
class TaskResult:
    """The outcome of one task: its fit, or the error it raised."""

    name: str
    fit: Any = None
    error: str | None = None
    seconds: float = float("nan")
    worker: str = ""
    exception: BaseException | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None


class BatchResult(list):
    """The task results, in task order, with a summary table."""

    @property
    def fits(self) -> list:
        """The fits, None where a task failed."""
        return [r.fit for r in self]

    @property
    def failed(self) -> list[TaskResult]:
        return [r for r in self if not r.ok]

    def table(self) -> pd.DataFrame:
        """One row per task: ``name, ok, converged, seconds, worker, error``."""
        return pd.DataFrame(
            {
                "name": r.name,
                "ok": r.ok,
                "converged": bool(r.fit.converged) if r.ok else False,
                "seconds": r.seconds,
                "worker": r.worker,
                "error": r.error or "",
            }
            for r in self
        )

    def raise_failed(self) -> None:
        """Re-raise the first failed task's own error (naming the task), if any task failed.

        When the worker died instead, a :class:`BayesScalingError` lists every failed task.
        """
        if not self.failed:
            return
        first = self.failed[0]
        if first.exception is not None:
            first.exception.add_note(f"(in fit task {first.name!r}; {len(self.failed)} failed)")
            raise first.exception
        listed = "; ".join(f"{r.name}: {r.error.splitlines()[0]}" for r in self.failed)
        raise BayesScalingError(f"{len(self.failed)} of {len(self)} fits failed: {listed}")


def run_task(payload: bytes) -> bytes:
    """Run one pickled :class:`FitTask` in this process; never raises (errors are returned).

    Tasks and results cross process boundaries with cloudpickle (a law may be a closure); this is
    transport only, nothing is saved this way.
    """

    from bayes_scaling.inference.sampling import fit  # the sampler, only where a task runs

    index, task = cloudpickle.loads(payload)
    name = task.name if task.name is not None else str(index)
    start = time.perf_counter()
    try:
        result = TaskResult(name, fit=fit(task.runs, law=task.law, **task.options))
    except Exception as exc:  # noqa: BLE001 - reported with the task, the batch goes on
        text = "".join(traceback.format_exception_only(exc)).strip()
        result = TaskResult(name, error=f"{text}\n{traceback.format_exc()}", exception=exc)
    result.seconds = time.perf_counter() - start
    result.worker = f"{os.uname().nodename}:{os.getpid()}"
    return cloudpickle.dumps(result)


def fit_many(
    tasks,
    client=None,
    *,
    workers: int | None = None,
    progress: bool | None = None,
) -> BatchResult:
    """Fit every task, in parallel, and return the results in task order.

    Parameters
    ----------
    tasks : iterable of FitTask (or of (runs, law, options) tuples)
        The fits to run.
    client : None, "serial", dask.distributed.Client or str
        Where to run (see the module docstring). A string other than "serial" is a Dask scheduler
        address; a client is made for it and closed afterwards.
    workers : int, optional
        Number of local worker processes (``client=None``); default ``os.cpu_count()``.
    progress : bool, optional
        A progress bar on stderr; by default only when stderr is a terminal.

    Returns
    -------
    BatchResult
        A list of :class:`TaskResult`; ``.fits``, ``.failed``, ``.table()``.

    Examples
    --------
    >>> tasks = [FitTask(table, "chinchilla", {"seed": i}) for i, table in enumerate(tables)]
    >>> results = fit_many(tasks, client="tcp://scheduler:8786")   # doctest: +SKIP
    >>> results.table()                                             # doctest: +SKIP
    """
    tasks = [t if isinstance(t, FitTask) else FitTask(*t) for t in tasks]
    if workers is not None:
        workers = check.count(workers, "workers")
    if isinstance(client, str) and client.strip().lower() == "serial":
        client = "serial"
    payloads = [cloudpickle.dumps((i, t)) for i, t in enumerate(tasks)]
    if progress is None:
        progress = sys.stderr.isatty()
    bar = _progress_bar(len(tasks), progress)
    results: list[TaskResult | None] = [None] * len(tasks)

    def collect(i, raw=None, exc=None):
        if exc is None:
            results[i] = cloudpickle.loads(raw)
        else:  # the worker itself died running this task
            name = tasks[i].name if tasks[i].name is not None else str(i)
            results[i] = TaskResult(name, error=f"{type(exc).__name__}: {exc}")
        bar.update(1)
        bar.set_postfix(failed=sum(not r.ok for r in results if r is not None))

    try:
        if isinstance(client, str) and client == "serial":
            for i, payload in enumerate(payloads):
                collect(i, run_task(payload))
        elif client is None:
            _run_local(payloads, workers, collect)
        else:
            _run_dask(payloads, client, collect)
    finally:
        bar.close()
    return BatchResult(results)


def _run_local(payloads, workers, collect) -> None:
    """The tasks on local worker processes. A worker that dies (killed for memory, a crash in
    native code) breaks the whole pool and every task still in it; those tasks are run again in
    a fresh pool, and, once a round finishes none of them, one at a time, so that only a task
    that kills its worker on its own is lost."""
    import multiprocessing

    # spawn: a fresh interpreter per worker, safe with the threads numba and nutpie start
    context = multiprocessing.get_context("spawn")
    n = min(len(payloads), workers or os.cpu_count() or 1)
    pending = list(range(len(payloads)))
    while pending:
        broken = _pool_round(pending, payloads, n, context, collect, retry=True)
        if len(broken) == len(pending) or n == 1:  # no progress: each alone
            for i in broken:
                _pool_round([i], payloads, 1, context, collect, retry=False)
            return
        pending = broken


def _pool_round(indices, payloads, n: int, context, collect, retry: bool) -> list[int]:
    """Run ``indices`` in one pool; with ``retry``, return those a dead worker took down
    instead of collecting them."""
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    broken = []
    with ProcessPoolExecutor(max_workers=max(n, 1), mp_context=context) as pool:
        futures = {pool.submit(run_task, payloads[i]): i for i in indices}
        for future in as_completed(futures):
            exc = future.exception()
            if isinstance(exc, BrokenProcessPool):
                if retry:
                    broken.append(futures[future])
                    continue
                exc = BrokenProcessPool(
                    "the worker process died running this task alone (killed for memory, or "
                    "a crash in native code)"
                )
            collect(futures[future], None if exc else future.result(), exc)
    return sorted(broken)


def _run_dask(payloads, client, collect) -> None:
    from distributed import Client, as_completed

    own = isinstance(client, str)
    if own:
        address = client
        try:
            client = Client(address, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise BayesScalingError(
                f"cannot reach the Dask scheduler at {address!r} ({exc}); start one with "
                "`dask scheduler` and workers with `dask worker ADDRESS`, or use --scheduler local"
            ) from exc
    try:
        futures = client.map(run_task, payloads, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        for future in as_completed(futures):
            exc = future.exception()
            collect(index[future.key], None if exc else future.result(), exc)
    finally:
        if own:
            client.close()


def _progress_bar(total: int, show: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="fits", unit="fit", disable=not show, file=sys.stderr)
