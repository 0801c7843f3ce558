"""Sampling: ``fit(runs, law, ...) -> ScalingFit``, with NUTS through nutpie and compile-once reuse.

A compiled nutpie model is kept per *structure* (law, likelihood, prior families; see
:func:`bayes_scaling.model.builder.structure_key`). Later fits with the same structure only swap
data with
``compiled.with_data(...)``: no recompilation, whatever the number of runs. A fit that fails the
diagnostics gate escalates through the ladder of :mod:`bayes_scaling.inference.rescue` first.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import pandas as pd

from bayes_scaling import _validate as check
from bayes_scaling._constants import FLOPS_PER_PARAM_TOKEN
from bayes_scaling.data.runs import LOADED_COLUMNS, check_runs_for_law, load_runs
from bayes_scaling.discrepancy.evidence import estimate as estimate_discrepancy
from bayes_scaling.discrepancy.local import applies as local_applies
from bayes_scaling.discrepancy.local import learn as learn_local_misfit
from bayes_scaling.discrepancy.prior import resolve_prior
from bayes_scaling.inference.compiled import ADAPTATION, STATS
from bayes_scaling.inference.nuts import (
    INTERNAL_CHAINS,
    INTERNAL_DRAWS,
    INTERNAL_TUNE,
    internal_posterior,
    sample_posterior,
    sampled_names,
)
from bayes_scaling.inference.rescue_core import escalate
from bayes_scaling.inference.rungs import Attempt
from bayes_scaling.laws import Law, get_law
from bayes_scaling.model.likelihoods import (
    check_likelihood,
    log_density_draws,
    outlying_runs,
    residual_draws,
)
from bayes_scaling.model.pooling import Pooling
from bayes_scaling.priors import resolve_priors
from bayes_scaling.priors.learned import LAW as LEARNED_LAW
from bayes_scaling.priors.learned import check_priors_argument, prior_label
from bayes_scaling.results import diagnostics
from bayes_scaling.results.scaling import ScalingFit, make_datatree


def __getattr__(name):  # the count lives in .compiled; read it here as before
    if name == "COMPILE_COUNT":
        return STATS["compiles"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def sample_checked(
    runs,
    law: Law,
    priors: Mapping,
    likelihood: str,
    gate: list[str],
    *,
    draws: int,
    chains: int,
    tune: int,
    seed: int | None,
    target_accept: float,
    progress: bool | None,
    flops_per_param_token: float | None,
    pooling: Pooling | None = None,
    rescue: bool = True,
):
    """Sample, run the diagnostics gate over ``gate`` and record the sampler settings:
    ``(posterior, sample_stats, diagnostics, settings)``. A seed of None is drawn and stored;
    progress None means "when stderr is a terminal".

    With ``rescue``, a failed gate escalates through the ladder of
    :mod:`bayes_scaling.inference.rescue` (the arguments set its first attempt); the returned
    draws and settings are the kept attempt's (the first that passed, else the best),
    ``settings["rescue"]`` records every attempt, and a :class:`ConvergenceWarning` is raised
    only when the kept one fails."""
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    if progress is None:
        progress = sys.stderr.isatty()

    def sample(attempt: Attempt):
        return sample_posterior(
            runs,
            law,
            priors,
            likelihood,
            draws=attempt.draws,
            chains=chains,
            tune=attempt.tune,
            seed=attempt.seed,
            target_accept=attempt.target_accept,
            progress=progress,
            pooling=pooling,
            anchor=attempt.anchored,
        )

    first = Attempt("as asked", draws, tune, target_accept, seed)
    outcome = escalate(
        sample,
        first,
        gate,
        runs=runs,
        law=law,
        priors=priors,
        likelihood=likelihood,
        pooling=pooling,
        rescue=rescue,
    )
    diag, last = outcome.diagnostics, outcome.attempt
    diagnostics.warn_if_failed(diag, stacklevel=4, tried=outcome.tried())
    settings = {
        "sampler": "nutpie",
        "draws": last.draws,
        "chains": chains,
        "tune": last.tune,
        "seed": seed,
        "target_accept": last.target_accept,
        "likelihood": likelihood,
        "adaptation": ADAPTATION,
        "parameterisation": "anchored E" if last.anchored else "default",
        "sampling_seconds": outcome.seconds,
        "flops_per_param_token": float(
            flops_per_param_token or runs.attrs.get("flops_per_param_token", FLOPS_PER_PARAM_TOKEN)
        ),
        "rescue_enabled": bool(rescue),
        "rescue": outcome.record,
    }
    return outcome.posterior, outcome.sample_stats, diag, settings


#: A Chinchilla fit of fewer runs than this, with no priors given, uses the learned prior
#: (``priors="learned"``). Measured by ``benchmarks/sparse.py`` (7 families, leave-one-family-out,
#: ``benchmarks/sparse.csv``): at 6 and 10 runs it narrowed the 90% bands by 45% and 24% and
#: lowered the interval score by 4% and 21%, with 90% coverage 0.89 and 0.95 (the weak prior's
#: 0.99 and 0.95); at 20 runs and on the full fit parts its interval score is 2% higher. 15 lies
#: between 10 and 20.
SMALL_TABLE = 15

#: Above this many runs, fits default to 500 draws and 500 tuning steps a chain.
LONG_TABLE = 2000


def default_length(n_runs: int, draws: int | None, tune: int | None) -> tuple[int, int]:
    """The chains' length when not given: 1000 draws after 1000 tuning steps, or 500 and 500
    for tables of more than :data:`LONG_TABLE` runs.

    Every gradient costs time in proportion to the runs, while the posterior of a long table is
    narrow and close to Gaussian: there NUTS gives a bulk ESS of about 3,000 and a tail ESS of
    about 1,300 from 4 x 500 draws (measured on a simulated 1,000-run ladder), far above the gate's
    400. The gate still checks every fit, and the rescue lengthens one that falls short.
    """
    long = n_runs > LONG_TABLE
    return (
        (500 if long else 1000) if draws is None else draws,
        (500 if long else 1000) if tune is None else tune,
    )


def fit(
    runs,
    law: str | Law = "chinchilla",
    priors: Mapping | None = None,
    *,
    draws: int | None = None,
    chains: int = 4,
    tune: int | None = None,
    seed: int | None = None,
    likelihood: str = "student_t",
    target_accept: float = 0.95,
    progress: bool | None = None,
    flops_per_param_token: float | None = None,
    rescue: bool = True,
    discrepancy: bool | str = True,
    discrepancy_prior=None,
) -> ScalingFit:
    """Fit a scaling law to a runs table with NUTS and check the posterior's health.

    Parameters
    ----------
    runs : DataFrame or path
        A runs table (anything :func:`bayes_scaling.load_runs` reads).
    law : str or Law
        ``"chinchilla"`` (default), ``"power"`` / ``"power:n_params"``, or a registered law.
    priors : dict, "default", "learned" or LearnedLawPrior, optional
        The law's priors. ``"default"``: data-scaled defaults (weak). None: the same, except
        that a Chinchilla fit of fewer than :data:`SMALL_TABLE` (15) runs uses ``"learned"``
        (``settings["priors_chosen"]`` says so; pass ``"default"`` to keep the weak priors).
        ``"learned"``
        (Chinchilla law only): a correlated MvNormal on (log E, log A, α, log B, β), learned
        across public ladders and scaled to the table's median loss
        (:mod:`bayes_scaling.priors.learned`), and the run noise σ's learned floor
        (:mod:`bayes_scaling.priors.noise`); a :class:`~bayes_scaling.priors.LearnedLawPrior`
        (e.g. ``learned_prior(exclude={"gemstones"})``) likewise. A dict: overrides by parameter
        name, e.g. ``{"beta": Prior("Normal", {"mu": 0.28, "sigma": 0.05})}``.
        ``settings["priors"]`` says which was used.
    draws, chains, tune : int
        Posterior draws and tuning steps per chain, and the number of chains. ``draws`` and
        ``tune`` default to :func:`default_length`: 1000 each, 500 each above
        :data:`LONG_TABLE` runs.
    seed : int, optional
        Random seed. The same seed gives the same posterior. When None a seed is drawn and stored.
    likelihood : {"student_t", "normal"}
        Noise model on log loss.
    target_accept : float
        NUTS step-size adaptation target.
    progress : bool, optional
        Progress bar; by default shown only when stderr is a terminal.
    flops_per_param_token : float, optional
        k in C = k·N·D for compute-optimal splits; taken from the runs table (6) when None.
    rescue : bool
        When the gate fails, try the fixed ladder of :mod:`bayes_scaling.inference.rescue`
        (longer, then target_accept 0.99, E anchored or more draws as the failures call for) before
        reporting "not converged"; the attempts are in ``settings["rescue"]``. False: one try.
    discrepancy : bool or str
        Learn the extrapolation discrepancy τ by rolling backtests inside the runs (a few extra
        fits of the already compiled model; see :mod:`bayes_scaling.discrepancy.record`). A string
        names the axis of the internal cuts (``"compute"``, the default for True, ``"n_params"`` or
        ``"n_tokens"``). False: parameter-only bands everywhere.
    discrepancy_prior : str, DiscrepancyPrior or path, optional
        The prior of the discrepancy's (m, τ, γ) that the internal backtests update: ``"learned"``
        (default: a population prior learned across public ladders, shipped with the package;
        :mod:`bayes_scaling.discrepancy.prior`), ``"within-table"`` (the earlier
        HalfNormal(0.05) prior with independent held-out runs), a
        :class:`~bayes_scaling.discrepancy.prior.DiscrepancyPrior`, or a prior file.

    Returns
    -------
    ScalingFit
        Posterior DataTree, law, priors and diagnostics. ``fit.converged`` is False (with a
        :class:`ConvergenceWarning`) when R-hat > 1.01, ESS < 400 or any divergence.

    Examples
    --------
    >>> from bayes_scaling import datasets, fit
    >>> result = fit(datasets.demo(), seed=1)        # doctest: +SKIP
    >>> result.bands(compute=[1e21, 1e22])          # doctest: +SKIP
    """
    priors = check_priors_argument(priors)
    if not isinstance(runs, pd.DataFrame) or not LOADED_COLUMNS <= set(runs):
        runs = load_runs(runs)  # a table not yet loaded (a plain DataFrame has no run_id)
    seed = check.seed(seed)
    rescue = check.flag(rescue, "rescue")
    progress = None if progress is None else check.flag(progress, "progress")
    if flops_per_param_token is not None:
        flops_per_param_token = check.positive(flops_per_param_token, "flops_per_param_token")
    law = get_law(law)
    chosen = priors is None and law.name == LEARNED_LAW and len(runs) < SMALL_TABLE
    priors = "learned" if chosen else priors
    check_likelihood(likelihood)
    check_runs_for_law(runs, len(law.params), law.exponents, inputs=law.inputs)
    discrepancy = check.discrepancy_axis(discrepancy, runs.columns)
    draws, tune = default_length(len(runs), draws, tune)
    draws, chains = check.count(draws, "draws"), check.count(chains, "chains")
    tune = check.count(tune, "tune")  # ≥ 1: nutpie panics without tuning steps
    target_accept = check.probability(target_accept, "target_accept")
    disc_prior = resolve_prior(discrepancy_prior, local_applies(law)) if discrepancy else None
    user_priors = priors
    priors = resolve_priors(law, runs, priors, likelihood)
    posterior, sample_stats, diag, settings = sample_checked(
        runs,
        law,
        priors,
        likelihood,
        sampled_names(law, priors),
        draws=draws,
        chains=chains,
        tune=tune,
        seed=seed,
        target_accept=target_accept,
        progress=progress,
        flops_per_param_token=flops_per_param_token,
        rescue=rescue,
    )
    seed = settings["seed"]
    settings["priors"] = prior_label(user_priors)
    if chosen:
        settings["priors_chosen"] = f"learned: the default below {SMALL_TABLE} runs"
    inputs = {c: runs[c].to_numpy(float) for c in law.inputs}
    y = np.log(runs["loss"].to_numpy(float))
    residuals = residual_draws(law, posterior, inputs, y)  # once: the density and the misfit
    loglik = log_density_draws(likelihood, posterior, residuals)
    if discrepancy:
        cut_on = "compute" if discrepancy is True else str(discrepancy)
        settings["discrepancy_cut_on"] = cut_on
        start = time.perf_counter()
        inner = dict(
            draws=INTERNAL_DRAWS,
            chains=min(chains, INTERNAL_CHAINS),
            tune=min(tune, INTERNAL_TUNE),
            seed=seed,
            target_accept=target_accept,
        )

        refits: list[dict] = []

        def internal_fit(table):
            table_priors = resolve_priors(law, table, user_priors, likelihood)
            return internal_posterior(table, law, table_priors, likelihood, record=refits, **inner)

        typical = np.median(residuals, axis=0)  # each run's residual: outliers, local misfit
        outliers = outlying_runs(
            typical,
            float(posterior["sigma"].median()),
            float(posterior["nu"].median()) if "nu" in posterior else None,
        )
        settings["discrepancy_outliers"] = runs.loc[outliers, "run_id"].astype(str).tolist()
        disc = estimate_discrepancy(
            internal_fit, runs, law, likelihood, cut_on, disc_prior, outliers=outliers
        )
        failed = sum(not r["usable"] for r in refits)
        # a prior learned without the misfit (within-table, or a user's) has τ carry it already
        local = (
            learn_local_misfit(runs, law, posterior, residuals=typical)
            if disc_prior.local
            else None
        )
        disc = replace(disc, failed_refits=failed, local=local)
        settings["discrepancy_prior"] = disc_prior.name
        settings["discrepancy_refits"] = refits
        settings["discrepancy_seconds"] = round(time.perf_counter() - start, 3)
    else:
        disc = None
    tree = make_datatree(posterior, sample_stats, loglik, runs, law, priors, diag, settings, disc)
    return ScalingFit(tree, law, priors, diag, runs, settings)
