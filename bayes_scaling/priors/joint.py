"""The learned prior's correlation (:data:`~bayes_scaling.priors.learned.JOINT`) as numbers:
its check, its Cholesky factor, its term of the log prior and joint draws of the law's
parameters. The model adds the same term as a potential
(:func:`bayes_scaling.model.builder._joint_potential`)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from bayes_scaling.errors import PriorError
from bayes_scaling.priors.learned import JOINT, LOG_PARAMS, PARAMS, chol_keys
from bayes_scaling.priors.prior import Prior


def check_joint(priors: Mapping[str, Prior]) -> None:
    """A :data:`JOINT` entry needs the law's marginals in its coordinates: E LogNormal, the
    others Normal or TruncatedNormal, each with ``mu`` and ``sigma``. Raises PriorError."""
    families = {"E": ("LogNormal",)}
    for name in PARAMS:
        allowed = families.get(name, ("Normal", "TruncatedNormal"))
        prior = priors.get(name)
        if prior is None or prior.dist not in allowed or not {"mu", "sigma"} <= set(prior.params):
            raise PriorError(
                f"the {JOINT} correlation needs {name} ~ {' or '.join(allowed)}(mu, sigma), got "
                f"{prior}; override the law's parameters without {JOINT}, or use priors='learned'"
            )
    if set(priors[JOINT].params) != set(chol_keys()):
        raise PriorError(f"{JOINT} must hold the Cholesky entries {chol_keys()}")


def joint_cholesky(priors: Mapping[str, Prior]) -> np.ndarray:
    """The correlation's Cholesky factor L (R = L·Lᵀ) from the :data:`JOINT` entry."""
    k = len(PARAMS)
    chol = np.zeros((k, k))
    for key, v in priors[JOINT].params.items():
        chol[int(key[1]), int(key[2])] = v
    return chol


def joint_log_correction(priors: Mapping[str, Prior], values: Mapping) -> np.ndarray:
    """The :data:`JOINT` entry's term of the log prior at ``values`` (arrays of the law's
    parameters): log MvNormal(u; 0, R) − Σ_k log Normal(u_k; 0, 1), u the standardised
    coordinates, as the model's potential adds it to the marginals' densities."""
    chol = joint_cholesky(priors)
    u = np.stack(
        [
            ((np.log(values[n]) if n in LOG_PARAMS else np.asarray(values[n], float))
             - priors[n].params["mu"]) / priors[n].params["sigma"]
            for n in PARAMS
        ],
        axis=-1,
    )  # fmt: skip
    w = np.linalg.solve(chol, u[..., None])[..., 0]  # L·w = u, so uᵀR⁻¹u = |w|²
    return -0.5 * ((w**2).sum(-1) - (u**2).sum(-1)) - np.log(np.abs(np.diag(chol))).sum()


def joint_draws(priors: Mapping[str, Prior], draws: int, rng) -> dict[str, np.ndarray]:
    """Draws of the law's parameters from the joint prior (marginals + :data:`JOINT`), with the
    truncation of α, β > 0 by rejection."""
    k = len(PARAMS)
    chol = joint_cholesky(priors)
    mu = np.array([priors[n].params["mu"] for n in PARAMS])
    sd = np.array([priors[n].params["sigma"] for n in PARAMS])
    rows = np.empty((0, k))
    while len(rows) < draws:
        z = mu + (rng.standard_normal((2 * draws, k)) @ chol.T) * sd
        ok = (z[:, PARAMS.index("alpha")] > 0) & (z[:, PARAMS.index("beta")] > 0)
        rows = np.vstack([rows, z[ok]])
    rows = rows[:draws]
    return {n: np.exp(rows[:, i]) if n in LOG_PARAMS else rows[:, i] for i, n in enumerate(PARAMS)}
