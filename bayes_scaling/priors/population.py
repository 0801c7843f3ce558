"""What every population prior learned across ladders shares: families, their weights, and the
spread of the ladders' means inflated for a new ladder.

A ladder's family is its name up to the first "/" (the six loss-to-loss corpora are one family).
Families weigh equally, each ladder 1/(families × ladders in its family). The spread of the
ladders' means around their weighted mean is made unbiased, × n/(n − 1), and widened for a new
ladder around a mean estimated from n ladders, × (1 + 1/n), n the Kish effective number of
ladders 1/Σw². Used by :mod:`bayes_scaling.priors.learned` (the law's parameters) and
:mod:`bayes_scaling.priors.noise` (the run noise σ).
"""

from __future__ import annotations

from collections import Counter

import numpy as np


def family_of(name: str) -> str:
    """A ladder's family: its name up to the first "/"."""
    return name.split("/")[0]


def family_weights(ladders) -> np.ndarray:
    """Each ladder's weight (entries with a ``family``), families weighing equally.

    Examples
    --------
    >>> family_weights([{"family": "a"}, {"family": "b"}, {"family": "b"}]).tolist()
    [0.5, 0.25, 0.25]
    """
    counts = Counter(lad["family"] for lad in ladders)
    w = np.array([1.0 / counts[lad["family"]] for lad in ladders])
    return w / w.sum()


def effective_ladders(w: np.ndarray) -> float:
    """Kish's effective number of ladders, 1/Σw²."""
    return float(1.0 / np.sum(np.asarray(w) ** 2))


def inflated_between(means: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The weighted covariance of the ladders' means (rows) around their weighted mean,
    × n/(n − 1) × (1 + 1/n), n = :func:`effective_ladders`."""
    n_eff = effective_ladders(w)
    dev = means - w @ means
    return (dev.T * w) @ dev * n_eff / (n_eff - 1) * (1 + 1 / n_eff)
