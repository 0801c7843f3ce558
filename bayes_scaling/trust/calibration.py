"""Calibration across ladders: what each public ladder says about the discrepancy, the population
prior learned from them, and leave-one-family-out scores of the bands.

- :func:`ladder_evidence`: fit a ladder's runs below its protocol cut in one direction
  (parameter-only; :func:`bayes_scaling.data.corpus.direction_split`), score its held-out runs on
  the (m, τ, γ) grid (:func:`bayes_scaling.discrepancy.evidence.shared_loglik`, the drift along
  compute);
- :func:`learn_prior`: the empirical-Bayes population prior from those grids, each family of
  ladders weighted equally (its protocols sharing its weight), with provenance
  (:mod:`bayes_scaling.discrepancy.prior`);
- :func:`protocol_backtest`: a ladder's backtest in one direction (fit at or below the cut,
  predict the held-out runs) through :func:`bayes_scaling.trust.backtests.backtest`;
- :func:`leave_one_out`: for each ladder and direction, the prior learned without that ladder's
  family, then its backtest with four methods: the learned prior (the default), the earlier
  within-table prior, parameter-only bands and the Huber + bootstrap baseline;
- :func:`calibration_summary`: coverage at each nominal probability, interval score and log
  predictive density per method, ladder and direction, and averages with each family weighted
  equally: overall, per direction, per multiple bin (~3x, ~10x, ~30x) and per family.

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
from bayes_scaling._disk import write_atomic
from bayes_scaling.data.corpus import DIRECTIONS, Ladder, direction_split, multiple_bin
from bayes_scaling.discrepancy.evidence import (
    compute_distances,
    distances,
    held_out,
    shared_loglik,
)
from bayes_scaling.discrepancy.local import learn as learn_local
from bayes_scaling.discrepancy.population import fit_population
from bayes_scaling.discrepancy.prior import (
    AXIS_WEIGHTS,
    DRIFT_GRID,
    GAMMAS,
    TAU_GRID,
    DiscrepancyPrior,
    population_prior,
)
from bayes_scaling.errors import ArgumentError
from bayes_scaling.inference.sampling import fit
from bayes_scaling.results.base import netcdf_bytes
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

    ``loglik`` has shape (len(DRIFT_GRID), len(TAU_GRID), len(GAMMAS)); ``direction`` is the
    direction of extrapolation of the protocol (:data:`bayes_scaling.data.corpus.DIRECTIONS`).
    """

    name: str
    family: str
    loglik: np.ndarray
    n_fit: int
    n_held: int
    converged: bool
    protocol: dict
    direction: str = "compute"
    local: bool = False  # the held-out runs carried the local misfit of the fit below the cut

    @property
    def unit(self) -> str:
        """``"<ladder> (<direction>)"``."""
        return f"{self.name} ({self.direction})"


def protocol_of(ladder: Ladder, direction: str = "compute") -> dict:
    out = {"cut_on": ladder.cut_on, "fit_below": ladder.fit_below, "predict": list(ladder.predict)}
    return out if direction == "compute" else {"direction": direction}


