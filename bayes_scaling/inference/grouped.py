"""Grouped fits: one hierarchical model of a law over runs in groups (its result is ``GroupedFit``).

``fit_groups(runs, law, group_col=..., pool=...)`` fits any law to runs of several recipes
(architectures, data mixes, ...) at once, with each parameter shared, partially pooled or
independent across groups (see :mod:`bayes_scaling.model.pooling` for the model and the defaults).
The same diagnostics gate as :func:`bayes_scaling.fit` applies, over every group's parameters and
the population values and spreads. Comparisons between two groups are in
:mod:`bayes_scaling.answers.gap`.

By default a grouped fit also learns the extrapolation discrepancy, in two parts
(:mod:`bayes_scaling.discrepancy.grouped`): a law error shared by all groups and each group's
own. Both are learned from internal cuts, as for :func:`bayes_scaling.fit`: the grouped model is
refitted below a few compute cuts common to the groups (the compiled model is reused) and the
held-out runs of every group are scored. A group's band (:meth:`GroupedFit.group_fit`) carries
both parts; in a comparison the shared part cancels from the sign of ΔL, the specific parts do not.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling import _validate as check
from bayes_scaling.data.runs import LOADED_COLUMNS, check_runs_for_law, load_runs
from bayes_scaling.discrepancy.grouped_evidence import estimate_groups
from bayes_scaling.discrepancy.prior import resolve_prior
from bayes_scaling.errors import PriorError, Problem, RunsError
from bayes_scaling.inference.nuts import (
    INTERNAL_CHAINS,
    INTERNAL_DRAWS,
    INTERNAL_TUNE,
    internal_posterior,
    sampled_names,
)
from bayes_scaling.inference.sampling import sample_checked
from bayes_scaling.laws import Law, get_law
from bayes_scaling.model.likelihoods import check_likelihood, log_density, outlying_runs
from bayes_scaling.model.pooling import Pooling, mu_name, pooling_modes, tau_name, tau_prior
from bayes_scaling.priors import Prior, resolve_priors, runs_stats
from bayes_scaling.results.grouped import FORMAT, GroupedFit
from bayes_scaling.results.scaling import make_datatree


def group_runs(
    runs: pd.DataFrame, law: Law, column: str = "group", groups: Sequence[str] | None = None
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The runs with their group labels in a ``group`` column (as text), and the groups in order.

    ``groups`` keeps only those groups, in that order; by default every group, sorted as text
    (so the first in sorted order is the default baseline A of a comparison). Each group
    must be fittable on its own (:func:`bayes_scaling.data.runs.check_runs_for_law`): a group whose
    runs do not identify an exponent would get its value from the prior alone.

    Raises
    ------
    RunsError
        A missing group column, a run without a group, fewer than two groups, an unknown group in
        ``groups``, or a group whose runs cannot identify the law (named in the message).
    """
    if column not in runs.columns:
        raise RunsError(
            Problem(
                None,
                column,
                f"no such column; the table has {list(runs.columns)}. Name the column that holds "
                "each run's recipe (--group-col in the CLI)",
            )
        )
    labels = runs[column]
    missing = np.flatnonzero(labels.isna().to_numpy())
    if len(missing):
        raise RunsError(
            Problem(runs.index[missing[0]], column, "no group; give every run a group or drop it")
        )
    runs = runs.assign(group=labels.astype(str).to_numpy())
    present = sorted(runs["group"].unique())
    chosen = tuple(str(g) for g in groups) if groups is not None else tuple(present)
    unknown = [g for g in chosen if g not in present]
    if unknown:
        raise RunsError(
            Problem(None, column, f"no runs in group(s) {unknown}; the groups are {present}")
        )
    if len(chosen) < 2:
        raise RunsError(
            Problem(
                None, column, f"one group only ({list(chosen)}); a comparison needs two or more"
            )
        )
    runs = runs[runs["group"].isin(chosen)]
    runs.attrs = dict(runs.attrs)
    for g in chosen:
        try:
            part = runs[runs["group"] == g]
            check_runs_for_law(part, len(law.params), law.exponents, inputs=law.inputs)
        except RunsError as err:
            raise RunsError(f"group {g!r} ({len(part)} runs): {err}") from err
    return runs, chosen


