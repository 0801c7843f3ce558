"""Law-form uncertainty: compare fitted laws by PSIS-LOO, stack them, and say where they disagree.

Given fits of several laws to the *same* runs:

- :func:`compare_laws` ranks them by expected log predictive density (elpd) estimated with
  Pareto-smoothed importance-sampling leave-one-out (PSIS-LOO, Vehtari et al. 2017) through
  ``arviz.compare``, with stacking weights (Yao et al. 2018): the weights w maximising
  Σ_i log Σ_k w_k p(y_i | y_−i, law k) over the simplex. Pareto k above ArviZ's threshold
  (0.7, or less for few draws) marks runs whose LOO estimate is unreliable; they are listed.
- :func:`stacked_bands` mixes the laws' loss draws in proportion to the weights (a draw from the
  stacked predictive picks law k with probability w_k), so the band carries doubt about the form.
- :func:`disagreement` says where the laws part beyond the data: at a point, the laws disagree
  when the spread of their medians, max_k m_k − min_k m_k, exceeds the mean half-width of their
  central predictive intervals, or when two of their intervals do not overlap.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling import _validate as check
from bayes_scaling._constants import DEFAULT_PROB, DEFAULT_PROBS, SAMPLE_DIMS
from bayes_scaling.answers.bands import (
    band_draws,
    resolve_sizes,
    size_coords,
    summarise_draws,
    warn_below_data,
)
from bayes_scaling.errors import ArgumentError
from bayes_scaling.results import ScalingFit

#: How ``arviz.compare`` may weigh the laws.
WEIGHT_METHODS = ("stacking", "BB-pseudo-BMA", "pseudo-BMA")


def _check_fits(fits, minimum: int) -> None:
    """Raise unless ``fits`` maps names to at least ``minimum`` ScalingFits."""
    if not isinstance(fits, Mapping) or not all(isinstance(f, ScalingFit) for f in fits.values()):
        raise ArgumentError("fits", "expected a dict of law name to fit, e.g. {'chinchilla': fit}")
    if len(fits) < minimum:
        raise ArgumentError("fits", f"give at least {minimum} fitted laws, got {len(fits)}")


def _check_same_runs(fits: Mapping) -> None:
    _check_fits(fits, minimum=2)
    hashes = {name: f.idata.attrs.get("runs_sha256") for name, f in fits.items()}
    if len(set(hashes.values())) > 1:
        raise ArgumentError(
            "fits",
            f"the fits saw different runs tables {hashes}; LOO compares laws on the same runs",
        )


def _check_weights(weights, fits: Mapping) -> dict[str, float]:
    """Non-negative weights of known laws, normalised to sum to one."""
    if not isinstance(weights, Mapping) or not weights:
        raise ArgumentError(
            "weights", "expected a dict of law name to weight, e.g. {'chinchilla': 1}"
        )
    unknown = set(weights) - set(fits)
    if unknown:
        raise ArgumentError(
            "weights", f"for unknown laws {sorted(unknown, key=str)}; laws: {list(fits)}"
        )
    values = {name: check.non_negative(w, f"weights[{name!r}]") for name, w in weights.items()}
    total = sum(values.values())
    if total <= 0:
        raise ArgumentError("weights", "are all zero; give at least one law a positive weight")
    return {name: w / total for name, w in values.items()}


def compare_laws(fits: Mapping, *, method: str = "stacking") -> pd.DataFrame:
    """PSIS-LOO comparison of fitted laws, with stacking weights and Pareto-k warnings.

    Parameters
    ----------
    fits : mapping of str to ScalingFit
        Fits of different laws (or priors) to the same runs table.
    method : {"stacking", "BB-pseudo-BMA", "pseudo-BMA"}
        How ArviZ computes the weights.

    Returns
    -------
    DataFrame
        ``arviz.compare``'s table (rank, elpd, p, elpd_diff, se, dse, weight, ...) plus
        ``n_high_k`` (runs with Pareto k above the threshold), ``high_k_runs`` (their run ids),
        ``k_threshold`` and ``converged``.
    """
    import arviz_stats as az  # ArviZ's statistics, on first use (all of ArviZ loads matplotlib)

    _check_same_runs(fits)
    method = check.one_of(method, "method", WEIGHT_METHODS)
    # round_to="none": ArviZ rounds its table to two significant figures by default (elpd
    # 133.45 and 79.60 came back as 130.0 and 80.0); the tables that show it format it
    table = az.compare({name: f.idata for name, f in fits.items()}, method=method, round_to="none")
    extra = {}
    for name, f in fits.items():
        loo = az.loo(f.idata, pointwise=True)
        k = loo.pareto_k
        high = k > loo.good_k
        extra[name] = {
            "n_high_k": int(high.sum()),
            "high_k_runs": ", ".join(map(str, k["run"].values[high.values])),
            "k_threshold": float(loo.good_k),
            "converged": bool(f.converged),
        }
    return table.join(pd.DataFrame(extra).T)


def weights_of(table: pd.DataFrame) -> dict[str, float]:
    """Stacking weights from :func:`compare_laws`, normalised to sum to one."""
    w = table["weight"].astype(float)
    return (w / w.sum()).to_dict()


def stacked_draws(fits: Mapping, weights: Mapping, sizes_of, seed: int = 0, discrepancy=True):
    """Loss draws ``(band, sample, point)`` mixing each law's draws with probability w_k."""
    rng = np.random.default_rng(seed)
    parts = []
    total = min(f.posterior.sizes["chain"] * f.posterior.sizes["draw"] for f in fits.values())
    counts = rng.multinomial(total, [weights.get(n, 0.0) for n in fits])
    for (_name, f), n in zip(fits.items(), counts, strict=True):
        if n == 0:
            continue
        draws = band_draws(f, sizes_of(f), seed=seed, discrepancy=discrepancy)
        flat = draws.stack(sample=SAMPLE_DIMS).transpose("band", "sample", "point")
        pick = rng.choice(flat.sizes["sample"], size=n, replace=False)
        parts.append(flat.isel(sample=pick).drop_vars(["sample", *SAMPLE_DIMS]))
    return xr.concat(parts, dim="sample")


