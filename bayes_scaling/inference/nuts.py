"""NUTS on the compiled model of a law, and the discrepancy's internal refits.

:func:`sample_posterior` swaps a table into the (cached) compiled nutpie model of its structure
and samples it; :func:`internal_posterior` is the short refit of a table below an internal cut
that the discrepancy's backtests score, retried once when clearly broken (its chains continued
when it came close, else longer: the rescue ladder's rule). The fit with
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
from bayes_scaling.inference.compiled import ADAPTATION, SAMPLING, draws_to_datasets, with_data
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
            adaptation=ADAPTATION,
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
#: A broken internal refit is tried once more, this many times longer (0: no retry): when it came
#: close (no divergence, R-hat ≤ :data:`INTERNAL_NEAR_RHAT`) its chains are continued (the same
#: seed and tuning, this many times the draws), else it is sampled again with this many times the
#: draws and tuning steps and the seed ``SeedSequence([seed, 1])``: the rescue ladder's rule
#: (:mod:`bayes_scaling.inference.rescue`, "more draws when close, keep the best").
INTERNAL_RETRY_LENGTH = 2
#: A broken internal refit with R-hat at most this (and no divergence) is continued, not restarted.
INTERNAL_NEAR_RHAT = 1.1


def _retry(settings: dict, max_rhat: float, divergences: int) -> tuple[str, dict]:
    """The second try of an internal refit: ``("more draws", ...)`` continuing the first's
    chains when it came close, else ``("longer", ...)`` with a derived seed."""
    if not divergences and max_rhat <= INTERNAL_NEAR_RHAT:
        return "more draws", dict(settings, draws=settings["draws"] * INTERNAL_RETRY_LENGTH)
    seed = int(np.random.SeedSequence([settings["seed"], 1]).generate_state(1)[0])
    longer = {k: settings[k] * INTERNAL_RETRY_LENGTH for k in ("draws", "tune")}
    return "longer", dict(settings, seed=seed, **longer)


def internal_posterior(
    table, law, priors, likelihood, *, record: list | None = None, **kwargs
) -> xr.Dataset | None:
    """An internal refit for the discrepancy's backtests: its posterior, or None when it is
    clearly broken (R-hat > :data:`INTERNAL_MAX_RHAT` or any divergence) twice: as asked, then
    once more (:func:`_retry`: its chains continued with :data:`INTERNAL_RETRY_LENGTH` times the
    draws when it came close, else :data:`INTERNAL_RETRY_LENGTH` times longer with a derived
    seed).

    ``record``, when given, gets one dict a refit: rows, attempts, the retry's rung (or None),
    usable, max R-hat and divergences of the attempt kept (the usable one, else the closer of
    the two: no divergence first, then the lower R-hat) (the fit's
    ``settings["discrepancy_refits"]``).
    """
    settings, rung, tries = kwargs, None, []
    names = sampled_names(law, priors)
    while True:
        posterior, stats, _ = sample_posterior(table, law, priors, likelihood, **settings)
        # only what the filter needs: R-hat and divergences (ESS would cost time for nothing)
        max_rhat = max(float(np.max(rhat(posterior[name].values))) for name in names)
        divergences = int(stats["diverging"].sum())
        usable = max_rhat <= INTERNAL_MAX_RHAT and not divergences
        tries.append((not usable, divergences > 0, max_rhat, -len(tries), posterior, divergences))
        if usable or len(tries) > 1 or not INTERNAL_RETRY_LENGTH:
            break
        rung, settings = _retry(settings, max_rhat, divergences)
    failed, _, max_rhat, _, posterior, divergences = min(tries, key=lambda t: t[:4])
    if record is not None:
        record.append(
            {
                "rows": len(table),
                "attempts": len(tries),
                "retry": rung,
                "usable": not failed,
                "max_rhat": round(max_rhat, 4),
                "divergences": divergences,
            }
        )
    return None if failed else posterior
