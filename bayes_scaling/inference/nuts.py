"""NUTS on the compiled model of a law, and the discrepancy's internal refits.

:func:`sample_posterior` swaps a table into the (cached) compiled nutpie model of its structure
and samples it; :func:`internal_posterior` is the short refit of a table below an internal cut
that the discrepancy's backtests score, retried once longer when clearly broken. The fit with
its gate, rescue and discrepancy is :func:`bayes_scaling.inference.sampling.fit`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
import nutpie
import pandas as pd
import xarray as xr

from bayes_scaling._constants import NOISE_PARAMS
from bayes_scaling.inference.compiled import SAMPLING, draws_to_datasets, with_data
from bayes_scaling.laws import Law
from bayes_scaling.model.builder import build_model, centred_name, model_data, structure_key
from bayes_scaling.model.centred_coordinates import INTERNAL as ANCHOR_INTERNAL
from bayes_scaling.model.pooling import Pooling, z_name
from bayes_scaling.results.diagnostics import rhat


def compiled_model(
    runs: pd.DataFrame,
    law: Law,
    priors: Mapping,
    likelihood: str,
    pooling: Pooling | None = None,
    anchor: bool = False,
):
    """The compiled nutpie model for this structure, with this table's data swapped in.

    The chains' start point comes from PyMC's initial-point function, which reads the model's
    shared data. Those are set to this table too, so a fit does not depend on which table was
    compiled first: the same table and seed give the same draws in any process, after any other
    fits. Callers hold :data:`SAMPLING` (threads in one process take turns).
    """
    return with_data(
        structure_key(law, priors, likelihood, pooling, anchor),
        lambda: build_model(runs, law, priors, likelihood, pooling, anchor),
        model_data(runs, law, priors, pooling, anchor),
    )


def sample_posterior(
    runs: pd.DataFrame,
    law: Law,
    priors: Mapping,
    likelihood: str,
    *,
    draws: int,
    chains: int,
    tune: int,
    seed: int,
    target_accept: float,
    progress: bool = False,
    pooling: Pooling | None = None,
    anchor: bool = False,
):
    """NUTS on the (cached) compiled model: posterior and sample stats as Datasets and the
    sampling seconds. No health check, log likelihood or DataTree: that is :func:`fit`'s.

    With a ``pooling``, the posterior's ``group`` coordinate holds this table's group labels, and
    the standard-normal offsets ``<param>_z`` of partially pooled parameters are dropped. With
    ``anchor``, E is sampled through the loss at the runs' centre
    (:mod:`bayes_scaling.model.centred_coordinates`); the posterior has the same variables."""
    with SAMPLING:
        start = time.perf_counter()
        model = compiled_model(runs, law, priors, likelihood, pooling, anchor)
        raw = nutpie.sample(
            model,
            draws=draws,
            tune=tune,
            chains=chains,
            seed=seed,
            progress_bar=progress,
            adaptation="low_rank",
            target_accept=target_accept,
            save_warmup=False,
            return_raw_trace=True,
        )
        seconds = time.perf_counter() - start
    posterior, sample_stats = draws_to_datasets(raw, model)
    internal = [centred_name(n) for n in law.centred] + [z_name(n) for n in priors]
    internal += list(ANCHOR_INTERNAL)
    posterior = posterior.drop_vars([n for n in internal if n in posterior])
    if pooling is not None and "group" in posterior.dims:
        posterior = posterior.assign_coords(group=list(pooling.groups))
    posterior = posterior.assign({k: f(posterior, np) for k, f in law.derived.items()})
    return posterior, sample_stats, seconds


def sampled_names(law: Law, priors: Mapping) -> list[str]:
    """Parameters the gate checks: the law's parameters and the noise parameters."""
    return [*law.params, *(n for n in NOISE_PARAMS if n in priors)]


#: Internal refits for the discrepancy are used unless clearly broken (the strict gate still
#: applies to the fit the user gets).
INTERNAL_MAX_RHAT = 1.05
#: Chains, draws and tuning steps per chain of the internal refits. The discrepancy thins each
#: refit to :data:`bayes_scaling.discrepancy.evidence.THIN_DRAWS` draws. Measured on the 11 corpus
#: ladders below their learned-prior cut, 3 seeds (33 refits each): 2 x 250 after 400 tuning steps
#: were usable in 94% (median 0.22 s on the loaded 2-core machine), 2 x 150 after 200 in 88%
#: (0.15 s), 2 x 100 after 150 in 73% (0.13 s). 150/200 with the retry below kept coverage but
#: lowered the leave-one-ladder-out log predictive density (3.033 -> 2.992 nats a run, two
#: ladders by 0.2): fewer, more correlated draws make noisier evidence, so the length stays.
INTERNAL_CHAINS, INTERNAL_DRAWS, INTERNAL_TUNE = 2, 250, 400
#: A broken internal refit is tried once more, this many times longer, with a derived seed
#: (0: no retry).
INTERNAL_RETRY_LENGTH = 2


def internal_posterior(
    table, law, priors, likelihood, *, record: list | None = None, **kwargs
) -> xr.Dataset | None:
    """An internal refit for the discrepancy's backtests: its posterior, or None when it is
    clearly broken (R-hat > :data:`INTERNAL_MAX_RHAT` or any divergence) twice: as asked, then
    :data:`INTERNAL_RETRY_LENGTH` times longer with the seed ``SeedSequence([seed, 1])``.

    ``record``, when given, gets one dict a refit: rows, attempts, usable, max R-hat and
    divergences of the last attempt (the fit's ``settings["discrepancy_refits"]``).
    """
    attempts = [kwargs]
    if INTERNAL_RETRY_LENGTH:
        retry = dict(
            kwargs, seed=int(np.random.SeedSequence([kwargs["seed"], 1]).generate_state(1)[0])
        )
        retry.update({k: kwargs[k] * INTERNAL_RETRY_LENGTH for k in ("draws", "tune")})
        attempts.append(retry)
    for tried, settings in enumerate(attempts, start=1):  # noqa: B007  (recorded below)
        posterior, stats, _ = sample_posterior(table, law, priors, likelihood, **settings)
        # only what the filter needs: R-hat and divergences (ESS would cost time for nothing)
        names = sampled_names(law, priors)
        max_rhat = max(float(np.max(rhat(posterior[name].values))) for name in names)
        divergences = int(stats["diverging"].sum())
        usable = max_rhat <= INTERNAL_MAX_RHAT and not divergences
        if usable:
            break
    if record is not None:
        record.append(
            {
                "rows": len(table),
                "attempts": tried,
                "usable": usable,
                "max_rhat": round(max_rhat, 4),
                "divergences": divergences,
            }
        )
    return posterior if usable else None
