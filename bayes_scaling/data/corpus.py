"""A calibration corpus of public ladders, each with a fixed backtest protocol.

A :class:`Ladder` is a runs table (its ``load`` function) and a protocol fixed in advance: the
axis to cut on (``cut_on``: ``"compute"`` or ``"n_params"``), the largest value fitted
(``fit_below``: the fitted runs are those at or below it) and the range predicted (``predict``:
the held-out runs are those from ``predict[0]`` up to ``predict[1]``, all above the cut). Runs in
the gap between the two, or beyond ``predict[1]``, are in neither part. :func:`split` applies a
protocol; :func:`corpus_table` summarises the corpus.

========================== ========== ================ ====================== ===============
ladder                     cut on     fitted           held out               why
========================== ========== ================ ====================== ===============
chinchilla-epoch           compute    <= 1.6e20        5e20 - 4e21            3.7-22x
gemstones                  compute    <= 1.2e20        3.3e20 - 1.3e21        3.1-12x
datablations               compute    <= 1e20          3e20 - 2e21            3.9-21x
olmo-ladder                n_params   <= 760M          1B and 3B              the paper's
loss-to-loss/<corpus> (6)  compute    <= 1e19          2.2e19 - 4.84e19       top 2 budgets
llama3-isoflops            compute    <= 1e20          3e20 - 1e22            top 5 budgets
step-law                   compute    <= 2.6e19        9e19 - 6.5e20          3.5-25x
========================== ========== ================ ====================== ===============

For the three tables without a protocol of their own (chinchilla-epoch, gemstones,
datablations), the cut puts the held-out runs about 3-20x beyond the largest fitted compute:
far enough that an extrapolation band is tested where it matters (a 2-3 fold extrapolation is
nearly interpolation), near enough that a law fitted to one decade is still asked something its
authors would ask. Each cut sits in a gap of the table's compute, so that no cluster of runs at
one budget is split. See ``data/README.md`` for more.

Directions. Users extrapolate along three directions, and the law errs differently along each;
:func:`direction_split` gives every ladder a protocol per direction (:data:`DIRECTIONS`):

- ``"compute"``: the ladder's own protocol above (for the OLMo ladder, cut on N);
- ``"n_params"`` (N at fixed tokens per parameter): fit the runs with N at or below a cut, predict
  the larger models whose tokens per parameter lie within the fitted runs' range;
- ``"n_tokens"`` (tokens at fixed N): fit the runs with D at or below a cut, predict the runs with
  more tokens whose N lies within the fitted runs' range.

The cut of the last two is the smallest distinct value that keeps at least half of the runs
(and at least 15) in the fitted part; a ladder without held-out runs in a direction has no
protocol there. :func:`multiple` measures how far each held-out run lies beyond the fitted runs
along the direction's axis (3x, 10x, 30x: the bins of :data:`MULTIPLE_BINS`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from os import PathLike

import numpy as np
import pandas as pd

from bayes_scaling.data import datasets, ladders
from bayes_scaling.errors import Problem, RunsError

__all__ = [
    "CUT_AXES",
    "DIRECTIONS",
    "MULTIPLE_BINS",
    "Ladder",
    "corpus",
    "corpus_table",
    "direction_split",
    "multiple",
    "multiple_bin",
    "split",
]

#: Columns a protocol may cut on.
CUT_AXES = ("compute", "n_params")
#: Relative tolerance of the cut comparisons (budgets such as 1e19 are stored as 6·N·D).
RTOL = 1e-6
#: Directions of extrapolation (see the module docstring), and the axis each measures along.
DIRECTIONS = {"compute": "compute", "n_params": "n_params", "n_tokens": "n_tokens"}
#: Bins of the extrapolation multiple (upper edges, exclusive; named by their typical multiple).
MULTIPLE_BINS = {"~3x": 5.0, "~10x": 17.0, "~30x": np.inf}
#: A direction's cut keeps at least this share of the runs, and at least MIN_FIT runs, fitted.
FIT_SHARE, MIN_FIT = 0.5, 15


@dataclass(frozen=True)
class Ladder:
    """One ladder of the corpus: how to load it and its fixed backtest protocol.

    Attributes
    ----------
    name : str
        E.g. ``"olmo-ladder"`` or ``"loss-to-loss/starcoder"``.
    load : callable
        ``load()`` returns the runs table (the path is bound by :func:`corpus`).
    cut_on : {"compute", "n_params"}
        The column the protocol cuts on.
    fit_below : float
        The fitted runs are those with ``cut_on`` at or below this value.
    predict : (float, float)
        The held-out runs are those with ``cut_on`` in this closed range; ``predict[0]`` is
        above ``fit_below``.
    caveat : str
        What to keep in mind when reading this ladder's backtest.
    """

    name: str
    load: Callable[[], pd.DataFrame]
    cut_on: str
    fit_below: float
    predict: tuple[float, float]
    caveat: str

    def __post_init__(self):
        if self.cut_on not in CUT_AXES:
            raise ValueError(f"cut_on must be one of {CUT_AXES}, got {self.cut_on!r}")
        lo, hi = self.predict
        if not (0 < self.fit_below < lo <= hi and math.isfinite(hi)):
            raise ValueError(
                f"need 0 < fit_below < predict[0] <= predict[1] < inf, got {self.fit_below:g} "
                f"and {self.predict}"
            )


def _subset(runs: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """Rows of a runs table, renumbered, with the replicate groups renumbered to match."""
    out = runs[mask].reset_index(drop=True)
    out.attrs = dict(runs.attrs)
    if "replicates" in runs.attrs:
        new = {int(old): i for i, old in enumerate(np.flatnonzero(mask))}
        groups = [[new[i] for i in g if i in new] for g in runs.attrs["replicates"]]
        out.attrs["replicates"] = [g for g in groups if len(g) > 1]
    return out


def split(ladder: Ladder, runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The fitted runs and the held-out runs of ``runs`` under ``ladder``'s protocol.

    Returns
    -------
    (DataFrame, DataFrame)
        ``fit``: ``cut_on <= fit_below``; ``held_out``: ``predict[0] <= cut_on <= predict[1]``
        (both with a relative tolerance of 1e-6). Runs in neither are left out.

    Raises
    ------
    RunsError
        When the table lacks the ``cut_on`` column, or when either part is empty (the table is
        not the ladder's, or was filtered).

    Examples
    --------
    >>> ladder = corpus()["llama3-isoflops"]
    >>> fit, held_out = split(ladder, ladder.load())  # doctest: +SKIP
    >>> fit["compute"].max() <= 1e20 < 3e20 <= held_out["compute"].min()  # doctest: +SKIP
    True
    """
    if ladder.cut_on not in runs.columns:
        raise RunsError(
            Problem(
                None,
                ladder.cut_on,
                f"missing: the protocol of {ladder.name!r} cuts on it; pass a runs table from "
                "load_runs (or from the ladder's load())",
            )
        )
    x = runs[ladder.cut_on].to_numpy(dtype=float)
    lo, hi = ladder.predict
    fit = x <= ladder.fit_below * (1 + RTOL)
    held = (x >= lo * (1 - RTOL)) & (x <= hi * (1 + RTOL))
    for part, mask, where in (
        ("fitted", fit, f"at or below {ladder.fit_below:.3g}"),
        ("held-out", held, f"from {lo:.3g} to {hi:.3g}"),
    ):
        if not mask.any():
            raise RunsError(
                Problem(
                    None,
                    ladder.cut_on,
                    f"no {part} runs for {ladder.name!r}: none has {ladder.cut_on} {where} "
                    f"(the table spans {np.nanmin(x):.3g} to {np.nanmax(x):.3g}); pass the "
                    "ladder's own table, from its load()",
                )
            )
    return _subset(runs, fit), _subset(runs, held)