def ladder_evidence(
    ladder: Ladder,
    *,
    direction: str = "compute",
    runs=None,
    law="chinchilla",
    seed: int = 0,
    local: bool = True,
    **fit_kwargs,
):
    """Fit the runs at or below the ladder's cut in ``direction`` (no discrepancy) and score its
    held-out runs; None when the ladder has no protocol in that direction. With ``local`` (the
    default) the held-out runs carry the fit's local misfit
    (:func:`~bayes_scaling.discrepancy.local.learn`), as a fit's predictions do, so that the
    grid scores the error beyond it."""
    parts = direction_split(ladder, ladder.load() if runs is None else runs, direction)
    if parts is None:
        return None
    fit_part, held = parts
    result = fit(fit_part, law, seed=seed, discrepancy=False, progress=False, **fit_kwargs)
    dist = distances(result.law, fit_part, held, AXIS_WEIGHTS)
    along = compute_distances(fit_part, held)
    misfit = learn_local(fit_part, result.law, result.posterior) if local else None
    scored = held_out(result.posterior, result.law, held, dist, along, misfit)
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
        protocol_of(ladder, direction),
        direction,
        misfit is not None,
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
            "name": ("ladder", [e.name for e in evidence]),
            "direction": ("ladder", [e.direction for e in evidence]),
            "local_misfit": ("ladder", [int(e.local) for e in evidence]),
        },
        coords={
            "ladder": [e.unit for e in evidence],
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
    names = ds["name"].values if "name" in ds else ds["ladder"].values
    directions = ds["direction"].values if "direction" in ds else ["compute"] * len(names)
    local = ds["local_misfit"].values if "local_misfit" in ds else [0] * len(names)
    return [
        LadderEvidence(
            str(name),
            str(ds["family"].values[i]),
            ds["loglik"].values[i],
            int(ds["n_fit"].values[i]),
            int(ds["n_held"].values[i]),
            bool(ds["converged"].values[i]),
            json.loads(str(ds["protocol"].values[i])),
            str(directions[i]),
            bool(local[i]),
        )
        for i, name in enumerate(names)
    ]


#: The population's form (:func:`~bayes_scaling.discrepancy.population.fit_population`): log τ ~
#: StudentT(10) and a drift common to all ladders. Chosen by proper scores leave-one-family-out
#: (three directions, 12 ladders, families weighted equally): with the whole pipeline (each
#: ladder's fit updating the prior by its own internal cut, ``benchmarks/calibration.py``) the
#: common drift scored a log predictive density of 2.764 per run and a 90% interval score of
#: 0.371, against 2.759 and 0.377 for a drift that varies from ladder to ladder (m_ℓ ~ Normal),
#: whose spread lets a table's own internal cut pull the drift far (chinchilla-epoch cut at
#: 1e21: to -3.5% per decade, the wrong way for its large models). The population alone favoured
#: the spread (3.139 against 3.134 nats per run) and covered its worst family better (0.87 against
#: 0.73 at 90%). ν = 3, 10 and a Normal tied (3.134); ν = 10 covered the worst family better at
#: 50% (0.18 against 0.16 for ν = 3).
POPULATION = {"nu": 10.0, "drift_spread": False}


def learn_prior(
    evidence,
    exclude=(),
    nu: float | None = POPULATION["nu"],
    drift_spread: bool = POPULATION["drift_spread"],
) -> DiscrepancyPrior:
    """The population prior from ladders' evidence, leaving out the families in ``exclude``
    (``nu``: the degrees of freedom of the log-t population of τ, see
    :func:`~bayes_scaling.discrepancy.population.fit_population`)."""
    used = [e for e in evidence if e.family not in set(exclude)]
    if len({e.local for e in used}) > 1:
        raise ArgumentError(
            "evidence", "some ladders were scored with the local misfit and some without: rescore"
        )
    counts = Counter(e.family for e in used)
    weights = [1.0 / counts[e.family] for e in used]
    hyper = fit_population([e.loglik for e in used], weights, nu=nu, drift_spread=drift_spread)
    provenance = {
        "ladders": sorted({e.name for e in used}),
        "units": [e.unit for e in used],
        "protocol": {e.unit: e.protocol for e in used},
        "held_out_runs": {e.unit: e.n_held for e in used},
        "weights": "each family of ladders weighted equally, shared by its protocols",
        "excluded_families": sorted(exclude),
        "hyper": hyper,
        "drift_on": "compute",
        "axis_weights": dict(AXIS_WEIGHTS),
        "local_misfit": bool(used and used[0].local),
        "population": f"log tau ~ StudentT({hyper['nu']:g}, mu, s); gamma ~ "
        f"Categorical(gamma_weights) on {list(GAMMAS)}; drift m along compute, "
        + (
            "m ~ Normal(drift_mean, drift_sd) per ladder"
            if drift_spread
            else "common to all ladders, flat prior on its grid"
        ),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "package_version": package_version(),
    }
    return population_prior(
        hyper["mu"],
        hyper["s"],
        hyper["gamma_weights"],
        hyper["drift_log_weights"],
        provenance,
        nu=hyper["nu"],
    )


def protocol_backtest(
    ladder: Ladder,
    method,
    *,
    runs=None,
    direction: str = "compute",
    seed: int = 0,
    prob=DEFAULT_PROBS,
    **kwargs,
):
    """The ladder's backtest in ``direction``: fit the runs at or below the cut, score the
    held-out runs (:func:`~bayes_scaling.data.corpus.direction_split`); None when the ladder has
    no protocol in that direction. The rows carry ``direction``, ``along`` (the held-out run's
    multiple beyond the fitted runs along the direction's axis) and its ``bin``.

    ``runs``: the ladder's table when already loaded (default: ``ladder.load()``)."""
    parts = direction_split(ladder, ladder.load() if runs is None else runs, direction)
    if parts is None:
        return None
    fit_part, held = parts
    table = pd.concat([fit_part, held], ignore_index=True)
    table.attrs = dict(fit_part.attrs)
    axis = ladder.cut_on if direction == "compute" else DIRECTIONS[direction]
    # between the largest fitted and the smallest held-out value (budgets are stored as k·N·D)
    cut = float(np.sqrt(fit_part[axis].max() * held[axis].min()))
    out = backtest(table, cut=[cut], cut_on=axis, method=method, seed=seed, prob=prob, **kwargs)
    column = {"compute": "compute", "n_params": "params", "n_tokens": "tokens"}[
        DIRECTIONS[direction]
    ]
    along = out[column].to_numpy(float) / float(fit_part[DIRECTIONS[direction]].max())
    return out.assign(direction=direction, along=along, bin=multiple_bin(along))


def leave_one_out(
    ladders,
    evidence,
    *,
    directions=("compute",),
    seed: int = 0,
    huber=True,
    baselines=True,
    nu: float | None = POPULATION["nu"],
    drift_spread: bool = POPULATION["drift_spread"],
    **fit_kwargs,
) -> pd.DataFrame:
    """Per ladder and direction: prior learned without its family, then its backtest by four
    methods (``fit_kwargs``, e.g. ``draws``, go to every fit).

    ``baselines=False`` runs the learned prior only (the other three methods do not depend on it),
    a list of method names (``"bayes"``, ``"bayes_params"``, ``"huber"``) only those beside it;
    ``nu`` and ``drift_spread``: the population's form (:data:`POPULATION`).
    Returns the backtests' rows (one per method, held-out run and probability) with ``ladder``,
    ``family``, ``direction``, ``along``, ``bin`` and ``method`` (see :data:`METHOD_NAMES`)
    columns.
    """
    frames = []
    for ladder in ladders:
        prior = learn_prior(
            evidence, exclude={family_of(ladder.name)}, nu=nu, drift_spread=drift_spread
        )
        ladder_runs = ladder.load()
        plans = {"learned": (["bayes"], prior)}
        if baselines:
            methods = ["bayes", "bayes_params", *(["huber"] if huber else [])]
            methods = methods if baselines is True else list(baselines)
            plans["within-table"] = (methods, "within-table")
        for direction in directions:
            for prior_name, (methods, value) in plans.items():
                table = protocol_backtest(
                    ladder,
                    methods,
                    runs=ladder_runs,
                    direction=direction,
                    seed=seed,
                    discrepancy_prior=value,
                    **fit_kwargs,
                )
                if table is None:
                    break
                table["method"] = [METHOD_NAMES[(m, prior_name)] for m in table["method"]]
                frames.append(table.assign(ladder=ladder.name, family=family_of(ladder.name)))
    return pd.concat(frames, ignore_index=True)


def _scores(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Coverage per probability, 90% interval score, log predictive density, the PIT's distance
    from uniform (:func:`pit_distance`) and runs, by ``by``."""
    cov = table.pivot_table(index=by, columns="prob", values="covered", aggfunc="mean")
    cov.columns = [f"cover_{round(100 * p)}" for p in cov.columns]
    at90 = table[np.isclose(table["prob"], 0.9)]
    scores = at90.groupby(by).agg(
        interval_score_90=("interval_score", "mean"),
        log_pred_density=("log_pred_density", "mean"),
        pit_ks=("pit", pit_distance),
        runs=("loss", "size"),
    )
    return cov.join(scores).reset_index()


def pit_distance(pit) -> float:
    """Kolmogorov distance of the PIT values from uniform, sup_u |F_n(u) − u| (0: calibrated at
    every level; about 1.36/√n is the 95% bound for n calibrated runs)."""
    u = np.sort(np.asarray(pit, float))
    if not len(u):
        return np.nan
    n = len(u)
    return float(max((np.arange(1, n + 1) / n - u).max(), (u - np.arange(n) / n).max()))


def calibration_summary(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Scores per protocol and averages with each family weighted equally.

    Returns a dict of tables: ``per_ladder`` (method, ladder, direction), ``average`` (method;
    the mean over families of each family's mean over its protocols), ``by_direction`` (method,
    direction), ``by_bin`` (method, multiple bin: runs pooled within a protocol and bin, then
    protocols averaged within a family, families equally) and ``by_family`` (method, family).
    A table without ``direction`` (an older run) counts as the compute direction.
    """
    table = table.copy()
    if "direction" not in table:
        table["direction"] = "compute"
    if "family" not in table:
        table["family"] = table["ladder"].map(family_of)
    if "bin" not in table:
        table["bin"] = "all"
    unit = ["method", "family", "ladder", "direction"]
    per_ladder = _scores(table, unit)
    per_bin = _scores(table, [*unit, "bin"])
    numeric = [c for c in per_ladder.columns if c not in unit]

    def families(frame, by):  # protocols averaged within a family, then families equally
        fam = frame.groupby([*by, "family"])[numeric].mean().reset_index()
        return fam.groupby(by)[numeric].mean().reset_index()

    return {
        "per_ladder": per_ladder.drop(columns="family"),
        "average": families(per_ladder, ["method"]),
        "by_direction": families(per_ladder, ["method", "direction"]),
        "by_bin": families(per_bin, ["method", "bin"]),
        "by_family": per_ladder.groupby(["method", "family"])[numeric].mean().reset_index(),
    }
