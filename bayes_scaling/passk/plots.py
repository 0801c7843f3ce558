"""Figures of a pass@k fit: the fan against k, the difficulty distribution, pass@k across models,
the size frontier.

Each function takes the fit (or a computed decision Dataset) and returns a matplotlib Figure;
the numbers come from :mod:`bayes_scaling.passk.answers`.
"""

from __future__ import annotations

import numpy as np

from bayes_scaling._constants import DEFAULT_PROBS
from bayes_scaling.passk.answers import band_dataset, pass_at_k
from bayes_scaling.passk.law import chen_pass_at_k
from bayes_scaling.passk.logit import log_density


def passk_fan(fit, model=None, k_max: float = 1e5, probs=DEFAULT_PROBS, kind: str = "problems"):
    """pass@k against k (log axis) with nested central bands, and the observed unbiased estimates
    (Chen et al.) at the k the samples allow; the largest k observed is marked."""
    import matplotlib.pyplot as plt

    model = model or fit.models[0]
    grid = np.unique(np.round(np.geomspace(1, k_max, 40)))
    draws = pass_at_k(fit, grid, kind=kind, models=[model]).values[:, 0, :]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, p in enumerate(sorted(probs, reverse=True)):
        lo, hi = np.quantile(draws, [(1 - p) / 2, (1 + p) / 2], axis=0)
        ax.fill_between(
            grid, lo, hi, color="tab:blue", alpha=0.15 + 0.12 * i, lw=0, label=f"{p:.0%} band"
        )
    ax.plot(grid, np.median(draws, axis=0), color="tab:blue", lw=1.5, label="median")
    rows = fit.counts[fit.counts["model"] == model]
    n, c = rows["samples"].to_numpy(float), rows["correct"].to_numpy(float)
    observed = grid[grid <= n.min()]
    est = [np.mean(chen_pass_at_k(n, c, k)) for k in observed]
    ax.plot(observed, est, "o", ms=3.5, color="black", label="observed (unbiased estimator)")
    ax.axvline(n.min(), color="grey", ls=":", lw=1)
    ax.set(
        xscale="log",
        xlabel="samples a problem k",
        ylabel="pass@k",
        ylim=(0, 1),
        title=f"{model}: pass@k ({kind})",
    )
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def _log10_density(post, p):
    """``density(i)``: draw i's density of log10 p of the solvable problems at ``p``, for the
    Beta, the Beta mixture, the logit-normal mixture or one normal in logit p."""
    from scipy import stats

    def flat(name):
        return post[name].values.ravel()

    if "mu" in post:  # logit-normal: η = logit p, dη/dlog10 p = ln 10 / (1 − p)
        p = np.minimum(p, 1 - 1e-12)  # the axis ends at p = 1, where η = +∞ (no density)
        eta, jac = np.log(p / (1 - p)), np.log(10) / (1 - p)
        mu, sd = flat("mu"), flat("sigma")
        if "hard_share" not in post:  # one normal (the crossed fit)
            return lambda i: jac * np.exp(log_density(eta, mu[i], sd[i]))
        w, mu2, sd2 = (flat(v) for v in ("hard_share", "mu_hard", "sigma_hard"))
        with np.errstate(divide="ignore"):
            log_w, log_1mw = np.log(w), np.log1p(-w)
        return lambda i: (
            jac * np.exp(log_density(eta, mu[i], sd[i], (log_w[i], log_1mw[i], mu2[i], sd2[i])))
        )
    a, b = flat("a"), flat("b")
    # the Beta mixture's hard component (share w, Beta(a_hard, b_hard)); none for one Beta
    w, a2, b2 = (
        (flat(v) for v in ("hard_share", "a_hard", "b_hard"))
        if "a_hard" in post
        else (np.zeros_like(a), a, b)
    )
    return lambda i: (
        p
        * np.log(10)
        * ((1 - w[i]) * stats.beta.pdf(p, a[i], b[i]) + w[i] * stats.beta.pdf(p, a2[i], b2[i]))
    )