_OLMO_CAVEAT = (
    "The paper's own protocol (fit the 190M-760M runs, check 1B and 3B; its targets are 7B-4T "
    "and 13B-5T, see olmo_targets). Cut on N, not compute: the 1B-0.5xC run has less compute "
    "than the 760M-10xC run, so the held-out runs reach 0.14-17x the largest fitted compute. "
    "Loss is C4 validation cross-entropy of the final checkpoint; the five 1xC reruns are left "
    "out."
)
_L2L_CAVEAT = (
    "Its own isoFLOP ladder on one training corpus, scored on that corpus's validation set: the "
    "two largest budgets (2.2e19, 4.84e19) are held out, 2.2-4.8x beyond the fit. Short: 1.7 "
    "decades of fitted compute (2e17-1e19), 84-91 runs; the six corpora share model shapes and "
    "budgets, so their errors are not independent."
)


def corpus(path: str | PathLike | None = None) -> dict[str, Ladder]:
    """The calibration corpus: 12 ladders by name, each with its backtest protocol.

    Parameters
    ----------
    path : path, optional
        A folder holding the datasets' folders (``chinchilla-epoch/``, ``gemstones/``,
        ``datablations/``, ``olmo-ladder/``, ``loss-to-loss/``, ``llama3-isoflops/``,
        ``scalebench/``), bound
        into every ladder's ``load``. By default each loader's own resolution
        (``$BAYES_SCALING_DATA``, then a verified download). Nothing is read until ``load()``.

    Returns
    -------
    dict
        Name -> :class:`Ladder`, in the order: chinchilla-epoch, gemstones, datablations,
        olmo-ladder, loss-to-loss/<corpus> for the six corpora, llama3-isoflops, step-law.
    """
    out = [
        Ladder(
            "chinchilla-epoch",
            partial(datasets.chinchilla, path, drop_highest=5),
            "compute",
            1.6e20,
            (5e20, 4e21),
            "Epoch's 240-run fit set (the 5 highest-loss runs dropped). Digitized from a figure: "
            "N and C carry reading error, D is derived. The cut sits in the gap between 1.5e20 "
            "and 1.7e20; the held-out runs span 3.7-22x the largest fitted compute (the 1e21 and "
            "3e21 budgets); the two runs beyond 4e21 are left out.",
        ),
        Ladder(
            "gemstones",
            partial(datasets.gemstones, path),
            "compute",
            1.2e20,
            (3.3e20, 1.3e21),
            "cool_end: loss at the end of a cooldown branched off each model's constant-LR run, so "
            "the rows of one model share a training run, and about half of the held-out rows "
            "are later branches of models whose earlier branches are fitted (an extrapolation in "
            "D, not in N). Held-out runs are 3.1-12x the largest fitted compute.",
        ),
        Ladder(
            "datablations",
            partial(datasets.datablations, path),
            "compute",
            1e20,
            (3e20, 2e21),
            "The authors' 182-run fit set. Many runs repeat data (epochs > 1), so a plain "
            "Chinchilla law misses; use a data-constrained law. Held-out runs are 3.9-21x the "
            "largest fitted compute; 22 of the 182 are left out: 8 between 1e20 and 3e20 (the "
            "gap the cut sits in), 7 just above 2e21 and the 7 at 9.3e21 (107x).",
        ),
        Ladder(
            "olmo-ladder",
            partial(ladders.olmo_ladder, path),
            "n_params",
            7.6e8,
            (1e9, 3.2e9),
            _OLMO_CAVEAT,
        ),
        *(
            Ladder(
                f"loss-to-loss/{name}",
                partial(ladders.loss_to_loss, path, corpus=name),
                "compute",
                1e19,
                (2.2e19, 4.84e19),
                _L2L_CAVEAT,
            )
            for name in ladders.LOSS_TO_LOSS_CORPORA
        ),
        Ladder(
            "llama3-isoflops",
            partial(ladders.llama3_isoflops, path),
            "compute",
            1e20,
            (3e20, 1e22),
            "Digitized isoFLOP points (raw_loss: the figure's answer negative log-likelihood, "
            "not a pretraining loss); N is derived as C / (6D). Fit 6e18-1e20 (5 budgets), "
            "predict 3e20-1e22 (5 budgets, 3-100x): a far reach, sparser at the top (6 points "
            "at each of 3e21 and 1e22).",
        ),
        Ladder(
            "step-law",
            partial(ladders.step_law, path),
            "compute",
            2.6e19,
            (9e19, 6.5e20),
            "The Step Law sweep (Li et al. 2025) at the best learning rate and batch size of each "
            "(N, D): 42 tuned runs, 60M-1.07B x 2e9-1e11 tokens (N non-embedding). Fit up to "
            "2.6e19 (24 runs), predict 9e19-6.5e20 (11 runs, 3.5-25x); the 7 runs between are "
            "left out. A run's best loss over a grid of settings is biased low by the grid's "
            "noise, most where the grid is sparse.",
        ),
    ]
    return {ladder.name: ladder for ladder in out}


