"""Calibration across ladders: what each public ladder says about the discrepancy, the population
prior learned from them, and leave-one-family-out scores of the bands.

- :func:`ladder_evidence`: fit a ladder's runs below its protocol cut (parameter-only), score its
  held-out runs on the (m, τ, γ) grid (:func:`bayes_scaling.discrepancy.evidence.shared_loglik`);
- :func:`learn_prior`: the empirical-Bayes population prior from those grids, each family of
  ladders weighted equally, with provenance (:mod:`bayes_scaling.discrepancy.prior`);
- :func:`protocol_backtest`: a ladder's own backtest (fit at or below ``fit_below``, predict the
  ``predict`` range) through :func:`bayes_scaling.trust.backtests.backtest`;
- :func:`leave_one_out`: for each ladder, the prior learned without that ladder's family, then its
  protocol backtest with four methods: the learned prior (the default), the earlier within-table
  prior, parameter-only bands and the Huber + bootstrap baseline;
- :func:`calibration_summary`: coverage at each nominal probability, interval score and log
  predictive density per method and ladder, and the average over ladders (each weighted equally).

Families: a ladder's name up to its first "/" (the six loss-to-loss corpora are one family, since
they share one sweep). Leaving out the whole family keeps a ladder's siblings from informing its
own prior.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling._constants import DEFAULT_PROBS, package_version
from bayes_scaling.data.corpus import Ladder, split
from bayes_scaling.discrepancy.evidence import distances, held_out, shared_loglik
from bayes_scaling.discrepancy.prior import (
    DRIFT_GRID,
    GAMMAS,
    TAU_GRID,
    DiscrepancyPrior,
    fit_population,
    population_prior,
)
from bayes_scaling.inference.sampling import fit
from bayes_scaling.results.base import netcdf_bytes
from bayes_scaling.results.disk import write_atomic
from bayes_scaling.trust.backtests import backtest

#: Method names of the leave-one-out table, by the backtest method and prior that make them.
METHOD_NAMES = {
    ("bayes", "learned"): "learned prior (default)",
    ("bayes", "within-table"): "within-table prior (before)",
    ("bayes_params", "within-table"): "parameters only",
    ("huber", "within-table"): "Huber + bootstrap",
}


def family_of(name: str) -> str:
    """A ladder's family: its name up to the first "/"."""
    return name.split("/")[0]


@dataclass(frozen=True)
class LadderEvidence:
    """One ladder's protocol backtest, as a log likelihood grid of the discrepancy's (m, τ, γ).

    ``loglik`` has shape (len(DRIFT_GRID), len(TAU_GRID), len(GAMMAS)).
    """

    name: str
    family: str
    loglik: np.ndarray
    n_fit: int
    n_held: int
    converged: bool
    protocol: dict


def protocol_of(ladder: Ladder) -> dict:
    return {"cut_on": ladder.cut_on, "fit_below": ladder.fit_below, "predict": list(ladder.predict)}


def ladder_evidence(ladder: Ladder, *, law="chinchilla", seed: int = 0, **fit_kwargs):
    """Fit the runs at or below the ladder's cut (no discrepancy) and score its held-out runs."""
    fit_part, held = split(ladder, ladder.load())
    result = fit(fit_part, law, seed=seed, discrepancy=False, progress=False, **fit_kwargs)
    dist = distances(result.law, fit_part, held)
    scored = held_out(result.posterior, result.law, held, dist)
    grid = shared_loglik(
        result.settings["likelihood"], **scored, tau=TAU_GRID, gamma=GAMMAS, drift=DRIFT_GRID
    )
    return LadderEvidence(
        ladder.name,
        family_of(ladder.name),
        grid,
        len(fit_part),
        len(scored["y"]),
        result.converged,
        protocol_of(ladder),
    )


def save_evidence(evidence, path) -> None:
    """Write ladders' evidence to NetCDF (dims ladder, drift, tau, gamma), for benchmarks."""
    ds = xr.Dataset(
        {
            "loglik": (
                ("ladder", "drift", "tau", "gamma"),
                np.stack([e.loglik for e in evidence]),
            ),
            "family": ("ladder", [e.family for e in evidence]),
            "n_fit": ("ladder", [e.n_fit for e in evidence]),
            "n_held": ("ladder", [e.n_held for e in evidence]),
            "converged": ("ladder", [int(e.converged) for e in evidence]),
            "protocol": ("ladder", [json.dumps(e.protocol) for e in evidence]),
        },
        coords={
            "ladder": [e.name for e in evidence],
            "drift": DRIFT_GRID,
            "tau": TAU_GRID,
            "gamma": list(GAMMAS),
        },
        attrs={"package_version": package_version()},
    )
    write_atomic(path, netcdf_bytes(ds))  # a failed or killed save keeps the old file


