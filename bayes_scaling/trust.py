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

Rolling cuts reuse the compiled model: only the data change (see :mod:`bayes_scaling.sampling`).
``method="huber"`` runs the classical baseline (:mod:`bayes_scaling.baseline`) through the same
scoring; its intervals are bootstrap intervals of the mean curve (it has no noise model).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import logsumexp

from bayes_scaling.errors import BayesScalingError
from bayes_scaling.laws import get_law
from bayes_scaling.likelihoods import draw_noise, log_density

CUT_COLUMNS = {"compute": "compute", "n_params": "n_params", "n_tokens": "n_tokens"}
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
    "interval_score",
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


def _predict(method, train, test, law, seed, fit_kwargs):
    """Predictive loss draws (sample, run) at the test runs, log density draws, convergence."""
    inputs = {c: test[c].to_numpy(float) for c in law.inputs}
    if method == "bayes":
        from bayes_scaling.sampling import fit

        result = fit(train, law=law, seed=seed, **fit_kwargs)
        post = result.posterior
        mean = law.evaluate(post, inputs)
        noise = draw_noise(post, result.settings["likelihood"], mean.shape, seed)
        draws = np.exp(np.log(mean) + noise)
        y = xr.DataArray(np.log(test["loss"].to_numpy(float)), dims="point")
        logp = log_density(result.settings["likelihood"], post, np.log(mean), y)
        return draws.stack(sample=("chain", "draw")).T.values, logp, result.converged
    if method == "huber":
        from bayes_scaling.baseline import bootstrap_fit

        boot = bootstrap_fit(train, seed=seed, **fit_kwargs)
        mean = law.evaluate(boot.draws, inputs)
        return mean.stack(sample=("chain", "draw")).T.values, None, True
    raise BayesScalingError(f"unknown backtest method {method!r}; use 'bayes' or 'huber'")


def backtest(
    runs: pd.DataFrame,
    law="chinchilla",
    cut=None,
    *,
    cut_on: str = "compute",
    probs=(0.5, 0.8, 0.9, 0.95),
    method: str = "bayes",
    seed: int = 0,
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
    cut_on : {"compute", "n_params", "n_tokens"}
        Which column the cut applies to.
    probs : sequence of float
        Nominal central interval probabilities.
    method : {"bayes", "huber"}
        Our posterior predictive, or the Huber + bootstrap baseline (law-only intervals).
    seed : int
        Seed of the fits and of the predictive noise draws.
    **fit_kwargs
        Passed to :func:`bayes_scaling.fit` (e.g. ``draws``, ``priors``) or to
        :func:`bayes_scaling.baseline.bootstrap_fit` (e.g. ``n_boot``).

    Returns
    -------
    DataFrame
        One row per held-out run and probability, columns :data:`RUN_COLUMNS`;
        ``attrs["converged"]`` maps each cut to its fit's convergence flag.

    Examples
    --------
    >>> table = backtest(runs, cut=[3e20, 1e21])          # doctest: +SKIP
    >>> coverage(table)                                   # doctest: +SKIP
    """
    if cut_on not in CUT_COLUMNS:
        raise BayesScalingError(f"cut_on must be one of {list(CUT_COLUMNS)}, not {cut_on!r}")
    law = get_law(law)
    cuts = np.atleast_1d(np.asarray(cut, float))
    probs = np.atleast_1d(np.asarray(probs, float))
    frames, converged = [], {}
    for c in cuts:
        below = runs[runs[cut_on] < c].reset_index(drop=True)
        above = runs[runs[cut_on] >= c].reset_index(drop=True)
        if len(above) == 0 or len(below) == 0:
            raise BayesScalingError(
                f"cut {c:g} on {cut_on} leaves {len(below)} runs to fit and "
                f"{len(above)} to predict; choose a cut inside the data"
            )
        draws, logp, converged[float(c)] = _predict(method, below, above, law, seed, fit_kwargs)
        y = above["loss"].to_numpy(float)
        pit = (draws <= y).mean(axis=0)
        lpd = (
            logsumexp(logp.values.reshape(-1, len(y)), axis=0) - np.log(logp[..., 0].size)
            if logp is not None
            else np.full(len(y), np.nan)
        )
        median = np.median(draws, axis=0)
        for p in probs:
            lo, hi = np.quantile(draws, [(1 - p) / 2, (1 + p) / 2], axis=0)
            frames.append(
                pd.DataFrame(
                    {
                        "cut": c,
                        "params": above["n_params"],
                        "tokens": above["n_tokens"],
                        "compute": above["compute"],
                        "loss": y,
                        "prob": p,
                        "lower": lo,
                        "upper": hi,
                        "covered": (lo <= y) & (y <= hi),
                        "pit": pit,
                        "interval_score": interval_score(lo, hi, y, p),
                        "multiple": above["compute"] / below["compute"].max(),
                        "log_error": np.log(y) - np.log(median),
                        "log_pred_density": lpd,
                        "run_id": above["run_id"],
                    }
                )
            )
    table = pd.concat(frames, ignore_index=True)[RUN_COLUMNS]
    table.attrs.update(converged=converged, method=method, cut_on=cut_on)
    return table


def coverage(table: pd.DataFrame) -> pd.DataFrame:
    """Empirical coverage and mean interval score per cut and nominal probability."""
    out = (
        table.groupby(["cut", "prob"])
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
