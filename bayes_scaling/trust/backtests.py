"""Backtests: fit on the runs below a cut, predict the held-out runs above it, and score them.

For each cut (a compute, N or D threshold) the law is fitted to the runs below it and every held-out
run above it gets predictive draws of its loss. Scores, per held-out run i and nominal level p:

- central interval [l, u] at p and whether it covers the observed loss y (``covered``);
- PIT = P(predicted loss ≤ y); uniform on [0, 1] when the predictive distribution is calibrated;
- interval score (Gneiting & Raftery 2007, eq. 43), for α = 1 − p::

      IS_α(l, u; y) = (u − l) + (2/α)(l − y)·1{y < l} + (2/α)(y − u)·1{y > u}

  (lower is better: it rewards narrow intervals and penalises misses);
- log predictive density of log y (Bayesian fits only), log mean_s p(log y | θ_s);
- the compute multiple beyond the cut's data, C_i / max C_train, and the log error
  log y − log median(predicted).

Rolling cuts reuse the compiled model: only the data change (see
:mod:`bayes_scaling.inference.sampling`). ``method="huber"`` runs the classical baseline
(:mod:`bayes_scaling.trust.baseline`) through the same scoring; its intervals are bootstrap
intervals of the mean curve (it has no noise model).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_scaling import _validate as check
from bayes_scaling._constants import DEFAULT_PROBS, SAMPLE_DIMS
from bayes_scaling._lazy import scipy_function
from bayes_scaling.data.runs import check_runs_for_law
from bayes_scaling.discrepancy.density import log_density_with_error
from bayes_scaling.discrepancy.protocol import irreducible_loss, with_error
from bayes_scaling.discrepancy.record import AXES, distance_beyond, reference_sizes
from bayes_scaling.errors import ArgumentError, RunsError
from bayes_scaling.inference.batch import FitTask, fit_many
from bayes_scaling.laws import Law, get_law
from bayes_scaling.model.likelihoods import draw_noise
from bayes_scaling.trust.baseline import BOOTSTRAP_OPTIONS, bootstrap_fit, check_options

logsumexp = scipy_function("special", "logsumexp")  # SciPy on first use

CUT_COLUMNS = {"compute": "compute", "n_params": "n_params", "n_tokens": "n_tokens"}
#: Runs-table columns every backtest reads.
RUN_TABLE = ["run_id", "n_params", "n_tokens", "compute", "loss"]
#: The CLI's CSV contract (one row per held-out run and probability), a prefix of RUN_COLUMNS.
CSV_COLUMNS = [
    "cut",
    "params",
    "tokens",
    "compute",
    "loss",
    "prob",
    "lower",
    "upper",
    "covered",
    "pit",
]
RUN_COLUMNS = [
    *CSV_COLUMNS,
    "method",
    "interval_score",
    "distance",
    "multiple",
    "log_error",
    "log_pred_density",
    "run_id",
]


def interval_score(lower, upper, y, prob):
    """Interval score of central ``prob`` intervals (Gneiting & Raftery 2007); lower is better."""
    alpha = 1 - np.asarray(prob, float)
    lower, upper, y = (np.asarray(v, float) for v in (lower, upper, y))
    return (
        (upper - lower)
        + (2 / alpha) * np.clip(lower - y, 0, None)
        + (2 / alpha) * np.clip(y - upper, 0, None)
    )


METHODS = ("bayes", "bayes_params", "huber")
#: Posterior draws the log predictive density of held-out runs is averaged over (thinned).
LPD_DRAWS = 1000


def _scores(draws, logp, test, train, probs, cut, method, dist):
    """The per-run rows of one method at one cut."""
    y = test["loss"].to_numpy(float)
    pit = (draws <= y).mean(axis=0)
    lpd = (
        logsumexp(logp, axis=0) - np.log(logp.shape[0])
        if logp is not None
        else np.full(len(y), np.nan)
    )
    median = np.median(draws, axis=0)
    frames = []
    for p in probs:
        lo, hi = np.quantile(draws, [(1 - p) / 2, (1 + p) / 2], axis=0)
        frames.append(
            pd.DataFrame(
                {
                    "cut": cut,
                    "params": test["n_params"],
                    "tokens": test["n_tokens"],
                    "compute": test["compute"],
                    "loss": y,
                    "prob": p,
                    "lower": lo,
                    "upper": hi,
                    "covered": (lo <= y) & (y <= hi),
                    "pit": pit,
                    "method": method,
                    "interval_score": interval_score(lo, hi, y, p),
                    "multiple": test["compute"] / train["compute"].max(),
                    "distance": dist,
                    "log_error": np.log(y) - np.log(median),
                    "log_pred_density": lpd,
                    "run_id": test["run_id"],
                }
            )
        )
    return frames


def _bayes_draws(result, test, law, seed, with_discrepancy):
    """(sample, run) predictive loss draws and log densities of the test runs from one fit."""
    post = result.posterior
    likelihood = result.settings["likelihood"]
    inputs = {c: test[c].to_numpy(float) for c in law.inputs}
    mean = law.evaluate(post, inputs)
    noise = draw_noise(post, likelihood, mean.shape, seed)
    disc = result.discrepancy if with_discrepancy else None
    if disc is not None:
        sizes = {a: test[a].to_numpy(float) for a in AXES if a in test}
        shape = (post.sizes["chain"], post.sizes["draw"])
        delta = disc.error(sizes, draws_shape=shape, seed=seed).rename(dim_0="point")
        moments = disc.shift_and_sd(sizes, draws_shape=shape, seed=seed)
        shift, scale = (np.asarray(v) for v in moments)
        # the draws never fall below E (with_error); the density below takes δ on log loss,
        # which it matches to first order at the distances a backtest scores
        mean_with_error = with_error(mean, delta, irreducible_loss(law, post))
    else:
        mean_with_error, shift, scale = mean, np.zeros(1), np.zeros(1)
    draws = mean_with_error * np.exp(noise)
    # the log predictive density averages over draws: LPD_DRAWS of them are plenty, and the
    # mixture density is the costliest step of scoring a cut
    thin = slice(None, None, max(1, post.sizes["chain"] * post.sizes["draw"] // LPD_DRAWS))
    small = post.isel(draw=thin)
    nu = np.asarray(small["nu"])[..., None] if "nu" in small else None
    scale = scale if scale.ndim < 2 else scale[:, thin]
    shift = shift if shift.ndim < 2 else shift[:, thin]
    logp = log_density_with_error(
        likelihood,
        np.log(test["loss"].to_numpy(float)),
        np.log(np.asarray(mean.isel(draw=thin))) + shift,
        np.asarray(small["sigma"])[..., None],
        nu,
        scale,
    )
    n_runs = len(test)
    return (
        draws.stack(sample=SAMPLE_DIMS).T.values,
        logp.reshape(-1, n_runs),
    )


def backtest(
    runs: pd.DataFrame,
    law="chinchilla",
    cut=None,
    *,
    cut_on: str = "compute",
    prob=None,
    method="bayes",
    seed: int = 0,
    baseline: dict | None = None,
    client="serial",
    **fit_kwargs,
) -> pd.DataFrame:
    """Fit below each cut and score the predictions of the held-out runs above it.

    Parameters
    ----------
    runs : DataFrame
        A runs table from :func:`bayes_scaling.load_runs`.
    law : str or Law
        The law to fit (``"chinchilla"`` for ``method="huber"``).
    cut : float or sequence of float
        Threshold(s) on ``cut_on``: runs with a value below the cut are fitted, the others held out.
        Several cuts are rolling cuts; they reuse the compiled model.
    cut_on : {"compute", "n_params", "n_tokens"}
        Which column the cut applies to (also the axis of the discrepancy's internal cuts).
    prob : float or sequence of float
        Nominal central interval probabilities (default
        :data:`bayes_scaling._constants.DEFAULT_PROBS`); ``probs=`` is its old name.
    method : str or sequence of str
        ``"bayes"``: our posterior predictive with the extrapolation discrepancy;
        ``"bayes_params"``: the same fit, parameter-only (no discrepancy);
        ``"huber"``: the Huber + bootstrap baseline (law-only intervals). Several methods share
        one table (column ``method``); the two Bayesian ones share one fit per cut.
    seed : int
        Seed of the fits and of the predictive draws.
    baseline : dict, optional
        Options of :func:`bayes_scaling.trust.baseline.bootstrap_fit` (e.g. ``n_boot``, ``grid``).
    client : "serial", None, dask.distributed.Client or str
        Where the cuts' fits run, as in :func:`bayes_scaling.fit_many`: ``"serial"`` (default)
        in this process, None on local worker processes, or a Dask client or scheduler address.
        The table is the same either way.
    **fit_kwargs
        Passed to :func:`bayes_scaling.fit` (e.g. ``draws``, ``priors``).

    Returns
    -------
    DataFrame
        One row per method, held-out run and probability, columns :data:`RUN_COLUMNS`;
        ``attrs["converged"]`` maps each cut to its Bayesian fit's convergence flag, and
        ``attrs["discrepancy"]`` to the description of the discrepancy learned below it.

    Examples
    --------
    >>> methods = ["bayes", "bayes_params", "huber"]
    >>> table = backtest(runs, cut=[3e20, 1e21], method=methods)  # doctest: +SKIP
    >>> coverage(table)                                   # doctest: +SKIP
    """
    aliases = {"probs": fit_kwargs.pop("probs")} if "probs" in fit_kwargs else {}
    prob = check.renamed(aliases, "probs", "prob", prob, where="backtest")
    probs = check.probabilities(DEFAULT_PROBS if prob is None else prob, "prob")
    cut_on = check.one_of(cut_on, "cut_on", CUT_COLUMNS)
    methods = _methods(method)
    if not isinstance(law, str | Law):
        raise ArgumentError("law", f"expected a law name such as 'chinchilla', got {law!r}")
    law = get_law(law)
    if "huber" in methods and law.name != "chinchilla":
        raise ArgumentError(
            "method", f"the huber baseline fits the Chinchilla law only, not {law.name!r}"
        )
    cuts = check.positive_array(cut, "cut")
    seed = check.count(seed, "seed", minimum=0)
    if baseline is not None:
        if not isinstance(baseline, dict) or not set(baseline) <= set(BOOTSTRAP_OPTIONS):
            raise ArgumentError(
                "baseline",
                f"expected a dict of options from {list(BOOTSTRAP_OPTIONS)}, got {baseline!r}",
            )
        check_options(**baseline)
    _check_table(runs, "runs", [*RUN_TABLE, cut_on, *law.inputs], "a runs table (load_runs)")
    splits = []
    for c in cuts:
        below = runs[runs[cut_on] < c].reset_index(drop=True)
        above = runs[runs[cut_on] >= c].reset_index(drop=True)
        if len(above) == 0 or len(below) == 0:
            raise ArgumentError(
                "cut",
                f"{c:g} on {cut_on} leaves {len(below)} runs to fit and "
                f"{len(above)} to predict; choose a cut inside the data",
            )
        try:  # the fit below the cut would fail on this: say which cut, and the fix
            check_runs_for_law(below, len(law.params), law.exponents, inputs=law.inputs)
        except RunsError as err:
            raise ArgumentError(
                "cut",
                f"{c:g} on {cut_on} leaves {len(below)} runs to fit, which cannot fit law "
                f"{law.name!r} ({'; '.join(p.message for p in err.problems)}); choose a larger "
                "cut",
            ) from err
        splits.append((float(c), below, above))
    fits = {}
    if {"bayes", "bayes_params"} & set(methods):
        options = {"seed": seed, "discrepancy": cut_on if "bayes" in methods else False}
        tasks = [
            FitTask(below, law, {**options, **fit_kwargs}, f"cut {c:g}") for c, below, _ in splits
        ]
        batch = fit_many(tasks, client=client, progress=False)
        batch.raise_failed()
        fits = {c: r.fit for (c, _, _), r in zip(splits, batch, strict=True)}
    frames, converged, described = [], {}, {}
    for c, below, above in splits:
        sizes = {a: above[a].to_numpy(float) for a in AXES if a in above}
        dist = np.asarray(distance_beyond(reference_sizes(below, law), sizes))
        if c in fits:
            result = fits[c]
            converged[c] = result.converged
            if result.discrepancy is not None:
                described[c] = result.discrepancy.describe()
            for m in ("bayes", "bayes_params"):
                if m in methods:
                    draws, logp = _bayes_draws(result, above, law, seed, m == "bayes")
                    frames += _scores(draws, logp, above, below, probs, c, m, dist)
        if "huber" in methods:
            boot = bootstrap_fit(below, **{"seed": seed, **(baseline or {})})
            mean = law.evaluate(boot.draws, {k: above[k].to_numpy(float) for k in law.inputs})
            draws = mean.stack(sample=SAMPLE_DIMS).T.values
            frames += _scores(draws, None, above, below, probs, c, "huber", dist)
    table = pd.concat(frames, ignore_index=True)[RUN_COLUMNS]
    table.attrs.update(converged=converged, discrepancy=described, methods=methods, cut_on=cut_on)
    return table


def _methods(method) -> list[str]:
    methods = [method] if isinstance(method, str) else method
    if not isinstance(methods, list | tuple) or not methods:
        raise ArgumentError("method", f"expected one of {list(METHODS)} or a list of them")
    return [check.one_of(m, "method", METHODS) for m in methods]


def _check_table(table, name: str, columns, what: str) -> None:
    """Raise unless ``table`` is a DataFrame with ``columns``."""
    if not isinstance(table, pd.DataFrame):
        raise ArgumentError(name, f"expected {what}, got {type(table).__name__}")
    missing = [c for c in dict.fromkeys(columns) if c not in table.columns]
    if missing:
        raise ArgumentError(name, f"has no column(s) {missing}; expected {what}")


def by_distance(table: pd.DataFrame, edges=(0, 0.1, 0.3, 0.5, 1.0, np.inf)) -> pd.DataFrame:
    """Error against the distance beyond the cut's data (decades, worst axis), per method.

    ``table`` is :func:`backtest`'s; ``edges`` are increasing bin edges in decades (from 0; the
    last may be inf). Columns ``method, prob, distance`` (bin), ``n``, ``coverage``,
    ``mean_abs_log_error``, ``interval_score`` and ``multiple`` (median compute multiple in the
    bin).
    """
    _check_table(table, "table", RUN_COLUMNS, "the table that backtest() returns")
    edges = check.increasing(edges, "edges", minimum=0.0, size=2, finite=False)
    binned = table.assign(
        distance=pd.cut(table["distance"], list(edges), include_lowest=True).astype(str)
    )
    out = (
        binned.groupby(["method", "prob", "distance"], sort=False)
        .agg(
            n=("covered", "size"),
            coverage=("covered", "mean"),
            mean_abs_log_error=("log_error", lambda e: float(np.abs(e).mean())),
            interval_score=("interval_score", "mean"),
            multiple=("multiple", "median"),
        )
        .reset_index()
    )
    out.attrs.update(table.attrs)
    return out


def coverage(table: pd.DataFrame) -> pd.DataFrame:
    """Empirical coverage, mean interval score and log predictive density per method, cut and
    nominal probability (``table`` is :func:`backtest`'s)."""
    _check_table(table, "table", RUN_COLUMNS, "the table that backtest() returns")
    out = (
        table.groupby(["method", "cut", "prob"], sort=False)
        .agg(
            n=("covered", "size"),
            coverage=("covered", "mean"),
            interval_score=("interval_score", "mean"),
            log_pred_density=("log_pred_density", "mean"),
        )
        .reset_index()
    )
    out.attrs.update(table.attrs)
    return out
