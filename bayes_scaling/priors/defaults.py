"""Default priors scaled to the runs table, the noise priors, user overrides, and prior draws.

Priors merge as *user > law default*, where a law's defaults are scaled to the runs table (see each
law's ``default_priors`` and :func:`runs_stats`). Every prior is stored with the fit as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling.errors import PriorError
from bayes_scaling.priors.joint import check_joint, joint_draws
from bayes_scaling.priors.learned import JOINT, check_priors_argument, resolve_learned
from bayes_scaling.priors.prior import Prior


def runs_stats(runs: pd.DataFrame) -> dict[str, float]:
    """Summaries of a runs table that default priors are scaled to.

    ``min_loss``, ``median_loss``, ``sd_log_loss`` and, for each input column present, the mean of
    its logarithm (``ref_log_<column>``): the centre about which coefficients are sampled; and the
    range of its logarithm (``min_log_<column>``, ``max_log_<column>``), where a break can be seen.
    """
    log_loss = np.log(runs["loss"].to_numpy(float))
    stats = {
        "min_loss": float(np.exp(log_loss.min())),
        "median_loss": float(np.exp(np.median(log_loss))),
        "sd_log_loss": float(log_loss.std()) if len(log_loss) > 1 else 0.1,
    }
    for col in ("n_params", "n_tokens", "compute", "unique_tokens"):
        if col in runs.columns:
            log_x = np.log(runs[col].to_numpy(float))
            stats[f"ref_log_{col}"] = float(log_x.mean())
            stats[f"min_log_{col}"] = float(log_x.min())
            stats[f"max_log_{col}"] = float(log_x.max())
    return stats


def exponent_prior() -> Prior:
    """Default exponent prior: LogNormal(log 0.3, 0.7).

    Positive; median 0.3, 95% of its mass in [0.076, 1.18] and 96% below 1. Scaling exponents of
    language models reported so far lie in 0.05–0.7, so the data, not the prior, decide.
    """
    return Prior(
        "LogNormal",
        {"mu": float(np.log(0.3)), "sigma": 0.7},
        why="positive, median 0.3, 96% of mass below 1",
    )


def irreducible_prior(stats: Mapping[str, float]) -> Prior:
    """Default irreducible-loss prior: E ~ Uniform(0, min observed loss).

    E is the loss at infinite N and D, so it lies below every expected loss; the lowest observed
    loss is the tightest bound the data give without assuming anything more. Flat inside, so it cuts
    off no
    value the data allow.
    """
    return Prior(
        "Uniform",
        {"lower": 0.0, "upper": stats["min_loss"]},
        why="positive and below the lowest observed loss, flat in between",
    )


def log_coefficient_prior(stats: Mapping[str, float], column: str, n_terms: int = 1) -> Prior:
    """Default prior for a log coefficient ``log_A`` of a term ``A·x^(-e)``.

    Normal(mu, 3) with mu = log(median_loss / (n_terms + 1)) + 0.3·mean(log x): the term is a share
    of
    the typical loss at the typical size x of the runs, for an exponent at its prior median 0.3. The
    sd of 3 (a factor of 20 either way) keeps it weak. Coefficients are *sampled* centred at the
    data
    (``log_A - e·mean(log x)``), which removes most of their correlation with the exponent.
    """
    mu = np.log(stats["median_loss"] / (n_terms + 1)) + 0.3 * stats[f"ref_log_{column}"]
    return Prior(
        "Normal",
        {"mu": float(mu), "sigma": 3.0},
        why=f"log scale, centred on a share of the median loss at the runs' typical {column}",
    )


def no_floor_exponent_prior() -> Prior:
    """Exponent prior for a law without an irreducible term (Kaplan): LogNormal(log 0.1, 0.7).

    Without E, the whole loss follows the power law, so exponents come out smaller than with one
    (Kaplan: α_N = 0.076, α_D = 0.095). Median 0.1, 95% of the mass in [0.025, 0.39].
    """
    return Prior(
        "LogNormal",
        {"mu": float(np.log(0.1)), "sigma": 0.7},
        why="positive, median 0.1 (no irreducible term), 95% of mass in [0.025, 0.39]",
    )


def log_scale_prior(stats: Mapping[str, float], column: str) -> Prior:
    """Default prior for the log scale ``log x_c`` of a Kaplan term (x_c/x)^α, no irreducible loss.

    Normal(mu, 8) with mu = mean(log x) + log(median_loss)/0.1: the term alone gives the typical
    loss at the runs' typical size x for an exponent at its prior median 0.1 (see
    :func:`no_floor_exponent_prior`). The sd of 8 (a factor of ~3000 either way) keeps it weak;
    Kaplan et al.'s N_c = 8.8e13 and D_c = 5.4e13 sit well inside it for tables of their sizes.
    """
    mu = stats[f"ref_log_{column}"] + np.log(stats["median_loss"]) / 0.1
    return Prior(
        "Normal",
        {"mu": float(mu), "sigma": 8.0},
        why=f"log scale, the term alone gives the median loss at the runs' typical {column}",
    )


def log_reducible_loss_prior(stats: Mapping[str, float]) -> Prior:
    """Default prior for the log reducible loss L − E at a point inside the runs (e.g. a break).

    Normal(log(median_loss / 2), 2): a share of the typical loss, within a factor of ~50 either way.
    """
    return Prior(
        "Normal",
        {"mu": float(np.log(stats["median_loss"] / 2)), "sigma": 2.0},
        why="log scale, centred on half the median loss, a factor of ~50 either way",
    )


def break_location_prior(stats: Mapping[str, float], column: str) -> Prior:
    """Default prior for the log location of a break: Uniform over the runs' range of log x.

    A break is only seen where there are runs on both sides of it; outside that range its location
    is not identified, so the prior does not let it wander there.
    """
    return Prior(
        "Uniform",
        {"lower": stats[f"min_log_{column}"], "upper": stats[f"max_log_{column}"]},
        why=f"flat over the runs' range of log {column}, where a break can be seen",
    )


def smoothness_prior() -> Prior:
    """Default prior for the smoothness of a break: f ~ LogNormal(log 0.5, 0.7).

    f is the width of the transition in units of log x: median 0.5, 95% in [0.13, 2], from a kink
    to a bend spread over about an order of magnitude of x either side.
    """
    return Prior(
        "LogNormal",
        {"mu": float(np.log(0.5)), "sigma": 0.7},
        why="transition width in log x: median 0.5, 95% of mass in [0.13, 2]",
    )


def repetition_prior() -> Prior:
    """Default prior for log R*, the decay constant of repeated data (Muennighoff et al. 2023).

    log R* ~ Normal(log 10, 1.5): R* (in epochs of repetition, or in multiples of the optimal
    parameter count) has median 10 and 95% of its mass in [0.5, 190].
    """
    return Prior(
        "Normal",
        {"mu": float(np.log(10.0)), "sigma": 1.5},
        why="log scale; R* median 10, 95% of mass in [0.5, 190]",
    )


def noise_priors(stats: Mapping[str, float]) -> dict[str, Prior]:
    """Default noise priors on log loss.

    - ``sigma ~ HalfNormal(max(sd(log loss), 0.01))``: run-to-run noise can be at most about the
      total spread of the observed log losses.
    - ``nu ~ Gamma(2, 0.1)`` (Juárez & Steel 2010): Student-t degrees of freedom, mean 20, which
      lets
      the data choose between heavy tails (odd runs) and a near-Normal likelihood.
    """
    return {
        "sigma": Prior(
            "HalfNormal",
            {"sigma": max(stats["sd_log_loss"], 0.01)},
            why="run-to-run noise of log loss, at most about the spread of the data",
        ),
        "nu": Prior(
            "Gamma",
            {"alpha": 2.0, "beta": 0.1},
            why="Student-t degrees of freedom, mean 20 (Juarez & Steel 2010)",
        ),
    }


def resolve_priors(law, runs: pd.DataFrame, overrides, likelihood: str) -> dict:
    """Merge priors: user overrides > the law's data-scaled defaults; noise priors added.

    ``overrides`` is None or ``"default"`` (the law's defaults), ``"learned"`` or a
    :class:`~bayes_scaling.priors.learned.LearnedLawPrior` (the law's parameters from the
    population prior learned across public ladders, scaled to this table's median loss; σ from
    the run noise of those ladders, ν as by default), or a dict of overrides by parameter name.

    Raises :class:`PriorError` when an override names a parameter the law does not have, and
    :class:`ArgumentError` for any other ``overrides``.
    """
    overrides = check_priors_argument(overrides)
    stats = runs_stats(runs)
    population = resolve_learned(overrides, law.name, stats)
    # the learned prior's σ (a population LogNormal) replaces the default HalfNormal
    priors = {**law.default_priors(stats), **noise_priors(stats), **(population or {})}
    if likelihood != "student_t":
        priors.pop("nu")
    for name, value in (overrides if isinstance(overrides, Mapping) else {}).items():
        if name not in priors and name != JOINT:
            raise PriorError(
                f"no parameter {name!r} in law {law.name!r} with {likelihood} noise; "
                f"its parameters are {list(priors)}"
            )
        priors[name] = Prior.from_any(value)
    if JOINT in priors:
        check_joint(priors)
    return priors


def draw_priors(priors: Mapping[str, Prior], draws: int, seed: int | None = None) -> xr.Dataset:
    """Draws from each prior, as a Dataset with dims ``(chain, draw)`` and one chain.

    Independent, except for the law's parameters under a learned prior (a :data:`JOINT`
    entry), which are drawn jointly from their MvNormal."""
    import pymc as pm  # only where a PyMC object is built: loading a fit never imports PyMC

    rng = np.random.default_rng(seed)
    out = {}
    if JOINT in priors:  # the learned prior: the law's parameters are drawn jointly
        joint = joint_draws(priors, draws, rng)
        out = {k: (("chain", "draw"), v.reshape(1, draws)) for k, v in joint.items()}
    for name, prior in priors.items():
        if name == JOINT or name in out:
            continue
        values = pm.draw(prior.to_dist(), draws=draws, random_seed=rng)
        out[name] = (("chain", "draw"), np.asarray(values, float).reshape(1, draws))
    return xr.Dataset(out, coords={"chain": [0], "draw": np.arange(draws)})
