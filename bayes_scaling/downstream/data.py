"""Downstream tables: a task's answer loss and accuracy per run, for the two-step model.

A downstream runs table has one row per model: the canonical size columns (``n_params``,
``n_tokens``, ``compute``), an intermediate loss (the ``via`` column: a task's answer loss in
bits per byte, or a validation loss) and a ``metric`` column (an accuracy in [0, 1], or an error).

- :func:`olmo_downstream` / :func:`olmo_downstream_targets`: the OLMo ladder (Bhagia et al. 2024)
  at the final checkpoint of each run (or every checkpoint), and its two targets 7B-4T and
  13B-5T (N from ``configs/final.json``), with ``bpb_<task>`` and ``acc_<task>`` columns;
  :data:`OLMO_TASKS` names the paper's tasks with their chance accuracies;
- :func:`checkpoint_noise`: the checkpoint-to-checkpoint spread of a metric near the end of
  training (the paper's variance analysis), which informs step 2's observation noise;
- :func:`olmo_paper_variance`: the paper's own variance table (``figures/variance.csv``);
- :func:`loss_to_loss_downstream`: the downstream columns of the loss-to-loss sweep
  (``answer_loss_<task>``, ``acc_<task>``), and :func:`downstream_tasks` lists a table's tasks;
- :func:`check_downstream_runs`: the checks of section 6 (every problem named by row and column).

Files are found as for the other public tables (``path=``, ``$BAYES_SCALING_DATA``, a verified
download); see :mod:`bayes_scaling.data.ladders`.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike

import numpy as np
import pandas as pd

from bayes_scaling.data.datasets import Source, download_file, locate
from bayes_scaling.data.ladders import loss_to_loss, olmo_ladder, olmo_targets
from bayes_scaling.data.olmo_files import OLMO_REPO, olmo_file
from bayes_scaling.data.read import read_table
from bayes_scaling.errors import Problem, RunsError

__all__ = [
    "OLMO_TASKS",
    "OlmoTask",
    "check_downstream_runs",
    "checkpoint_noise",
    "downstream_tasks",
    "loss_to_loss_downstream",
    "olmo_downstream",
    "olmo_downstream_targets",
    "olmo_paper_variance",
]


@dataclass(frozen=True)
class OlmoTask:
    """One task of the OLMo ladder paper: its columns, chance accuracy and names."""

    task: str  # e.g. "arc_challenge_test": the suffix of bpb_<task> and acc_<task>
    name: str  # display name, as in the paper's variance table
    chance: float  # accuracy of a uniform guess among the answer options

    @property
    def via(self) -> str:
        return f"bpb_{self.task}"

    @property
    def metric(self) -> str:
        return f"acc_{self.task}"


#: The tasks of the OLMo ladder paper (its Table 2 / chained_main.csv first, then the two it
#: calls noisy). Chance: 4 options for MMLU, HellaSwag, ARC and OpenBookQA, 5 for CommonsenseQA,
#: 3 for Social IQa, 2 for PIQA, Winogrande and BoolQ.
OLMO_TASKS = {
    t.task: t
    for t in (
        OlmoTask("mmlu_avg_test", "MMLU", 0.25),
        OlmoTask("hellaswag_val", "HellaSwag", 0.25),
        OlmoTask("arc_challenge_test", "ARC-Challenge", 0.25),
        OlmoTask("arc_easy_test", "ARC-Easy", 0.25),
        OlmoTask("piqa_val", "PIQA", 0.5),
        OlmoTask("csqa_val", "CommonsenseQA", 0.2),
        OlmoTask("socialiqa_val", "Social IQa", 1 / 3),
        OlmoTask("openbookqa_test", "OpenBookQA", 0.25),
        OlmoTask("winogrande_val", "Winogrande", 0.5),
        OlmoTask("boolq_val", "BoolQ", 0.5),
    )
}


def olmo_downstream(
    path: str | PathLike | None = None,
    *,
    checkpoints: str = "final",
    runs: str = "paper",
) -> pd.DataFrame:
    """The OLMo ladder as a downstream table: sizes, task bits-per-byte and task accuracies.

    Parameters
    ----------
    path : path, optional
        A folder holding ``olmo-ladder/`` (see :func:`bayes_scaling.data.ladders.olmo_ladder`).
    checkpoints : {"final", "all"}
        One row per run at its last checkpoint, or every evaluated checkpoint (``group`` = run).
    runs : {"paper", "all"}
        ``"paper"``: the 16 runs the paper fits (190M-1.3B at 1, 2, 5 and 10 x Chinchilla, the
        runs listed in ``configs/final.json``); ``"all"``: the 25 runs (0.5x and the 3B too).

    Returns
    -------
    DataFrame
        The columns of :func:`~bayes_scaling.data.ladders.olmo_ladder`: canonical ``run_id,
        n_params, n_tokens, compute, loss`` (C4 loss), then ``run, size, multiple, in_paper,
        step, final, ...``, ``bpb_<task>`` (bits per byte of the correct answer, 5-shot) and
        ``acc_<task>`` (accuracy, length-normalised where the paper uses it) for the tasks of
        :data:`OLMO_TASKS` and their MMLU subjects.
    """
    if runs not in ("paper", "all"):
        raise RunsError(Problem(None, "runs", f"unknown runs {runs!r}; choose 'paper' or 'all'"))
    table = olmo_ladder(path, checkpoints)
    if runs == "paper":
        table = table[table["in_paper"].to_numpy(bool)].reset_index(drop=True)
    return table


def olmo_downstream_targets(
    path: str | PathLike | None = None, *, average_last: int = 5
) -> pd.DataFrame:
    """The paper's targets, OLMo 2 7B-4T and 13B-5T, with the same columns as the ladder.

    N is ``configs/final.json``'s ``n`` (the ladder's definition); the metrics are the mean of
    the last ``average_last`` evaluated checkpoints (5, as the paper's "actual" values; the 7B
    file has one annealed checkpoint). See :func:`bayes_scaling.data.ladders.olmo_targets`.
    """
    return olmo_targets(path, average_last=average_last)


def checkpoint_noise(
    checkpoints: pd.DataFrame,
    metric: str,
    *,
    run_col: str = "group",
    step_col: str = "step",
    last: int = 10,
) -> float:
    """Checkpoint-to-checkpoint spread of ``metric`` near the end of training.

    For each run, the last ``last`` evaluated checkpoints are detrended by a straight line in the
    step (the metric still rises slowly) and the residual sd (ddof 2) is taken; the runs' sds are
    pooled as a root mean square::

        s = sqrt( mean_r  sum_i e_ri^2 / (n_r - 2) )

    This is the evaluation noise of one checkpoint's metric, the floor of step 2's observation
    noise (Bhagia et al. 2024, Section 5: variance analysis).

    Parameters
    ----------
    checkpoints : DataFrame
        Every checkpoint of the runs (e.g. ``olmo_downstream(checkpoints="all")``).
    metric : str
        The column (an accuracy or a loss).
    run_col, step_col : str
        Columns naming each checkpoint's run and its training step.
    last : int
        Checkpoints per run (at least 4).

    Returns
    -------
    float
        The pooled sd; NaN when no run has ``last`` checkpoints with the metric.
    """
    for col in (metric, run_col, step_col):
        if col not in checkpoints:
            raise RunsError(Problem(None, col, "no such column in the checkpoints table"))
    if last < 4:
        raise RunsError(Problem(None, "last", f"last must be at least 4, got {last}"))
    variances = []
    for _, part in checkpoints.groupby(run_col, sort=False):
        part = part.sort_values(step_col).tail(last)
        y = pd.to_numeric(part[metric], errors="coerce").to_numpy(float)
        x = part[step_col].to_numpy(float)
        ok = np.isfinite(y) & np.isfinite(x)
        if ok.sum() < last:
            continue
        x, y = x[ok], y[ok]
        design = np.column_stack([np.ones_like(x), (x - x.mean()) / max(x.std(), 1e-12)])
        resid = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
        variances.append(float(resid @ resid) / (len(y) - 2))
    return float(np.sqrt(np.mean(variances))) if variances else float("nan")


#: The paper's variance table, pinned like the other OLMo ladder files (SHA-256 of the reference
#: copy in ../shared/data, a verbatim copy at the pinned commit).
_VARIANCE = Source(
    "olmo-ladder",
    "figures/variance.csv",
    *OLMO_REPO,
    "src/scripts/paper/figures/variance.csv",
    "03c0ac988fb7045b4fa4248c25960431b54df9d2332b99e76fecbc2ad8cd7347",
)


def olmo_paper_variance(path: str | PathLike | None = None) -> pd.DataFrame:
    """The OLMo ladder paper's variance table (``figures/variance.csv``), with clean names.

    Columns: ``name`` (e.g. ``"ARC-Challenge"``), ``task`` (our key, e.g.
    ``"arc_challenge_test"``), ``loss_sd``, ``loss_cv``, ``accuracy_sd``, ``accuracy_cv``,
    ``rel_error_7b_loss``, ``rel_error_7b_accuracy``, ``rel_error_7b_stacked`` (the paper's
    signed relative errors of its 7B-4T predictions: step 1, step 2, and chained).
    """
    olmo_file("configs/final.json", path)  # the same checks of path as every OLMo file
    raw = read_table(locate(_VARIANCE, path, download_file))
    names = {t.name: t.task for t in OLMO_TASKS.values()}
    out = pd.DataFrame(
        {
            "name": raw["Task"].astype(str),
            "task": raw["Task"].astype(str).map(names),
            "loss_sd": raw["Loss SD"],
            "loss_cv": raw["Loss Rel SD (CV)"],
            "accuracy_sd": raw["Accuracy SD"],
            "accuracy_cv": raw["Accuracy Rel SD (CV)"],
            "rel_error_7b_loss": raw["7B Loss Rel Error"],
            "rel_error_7b_accuracy": raw["7B Accuracy Rel Error"],
            "rel_error_7b_stacked": raw["7B Stacked Rel Error"],
        }
    )
    return out


def loss_to_loss_downstream(
    path: str | PathLike | None = None, corpus: str | None = None
) -> pd.DataFrame:
    """The downstream columns of the loss-to-loss sweep (Brandfonbrener et al. 2024).

    The table of :func:`bayes_scaling.data.ladders.loss_to_loss` (one row per run, ``group`` =
    training corpus): ``answer_loss_<task>`` is the cross-entropy (nats) of the correct answer and
    ``acc_<task>`` the accuracy, for the tasks :func:`downstream_tasks` lists (ARC, BoolQ,
    HellaSwag, MMLU subjects, OpenBookQA, PIQA, SciQ, Winogrande, three Imbue code and maths
    sets). Use ``via="answer_loss_<task>"`` and ``metric="acc_<task>"``.
    """
    return loss_to_loss(path, corpus)


def downstream_tasks(table: pd.DataFrame, via_prefix: str | None = None) -> list[str]:
    """Tasks with both an intermediate-loss column and an accuracy column, in table order.

    The intermediate loss is ``bpb_<task>`` (OLMo ladder) or ``answer_loss_<task>``
    (loss-to-loss); ``via_prefix`` picks one explicitly.
    """
    prefixes = (via_prefix,) if via_prefix else ("bpb_", "answer_loss_")
    out = []
    for col in table.columns:
        if col.startswith("acc_"):
            task = col.removeprefix("acc_")
            if any(f"{p}{task}" in table for p in prefixes):
                out.append(task)
    return out


def check_downstream_runs(
    runs: pd.DataFrame,
    metric: str,
    via: str,
    *,
    lower: float = 0.0,
    upper: float = 1.0,
    n_params: int = 0,
) -> None:
    """The checks of a downstream runs table, every problem named by its row and column.

    - the ``metric`` and ``via`` columns exist;
    - ``via`` is a positive finite number in every run (a run without it cannot inform step 1);
    - ``metric`` is a number in [``lower``, ``upper``] in every run (an accuracy in [0, 1]);
    - ``metric`` is not constant (a link cannot be learned from one value);
    - at least ``n_params`` + 1 runs (more runs than the parameters of either step).

    Raises
    ------
    RunsError
        Listing every problem found.
    """
    problems = []
    for col, what in ((metric, "metric"), (via, "via")):
        if col not in runs:
            near = [c for c in runs.columns if col.split("_")[-1] in str(c)][:5]
            hint = f" (columns like it: {near})" if near else ""
            problems.append(Problem(None, col, f"no {what} column {col!r} in the runs{hint}"))
    if problems:
        raise RunsError(problems)
    ids = runs["run_id"].astype(str).to_numpy() if "run_id" in runs else None

    def row(i):
        return f"{i} ({ids[i]})" if ids is not None else i

    x = pd.to_numeric(runs[via], errors="coerce").to_numpy(float)
    for i in np.flatnonzero(~(np.isfinite(x) & (x > 0))):
        problems.append(
            Problem(
                row(i),
                via,
                f"the --via loss is {'missing' if np.isnan(x[i]) else x[i]!r}; every run needs a "
                "positive intermediate loss: fill it in or drop the run",
            )
        )
    y = pd.to_numeric(runs[metric], errors="coerce").to_numpy(float)
    for i in np.flatnonzero(~np.isfinite(y)):
        problems.append(Problem(row(i), metric, "the metric is missing or not a number"))
    for i in np.flatnonzero(np.isfinite(y) & ((y < lower) | (y > upper))):
        problems.append(
            Problem(
                row(i),
                metric,
                f"{y[i]:g} is outside [{lower:g}, {upper:g}]; an accuracy is a fraction (divide "
                "percentages by 100)",
            )
        )
    finite = y[np.isfinite(y)]
    if len(finite) > 1 and np.ptp(finite) == 0:
        problems.append(
            Problem(
                None,
                metric,
                f"the metric is constant ({finite[0]:g} in every run); no link can be learned "
                "from it: choose another metric or more varied runs",
            )
        )
    if len(runs) <= n_params:
        problems.append(
            Problem(
                None,
                None,
                f"{len(runs)} runs for {n_params} parameters: a step needs more runs than "
                "parameters; add runs or choose a law and link with fewer parameters",
            )
        )
    if problems:
        raise RunsError(problems)
