"""Simulation-based calibration (SBC; Talts et al. 2018, arXiv:1804.06788) of a law's fit.

SBC checks the whole inference pipeline (model, priors, centring potential, nutpie's NUTS) on data
that really come from the model. For s = 1..S:

    θ̃_s ~ π(θ)                    (law parameters, σ and ν, from one *fixed* prior)
    ỹ_s ~ π(y | θ̃_s, X_s)         (an isoFLOP ladder X_s, losses from the model's own likelihood)
    θ_s1..θ_sL ~ π(θ | ỹ_s, X_s)   (NUTS, thinned to L draws)
    r_s = #{l : θ_sl < θ̃_s}        (one rank per parameter, in 0..L)

When the posterior draws are exact, each r_s is uniform on {0, ..., L} (Talts et al., Theorem 1). A
posterior that is too narrow piles ranks at both ends (∪), one too wide in the middle (∩), and a
biased one at one end. Uniformity is tested per parameter with Pearson's chi-square on B bins of
ranks, X² = Σ_b (c_b − S·p_b)² / (S·p_b), p_b = (rank values in bin b) / (L + 1), and with a
Kolmogorov-Smirnov test on u_s = (r_s + U_s) / (L + 1), U_s ~ Uniform(0, 1), which is exactly
Uniform(0, 1) under calibration. p-values are Bonferroni-adjusted over all tests
(:mod:`bayes_scaling.trust.ranks`).

Each chain is thinned to every ``thin``-th draw before ranking: the theorem needs independent
draws, and autocorrelated ones give ∪-shaped ranks even for an exact sampler (Talts et al.,
Section 4.1). With nutpie's ~0.8 bulk ESS per draw here, thinning by 8 leaves nearly independent
draws. One thinned draw is then dropped, L = chains · ⌈draws / thin⌉ − 1 (99 by default), so that
the L + 1 possible ranks split into equal bins.

Two rules make SBC valid here, and both differ from an ordinary fit:

- The prior is *fixed*. Default priors are scaled to each runs table (:func:`runs_stats`), so
  the prior of a fit would depend on the simulated data and there would be no single π(θ) to
  simulate from. :func:`sbc_priors` builds one prior set, and exactly that set is passed both to
  the simulation and to every ``fit(..., priors=...)``. It keeps the families of the default priors,
  so SBC checks the very compiled model users fit.
- The design does not depend on θ̃. Ladders are centred on D/N = 20 tokens per parameter, not on
  the true optimum: a design placed at θ̃'s optimum tells where θ̃ is, which the fit ignores, and
  SBC would then fail although the sampler is right.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayes_scaling import _validate as check
from bayes_scaling._constants import NOISE_PARAMS
from bayes_scaling.errors import ArgumentError, BayesScalingError, ConvergenceWarning
from bayes_scaling.inference.batch import FitTask, fit_many
from bayes_scaling.laws import Law, get_law
from bayes_scaling.model.simulate import simulate_runs
from bayes_scaling.priors import Prior, draw_priors
from bayes_scaling.trust.ranks import (  # noqa: F401  (importable from here too)
    default_bins,
    rank_bins,
    rank_histogram,
    rank_statistic,
    uniformity,
)

#: Compute budgets of every SBC ladder (FLOPs): 1e18·4^k, k = 0..5.
SBC_BUDGETS = tuple(1e18 * 4.0**k for k in range(6))
#: Tokens per parameter at the centre of every budget's sizes (independent of the truth).
SBC_TOKENS_PER_PARAM = 20.0
#: Centres of the SBC priors: Epoch AI's refit of Chinchilla (Besiroglu et al. 2024), rounded.
SBC_CENTRES = {
    "chinchilla": {"log_A": math.log(480.0), "alpha": 0.35, "log_B": math.log(2000.0), "beta": 0.37}
}


def sbc_priors(
    law: str | Law = "chinchilla",
    centres: Mapping[str, float] | None = None,
    *,
    irreducible: tuple[float, float] = (1.0, 2.5),
    exponent_sd: float = 0.2,
    coefficient_sd: float = 0.5,
    noise_scale: float = 0.02,
    likelihood: str = "student_t",
) -> dict[str, Prior]:
    """One fixed prior set for SBC, in the families of the default priors.

    - ``E ~ Uniform(irreducible)`` (default 1.0–2.5 nats);
    - each exponent e ~ LogNormal(log centre_e, ``exponent_sd``): for 0.35, 95% in [0.24, 0.52];
    - each log coefficient ~ Normal(centre, ``coefficient_sd``);
    - σ ~ HalfNormal(``noise_scale``) (median 0.013 on log loss);
    - ν ~ Gamma(4, 0.2): mean 20 like the default Gamma(2, 0.1), but with 6e-5 of its mass below
      ν = 1 instead of 5e-3. At ν ≈ 0.5 a table of 80 runs has Student-t draws so large that
      losses overflow (seen in a 40-table run with the default).

    Priors are independent, so a small exponent drawn with a large coefficient gives a large loss
    at the small runs. The exponents are therefore tighter than the 0.1–0.8 seen in the literature:
    with the defaults on :data:`SBC_BUDGETS`, a table's largest loss has median 5.5 nats and 95% of
    tables stay below about 28; its smallest loss lies in [1.3, 8.4] nats for 95% of tables.

    Examples
    --------
    >>> sbc_priors()["alpha"]
    Prior(LogNormal(mu=-1.05, sigma=0.2))
    """
    law = get_law(law)
    centres = dict(SBC_CENTRES.get(law.name, {}) if centres is None else centres)
    priors = {}
    if "E" in law.params:
        priors["E"] = Prior(
            "Uniform", {"lower": irreducible[0], "upper": irreducible[1]}, "fixed SBC prior"
        )
    for name in law.params:
        if name in law.exponents:
            mu = math.log(centres[name]) if name in centres else None
            dist, params = "LogNormal", {"mu": mu, "sigma": exponent_sd}
        elif name in law.centred:
            dist, params = "Normal", {"mu": centres.get(name), "sigma": coefficient_sd}
        else:
            continue
        if params["mu"] is None:
            raise BayesScalingError(
                f"no SBC centre for {name!r} of law {law.name!r}; pass centres= or priors="
            )
        priors[name] = Prior(dist, params, why="fixed SBC prior")
    priors["sigma"] = Prior("HalfNormal", {"sigma": noise_scale}, why="fixed SBC prior")
    if likelihood == "student_t":
        priors["nu"] = Prior("Gamma", {"alpha": 4.0, "beta": 0.2}, why="fixed SBC prior")
    return priors


def sbc_table(
    truth: Mapping[str, float],
    n_runs: int,
    *,
    law: str | Law = "chinchilla",
    budgets=SBC_BUDGETS,
    seed: int = 0,
) -> pd.DataFrame:
    """One simulated table of ``n_runs`` runs from ``truth`` (law parameters, ``sigma``, ``nu``).

    An isoFLOP ladder at ``budgets``: ⌈n_runs / len(budgets)⌉ sizes per budget, log-spaced ±0.7
    decades (±0.1 jitter) around D/N = 20, of which ``n_runs`` are kept at random. Log loss is
    log L(N, D; θ̃) + σ·t_ν (σ·Normal when ``truth`` has no ``nu``), as in the model.

    Examples
    --------
    >>> truth = {"E": 1.8, "log_A": 6.2, "alpha": 0.35, "log_B": 7.6, "beta": 0.37, "sigma": 0.01}
    >>> sbc_table(truth, 25, seed=1).shape
    (25, 5)
    """
    design_seed, keep_seed = np.random.SeedSequence(seed).generate_state(2)
    runs = simulate_runs(
        {k: float(v) for k, v in truth.items() if k not in NOISE_PARAMS},
        law=law,
        budgets=budgets,
        sizes_per_budget=math.ceil(n_runs / len(budgets)),
        sigma=float(truth["sigma"]),
        nu=float(truth["nu"]) if "nu" in truth else None,
        seed=int(design_seed),
        tokens_per_param=SBC_TOKENS_PER_PARAM,
    )
    keep = np.sort(np.random.default_rng(keep_seed).choice(len(runs), n_runs, replace=False))
    runs = runs.iloc[keep].reset_index(drop=True)
    if not np.isfinite(runs["loss"]).all() or (runs["loss"] <= 0).any():
        raise BayesScalingError(
            f"a simulated table has losses that are not finite and > 0 at "
            f"{dict(truth)}; the SBC prior allows absurd tables: tighten it"
        )
    return runs


@dataclass(frozen=True)
class SBCResult:
    """Ranks of an SBC run with per-simulation diagnostics.

    ``ranks``: one row per simulation, one column per parameter, values in 0..``n_draws``.
    ``sims``: per simulation ``n_runs``, true values (``true_<param>``), the fit's gate
    (``converged``, ``gate``: what failed, ``max_rhat``, ``min_ess_bulk``, ``min_ess_tail``,
    ``n_divergent``), R-hat and
    bulk ESS per parameter (``rhat_<param>``, ``ess_bulk_<param>``) and ``seconds``.
    Non-converged simulations are kept and flagged: dropping them would select on the data and
    bias the ranks.
    """

    ranks: pd.DataFrame
    sims: pd.DataFrame
    n_draws: int
    priors: dict[str, Prior]
    settings: dict = field(default_factory=dict)

    def uniformity(self, bins: int | None = None) -> pd.DataFrame:
        """Per-parameter uniformity tests (:func:`uniformity`)."""
        return uniformity(self.ranks, self.n_draws, bins, self.settings.get("seed", 0))

    def histogram(self, bins: int | None = None, prob: float = 0.99) -> pd.DataFrame:
        """Binned ranks with the binomial band (:func:`rank_histogram`)."""
        return rank_histogram(self.ranks, self.n_draws, bins, prob)

    def passed(self, alpha: float = 0.01, bins: int | None = None) -> bool:
        """True when every Bonferroni-adjusted p-value is ≥ ``alpha``."""
        return bool((self.uniformity(bins)["p_adjusted"] >= alpha).all())


def sbc(
    law: str | Law = "chinchilla",
    *,
    n_sims: int,
    n_runs: tuple[int, int] = (20, 80),
    priors: Mapping | None = None,
    fit_priors: Mapping | None = None,
    budgets=SBC_BUDGETS,
    draws: int = 400,
    chains: int = 2,
    tune: int = 400,
    thin: int = 8,
    likelihood: str = "student_t",
    seed: int = 0,
    progress: bool = False,
    client="serial",
) -> SBCResult:
    """Simulation-based calibration of ``fit`` for one law (see the module docstring).

    Parameters
    ----------
    law : str or Law
        The law to check.
    n_sims : int
        Number of simulated tables S.
    n_runs : (int, int)
        Each table's number of runs is drawn uniformly from this closed range.
    priors : dict, optional
        The fixed prior: overrides by name of :func:`sbc_priors`, or a complete set.
    fit_priors : dict, optional
        Priors the fits use, when they should differ from the simulation's (only to check that SBC
        detects a wrong prior); overrides by name of ``priors``.
    budgets : sequence of float
        Compute budgets of the ladder (FLOPs).
    draws, chains, tune : int
        NUTS settings of each fit.
    thin : int
        Keep every ``thin``-th draw of each chain; ranks are among L = chains · ⌈draws / thin⌉ − 1
        of them.
    likelihood : {"student_t", "normal"}
        Noise model of both the simulation and the fit.
    seed : int
        Seeds the prior draws, the tables, the fits and the rank ties.
    progress : bool
        A progress bar on stderr.
    client : "serial", None, dask.distributed.Client or str
        Where the fits run (see :func:`bayes_scaling.fit_many`); in this process by default,
        None for local worker processes. The ranks are the same either way.

    Returns
    -------
    SBCResult

    Examples
    --------
    >>> result = sbc(n_sims=40, seed=1)      # doctest: +SKIP
    >>> result.uniformity(); result.passed()  # doctest: +SKIP
    """
    from bayes_scaling.inference import sampling  # the sampler, only when SBC runs

    if not isinstance(law, str | Law):
        raise ArgumentError("law", f"expected a law name such as 'chinchilla', got {law!r}")
    law = get_law(law)
    n_sims, n_runs, budgets, draws, chains, tune, thin, seed = _checked(
        n_sims, n_runs, budgets, draws, chains, tune, thin, seed, fewest=len(law.params)
    )
    likelihood = check.one_of(likelihood, "likelihood", ("student_t", "normal"))
    progress = check.flag(progress, "progress")
    for name, given in (("priors", priors), ("fit_priors", fit_priors)):
        if given is not None and not isinstance(given, Mapping):
            raise ArgumentError(name, f"expected a dict of parameter name to prior, got {given!r}")
    base = sbc_priors(law, likelihood=likelihood) if law.name in SBC_CENTRES else {}
    sim_priors = {k: Prior.from_any(v) for k, v in {**base, **(priors or {})}.items()}
    names = sampling.sampled_names(law, sim_priors)
    missing = set(names) - set(sim_priors)
    if missing:
        raise ArgumentError(
            "priors",
            f"SBC needs a fixed prior for {sorted(missing)}: pass priors={{...}} to "
            f"bayes_scaling.trust.sbc (the CLI's sbc has them for {sorted(SBC_CENTRES)} only)",
        )
    fit_with = {**sim_priors, **{k: Prior.from_any(v) for k, v in (fit_priors or {}).items()}}
    fit_options = {
        "draws": draws,
        "chains": chains,
        "tune": tune,
        "likelihood": likelihood,
        "progress": False,
        # SBC checks the parameters' posterior only: no discrepancy backtests; and the procedure
        # it calibrates is one fit of fixed length (a rescue would change the draws ranked against)
        "discrepancy": False,
        "rescue": False,
    }

    prior_seed, size_seed, *sim_seeds = np.random.SeedSequence(seed).spawn(n_sims + 2)
    truths = draw_priors({k: sim_priors[k] for k in names}, n_sims, seed=prior_seed)
    sizes = np.random.default_rng(size_seed).integers(n_runs[0], n_runs[1] + 1, n_sims)
    n_draws = chains * len(range(0, draws, thin)) - 1
    compiles_before = sampling.COMPILE_COUNT
    tasks, tie_seeds = [], []
    for s, sim_seed in enumerate(sim_seeds):
        truth = {k: float(truths[k].values[0, s]) for k in names}
        table_seed, fit_seed, tie_seed = (int(v) for v in sim_seed.generate_state(3))
        runs = sbc_table(truth, int(sizes[s]), law=law, budgets=budgets, seed=table_seed)
        options = {"priors": fit_with, "seed": fit_seed, **fit_options}
        tasks.append(FitTask(runs, law, options, name=f"sim {s}"))
        tie_seeds.append(tie_seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # recorded per simulation instead
        batch = fit_many(tasks, client=client, progress=progress)
    batch.raise_failed()
    ranks, sims = [], []
    for s, (task, done) in enumerate(zip(tasks, batch, strict=True)):
        truth = {k: float(truths[k].values[0, s]) for k in names}
        rank, record = _rank(done.fit, truth, thin, n_draws, tie_seeds[s])
        ranks.append(rank)
        sims.append({"sim": s, "n_runs": len(task.runs), **record, "seconds": done.seconds})
    settings = {
        "law": law.name,
        "n_sims": n_sims,
        "n_runs": list(n_runs),
        "budgets": list(budgets),
        "draws": draws,
        "chains": chains,
        "tune": tune,
        "thin": thin,
        "likelihood": likelihood,
        "seed": seed,
        "compilations": sampling.COMPILE_COUNT - compiles_before,
        "fit_priors_differ": fit_with != sim_priors,
    }
    return SBCResult(pd.DataFrame(ranks), pd.DataFrame(sims), n_draws, sim_priors, settings)


def _checked(n_sims, n_runs, budgets, draws, chains, tune, thin, seed, fewest: int) -> tuple:
    """The sizes of an SBC run, validated before any simulation or sampling (a table needs at
    least ``fewest`` runs: the law's number of parameters)."""
    n_sims = check.count(n_sims, "n_sims")
    if isinstance(n_runs, str) or not isinstance(n_runs, tuple | list) or len(n_runs) != 2:
        raise ArgumentError("n_runs", f"expected (fewest, most) runs per table, got {n_runs!r}")
    low, high = (check.count(v, "n_runs", minimum=fewest) for v in n_runs)
    if low > high:
        raise ArgumentError("n_runs", f"give (fewest, most) with fewest ≤ most, got {n_runs!r}")
    budgets = tuple(check.positive_array(budgets, "budgets"))
    draws, chains = check.count(draws, "draws"), check.count(chains, "chains")
    tune, thin = check.count(tune, "tune"), check.count(thin, "thin")
    if chains * len(range(0, draws, thin)) < 2:
        raise ArgumentError(
            "thin", f"leaves fewer than 2 draws of {chains}×{draws} to rank; lower thin"
        )
    return n_sims, (low, high), budgets, draws, chains, tune, thin, check.count(seed, "seed", 0)


def _rank(result, truth, thin, n_draws, tie_seed):
    """Rank each true value among the thinned draws of its fit; the fit's health per parameter."""
    import arviz_stats as az  # ArviZ's statistics, on first use (all of ArviZ loads matplotlib)

    names = list(truth)
    post = result.posterior[names]
    rng = np.random.default_rng(tie_seed)
    kept = {k: post[k].values[:, ::thin].ravel()[:n_draws] for k in names}
    ranks = {k: rank_statistic(kept[k], truth[k], rng) for k in names}
    d = result.diagnostics
    rhat, ess = az.rhat(post), az.ess(post, method="bulk")
    record = {
        **{f"true_{k}": v for k, v in truth.items()},
        "converged": d.converged,
        "gate": d.reason() or "converged",
        "max_rhat": d.max_rhat,
        "min_ess_bulk": d.min_ess_bulk,
        "min_ess_tail": d.min_ess_tail,
        "n_divergent": d.n_divergent,
        **{f"rhat_{k}": float(rhat[k]) for k in names},
        **{f"ess_bulk_{k}": float(ess[k]) for k in names},
        "sampling_seconds": result.settings["sampling_seconds"],
    }
    return ranks, record