def stacked_bands(
    fits: Mapping,
    weights: Mapping | None = None,
    *,
    params=None,
    tokens=None,
    compute=None,
    tokens_per_param=None,
    prob=None,
    seed: int = 0,
    discrepancy: bool = True,
    **aliases,
) -> xr.Dataset:
    """Bands of the stacked predictive distribution (laws mixed by their stacking weights).

    Sizes as in :func:`bayes_scaling.answers.bands.loss_bands` (each law splits compute its own
    way when only ``compute`` is given; point i is point i as given). ``weights`` default to
    :func:`compare_laws`'s stacking weights, and are normalised to sum to one. ``prob``: one
    probability or several (default :data:`bayes_scaling._constants.DEFAULT_PROBS`; ``probs=``
    is its old name).

    Returns
    -------
    Dataset
        ``lower``, ``median``, ``upper`` with dims ``(band, prob, point)``, coordinates from the
        highest-weight law, ``attrs["weights"]`` (JSON-able dict).
    """
    prob = check.renamed(aliases, "probs", "prob", prob, where="stacked_bands")
    probs = check.probabilities(DEFAULT_PROBS if prob is None else prob, "prob")
    seed = check.count(seed, "seed", minimum=0)
    discrepancy = check.flag(discrepancy, "discrepancy")
    _check_fits(fits, minimum=1)

    # every law's sizes once (a numerical optimum is a search), and every law can answer at
    # them before the laws are weighed
    resolved = {
        id(f): resolve_sizes(f, params, tokens, compute, tokens_per_param) for f in fits.values()
    }

    def sizes_of(f):
        return resolved[id(f)]

    first = next(iter(fits.values()))
    warn_below_data(first, sizes_of(first))
    weights = _check_weights(weights_of(compare_laws(fits)) if weights is None else weights, fits)
    draws = stacked_draws(fits, weights, sizes_of, seed, discrepancy)
    ds = summarise_draws(draws, probs, "sample")
    lead = max(weights, key=weights.get)
    ds = ds.assign_coords(size_coords(fits[lead], sizes_of(fits[lead]), ds.sizes["point"]))
    ds.attrs.update(
        weights={k: float(v) for k, v in weights.items()},
        converged=int(all(f.converged for f in fits.values())),
        law="stacked: " + ", ".join(f"{k} {v:.2f}" for k, v in weights.items()),
        discrepancy="on" if discrepancy else "off",
    )
    return ds


def disagreement(
    fits: Mapping,
    *,
    compute=None,
    params=None,
    tokens=None,
    tokens_per_param=None,
    prob: float = DEFAULT_PROB,
    discrepancy: bool = True,
) -> pd.DataFrame:
    """Where the laws' predictive bands part (see the module docstring), point by point.

    Row i is point i as given.

    Returns
    -------
    DataFrame
        One row per point: ``compute``, ``distance`` (decades beyond the data), each law's median
        (columns named by law), ``spread`` (max − min median), ``half_width`` (mean half-width of
        the laws' ``prob`` intervals), ``overlap`` (all intervals share a point) and ``disagree``.
    """
    _check_fits(fits, minimum=2)
    prob = check.probability(prob, "prob")
    bands = {
        name: f.bands(
            compute=compute,
            params=params,
            tokens=tokens,
            tokens_per_param=tokens_per_param,
            prob=prob,
            as_xarray=True,
            discrepancy=discrepancy,
        ).sel(band="predictive", prob=prob)
        for name, f in fits.items()
    }
    first = next(iter(bands.values()))
    out = pd.DataFrame({"compute": first["compute"].values, "distance": first["distance"].values})
    medians = np.array([b["median"].values for b in bands.values()])
    lowers = np.array([b["lower"].values for b in bands.values()])
    uppers = np.array([b["upper"].values for b in bands.values()])
    for name, m in zip(bands, medians, strict=True):
        out[name] = m
    out["spread"] = medians.max(axis=0) - medians.min(axis=0)
    out["half_width"] = ((uppers - lowers) / 2).mean(axis=0)
    out["overlap"] = lowers.max(axis=0) <= uppers.min(axis=0)
    out["disagree"] = (out["spread"] > out["half_width"]) | ~out["overlap"]
    return out


def disagreement_sentence(table: pd.DataFrame, laws) -> str:
    """One sentence for the report: where (if anywhere) the laws disagree."""
    parted = table[table["disagree"]]
    if parted.empty:
        return (
            f"The laws ({', '.join(laws)}) agree within their {len(table)} compared budgets: "
            "their medians differ by less than the bands' half-width."
        )
    first = parted.iloc[0]
    medians = ", ".join(f"{law} {first[law]:.3f}" for law in laws)
    return (
        f"The laws disagree from {first['compute']:.2g} FLOPs on "
        f"({first['distance']:.2g} decades beyond the data): medians {medians} nats. "
        "Beyond that point the choice of law, not the data, sets the prediction."
    )
