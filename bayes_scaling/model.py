"""Turn any law plus priors into a PyMC model in which *every* changing input is ``pm.Data``.

The model's data are the law's inputs, the observed log losses, the centring constants and every
prior hyperparameter. A model compiled once therefore refits any table of any length, with any
prior numbers of the same families, through ``compiled.with_data(**model_data(...))``: backtests,
SBC and batches never recompile.

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


def _prior_data_name(param: str, key: str) -> str:
    return f"prior__{param}__{key}"


def model_data(runs: pd.DataFrame, law: Law, priors: Mapping[str, Prior]) -> dict[str, np.ndarray]:
    """Every value the model reads as ``pm.Data``, by name, for this table and these priors."""
    data = {f"x_{c}": runs[c].to_numpy(float) for c in law.inputs}
    data["y_log_loss"] = np.log(runs["loss"].to_numpy(float))
    stats = runs_stats(runs)
    for col in {col for col, _ in law.centred.values()}:
        data[f"ref_log_{col}"] = np.asarray(stats[f"ref_log_{col}"])
    for param, prior in priors.items():
        for key, value in prior.params.items():
            data[_prior_data_name(param, key)] = np.asarray(float(value))
    return data


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
        d = {name: pm.Data(name, value) for name, value in data.items()}

        def hyper(param):
            return {k: d[_prior_data_name(param, k)] for k in priors[param].params}

        params: dict[str, pt.TensorVariable] = {}
        for name in (*law.params, "sigma", "nu"):
            if name in priors and name not in law.centred:
                params[name] = priors[name].to_pymc(name, **hyper(name))
        for name, (col, exponent) in law.centred.items():
            shifted = pm.Flat(centred_name(name))
            params[name] = pm.Deterministic(name, shifted + params[exponent] * d[f"ref_log_{col}"])
            pm.Potential(
                f"prior_{name}", pm.logp(priors[name].to_dist(**hyper(name)), params[name])
            )
        x = {c: d[f"x_{c}"] for c in law.inputs}
        mu = pt.log(law.fn(x, params, pt))
        y = d["y_log_loss"]
        observe(likelihood, mu, params["sigma"], params.get("nu"), y, y.shape)
    return model
