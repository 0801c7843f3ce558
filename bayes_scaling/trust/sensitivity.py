"""Prior sensitivity: do the conclusions come from the runs, or from the priors?

Two checks, both on the parameter-only posterior (the extrapolation discrepancy is learned from
backtests, not from these priors, and is left out so that only the priors move):

1. **Refits under other prior sets**, same families as the defaults (so no recompilation):

   - ``wide``: every Normal, LogNormal and HalfNormal scale doubled (Uniform bounds kept: they are
     already the physical limits);
   - ``default``: the fit's own priors;
   - ``informed``: exponents centred on published fits, where the law has them: Chinchilla form
     α ~ LogNormal(log 0.345, 0.1) (Hoffmann 0.34, Besiroglu 0.348, Muennighoff 0.353),
     β ~ LogNormal(log 0.32, 0.15) (Hoffmann 0.28 … Besiroglu 0.366); Kaplan form
     α_N ~ LogNormal(log 0.076, 0.2), α_D ~ LogNormal(log 0.095, 0.2). Coefficients and E stay
     data-scaled: published values in nats belong to another tokenizer and data set.

   For each quantity q (parameters; the loss band, N* and D*/N* at each budget) and each set s,
   with [l, u] the default's central interval and m its median,

       shift_s = |m_s − m| / (u − l),     width_ratio_s = (u_s − l_s) / (u − l),

   and q is **prior-driven** when some set has shift > 0.25 or a width ratio outside [2/3, 3/2].

2. **Power-scaling sensitivity** (Kallioinen et al. 2024) through ArviZ's ``psense_summary``:
   no refit, from importance weights of the posterior with the prior raised to a power near 1.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling import _validate as check
from bayes_scaling._constants import DEFAULT_PROB, SAMPLE_DIMS
from bayes_scaling.answers.allocation import optimal_allocation
from bayes_scaling.answers.bands import resolve_sizes
from bayes_scaling.errors import ArgumentError
from bayes_scaling.inference.batch import FitTask, fit_many
from bayes_scaling.priors import Prior
from bayes_scaling.priors.joint import joint_log_correction
from bayes_scaling.priors.learned import JOINT
from bayes_scaling.priors.learned import PARAMS as JOINT_PARAMS

SHIFT_FLAG = 0.25
WIDTH_FLAG = 1.5
#: Published exponents: (median, sd of log) of LogNormal priors, per law parameter.
INFORMED = {
    "alpha": (0.345, 0.1),
    "beta": (0.32, 0.15),
    "alpha_N": (0.076, 0.2),
    "alpha_D": (0.095, 0.2),
}
SCALE_KEYS = {
    "Normal": "sigma",
    "LogNormal": "sigma",
    "HalfNormal": "sigma",
    "TruncatedNormal": "sigma",  # the learned prior's exponents: widened with the rest
}
#: The prior sets :func:`prior_sets` builds.
PRIOR_SETS = ("wide", "default", "informed")


def prior_sets(fit) -> dict[str, dict[str, Prior]]:
    """The ``wide``, ``default`` and ``informed`` prior sets for this fit (full prior dicts)."""
    wide = {}
    for name, prior in fit.priors.items():
        key = SCALE_KEYS.get(prior.dist)
        if key is None or name == "nu":
            wide[name] = prior
        else:
            params = {**prior.params, key: 2 * prior.params[key]}
            wide[name] = replace(prior, params=params, why=f"wide: {prior.why} (scale doubled)")
    informed = dict(fit.priors)
    for name, (median, sd) in INFORMED.items():
        if name in informed and informed[name].dist == "LogNormal":
            informed[name] = Prior(
                "LogNormal",
                {"mu": float(np.log(median)), "sigma": sd},
                why=f"informed by published fits: median {median}",
            )
        elif name in informed and informed[name].dist == "TruncatedNormal":  # a learned prior
            informed[name] = replace(  # its family kept, so its correlation still applies
                informed[name],
                params={**informed[name].params, "mu": median, "sigma": median * sd},
                why=f"informed by published fits: median {median}",
            )
    return {"wide": wide, "default": dict(fit.priors), "informed": informed}


def _quantities(fit, compute, tokens_per_param, prob) -> pd.DataFrame:
    tail = (1 - prob) / 2
    rows = []
    post = fit.posterior
    for name in fit.law.params:
        q = np.quantile(np.asarray(post[name]).ravel(), [tail, 0.5, 1 - tail])
        rows.append(("parameter", name, np.nan, *q))
    if compute is not None:
        ds = fit.bands(
            compute=compute,
            prob=prob,
            tokens_per_param=tokens_per_param,
            discrepancy=False,
            as_xarray=True,
        ).sel(band="predictive", prob=prob)
        for i, c in enumerate(np.atleast_1d(compute)):
            p = ds.isel(point=i)
            rows.append(
                (
                    "loss",
                    "predictive loss",
                    float(c),
                    *(float(p[k]) for k in ("lower", "median", "upper")),
                )
            )
        if fit.law.optimum is not None and tokens_per_param is None:
            opt = optimal_allocation(fit, compute, exponent=False)
            for i, c in enumerate(np.atleast_1d(compute)):
                for name in ("n_params", "tokens_per_param"):
                    x = np.asarray(opt[name].isel(budget=i)).ravel()
                    rows.append(
                        (
                            "allocation",
                            f"{name}_opt",
                            float(c),
                            *np.quantile(x, [tail, 0.5, 1 - tail]),
                        )
                    )
    return pd.DataFrame(rows, columns=["kind", "quantity", "compute", "lower", "median", "upper"])


@dataclass
class Sensitivity:
    """Result of :func:`prior_sensitivity`.

    Attributes
    ----------
    table : DataFrame
        ``prior_set, kind, quantity, compute, lower, median, upper, shift, width_ratio``.
    flags : DataFrame
        Per quantity and budget: the largest shift, the most extreme width ratio, ``prior_driven``.
    psense : DataFrame
        ArviZ power-scaling sensitivity of the law parameters (prior and likelihood columns,
        diagnosis).
    converged : dict
        Each prior set's convergence flag.
    priors : dict
        The prior sets used.
    """

    table: pd.DataFrame
    flags: pd.DataFrame
    psense: pd.DataFrame
    converged: dict
    priors: dict

    def prior_driven(self) -> list[str]:
        """Human names of the prior-driven quantities."""
        out = []
        for _, r in self.flags[self.flags["prior_driven"]].iterrows():
            where = "" if np.isnan(r["compute"]) else f" at {r['compute']:.3g} FLOPs"
            out.append(f"{r['quantity']}{where}")
        return out

    def sentences(self) -> list[str]:
        driven = self.prior_driven()
        sets = ", ".join(self.converged)
        failed = [name for name, ok in self.converged.items() if not ok]
        if not driven:
            head = (
                f"Refitting under the {sets} prior sets moves no conclusion by more than "
                f"{SHIFT_FLAG:.0%} of its interval width"
                + ("." if failed else ": the data, not the priors, decide.")
            )
        else:
            head = (
                f"Prior-driven (moved by more than {SHIFT_FLAG:.0%} of the interval width, or its "
                f"width changed by more than {WIDTH_FLAG:g}x, under the {sets} prior sets): "
                + "; ".join(driven)
                + ". Treat these as assumptions, not findings."
            )
        if failed:  # a refit that failed its gate cannot vouch for (or against) the conclusions
            plural = "s" if len(failed) > 1 else ""
            head += (
                f" The refit under the {', '.join(failed)} prior set{plural} did not converge: "
                "its comparison is not to be trusted."
            )
        out = [head]
        bad = self.psense[self.psense["diagnosis"] != "✓"] if len(self.psense) else self.psense
        for name, r in bad.iterrows():
            out.append(
                f"Power-scaling: {name}: {r['diagnosis']} "
                f"(prior {r['prior']:.3g}, likelihood {r['likelihood']:.3g})."
            )
        return out


def log_prior(fit) -> xr.Dataset:
    """Pointwise log prior density of every prior'd parameter at the posterior draws."""
    import pymc as pm  # only where a PyMC object is built: loading a fit never imports PyMC

    post = fit.posterior
    out = {}
    for name, prior in fit.priors.items():
        if name not in post:
            continue
        values = np.asarray(post[name])
        out[name] = (SAMPLE_DIMS, pm.logp(prior.to_dist(), values).eval())
    if JOINT in fit.priors:  # the learned prior's correlation, the model's potential
        values = {n: np.asarray(post[n]) for n in JOINT_PARAMS}
        out[JOINT] = (SAMPLE_DIMS, joint_log_correction(fit.priors, values))
    return xr.Dataset(out, coords={"chain": post["chain"], "draw": post["draw"]})


