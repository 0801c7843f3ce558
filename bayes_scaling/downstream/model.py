"""The PyMC model of step 2 of a downstream chain: loss → metric through a link, with noise.

Step 1 ((N, D) → the intermediate loss) is an ordinary scaling-law fit
(:func:`bayes_scaling.fit`, with its extrapolation discrepancy); its posterior is pushed through
this model's posterior draw by draw (:mod:`bayes_scaling.downstream.answers`). Step 2, for
points (L_i, m_i) (a loss and the metric measured with it)::

    φ ~ the link's priors                     (e.g. share, midpoint, log_slope of the sigmoid)
    c ~ Uniform(chance bounds)                only when the chance level is not given
    σ_extra ~ HalfNormal(s)
    m_i ~ Normal(link(L_i; φ, c), sqrt(σ_floor² + σ_extra²))

plus a soft zero-loss anchor, m(0) ~ Normal(ceiling, s_anchor) for an accuracy (0 for an error):
a model that gives the right answer all its probability solves the task. This is the Bayesian
form of the OLMo ladder paper's "helper point" (its step 2 adds the point (0, 1) to the fitted
points, src/fitting/step2.py); without it a task still near chance leaves the top of the sigmoid
to the prior. ``anchor_sd`` large (e.g. 1e3) turns it off.

σ_floor is the checkpoint-to-checkpoint spread of the metric near the end of training (the
evaluation noise of one checkpoint, measured; 0 when the data do not have it); σ_extra is what
the runs scatter beyond it, learned. The same model with L_i = −log10 C_i is the direct one-step
alternative (compute straight to the metric).

As in :mod:`bayes_scaling.model.builder`, every input that changes is in two ``pm.Data`` arrays
(the points, and the constants with every prior number), so a compiled model refits any table.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from bayes_scaling.downstream.links import SIGMOID, Link
from bayes_scaling.laws import CHINCHILLA
from bayes_scaling.priors import Prior

POINTS_DATA, CONSTANTS_DATA = "link_points", "link_constants"
#: The noise parameter's name, and the reported total sd sqrt(floor² + extra²).
NOISE_EXTRA, NOISE_TOTAL = "sigma_extra", "sigma"
#: Constants before the prior numbers in the constants vector.
FIXED_CONSTANTS = ("chance", "ceiling", "ref", "noise_floor", "anchor_sd")


def link_noise_prior(stats: Mapping[str, float]) -> Prior:
    """σ_extra ~ HalfNormal(max(sd(metric), 0.01)): the runs' scatter around the link beyond the
    evaluation noise is at most about the spread of the metric."""
    return Prior(
        "HalfNormal",
        {"sigma": max(stats["metric_sd"], 0.01)},
        why="scatter of the runs around the link beyond the evaluation noise, at most about the "
        "spread of the metric",
    )


def constant_names(link: Link, priors: Mapping[str, Prior]) -> list[str]:
    """Order of the constants vector: :data:`FIXED_CONSTANTS`, then ``<param>.<key>`` sorted."""
    hypers = sorted(f"{name}.{key}" for name, prior in priors.items() for key in prior.params)
    return [*FIXED_CONSTANTS, *hypers]


def model_data(
    loss, metric, link: Link, priors: Mapping[str, Prior], constants: Mapping[str, float]
) -> dict[str, np.ndarray]:
    """The two ``pm.Data`` arrays: points (row 0 the losses, row 1 the metric) and constants
    (chance (NaN → 0 when learned), ceiling, ref, noise_floor, then every prior number)."""
    values = {k: np.nan if constants[k] is None else float(constants[k]) for k in FIXED_CONSTANTS}
    if not np.isfinite(values["chance"]):  # learned (None or NaN): a placeholder, unread
        values["chance"] = 0.0
    for name in constant_names(link, priors)[len(FIXED_CONSTANTS) :]:
        param, key = name.split(".", 1)
        values[name] = float(priors[param].params[key])
    return {
        POINTS_DATA: np.vstack([np.asarray(loss, float), np.asarray(metric, float)]),
        CONSTANTS_DATA: np.array([values[n] for n in constant_names(link, priors)]),
    }


def structure_key(link: Link, priors: Mapping[str, Prior]) -> tuple:
    """What decides the compiled graph: the link, the prior families, whether chance is learned."""
    shape = tuple(sorted((k, p.dist, tuple(sorted(p.params))) for k, p in priors.items()))
    return ("downstream-link", link.name, id(link.fn), shape)


def build_link_model(
    loss, metric, link: Link, priors: Mapping[str, Prior], constants: Mapping[str, float]
) -> pm.Model:
    """Build step 2's PyMC model (see the module docstring).

    Parameters
    ----------
    loss, metric : array-like
        The points: intermediate loss and metric.
    link : Link
    priors : dict
        A prior for every link parameter, ``sigma_extra``, and ``chance`` when it is learned.
    constants : dict
        ``chance`` (NaN when learned), ``ceiling``, ``ref`` (mean loss), ``noise_floor`` and
        ``anchor_sd`` (sd of the zero-loss anchor).
    """
    data = model_data(loss, metric, link, priors, constants)
    names = constant_names(link, priors)
    with pm.Model() as model:
        points = pm.Data(POINTS_DATA, data[POINTS_DATA])
        const_vec = pm.Data(CONSTANTS_DATA, data[CONSTANTS_DATA])
        const = {name: const_vec[i] for i, name in enumerate(names)}

        def hyper(param):
            return {k: const[f"{param}.{k}"] for k in priors[param].params}

        p = {name: priors[name].to_pymc(name, **hyper(name)) for name in link.params}
        if "chance" in priors:
            p["chance"] = priors["chance"].to_pymc("chance", **hyper("chance"))
        else:
            p["chance"] = const["chance"]
        p["ceiling"], p["ref"] = const["ceiling"], const["ref"]
        extra = priors[NOISE_EXTRA].to_pymc(NOISE_EXTRA, **hyper(NOISE_EXTRA))
        sigma = pt.sqrt(const["noise_floor"] ** 2 + extra**2)
        mu = link.fn(points[0], p, pt)
        # zero-loss anchor: a model that puts all its probability on the right answer solves
        # the task, m(0) = ceiling (an accuracy) or 0 (an error), within anchor_sd
        solved = const["ceiling"] if link.higher_is_better else 0.0
        at_zero = link.fn(pt.zeros(()), p, pt)
        pm.Potential("zero_loss_anchor", -0.5 * ((at_zero - solved) / const["anchor_sd"]) ** 2)
        pm.Normal("metric", mu=mu, sigma=sigma, observed=points[1], shape=points[1].shape)
    return model


#: A two-step truth in the OLMo ladder's ranges: task bits per byte by the Chinchilla law, then
#: a sigmoid from chance 0.25 (used by the tests, notebook 05 and the docs).
SIMULATED_LAW = {
    "E": 0.45,
    "log_A": float(np.log(30.0)),
    "alpha": 0.25,
    "log_B": float(np.log(25.0)),
    "beta": 0.2,
}
SIMULATED_LINK = {"share": 0.97, "midpoint": 0.85, "log_slope": float(np.log(9.0))}
SIMULATED_NOISE = {"via": 0.006, "metric": 0.008}


def simulate_downstream(
    sizes=(1.9e8, 3.7e8, 7.6e8, 1.3e9),
    multiples=(1, 2, 5, 10),
    *,
    law=None,
    link=None,
    chance: float = 0.25,
    ceiling: float = 1.0,
    noise=None,
    seed: int = 0,
) -> pd.DataFrame:
    """A simulated ladder with a known two-step truth (an OLMo-like ladder by default).

    Runs at N in ``sizes`` and D = 20·N·multiple; ``via`` = L(N, D)·exp(ε₁) with the Chinchilla
    law ``law`` and ε₁ ~ Normal(0, noise["via"]); ``metric`` = the sigmoid link ``link`` at the
    observed via, plus Normal(0, noise["metric"]) noise, clipped to [0, ceiling].

    Returns
    -------
    DataFrame
        ``run_id, n_params, n_tokens, via, metric``; the truth in ``attrs["truth"]``.
    """
    law = {**SIMULATED_LAW, **(law or {})}
    link = {**SIMULATED_LINK, **(link or {})}
    noise = {**SIMULATED_NOISE, **(noise or {})}
    rng = np.random.default_rng(seed)
    n = np.repeat(np.asarray(sizes, float), len(multiples))
    d = 20 * n * np.tile(np.asarray(multiples, float), len(sizes))
    via = CHINCHILLA.fn({"n_params": n, "n_tokens": d}, law, np) * np.exp(
        rng.normal(0, noise["via"], n.size)
    )
    p = {**link, "chance": chance, "ceiling": ceiling, "ref": float(via.mean())}
    metric = np.clip(SIGMOID.fn(via, p, np) + rng.normal(0, noise["metric"], n.size), 0, ceiling)
    table = pd.DataFrame(
        {
            "run_id": [f"{a:.2g}-{m}x" for a, m in zip(n, d / (20 * n), strict=True)],
            "n_params": n,
            "n_tokens": d,
            "via": via,
            "metric": metric,
        }
    )
    table.attrs["truth"] = {"law": law, "link": link, "noise": noise, "chance": chance}
    return table
