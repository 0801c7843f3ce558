"""How a pick changes the posterior: two updates with one interface.

A design judges a set of picks B by the objective expected after training them
(:mod:`.objectives`). Each update keeps a **state** (what B has done to the posterior so far)
and offers ``start()`` the state before any pick, ``value(state, reference)`` the objective in
that state, ``score(state, reference, js)`` the objective expected after each candidate of
``js`` alone (with the smallest ESS of its weights and the share of tempered worlds),
``pick(state, j)`` the state after candidate j, and ``draws(state)`` the (weights, target draws)
for the band. A candidate beyond the runs also moves the discrepancy's reference
(:meth:`~.worlds.Worlds.extended`), which ``score`` applies per candidate.

- :class:`Linear` (default): a linearised Gaussian update of the draws themselves, exact in the
  outcome (no worlds), no weights to degenerate;
- :class:`Reweighting`: importance reweighting of the draws in K fantasy worlds, tempered when a
  world's effective sample size collapses.

Why the default changed: replaying the corpus ladders (``benchmarks/design.py``), one large run
near the target left the reweighted draws with an ESS of 10-30 out of 800, and most worlds of
every later pick tempered; later gains were then noise, and the weighted band of a few draws
too narrow. The linear update keeps all S draws.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bayes_scaling.design.objectives import TargetDraws
from bayes_scaling.design.worlds import Worlds

#: Tempering powers tried, in order, when a world's ESS falls below ``min_ess``.
TEMPERING = (1.0, 0.5, 0.25, 0.125, 0.0625)


def _normalised(logw: np.ndarray) -> np.ndarray:
    w = np.exp(logw - logw.max(axis=-1, keepdims=True))
    return w / w.sum(axis=-1, keepdims=True)


def reweight(logw: np.ndarray, loglik: np.ndarray, min_ess: float):
    """Each world's weights after one more run: ``(weights, log weights, ess, tempered)``.

    ``logw`` (K, S) are the worlds' log weights so far, ``loglik`` (..., K, S) the new run's log
    likelihood (a leading axis runs over candidates). Where a world's ESS = 1/Σw² falls below
    ``min_ess`` the likelihood is tempered, by the powers in :data:`TEMPERING`, until it does not.
    """
    new = logw + loglik
    w = _normalised(new)
    ess = 1.0 / (w**2).sum(axis=-1)
    tempered = np.zeros(ess.shape, bool)
    for lam in TEMPERING[1:]:
        low = ess < min_ess
        if not low.any():
            break
        new[low] = logw[np.nonzero(low)[-1]] + lam * loglik[low]
        w[low] = _normalised(new[low])
        ess[low] = 1.0 / (w[low] ** 2).sum(axis=-1)
        tempered |= low
    return w, new, ess, tempered


class Reweighting:
    """Importance reweighting of the S draws in K fantasy worlds (state: log weights (K, S)).

    Ū(B) = (1/K) Σ_k U(w_k(B)), w_ks(B) ∝ Π_{j∈B} p(y_kj | θ_s); below ``min_ess`` a world's new
    likelihood is tempered (:func:`reweight`), which understates that pick's gain.
    """

    name = "reweight"

    def __init__(self, worlds: Worlds, objective, min_ess: float):
        self.worlds, self.objective, self.min_ess = worlds, objective, float(min_ess)

    def start(self) -> np.ndarray:
        return np.zeros((self.worlds.n_worlds, self.worlds.n_draws))

    def value(self, logw, reference) -> float:
        return float(
            self.objective.evaluate(_normalised(logw), self.worlds.targets, reference).mean()
        )

    def score(self, logw, reference, js, chunk: int = 96):
        wd, n_k = self.worlds, self.worlds.n_worlds
        values, ess_min, temp = (np.empty(len(js)) for _ in range(3))
        for start in range(0, len(js), chunk):
            part = js[start : start + chunk]
            sl = slice(start, start + len(part))
            w, _, ess, tmp = reweight(logw, wd.loglik[part].astype(float), self.min_ess)
            ess_min[sl], temp[sl] = ess.min(axis=1), tmp.mean(axis=1)
            refs = [wd.extended(reference, j) for j in part]
            same = np.array([r == reference for r in refs])
            out = np.empty(len(part))
            if same.any():  # candidates that leave the reference alone share the target draws
                rows = w[same].reshape(-1, w.shape[-1])
                out[same] = (
                    self.objective.evaluate(rows, wd.targets, reference).reshape(-1, n_k).mean(1)
                )
            for i in np.flatnonzero(~same):
                out[i] = self.objective.evaluate(w[i], wd.targets, refs[i]).mean()
            values[sl] = out
        return values, ess_min, temp

    def pick(self, logw, j: int) -> np.ndarray:
        return reweight(logw, self.worlds.loglik[j].astype(float), self.min_ess)[1]

    def draws(self, logw):
        return _normalised(logw), self.worlds.targets


class Linear:
    """A linearised Gaussian update of the law's values, on the S draws themselves (state: the
    draws' deviations from their mean, Z (S, P), over P = candidates, targets, the irreducible
    loss E (which bounds the discrepancy's downward error, so it moves with the law), for
    compute targets each draw's optimal log N* (the discrepancy's distance beyond the data is
    measured at it, so a narrower N* narrows the discrepancy's part of the band) and, for the
    regret objective, the grid of N at each target budget).

    The law's log values at candidates and targets are taken as jointly Gaussian with the
    posterior draws' covariance C = ZᵀZ/(S−1) (statistical linearisation over the whole
    posterior, not a Jacobian at one point). A run at candidate j observes h_j + ε with the
    noise's variance r (:attr:`Worlds.noise_var`), so every column's covariance becomes
    C − c_j c_jᵀ/(C_jj + r), whatever the outcome: the expectation over the outcome is exact and
    needs no fantasy worlds. The draws are moved by the serial square-root filter (Whitaker &
    Hamill 2002): z_s ← z_s − α·z_sj·k, k = c_j/(C_jj + r), α = 1/(1 + sqrt(r/(C_jj + r))), whose
    covariance is exactly that and which keeps the rest of the draws' shape (E's floor, the
    discrepancy, the noise are added to the moved draws as before). All S draws stay equally
    weighted, so no ESS collapses; the gains it gives were checked against real refits
    (``tests/design/test_design_refit.py``).
    """

    name = "linear"

    def __init__(self, worlds: Worlds, objective):
        t = worlds.targets
        self.worlds, self.objective = worlds, objective
        self.n_j, self.n_t = worlds.log_cand.shape[1], t.log_law.shape[1]
        cols = [worlds.log_cand, t.log_law]
        floor = np.broadcast_to(t.floor, (t.log_law.shape[0], 1))
        self.n_floor = int(bool((floor > 0).all()))  # E moves with the law it bounds
        if self.n_floor:
            cols.append(np.log(floor))
        n_star = t.sizes.get("n_params")  # compute targets: each draw's optimal N moves too
        self.n_size = 0
        if t.terms and n_star is not None and np.ptp(np.log(n_star), axis=0).max() > 0:
            self.n_size = self.n_t
            cols.append(np.log(np.broadcast_to(n_star, t.log_law.shape)))
        self.grid_shape = None
        if t.loss_grid is not None:
            self.grid_shape = t.loss_grid.shape
            cols.append(np.log(t.loss_grid).reshape(t.loss_grid.shape[0], -1))
        x = np.concatenate(cols, axis=1)
        self.mean = x.mean(axis=0)
        self.z0 = x - self.mean
        self.r = max(float(worlds.noise_var), 1e-12)
        self.uniform = np.full((1, x.shape[0]), 1.0 / x.shape[0])

    def start(self) -> np.ndarray:
        return self.z0.copy()

    def _targets(self, z_out: np.ndarray) -> TargetDraws:
        """The target draws whose deviations (targets, E, grid columns) are ``z_out``."""
        t, n_t, m = self.worlds.targets, self.n_t, self.mean[self.n_j :]
        log_law = m[:n_t] + z_out[:, :n_t]
        new = {"log_law": log_law}
        if self.n_floor:
            floor = np.exp(m[n_t] + z_out[:, n_t : n_t + 1])
            new["floor"] = floor
            new["log_law"] = np.maximum(log_law, np.log(floor) + 1e-9)  # L stays above its E
        if self.n_size:
            at = n_t + self.n_floor
            log_n = np.log(np.broadcast_to(t.sizes["n_params"], log_law.shape))
            step = m[at : at + n_t] + z_out[:, at : at + n_t] - log_n
            sizes = dict(t.sizes, n_params=np.exp(log_n + step))
            if "n_tokens" in sizes:  # the same compute: D moves against N
                tokens = np.broadcast_to(t.sizes["n_tokens"], log_law.shape)
                sizes["n_tokens"] = tokens * np.exp(-step)
            new["sizes"] = sizes
        if self.grid_shape is not None:
            rest = n_t + self.n_floor + self.n_size
            grid = np.exp(m[rest:] + z_out[:, rest:]).reshape(self.grid_shape)
            new["loss_grid"] = grid
            # each draw's regret against the lowest loss of its own moved grid: the grid and L*
            # moved apart keep their means, so a regret against the moved L* could not fall
            # as the draws draw together (it gained nothing); the grid's own minimum does
            new["regret_grid"] = grid - grid.min(axis=-1, keepdims=True)
        return replace(t, **new)

    def _shifts(self, z, js):
        """Per candidate of ``js``: α·k over the target (and grid) columns, (len(js), P−J)."""
        zj = z[:, js]
        n = z.shape[0] - 1
        c_jj = (zj**2).sum(axis=0) / n
        c_out = z[:, self.n_j :].T @ zj / n  # (P−J, len(js))
        alpha = 1.0 / (1.0 + np.sqrt(self.r / (c_jj + self.r)))
        return (alpha / (c_jj + self.r))[:, None] * c_out.T

    def value(self, z, reference) -> float:
        return float(
            self.objective.evaluate(self.uniform, self._targets(z[:, self.n_j :]), reference).mean()
        )

    def score(self, z, reference, js):
        js = np.asarray(js, int)
        shifts = self._shifts(z, js)
        out = z[:, self.n_j :]
        values = np.empty(len(js))
        for i, j in enumerate(js):
            moved = out - z[:, j, None] * shifts[i][None, :]
            ref = self.worlds.extended(reference, int(j))
            values[i] = self.objective.evaluate(self.uniform, self._targets(moved), ref).mean()
        n_s = float(z.shape[0])
        return values, np.full(len(js), n_s), np.zeros(len(js))

    def pick(self, z, j: int) -> np.ndarray:
        n = z.shape[0] - 1
        zj = z[:, j]
        c = z.T @ zj / n
        alpha = 1.0 / (1.0 + np.sqrt(self.r / (c[j] + self.r)))
        return z - alpha * np.outer(zj, c / (c[j] + self.r))

    def draws(self, z):
        return self.uniform, self._targets(z[:, self.n_j :])


#: The updates by name.
UPDATES = {"linear": Linear, "reweight": Reweighting}
