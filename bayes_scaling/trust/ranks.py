"""Rank statistics of simulation-based calibration (:mod:`bayes_scaling.trust.sbc`).

For S simulations, each with a true value θ̃_s and L posterior draws, the rank r_s = #{l : θ_sl <
θ̃_s} is uniform on {0, ..., L} when the draws are exact (Talts et al. 2018, Theorem 1).
Uniformity is tested per parameter with Pearson's chi-square on B bins of ranks,
X² = Σ_b (c_b − S·p_b)² / (S·p_b), p_b = (rank values in bin b) / (L + 1), and with a
Kolmogorov-Smirnov test on u_s = (r_s + U_s) / (L + 1), U_s ~ Uniform(0, 1), which is exactly
Uniform(0, 1) under calibration. p-values are Bonferroni-adjusted over all tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_scaling import _validate as check
from bayes_scaling.errors import ArgumentError


def rank_statistic(draws: np.ndarray, truth: float, rng: np.random.Generator) -> int:
    """Rank of ``truth`` among ``draws``: #{draws < truth}, ties split at random; in 0..L."""
    draws = np.asarray(draws, float).ravel()
    return int((draws < truth).sum() + rng.integers(0, (draws == truth).sum() + 1))


def default_bins(n_sims: int, n_draws: int) -> int:
    """Number of rank bins: about 5 simulations expected per bin, between 2 and 20.

    The largest divisor of L + 1 up to that target, so that bins hold equal numbers of ranks,
    unless it is less than half the target.
    """
    target = int(np.clip(n_sims // 5, 2, min(20, n_draws + 1)))
    divisors = [b for b in range(2, target + 1) if (n_draws + 1) % b == 0]
    return max(divisors) if divisors and 2 * max(divisors) >= target else target


def rank_bins(n_draws: int, bins: int) -> np.ndarray:
    """Integer bin edges over ranks 0..L: bin b holds ranks edges[b] ≤ r < edges[b+1]
    (``bins`` from 2 to L + 1, so that every bin holds a rank)."""
    bins = check.count(bins, "bins", minimum=2)
    if bins > n_draws + 1:
        raise ArgumentError("bins", f"must be at most {n_draws + 1} (the ranks 0..L), got {bins}")
    return np.round(np.linspace(0, n_draws + 1, bins + 1)).astype(int)


def rank_histogram(ranks, n_draws: int, bins: int | None = None, prob: float = 0.99):
    """Counts of ranks per bin beside the counts expected under uniformity.

    With S ranks and bin probability p_b, a bin's count is Binomial(S, p_b) under calibration;
    ``band_lower``/``band_upper`` are its central ``prob`` quantiles (Talts et al., Fig. 2).

    Returns
    -------
    DataFrame
        ``parameter, bin, rank_lower, rank_upper, count, expected, band_lower, band_upper``
        (``rank_upper`` exclusive); ``ranks`` is a DataFrame (one column per parameter) or array.
    """
    from scipy import stats  # 0.6 s to import: only when ranks are tested

    ranks = ranks if isinstance(ranks, pd.DataFrame) else pd.DataFrame({"rank": ranks})
    n_draws, prob = check.count(n_draws, "n_draws"), check.probability(prob, "prob")
    bins = None if bins is None else check.count(bins, "bins")
    n = len(ranks)
    edges = rank_bins(n_draws, bins or default_bins(n, n_draws))
    p = np.diff(edges) / (n_draws + 1)
    tail = (1 - prob) / 2
    rows = []
    for name in ranks.columns:
        counts = np.histogram(ranks[name].to_numpy(), bins=edges)[0]
        for b in range(len(p)):
            rows.append(
                (name, b, edges[b], edges[b + 1], int(counts[b]), n * p[b])
                + tuple(stats.binom.ppf([tail, 1 - tail], n, p[b]))
            )
    columns = ["parameter", "bin", "rank_lower", "rank_upper", "count", "expected"]
    return pd.DataFrame(rows, columns=[*columns, "band_lower", "band_upper"])


def uniformity(ranks, n_draws: int, bins: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Test each parameter's ranks for uniformity on {0, ..., L}.

    Chi-square on ``bins`` bins (``chi2``, ``p_chi2``) and KS on jittered ranks (``p_ks``; see the
    module docstring). ``p_adjusted`` is the Bonferroni-adjusted smaller of the two, over 2 × the
    number of parameters tests: min(1, 2m · min(p_chi2, p_ks)).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> good = pd.DataFrame({"a": rng.integers(0, 100, 200)})
    >>> bool(uniformity(good, n_draws=99)["p_adjusted"].iloc[0] > 0.01)
    True
    """
    from scipy import stats  # 0.6 s to import: only when ranks are tested

    ranks = ranks if isinstance(ranks, pd.DataFrame) else pd.DataFrame({"rank": ranks})
    hist = rank_histogram(ranks, n_draws, bins)
    rng = np.random.default_rng(seed)
    rows = []
    for name, h in hist.groupby("parameter", sort=False):
        chi2, p_chi2 = stats.chisquare(h["count"], h["expected"])
        u = (ranks[name].to_numpy() + rng.uniform(size=len(ranks))) / (n_draws + 1)
        p_ks = stats.kstest(u, "uniform").pvalue
        rows.append((name, float(chi2), len(h) - 1, float(p_chi2), float(p_ks)))
    table = pd.DataFrame(rows, columns=["parameter", "chi2", "df", "p_chi2", "p_ks"])
    n_tests = 2 * len(table)
    table["p_adjusted"] = np.minimum(1.0, n_tests * table[["p_chi2", "p_ks"]].min(axis=1))
    return table