def power_scaling(fit) -> pd.DataFrame:
    """ArviZ ``psense_summary`` of the law parameters (needs a log_prior group: added here)."""
    import arviz_stats as az  # ArviZ's statistics, on first use (all of ArviZ loads matplotlib)

    tree = fit.idata.copy()
    tree["log_prior"] = xr.DataTree(log_prior(fit))
    return az.psense_summary(tree, var_names=list(fit.law.params))


def _sets(sets) -> list[str]:
    names = [sets] if isinstance(sets, str) else sets
    if not isinstance(names, list | tuple) or not names:
        raise ArgumentError("sets", f"expected prior set names from {list(PRIOR_SETS)}")
    names = [check.one_of(n, "sets", PRIOR_SETS) for n in names]
    return list(dict.fromkeys(names))


def prior_sensitivity(
    fit,
    compute=None,
    *,
    sets=PRIOR_SETS,
    tokens_per_param=None,
    prob=DEFAULT_PROB,
    client="serial",
) -> Sensitivity:
    """Refit under other prior sets and measure how far the conclusions move.

    Parameters
    ----------
    fit : ScalingFit
        The fit to check; its settings (draws, seed, likelihood) are reused.
    compute : float or sequence of float, optional
        Budgets at which to compare the loss band and the optimal split.
    sets : str or sequence of str
        Prior sets from :func:`prior_sets` (:data:`PRIOR_SETS`).
    tokens_per_param : float, optional
        A fixed split for the loss band (then no allocation comparison).
    prob : float
        Central interval probability.
    client : "serial", None, dask.distributed.Client or str
        Where the refits run (see :func:`bayes_scaling.fit_many`); in this process by default.

    Returns
    -------
    Sensitivity
    """
    compute = check.optional_positive_array(compute, "compute")
    sets = _sets(sets)
    tokens_per_param = check.optional_positive(tokens_per_param, "tokens_per_param")
    prob = check.probability(prob, "prob")
    if compute is not None:  # the fit can answer at these budgets: checked before any refit
        resolve_sizes(fit, compute=compute, tokens_per_param=tokens_per_param)
    s = fit.settings
    all_sets = prior_sets(fit)
    options = dict(
        draws=s["draws"],
        chains=s["chains"],
        tune=s["tune"],
        seed=s["seed"],
        likelihood=s["likelihood"],
        target_accept=s.get("target_accept", 0.95),
        progress=False,
        discrepancy=False,
    )
    others = [name for name in sets if name != "default"]
    tasks = [FitTask(fit.runs, fit.law, {**options, "priors": all_sets[n]}, n) for n in others]
    batch = fit_many(tasks, client=client, progress=False)
    batch.raise_failed()
    refits = {"default": fit, **dict(zip(others, batch.fits, strict=True))}
    frames, converged = {}, {}
    for name in sets:
        other = refits[name]
        converged[name] = bool(other.converged)
        frames[name] = _quantities(other, compute, tokens_per_param, prob).assign(prior_set=name)
    base = frames.get("default", _quantities(fit, compute, tokens_per_param, prob))
    width = (base["upper"] - base["lower"]).to_numpy()
    for f in frames.values():
        f["shift"] = np.abs(f["median"].to_numpy() - base["median"].to_numpy()) / width
        f["width_ratio"] = (f["upper"] - f["lower"]).to_numpy() / width
    table = pd.concat(frames.values(), ignore_index=True)
    keys = ["kind", "quantity", "compute"]
    ratio = np.exp(np.abs(np.log(table["width_ratio"])))
    flags = (
        table.assign(ratio=ratio)
        .groupby(keys, dropna=False, sort=False)
        .agg(max_shift=("shift", "max"), max_width_change=("ratio", "max"))
        .reset_index()
    )
    flags["prior_driven"] = (flags["max_shift"] > SHIFT_FLAG) | (
        flags["max_width_change"] > WIDTH_FLAG
    )
    cols = ["prior_set", *keys, "lower", "median", "upper", "shift", "width_ratio"]
    return Sensitivity(
        table=table[cols],
        flags=flags,
        psense=power_scaling(fit),
        converged=converged,
        priors={k: all_sets[k] for k in sets},
    )
