"""Scoring helpers of ``benchmarks/local_gp.py`` (study-only; the GP maths is
:mod:`bayes_scaling.discrepancy.local`).

A *unit* is one cached parameter-only backtest (``benchmarks/.cache/positions_gp/*.nc``): the
fitted runs' log losses ``f_y`` and posterior law predictions ``f_mu`` (draws × fitted runs), the
held-out runs' ``y`` and ``mu``, the noise draws (σ, ν) and the positions of both sets.

Today's discrepancy on the held-out log loss is δ = m·c^γ + τ·η·d^γ, with c the compute distance
and d = max(dC, 2·dN, dD) the distance in decades beyond the largest fitted run (the shipped
population prior: common drift along compute, ν = 10). A GP variant adds g ~ N(mean_s, Σ) (per
posterior draw s, Σ shared by the draws). Scores, leave one family out, families weighted equally:

- the grid likelihood log p(y_held | m, τ, γ) of every unit (held-out runs share η; Student-t noise
  as one shared Gamma scale mixture, as the package's ``shared_loglik``), from which the population
  prior of (m, τ, γ) is learned without the unit's family
  (:func:`bayes_scaling.discrepancy.population.fit_population`);
- joint log density per run: log Σ_cells p(cell) p(y_held | cell) / (held-out runs);
- from 4000 Monte-Carlo draws of the joint predictive: PIT, coverage of the central 50/80/90/95%
  intervals, the 90% interval score (Gneiting & Raftery 2007) on log loss, and the log predictive
  density per run (Rao-Blackwellised over the noise);
- PIT distance: Kolmogorov-Smirnov distance of the PIT values from uniform.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy.interpolate import CubicSpline
from scipy.special import logsumexp
from scipy.stats import t as student_t

from bayes_scaling.data.corpus import multiple_bin
from bayes_scaling.discrepancy.density import LOG_W, NORMAL_NU, log_gamma_weights
from bayes_scaling.discrepancy.evidence import PRUNE
from bayes_scaling.discrepancy.local import positions
from bayes_scaling.discrepancy.population import fit_population
from bayes_scaling.discrepancy.prior import (
    DRIFT_GRID,
    GAMMAS,
    TAU_GRID,
    population_prior,
)

AXIS = {"compute": "c", "n_params": "n", "n_tokens": "d"}
N_DRAWS = 100  # of the 200 cached draws, for the grid likelihood
PROBS = (0.5, 0.8, 0.9, 0.95)
TAU_STRIDE = 4  # the grid likelihood on every 4th τ, then a cubic spline in log τ
N_PRED = 4000


def load_units(folder: Path) -> list[dict]:
    """The cached units of ``folder`` in file-name order (the order fixes the seeds)."""
    units = []
    for path in sorted(Path(folder).glob("*.nc")):
        ds = xr.load_dataset(path)
        u = {k: ds[k].values for k in ds.data_vars}
        u.update(ladder=ds.attrs["ladder"], direction=ds.attrs["direction"])
        u["fam"] = u["ladder"].split("/")[0]
        fn, fd, fc, hn, hd, hc = (u[k] for k in ("f_n", "f_d", "f_c", "h_n", "h_d", "h_c"))
        u["dC"] = np.clip(np.log10(hc / fc.max()), 0, None)
        u["dN"] = np.clip(np.log10(hn / fn.max()), 0, None)
        u["dD"] = np.clip(np.log10(hd / fd.max()), 0, None)
        u["d"] = np.maximum.reduce([u["dC"], 2 * u["dN"], u["dD"]])  # today's w_N = 2
        ax = AXIS.get(u["direction"], "c")
        u["bin"] = multiple_bin(u["h_" + ax] / u["f_" + ax].max())
        u["Xf"], u["Xh"] = positions(fn, fd), positions(hn, hd)
        u["R"] = u["f_y"][None] - u["f_mu"]  # per-draw residuals of the fitted runs (S, n)
        u["rbar"] = np.median(u["R"], axis=0)
        u["sig_med"] = float(np.median(u["sigma"]))
        units.append(u)
    return units


def unit_grid(u: dict, gp_mean=None, gp_cov=None) -> np.ndarray:
    """log p(y_held | m, τ, γ) on (DRIFT_GRID, TAU_GRID, GAMMAS) for one unit.

    y = μ_s + g + m·c^γ + τ·η·d^γ + ε, η ~ N(0, 1) shared by the held-out runs, g ~ N(mean_s, Σ)
    and ε Student-t(ν_s, σ_s) as one Gamma mixture over w; for each (s, w) the density is Normal
    with covariance (σ²/w) I + Σ + τ² a aᵀ (a = d^γ), integrated over η in closed form in the
    eigenbasis of Σ. Averaged over N_DRAWS posterior draws.
    """
    S = u["mu"].shape[0]
    sl = slice(None, None, max(1, S // N_DRAWS))
    mu, sig, nu = u["mu"][sl], u["sigma"][sl], u["nu"][sl]
    if gp_mean is not None:
        mu = mu + gp_mean[sl]
    r = u["y"][None] - mu
    n_s, m = r.shape
    lam, U = (np.zeros(m), np.eye(m)) if gp_cov is None else np.linalg.eigh(gp_cov)
    lam = np.clip(lam, 0, None)
    sigma2, nu = sig[:, None] ** 2, nu[:, None]
    log_c = np.log(sigma2) - LOG_W[None, :]
    log_q = log_gamma_weights(nu)
    normal = (nu > NORMAL_NU)[:, 0]
    log_c[normal], log_q[normal] = np.log(sigma2[normal]), -np.inf
    log_q[normal, 0] = 0.0
    keep = log_q.max(axis=0) > log_q.max() - PRUNE
    log_c, log_q = log_c[:, keep], log_q[:, keep]
    c = np.exp(log_c)  # (S, J)
    inv = 1.0 / (c[:, :, None] + lam[None, None, :])  # (S, J, m)
    logdet = np.log(c[:, :, None] + lam[None, None, :]).sum(-1)
    rt = r @ U
    t_idx = np.unique(np.r_[np.arange(0, len(TAU_GRID), TAU_STRIDE), len(TAU_GRID) - 1])
    tau_c = np.asarray(TAU_GRID)[t_idx]
    tau2 = tau_c[None, None, :] ** 2
    q_rr = np.einsum("sjm,sm->sj", inv, rt**2)[..., None]
    out = np.empty((len(DRIFT_GRID), len(tau_c), len(GAMMAS)))
    for g, gam in enumerate(GAMMAS):
        at, bt = (u["d"] ** gam) @ U, (u["dC"] ** gam) @ U
        q_aa = (inv @ (at**2))[..., None]
        q_bb = (inv @ (bt**2))[..., None]
        q_ab = (inv @ (at * bt))[..., None]
        q_ar = np.einsum("sjm,sm->sj", inv, rt * at[None])[..., None]
        q_br = np.einsum("sjm,sm->sj", inv, rt * bt[None])[..., None]
        base = log_q[:, :, None] - 0.5 * (
            m * np.log(2 * np.pi) + logdet[:, :, None] + np.log1p(tau2 * q_aa)
        )
        shrink = tau2 / (1 + tau2 * q_aa)
        for k, drift in enumerate(DRIFT_GRID):
            rr = q_rr - 2 * drift * q_br + drift**2 * q_bb
            ar = q_ar - drift * q_ab
            out[k, :, g] = logsumexp(base - 0.5 * (rr - shrink * ar**2), axis=(0, 1))
    out -= np.log(n_s)
    return CubicSpline(np.log(tau_c), out, axis=1)(np.log(TAU_GRID))


def lofo_priors(grids, units, nu: float = 10.0) -> dict:
    """Population prior of (m, τ, γ) learned without each family (families weighted equally):
    family -> (DiscrepancyPrior, fitted hyper-parameters)."""
    priors = {}
    for fam in sorted({u["fam"] for u in units}):
        keep = [i for i, u in enumerate(units) if u["fam"] != fam]
        count = Counter(units[i]["fam"] for i in keep)
        h = fit_population(
            [grids[i] for i in keep], [1 / count[units[i]["fam"]] for i in keep], nu=nu
        )
        prior = population_prior(
            h["mu"], h["s"], h["gamma_weights"], h.get("drift_log_weights"), nu=h["nu"]
        )
        priors[fam] = (prior, h)
    return priors


def joint_lpd(prior, grid: np.ndarray, n_held: int) -> float:
    """log Σ_cells p(cell) p(y_held | cell), per held-out run."""
    return float(logsumexp(prior.log_weights + grid) / n_held)


def sample_pred(u: dict, prior, gp_mean=None, gp_cov=None, seed: int = 0):
    """N_PRED Monte-Carlo draws of the held-out log losses (N_PRED, m) and the log predictive
    density of each run (Rao-Blackwellised over the Student-t noise)."""
    rng = np.random.default_rng(seed)
    w = np.exp(prior.log_weights.ravel() - logsumexp(prior.log_weights))
    cells = rng.choice(w.size, size=N_PRED, p=w)
    im, it, ig = np.unravel_index(cells, prior.log_weights.shape)
    drift, tau, gam = prior.drift[im], prior.tau[it], prior.gamma[ig]
    s = rng.integers(0, u["mu"].shape[0], N_PRED)
    eta = rng.standard_normal(N_PRED)
    a = u["d"][None] ** gam[:, None]
    b = u["dC"][None] ** gam[:, None]
    pred = u["mu"][s] + drift[:, None] * b + (tau * eta)[:, None] * a
    nu = np.minimum(u["nu"][s], 1e6)[:, None] * np.ones((1, len(u["y"])))
    if gp_mean is not None:
        pred = pred + gp_mean[s]
    if gp_cov is not None:
        lam, vec = np.linalg.eigh(gp_cov)
        pred = (
            pred
            + rng.standard_normal((N_PRED, len(lam)))
            @ (vec * np.sqrt(np.clip(lam, 0, None))[None]).T
        )
    sig = u["sigma"][s][:, None]
    logpdf = student_t.logpdf((u["y"][None] - pred) / sig, nu) - np.log(sig)
    lpd = logsumexp(logpdf, axis=0) - np.log(N_PRED)
    return pred + rng.standard_t(nu) * sig, lpd


def run_scores(u: dict, pred: np.ndarray, lpd: np.ndarray) -> dict:
    """Per held-out run: PIT, covered at PROBS, 90% interval score, bias, log density."""
    y = u["y"]
    pit = (pred <= y[None]).mean(0)
    rows = {"pit": pit}
    for p in PROBS:
        rows[f"cover_{round(100 * p)}"] = (np.abs(pit - 0.5) <= p / 2).astype(float)
    lo, hi = np.quantile(pred, [0.05, 0.95], axis=0)
    rows["is90"] = (hi - lo) + 20 * np.clip(lo - y, 0, None) + 20 * np.clip(y - hi, 0, None)
    rows["rel_bias"] = y - np.median(pred, axis=0)
    rows["lpd"] = lpd
    return rows


def pit_distance(pit) -> float:
    """Kolmogorov-Smirnov distance of the PIT values from Uniform(0, 1).

    >>> round(pit_distance([0.25, 0.75]), 3)
    0.25
    """
    v = np.sort(np.asarray(pit, float))
    n = len(v)
    if not n:
        return np.nan
    return float(max((np.arange(1, n + 1) / n - v).max(), (v - np.arange(n) / n).max()))


COLUMNS = ["cover_50", "cover_80", "cover_90", "cover_95", "is90", "lpd", "pit_ks", "joint_lpd"]


def _agg(g: pd.DataFrame) -> pd.Series:
    cov = [c for c in COLUMNS if c.startswith("cover_")]
    return pd.Series(
        {
            **{c: g[c].mean() for c in cov},
            "is90": g["is90"].mean(),
            "lpd": g["lpd"].mean(),
            "pit_ks": pit_distance(g["pit"]),
            "runs": len(g),
        }
    )


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """One long table: the family-weighted average, per family and per multiple bin (each bin's
    families weighted equally; the joint density belongs to a unit, so not per bin)."""
    fam = runs.groupby(["variant", "fam"]).apply(_agg, include_groups=False)
    per_unit = runs.groupby(["variant", "fam", "ladder", "direction"])["joint_lpd"].first()
    fam["joint_lpd"] = per_unit.groupby(["variant", "fam"]).mean()
    avg = fam.groupby("variant").mean().assign(runs=fam.groupby("variant")["runs"].sum())
    byb = runs.groupby(["variant", "bin", "fam"]).apply(_agg, include_groups=False)
    bins = byb.groupby(["variant", "bin"]).mean()
    bins["runs"] = byb.groupby(["variant", "bin"])["runs"].sum()
    parts = [
        avg.reset_index().assign(table="average", group="all families"),
        fam.reset_index().rename(columns={"fam": "group"}).assign(table="family"),
        bins.reset_index().rename(columns={"bin": "group"}).assign(table="multiple bin"),
    ]
    out = pd.concat(parts, ignore_index=True)
    return out[["table", "group", "variant", *COLUMNS, "runs"]]
