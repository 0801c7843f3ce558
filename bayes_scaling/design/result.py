"""The answer of a design: the picks in the order chosen, the expected band before and after.

A :class:`DesignResult` is plain data (DataFrames and numbers); it never samples. The fit's
convergence verdict travels with it (``converged``, ``reason``) into the table, the figure, the
report and the CLI's exit code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import xarray as xr

#: The columns of :attr:`DesignResult.picks`, in order.
PICK_COLUMNS = [
    "candidate",
    "params",
    "tokens",
    "compute",
    "cost",
    "cumulative_cost",
    "gain",
    "objective",
    "ess",
    "tempered",
    "converged",
]
#: The columns of :attr:`DesignResult.bands`.
BAND_COLUMNS = [
    "target",
    "params",
    "tokens",
    "compute",
    "stage",
    "prob",
    "lower",
    "median",
    "upper",
]


@dataclass
class DesignResult:
    """Which runs to train next, and what they are expected to buy.

    Attributes
    ----------
    picks : DataFrame
        One row per chosen candidate in the order chosen (:data:`PICK_COLUMNS`): ``candidate``
        (0-based row of the pool as read), ``params``, ``tokens``, ``compute`` (k·N·D), ``cost``,
        ``cumulative_cost``, ``gain`` (expected reduction of the objective by this pick, given the
        earlier ones), ``objective`` (its expected value after this pick), ``ess`` (smallest
        effective sample size of the importance weights over the fantasy worlds; all S draws
        with the default linear update, which does not weight them), ``tempered`` (share of
        worlds whose weights were tempered to keep that ESS; 0 with the linear update),
        ``converged``.
    bands : DataFrame
        The predictive band at each target before the picks and expected after them
        (:data:`BAND_COLUMNS`; ``stage`` is ``"before"`` or ``"after"``; "after" averages each
        fantasy world's band).
    initial : float
        The objective before any pick.
    objective : str
        Its name (``width``, ``variance``, ``regret``); ``description`` says its unit.
    budget : float
        FLOPs allowed for the picks.
    converged : bool
        The verdict of the fit the design stands on; ``reason`` its one-line reason.
    skipped : list of int
        Candidates left out because the runs already hold them (same N and D).
    pool, runs : DataFrame
        The candidates (``read_pool``'s columns) and the fitted runs' sizes, for figures.
    settings : dict
        Seed, fantasy worlds, posterior draws used, law, objective, target.
    """

    picks: pd.DataFrame
    bands: pd.DataFrame
    initial: float
    objective: str
    description: str
    budget: float
    converged: bool
    reason: str
    skipped: list = field(default_factory=list)
    pool: pd.DataFrame | None = None
    runs: pd.DataFrame | None = None
    settings: dict = field(default_factory=dict)

    @property
    def spent(self) -> float:
        """FLOPs the picks cost together (≤ ``budget``)."""
        return float(self.picks["cost"].sum()) if len(self.picks) else 0.0

    @property
    def final(self) -> float:
        """The objective expected after every pick (``initial`` when nothing was picked)."""
        return float(self.picks["objective"].iloc[-1]) if len(self.picks) else self.initial

    def to_frame(self) -> pd.DataFrame:
        """The picks table, with ``attrs`` holding the objective, budget and verdict."""
        out = self.picks.copy()
        out.attrs.update(
            objective=self.objective,
            initial=self.initial,
            budget=self.budget,
            converged=self.converged,
            skipped=list(self.skipped),
        )
        return out

    def to_xarray(self) -> xr.Dataset:
        """The picks as a Dataset with dim ``pick`` (order chosen); numbers in ``attrs``."""
        ds = xr.Dataset.from_dataframe(self.picks.rename_axis("pick"))
        ds.attrs.update(
            objective=self.objective,
            initial=float(self.initial),
            budget=float(self.budget),
            converged=int(self.converged),
        )
        return ds

    def __repr__(self) -> str:
        verdict = "converged" if self.converged else f"NOT CONVERGED ({self.reason})"
        return (
            f"DesignResult({len(self.picks)} picks, {self.spent:.3g} of {self.budget:.3g} FLOPs, "
            f"{self.objective} {self.initial:.4g} → {self.final:.4g}, {verdict})"
        )