def resolve_group_priors(law, runs, priors, likelihood, pooling: Pooling) -> dict[str, Prior]:
    """The law's priors (scaled to all runs), plus τ hyper-priors of the partially pooled ones.

    User overrides may name law parameters, ``sigma``/``nu`` and ``<param>_tau``.
    """
    overrides = dict(priors or {})
    taus = {k: overrides.pop(k) for k in list(overrides) if k.endswith("_tau")}
    resolved = resolve_priors(law, runs, overrides, likelihood)
    # A default bounded by the lowest loss (E < min loss) must hold for every group's own E: when
    # a parameter varies by group, bound it by the largest of the groups' lowest losses.
    floors = runs.groupby("group")["loss"].min()
    loose = law.default_priors({**runs_stats(runs), "min_loss": float(floors.max())})
    for name in pooling.varying(law.params):
        if name not in overrides:
            resolved[name] = loose[name]
    for name in pooling.partial(resolved):
        resolved[tau_name(name)] = tau_prior(law, name, resolved[name])
    for name, value in taus.items():
        if name not in resolved:
            raise PriorError(f"{name!r}: {name[:-4]!r} is not partially pooled in this fit")
        resolved[name] = Prior.from_any(value)
    return resolved


def gate_names(law: Law, priors: Mapping, pooling: Pooling) -> list[str]:
    """What the diagnostics gate checks: every parameter, population value and spread."""
    names = sampled_names(law, priors)
    for name in pooling.partial(names):
        names += [mu_name(name), tau_name(name)]
    return names


def per_run(posterior: xr.Dataset, codes: np.ndarray) -> xr.Dataset:
    """Each run's parameters: group-varying ones picked by the run's group (dim ``run``)."""
    return posterior.isel(group=xr.DataArray(codes, dims="run")).drop_vars("group", errors="ignore")


