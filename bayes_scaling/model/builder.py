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

With a :class:`~bayes_scaling.model.pooling.Pooling` (grouped runs), a parameter that varies by
group has dims ``group`` and run i reads θ[g_i]: the law's function is unchanged. Partially pooled
parameters are built as :mod:`bayes_scaling.model.pooling` describes. ``anchor=True`` samples E
and the log coefficients through the loss at the runs' centre (:mod:`.centred_coordinates`):
the same model in other coordinates, used by the rescue ladder of a fit that fails the gate.
A learned prior (``priors="learned"``) adds its correlation as one potential over the law's
parameters (:func:`_joint_potential`); its numbers are constants like any prior's.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from bayes_scaling.errors import PriorError
from bayes_scaling.laws import Law
from bayes_scaling.model import centred_coordinates as anchored
from bayes_scaling.model.likelihoods import observe
from bayes_scaling.model.pooling import Pooling, mu_name, pool_scale, tau_name, z_name
from bayes_scaling.priors import Prior, runs_stats
from bayes_scaling.priors.learned import JOINT
from bayes_scaling.priors.learned import LOG_PARAMS as JOINT_LOG
from bayes_scaling.priors.learned import PARAMS as JOINT_PARAMS


def centred_name(param: str) -> str:
    return f"{param}_centred"


#: Names of the model's only two ``pm.Data`` variables. Every extra shared variable costs numba
#: compile time in nutpie's wrapper: the first Chinchilla fit in a process took 30-35 s with 18
#: scalar ``pm.Data`` and 14-16 s with these two (see ARCHITECTURE.md), so everything is in them.
RUNS_DATA, CONSTANTS_DATA = "runs_matrix", "constants"


def constant_names(law: Law, priors: Mapping[str, Prior], anchor: bool = False) -> list[str]:
    """Order of the entries of the ``constants`` vector: centring constants, then every prior
    hyperparameter (``<param>.<key>``), sorted so that one structure always has one order; with
    ``anchor``, the start values of :mod:`.centred_coordinates` last."""
    centres = sorted({f"ref_log_{col}" for col, _ in law.centred.values()})
    hypers = sorted(f"{param}.{key}" for param, prior in priors.items() for key in prior.params)
    return [*centres, *hypers, *(anchored.CONSTANTS if anchor else ())]


def model_data(
    runs: pd.DataFrame,
    law: Law,
    priors: Mapping[str, Prior],
    pooling: Pooling | None = None,
    anchor: bool = False,
) -> dict[str, np.ndarray]:
    """Every value the model reads, packed as its two ``pm.Data`` arrays.

    ``runs_matrix`` has one row of log values per law input (in ``law.inputs`` order), then, for
    grouped runs, a row of group codes, and a last row of observed log losses; ``constants``
    follows :func:`constant_names` (``anchor``: the anchored model's). The law sees
    ``exp(log x)``, which PyTensor folds into the law's own ``log(x)``: one log per run and input
    less per gradient (warm sampling 0.96 -> 0.76 s on Chinchilla's 240 runs).
    """
    rows = [np.log(runs[c].to_numpy(float)) for c in law.inputs]
    if pooling is not None:
        rows.append(pooling.codes(runs).astype(float))
    rows.append(np.log(runs["loss"].to_numpy(float)))
    stats = runs_stats(runs)
    values = anchored.start_values(runs, priors) if anchor else {}
    names = constant_names(law, priors, anchor)
    for name in names:
        if name in values:
            continue
        if name.startswith("ref_log_"):
            values[name] = stats[name]
        else:
            param, key = name.split(".", 1)
            values[name] = priors[param].params[key]
    return {
        RUNS_DATA: np.vstack(rows),
        CONSTANTS_DATA: np.array([float(values[n]) for n in names]),
    }