def load_evidence(path) -> list[LadderEvidence]:
    """Read what :func:`save_evidence` wrote."""
    ds = xr.load_dataset(path, engine="h5netcdf")
    return [
        LadderEvidence(
            str(name),
            str(ds["family"].values[i]),
            ds["loglik"].values[i],
            int(ds["n_fit"].values[i]),
            int(ds["n_held"].values[i]),
            bool(ds["converged"].values[i]),
            json.loads(str(ds["protocol"].values[i])),
        )
        for i, name in enumerate(ds["ladder"].values)
    ]


def learn_prior(evidence, exclude=()) -> DiscrepancyPrior:
    """The population prior from ladders' evidence, leaving out the families in ``exclude``."""
    used = [e for e in evidence if e.family not in set(exclude)]
    counts = Counter(e.family for e in used)
    weights = [1.0 / counts[e.family] for e in used]
    hyper = fit_population([e.loglik for e in used], weights)
    provenance = {
        "ladders": [e.name for e in used],
        "protocol": {e.name: e.protocol for e in used},
        "held_out_runs": {e.name: e.n_held for e in used},
        "weights": "each family of ladders weighted equally",
        "excluded_families": sorted(exclude),
        "hyper": hyper,
        "population": "log tau ~ StudentT(3, mu, s); gamma ~ Categorical(gamma_weights); "
        "drift m common to all ladders, flat prior on its grid",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "package_version": package_version(),
    }
    return population_prior(
        hyper["mu"], hyper["s"], hyper["gamma_weights"], hyper["drift_log_weights"], provenance
    )


def protocol_backtest(
    ladder: Ladder, method, *, runs=None, seed: int = 0, prob=DEFAULT_PROBS, **kwargs
):
    """The ladder's backtest: fit the runs at or below ``fit_below``, score the ``predict`` runs.

    ``runs``: the ladder's table when already loaded (default: ``ladder.load()``)."""
    fit_part, held = split(ladder, ladder.load() if runs is None else runs)
    table = pd.concat([fit_part, held], ignore_index=True)
    table.attrs = dict(fit_part.attrs)
    # between the largest fitted and the smallest held-out value (budgets are stored as k·N·D)
    cut = float(np.sqrt(fit_part[ladder.cut_on].max() * held[ladder.cut_on].min()))
    return backtest(
        table, cut=[cut], cut_on=ladder.cut_on, method=method, seed=seed, prob=prob, **kwargs
    )


def leave_one_out(ladders, evidence, *, seed: int = 0, huber=True, baselines=True) -> pd.DataFrame:
    """Per ladder: prior learned without its family, then its protocol backtest by four methods.

    ``baselines=False`` runs the learned prior only (the other three methods do not depend on it).
    Returns the backtests' rows (one per method, held-out run and probability) with ``ladder``,
    ``family`` and ``method`` (see :data:`METHOD_NAMES`) columns.
    """
    frames = []
    for ladder in ladders:
        prior = learn_prior(evidence, exclude={family_of(ladder.name)})
        ladder_runs = ladder.load()
        plans = {"learned": (["bayes"], prior)}
        if baselines:
            methods = ["bayes", "bayes_params", *(["huber"] if huber else [])]
            plans["within-table"] = (methods, "within-table")
        for prior_name, (methods, value) in plans.items():
            table = protocol_backtest(
                ladder, methods, runs=ladder_runs, seed=seed, discrepancy_prior=value
            )
            table["method"] = [METHOD_NAMES[(m, prior_name)] for m in table["method"]]
            frames.append(table.assign(ladder=ladder.name, family=family_of(ladder.name)))
    return pd.concat(frames, ignore_index=True)


def calibration_summary(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per ladder, average over ladders): coverage per probability, interval score at 90%, mean
    log predictive density, per method. Each ladder counts once in the average."""
    cov = table.pivot_table(
        index=["method", "ladder"], columns="prob", values="covered", aggfunc="mean"
    )
    cov.columns = [f"cover_{round(100 * p)}" for p in cov.columns]
    at90 = table[np.isclose(table["prob"], 0.9)]
    scores = at90.groupby(["method", "ladder"]).agg(
        interval_score_90=("interval_score", "mean"),
        log_pred_density=("log_pred_density", "mean"),
        runs=("loss", "size"),
    )
    per_ladder = cov.join(scores).reset_index()
    average = per_ladder.drop(columns="ladder").groupby("method").mean(numeric_only=True)
    return per_ladder, average.reset_index()