def difficulty_posterior(fit, model=None, draws: int = 60, seed: int = 0):
    """The posterior of the per-problem success distribution (densities of log10 p for draws of
    (a, b), both components of a Beta mixture, or of the logit-normal mixture; the unsolvable
    share as a bar at the left) with the problems' empirical rates c/n."""
    import matplotlib.pyplot as plt

    model = model or fit.models[0]
    post = fit.posterior.sel(model=model)
    pi = post["pi"].values.ravel()
    rng = np.random.default_rng(seed)
    pick = rng.choice(pi.size, size=min(draws, pi.size), replace=False)
    x = np.linspace(-8, 0, 300)
    density = _log10_density(post, 10.0**x)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i in pick:
        dens = (1 - pi[i]) * density(i)
        ax.plot(x, dens, color="tab:blue", alpha=0.15, lw=0.8)
    rows = fit.counts[fit.counts["model"] == model]
    rate = rows["correct"] / rows["samples"]
    solved = rate[rate > 0]
    if len(solved):
        ax.hist(
            np.log10(solved),
            bins=30,
            density=True,
            histtype="step",
            color="black",
            weights=np.full(len(solved), len(solved) / len(rate)),
            label="problems' c/n (solved at least once)",
        )
    ax.bar(
        -8.2,
        float(np.median(pi)),
        width=0.3,
        color="tab:red",
        label=f"unsolvable share π (median {np.median(pi):.2f})",
    )
    ax.text(
        -8.2, 0, f"{(rate == 0).mean():.0%}\nnever\nsolved", ha="center", va="bottom", fontsize=7
    )
    ax.set(
        xlabel="log10 success probability p",
        ylabel="density of log10 p",
        title=f"{model}: difficulty distribution",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def across_models(fit, k=(100, 1000, 10_000), prob: float = 0.9, models=None):
    """pass@k at a few k against model size, every model of the fit (or ``models``): the median
    and the central ``prob`` band of each (model, k), one colour a k. The x axis is N (log) when
    the table has ``n_params`` for every model shown, else the models in the order given. The
    numbers are :func:`~bayes_scaling.passk.answers.band_dataset`'s (several models of one size,
    e.g. training checkpoints, are drawn as points, not joined)."""
    import matplotlib.pyplot as plt

    ds = band_dataset(fit, k, [prob], models=models)
    names = [str(m) for m in ds["model"].values]
    sizes = None
    if "n_params" in fit.counts:
        first = fit.counts.groupby("model", sort=False)["n_params"].first()
        sizes = first.loc[names].to_numpy(float)
        if not (np.isfinite(sizes).all() and (sizes > 0).all()):
            sizes = None
    x = sizes if sizes is not None else np.arange(len(names), dtype=float)
    order = np.argsort(x, kind="stable")
    joined = len(np.unique(x)) == len(x)  # a curve only when each size is one model
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colours = plt.get_cmap("viridis")(np.linspace(0.1, 0.85, ds.sizes["k"]))
    for j, kk in enumerate(ds["k"].values):
        sel = ds.isel(k=j, prob=0)
        med, lo, hi = (sel[v].values[order] for v in ("median", "lower", "upper"))
        xs = x[order]
        if joined:
            ax.fill_between(xs, lo, hi, color=colours[j], alpha=0.18, lw=0)
        ax.errorbar(
            xs, med, yerr=[med - lo, hi - med], fmt="none", lw=1, capsize=2, color=colours[j]
        )
        style = "o-" if joined else "o"
        ax.plot(xs, med, style, ms=4, lw=1.2, color=colours[j], label=f"k = {int(kk):,}")
    if sizes is not None:
        ax.set(xscale="log", xlabel="parameters N")
    else:
        ax.set_xticks(x, names, rotation=45, ha="right", fontsize=7)
        ax.set_xlabel("model")
    ax.set(ylabel="pass@k", ylim=(0, 1), title=f"pass@k across models (median, {prob:.0%} band)")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def size_frontier(ds, prob: float = 0.9):
    """The size-against-samples frontier at one inference budget: pass@k (median, central band)
    of each candidate against its size, with k samples written by each; the choice in red."""
    import matplotlib.pyplot as plt

    x = ds["pass_at_k"].values
    ok = ds["affordable"].values
    n = ds["n_params"].values
    lo, med, hi = np.quantile(x, [(1 - prob) / 2, 0.5, (1 + prob) / 2], axis=0)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.errorbar(
        n[ok],
        med[ok],
        yerr=[med[ok] - lo[ok], hi[ok] - med[ok]],
        fmt="o",
        color="tab:blue",
        capsize=3,
        label=f"median, {prob:.0%} band",
    )
    for ni, mi, ki, pb in zip(
        n[ok], med[ok], ds["k"].values[ok], ds["prob_best"].values[ok], strict=True
    ):
        ax.annotate(
            f"k={ki:.3g}\nP(best) {pb:.2f}",
            (ni, mi),
            fontsize=7,
            xytext=(4, 4),
            textcoords="offset points",
        )
    chosen = ds["chosen"].values
    ax.plot(n[chosen], med[chosen], "o", color="tab:red", ms=9, mfc="none", label="choice")
    budget = ds.attrs.get("budget")
    title = f"inference budget {budget:.3g} FLOPs a problem" if budget else "frontier"
    ax.set(xscale="log", xlabel="parameters N", ylabel="pass@k", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