def structure_key(
    law: Law,
    priors: Mapping[str, Prior],
    likelihood: str,
    pooling: Pooling | None = None,
    anchor: bool = False,
) -> tuple:
    """What decides the compiled graph: the law, the likelihood, the prior *families*, for
    grouped runs the number of groups and the pooling modes, and the parameterisation of E.

    Two fits with equal keys share one compiled model; only their data differ.
    """
    prior_shape = tuple(sorted((k, p.dist, tuple(sorted(p.params))) for k, p in priors.items()))
    groups = None if pooling is None else pooling.structure()
    # the function itself, not its id: the key keeps it alive, so a law redefined under the
    # same name (a notebook cell run again) can never be served the old one's compiled graph
    return (law.name, _Same(law.fn), likelihood, prior_shape, groups, bool(anchor))


class _Same:
    """A key part equal only to the same object (a law's function, hashable or not), holding it
    so that its id is never reused while the key lives."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj


def build_model(
    runs: pd.DataFrame,
    law: Law,
    priors: Mapping[str, Prior],
    likelihood: str = "student_t",
    pooling: Pooling | None = None,
    anchor: bool = False,
) -> pm.Model:
    """Build the PyMC model of ``law`` on ``runs`` with ``priors`` (see the module docstring).

    Parameters
    ----------
    runs : DataFrame
        A table from :func:`bayes_scaling.load_runs` (with a ``group`` column when pooled).
    law : Law
        The scaling law.
    priors : dict
        Resolved priors for every law parameter plus ``sigma`` (and ``nu`` for Student-t), and
        ``<param>_tau`` for every partially pooled parameter.
    likelihood : {"student_t", "normal"}
        The noise model on log loss.
    pooling : Pooling, optional
        Grouped runs: which parameters vary by group, and how.
    anchor : bool
        Sample E through the loss at the runs' centre (:mod:`.centred_coordinates`; the
        same model in other coordinates). Only where :func:`.centred_coordinates.anchorable`.

    Returns
    -------
    pm.Model
        No per-run deterministics, so that data of another length can be swapped in.
    """
    if anchor and not anchored.anchorable(law, priors, pooling):
        raise PriorError(
            f"E cannot be anchored for law {law.name!r} with these priors and pooling: it needs an "
            "ungrouped law E + sum of A*x^(-e) terms and a prior on E > 0"
        )
    data = model_data(runs, law, priors, pooling, anchor)
    coords = {"group": list(pooling.groups)} if pooling is not None else None
    with pm.Model(coords=coords) as model:
        table = pm.Data(RUNS_DATA, data[RUNS_DATA])
        constants = pm.Data(CONSTANTS_DATA, data[CONSTANTS_DATA])
        names = constant_names(law, priors, anchor)
        const = {name: constants[i] for i, name in enumerate(names)}

        def hyper(param):
            return {k: const[f"{param}.{k}"] for k in priors[param].params}

        def mode(name):
            return "shared" if pooling is None else pooling.mode(name)

        params: dict[str, pt.TensorVariable] = {}
        for name in (*law.params, "sigma", "nu"):
            if name in priors and name not in law.centred and not (anchor and name == "E"):
                params[name] = _parameter(name, priors, hyper, mode(name))
        if anchor:  # E and the log coefficients, through the loss at the runs' centre
            params.update(anchored.anchored_parameters(law, priors, params, const, hyper))
        for name, (col, exponent) in ({} if anchor else law.centred).items():
            shift = params[exponent] * const[f"ref_log_{col}"]
            if mode(name) == "partial":
                params[name] = _pooled_coefficient(name, shift, priors, hyper)
                continue
            shifted = pm.Flat(centred_name(name), dims=_dims(mode(name)))
            params[name] = pm.Deterministic(name, shifted + shift, dims=_dims(mode(name)))
            pm.Potential(
                f"prior_{name}", pm.logp(priors[name].to_dist(**hyper(name)), params[name]).sum()
            )
        if JOINT in priors:  # the learned prior: its correlation on top of its marginals
            if pooling is not None:
                raise PriorError("the learned (joint) prior applies to ungrouped fits only")
            _joint_potential(params, hyper)
        x = {c: pt.exp(table[i]) for i, c in enumerate(law.inputs)}
        if pooling is not None:
            code = pt.cast(table[len(law.inputs)], "int64")
            params = {k: v if mode(k) == "shared" else v[code] for k, v in params.items()}
        mu = pt.log(law.fn(x, params, pt))
        y = table[-1]
        observe(likelihood, mu, params["sigma"], params.get("nu"), y, y.shape)
    return model


def _joint_potential(params, hyper) -> None:
    """The learned prior's correlation (:mod:`bayes_scaling.priors.learned`).

    The law's parameters already carry the MvNormal's marginals, so this adds
    log MvNormal(u; 0, R) − Σ_k log Normal(u_k; 0, 1), with u_k = (z_k − μ_k)/σ_k the standardised
    coordinates z = (log E, log A, α, log B, β) and R = L·Lᵀ from the ``law_joint`` entry: the
    joint density of z is then the MvNormal's (no Jacobian: both terms are densities of z).
    """
    k, numbers = len(JOINT_PARAMS), hyper(JOINT)
    zero = pt.as_tensor_variable(0.0)
    chol = pt.stack(
        [pt.stack([numbers[f"L{i}{j}"] if j <= i else zero for j in range(k)]) for i in range(k)]
    )
    u = pt.stack(
        [
            ((pt.log(params[n]) if n in JOINT_LOG else params[n]) - hyper(n)["mu"])
            / hyper(n)["sigma"]
            for n in JOINT_PARAMS
        ]
    )
    joint = pm.logp(pm.MvNormal.dist(mu=pt.zeros(k), chol=chol), u)
    pm.Potential("prior_joint", joint - pm.logp(pm.Normal.dist(0.0, 1.0), u).sum())


def _dims(mode: str):
    return None if mode == "shared" else "group"


def _parameter(name: str, priors, hyper, mode: str):
    """A free parameter: shared (scalar), independent per group, or partially pooled.

    Partial pooling: h(θ_g) = h(μ) + d_g with the deviations d ~ ZeroSumNormal(τ), so μ is the
    groups' centre on the scale h (identified by the data), and τ only spreads them.
    """
    prior = priors[name]
    if mode != "partial":
        return prior.to_pymc(name, **hyper(name), dims=_dims(mode))
    mu = prior.to_pymc(mu_name(name), **hyper(name))
    tau = priors[tau_name(name)].to_pymc(tau_name(name), **hyper(tau_name(name)))
    shift = tau * pm.ZeroSumNormal(z_name(name), sigma=1.0, dims="group")  # non-centred
    scale = pool_scale(prior)
    if scale == "log":
        value = pt.exp(pt.log(mu) + shift)
    elif scale == "identity":
        value = mu + shift
    else:  # logit within the Uniform prior's bounds
        lower, upper = hyper(name)["lower"], hyper(name)["upper"]
        unit = (mu - lower) / (upper - lower)
        value = lower + (upper - lower) * pt.sigmoid(pt.log(unit) - pt.log1p(-unit) + shift)
    return pm.Deterministic(name, value, dims="group")


def _pooled_coefficient(name: str, shift, priors, hyper):
    """A partially pooled centred log coefficient, log A_g = μ + τ·z_g (z zero-sum, non-centred).

    μ, the groups' mean log A, is sampled centred as μ − mean_g(e_g)·ref (flat, with the law's
    prior on μ added), like an unpooled coefficient.
    """
    prior = priors[name]
    if pool_scale(prior) != "identity":
        raise PriorError(
            f"{name} is pooled partially around a Normal population value, so its prior must be "
            f"Normal, not {prior.dist}; pool it 'independent' instead"
        )
    mu = pm.Deterministic(mu_name(name), pm.Flat(centred_name(name)) + shift.mean())
    pm.Potential(f"prior_{name}", pm.logp(prior.to_dist(**hyper(name)), mu))
    tau = priors[tau_name(name)].to_pymc(tau_name(name), **hyper(tau_name(name)))
    z = pm.ZeroSumNormal(z_name(name), sigma=1.0, dims="group")
    return pm.Deterministic(name, mu + tau * z, dims="group")