def direction_split(
    ladder: Ladder, runs: pd.DataFrame, direction: str
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The fitted and held-out runs of ``runs`` for one direction of extrapolation.

    ``"compute"`` is the ladder's own protocol (:func:`split`). ``"n_params"``: the runs with N at
    or below the cut are fitted, the larger ones whose tokens per parameter lie within the fitted
    runs' range are held out. ``"n_tokens"``: the same along D, holding out runs whose N lies
    within the fitted range. The cut is the smallest distinct value keeping at least
    :data:`FIT_SHARE` of the runs (and :data:`MIN_FIT`) fitted. Returns None when the direction
    leaves fewer than 3 held-out runs (or too few to fit).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {list(DIRECTIONS)}, got {direction!r}")
    if direction == "compute":
        return split(ladder, runs)
    axis = DIRECTIONS[direction]
    x = runs[axis].to_numpy(float)
    values = np.unique(x)
    need = max(MIN_FIT, int(np.ceil(FIT_SHARE * len(runs))))
    counts = np.searchsorted(np.sort(x), values, side="right")
    ok = np.flatnonzero(counts >= need)
    if not len(ok) or ok[0] == len(values) - 1:
        return None
    cut = values[ok[0]]
    fit = x <= cut * (1 + RTOL)
    other = "n_tokens" if axis == "n_params" else "n_params"
    if axis == "n_params":  # fixed tokens per parameter: within the fitted runs' range
        within = runs["n_tokens"].to_numpy(float) / x
    else:  # fixed N: within the fitted runs' N
        within = runs[other].to_numpy(float)
    lo, hi = within[fit].min() * (1 - RTOL), within[fit].max() * (1 + RTOL)
    held = ~fit & (within >= lo) & (within <= hi)
    if held.sum() < 3 or fit.sum() < MIN_FIT:
        return None
    return _subset(runs, fit), _subset(runs, held)


def multiple(fit: pd.DataFrame, held: pd.DataFrame, direction: str) -> np.ndarray:
    """How many times beyond the fitted runs each held-out run lies along ``direction``'s axis
    (its value over the largest fitted value; below 1 for a run inside along that axis)."""
    axis = DIRECTIONS[direction]
    return held[axis].to_numpy(float) / float(fit[axis].max())


def multiple_bin(values) -> np.ndarray:
    """The :data:`MULTIPLE_BINS` name of each multiple (runs within 1x count as ``"~3x"``)."""
    edges = np.array(list(MULTIPLE_BINS.values()))
    names = np.array(list(MULTIPLE_BINS))
    return names[np.searchsorted(edges, np.asarray(values, float), side="right")]


def corpus_table(path: str | PathLike | None = None) -> pd.DataFrame:
    """One row per ladder of :func:`corpus`: its size, its protocol and its reach.

    Loads every ladder (a few seconds). Columns: ``name, rows, fit_rows, held_out_rows, cut_on,
    cut`` (= ``fit_below``), ``predict_from, predict_to, max_fit_compute,
    max_held_out_compute, compute_ratio`` (the two maxima's ratio) and ``min_ratio`` (smallest
    held-out compute over the largest fitted: below 1 when the cut is on N).
    """
    rows = []
    for ladder in corpus(path).values():
        runs = ladder.load()
        fit, held = split(ladder, runs)
        top = float(fit["compute"].max())
        rows.append(
            {
                "name": ladder.name,
                "rows": len(runs),
                "fit_rows": len(fit),
                "held_out_rows": len(held),
                "cut_on": ladder.cut_on,
                "cut": ladder.fit_below,
                "predict_from": ladder.predict[0],
                "predict_to": ladder.predict[1],
                "max_fit_compute": top,
                "max_held_out_compute": float(held["compute"].max()),
                "compute_ratio": float(held["compute"].max()) / top,
                "min_ratio": float(held["compute"].min()) / top,
            }
        )
    return pd.DataFrame(rows)