def fit_groups(
    runs,
    law: str | Law = "chinchilla",
    *,
    group_col: str = "group",
    pool: str = "exponents",
    pooling: Mapping[str, str] | None = None,
    groups: Sequence[str] | None = None,
    priors: Mapping | None = None,
    draws: int = 2000,
    chains: int = 4,
    tune: int = 1500,
    seed: int | None = None,
    likelihood: str = "student_t",
    target_accept: float = 0.98,
    progress: bool | None = None,
    flops_per_param_token: float | None = None,
    rescue: bool = True,
    discrepancy: bool | str = True,
    discrepancy_prior=None,
) -> GroupedFit:
    """Fit one law to grouped runs as a hierarchical model (see :mod:`bayes_scaling.model.pooling`).

    Parameters
    ----------
    runs : DataFrame or path
        A runs table with a group column.
    law : str or Law
        Any law; ``"chinchilla"`` by default.
    group_col : str
        The column that names each run's group.
    pool : {"exponents", "all", "none"}
        Pooling preset: exponents partially pooled, coefficients independent and E shared
        (default); every law parameter partially pooled; or every law parameter independent.
    pooling : dict, optional
        Per-parameter overrides of the preset, e.g. ``{"E": "independent", "sigma": "partial"}``.
    groups : sequence of str, optional
        Fit only these groups (default: all, sorted).
    priors : dict, optional
        Prior overrides, for law parameters (the population value when pooled), noise, and
        ``<param>_tau`` (the spread across groups).
    draws, chains, tune, seed, likelihood, target_accept, progress, flops_per_param_token
        As in :func:`bayes_scaling.fit`, with longer defaults (2000 draws after 1500 tuning steps,
        target_accept 0.98): with two or three groups the spreads τ are barely identified and mix
        slowly. On 16 simulated two-recipe ladders, 1000 draws after 1000 steps at 0.95 passed the
        gate 13 times; these defaults passed it on 8 of 8 ladders, including the three failures.
    rescue : bool
        As in :func:`bayes_scaling.fit`: a failed gate first escalates through the ladder of
        :mod:`bayes_scaling.inference.rescue` (longer, then target_accept 0.99 after
        divergences; E is never anchored in a grouped fit). False: one try.
    discrepancy : bool or str
        Learn the extrapolation discrepancy, shared by the groups and specific to each
        (:mod:`bayes_scaling.discrepancy.grouped`), from internal cuts common to the groups
        (a few short refits of the compiled grouped model). A string names the cuts' axis
        (``"compute"`` for True). False: parameter-only bands and comparisons (the answers of
        earlier versions).
    discrepancy_prior : str, DiscrepancyPrior or path, optional
        The shared part's prior, as in :func:`bayes_scaling.fit` (default: the learned
        cross-ladder prior); the specific part's prior is half its scale
        (:func:`~bayes_scaling.discrepancy.grouped_evidence.specific_prior`).

    Returns
    -------
    GroupedFit
        ``converged`` is False (with a :class:`ConvergenceWarning`) when the gate fails.
    """
    if not isinstance(runs, pd.DataFrame) or not LOADED_COLUMNS <= set(runs):
        runs = load_runs(runs, **({} if group_col == "group" else {"group": group_col}))
        group_col = "group"
    law = get_law(law)
    check_likelihood(likelihood)
    seed = check.seed(seed)
    draws, chains = check.count(draws, "draws"), check.count(chains, "chains")
    tune = check.count(tune, "tune")  # ≥ 1: nutpie panics without tuning steps
    target_accept = check.probability(target_accept, "target_accept")
    rescue = check.flag(rescue, "rescue")
    if flops_per_param_token is not None:
        flops_per_param_token = check.positive(flops_per_param_token, "flops_per_param_token")
    check_runs_for_law(runs, len(law.params), law.exponents, inputs=law.inputs)
    discrepancy = check.discrepancy_axis(discrepancy, runs.columns)
    runs, chosen = group_runs(runs, law, group_col, groups)
    spec = Pooling(chosen, pooling_modes(law, pool, pooling), group_col, pool)
    # a grouped fit has no local misfit: the population learned without one
    disc_prior = resolve_prior(discrepancy_prior, local=False) if discrepancy else None
    resolved = resolve_group_priors(law, runs, priors, likelihood, spec)
    posterior, stats, diag, settings = sample_checked(
        runs,
        law,
        resolved,
        likelihood,
        gate_names(law, resolved, spec),
        draws=draws,
        chains=chains,
        tune=tune,
        seed=seed,
        target_accept=target_accept,
        progress=progress,
        flops_per_param_token=flops_per_param_token,
        pooling=spec,
        rescue=rescue,
    )
    params = per_run(posterior, spec.codes(runs))
    y = xr.DataArray(np.log(runs["loss"].to_numpy(float)), dims="run")
    mu = law.fn(
        {c: xr.DataArray(runs[c].to_numpy(float), dims="run") for c in law.inputs},
        {k: params[k] for k in law.params},
        np,
    )
    loglik = log_density(likelihood, params, np.log(mu), y).transpose("chain", "draw", "run")
    disc = None
    if discrepancy:
        cut_on = "compute" if discrepancy is True else str(discrepancy)
        start = time.perf_counter()
        inner = dict(
            draws=INTERNAL_DRAWS,
            chains=min(chains, INTERNAL_CHAINS),
            tune=min(tune, INTERNAL_TUNE),
            seed=settings["seed"],
            target_accept=target_accept,
        )

        def internal_fit(table):
            table_priors = resolve_group_priors(law, table, priors, likelihood, spec)
            return internal_posterior(table, law, table_priors, likelihood, pooling=spec, **inner)

        typical = (y - np.log(mu)).median(("chain", "draw")).values  # each run's residual
        noise = {
            n: params[n].median(("chain", "draw")).values for n in ("sigma", "nu") if n in params
        }
        outliers = outlying_runs(typical, noise["sigma"], noise.get("nu"))
        settings["discrepancy_outliers"] = runs.loc[outliers, "run_id"].astype(str).tolist()
        disc = estimate_groups(
            internal_fit, runs, law, likelihood, chosen, cut_on, disc_prior, outliers=outliers
        )
        settings.update(
            discrepancy_cut_on=cut_on,
            discrepancy_prior=disc_prior.name,
            discrepancy_seconds=round(time.perf_counter() - start, 3),
        )
    tree = make_datatree(posterior, stats, loglik, runs, law, resolved, diag, settings, disc)
    tree.attrs.update(format=FORMAT, pooling=spec.to_json())
    return GroupedFit(tree, law, resolved, spec, diag, runs, settings)
