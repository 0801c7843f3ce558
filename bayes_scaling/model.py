"""Turn any law plus priors into a PyMC model in which *every* changing input is ``pm.Data``.

The model's data are the law's inputs, the observed log losses, the centring constants and every
prior hyperparameter, packed into two arrays (see :data:`RUNS_DATA`). A model compiled once
therefore refits any table of any length, with any prior numbers of the same families, through
``compiled.with_data(**model_data(...))``: backtests, SBC and batches never recompile.

The model, for a law f with parameters θ and centred log coefficients (see :class:`Law`)::

    θ_k ~ prior_k                                    (exponents, E, ...)
    c_j ~ Flat,  log_A_j = c_j + e_j · mean(log x_j)  with prior_j added on log_A_j
    μ_i = log f(x_i; θ)
    log loss_i ~ StudentT(ν, μ_i, σ)  or  Normal(μ_i, σ)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from bayes_scaling.laws import Law
from bayes_scaling.likelihoods import observe
from bayes_scaling.priors import Prior, runs_stats


def centred_name(param: str) -> str:
    return f"{param}_centred"


#: Names of the model's only two ``pm.Data`` variables. Every extra shared variable costs numba
#: compile time in nutpie's wrapper: the first Chinchilla fit in a process took 30-35 s with 18
#: scalar ``pm.Data`` and 14-16 s with these two (see ARCHITECTURE.md), so everything is in them.
RUNS_DATA, CONSTANTS_DATA = "runs_matrix", "constants"


def constant_names(law: Law, priors: Mapping[str, Prior]) -> list[str]:
    """Order of the entries of the ``constants`` vector: centring constants, then every prior
    hyperparameter (``<param>.<key>``), sorted so that one structure always has one order."""
    centres = sorted({f"ref_log_{col}" for col, _ in law.centred.values()})
    hypers = sorted(f"{param}.{key}" for param, prior in priors.items() for key in prior.params)
    return [*centres, *hypers]


def model_data(runs: pd.DataFrame, law: Law, priors: Mapping[str, Prior]) -> dict[str, np.ndarray]:
    """Every value the model reads, packed as its two ``pm.Data`` arrays.

    ``runs_matrix`` has one row of log values per law input (in ``law.inputs`` order) and a last
    row of observed log losses; ``constants`` follows :func:`constant_names`. The law sees
    ``exp(log x)``, which PyTensor folds into the law's own ``log(x)``: one log per run and input
    less per gradient (warm sampling 0.96 -> 0.76 s on Chinchilla's 240 runs).
    """
    rows = [np.log(runs[c].to_numpy(float)) for c in law.inputs]
    rows.append(np.log(runs["loss"].to_numpy(float)))
    stats = runs_stats(runs)
    values = {}
    for name in constant_names(law, priors):
        if name.startswith("ref_log_"):
            values[name] = stats[name]
        else:
            param, key = name.split(".", 1)
            values[name] = priors[param].params[key]
    return {
        RUNS_DATA: np.vstack(rows),
        CONSTANTS_DATA: np.array([float(values[n]) for n in constant_names(law, priors)]),
    }


def structure_key(law: Law, priors: Mapping[str, Prior], likelihood: str) -> tuple:
    """What decides the compiled graph: the law, the likelihood and the prior *families*.

    Two fits with equal keys share one compiled model; only their data differ.
    """
    prior_shape = tuple(sorted((k, p.dist, tuple(sorted(p.params))) for k, p in priors.items()))
    return (law.name, id(law.fn), likelihood, prior_shape)


def build_model(
    runs: pd.DataFrame, law: Law, priors: Mapping[str, Prior], likelihood: str = "student_t"
) -> pm.Model:
    """Build the PyMC model of ``law`` on ``runs`` with ``priors`` (see the module docstring).

    Parameters
    ----------
    runs : DataFrame
        A table from :func:`bayes_scaling.load_runs`.
    law : Law
        The scaling law.
    priors : dict
        Resolved priors for every law parameter plus ``sigma`` (and ``nu`` for Student-t).
    likelihood : {"student_t", "normal"}
        The noise model on log loss.

    Returns
    -------
    pm.Model
        No per-run deterministics, so that data of another length can be swapped in.
    """
    data = model_data(runs, law, priors)
    with pm.Model() as model:
        table = pm.Data(RUNS_DATA, data[RUNS_DATA])
        constants = pm.Data(CONSTANTS_DATA, data[CONSTANTS_DATA])
        const = {name: constants[i] for i, name in enumerate(constant_names(law, priors))}

        def hyper(param):
            return {k: const[f"{param}.{k}"] for k in priors[param].params}

        params: dict[str, pt.TensorVariable] = {}
        for name in (*law.params, "sigma", "nu"):
            if name in priors and name not in law.centred:
                params[name] = priors[name].to_pymc(name, **hyper(name))
        for name, (col, exponent) in law.centred.items():
            shifted = pm.Flat(centred_name(name))
            params[name] = pm.Deterministic(
                name, shifted + params[exponent] * const[f"ref_log_{col}"]
            )
            pm.Potential(
                f"prior_{name}", pm.logp(priors[name].to_dist(**hyper(name)), params[name])
            )
        x = {c: pt.exp(table[i]) for i, c in enumerate(law.inputs)}
        mu = pt.log(law.fn(x, params, pt))
        y = table[-1]
        observe(likelihood, mu, params["sigma"], params.get("nu"), y, y.shape)
    return model
