"""The OLMo model ladder (Bhagia et al. 2024, arXiv:2412.04403) and its paper's targets.

:func:`olmo_ladder` (the 25 ladder runs, or every checkpoint of them), :func:`olmo_targets` (OLMo
2 7B-4T and 13B-5T), :func:`olmo_paper_predictions` (the paper's own predictions for 13B-5T) and
:func:`olmo_params` (N as the paper counts it). The files are found, pinned and parsed in
:mod:`bayes_scaling.data.olmo_files`; :mod:`bayes_scaling.data.ladders` describes all the ladders
and how their files are found (``path=``, then ``$BAYES_SCALING_DATA``, then a verified download).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling.data.datasets import DatasetError
from bayes_scaling.data.olmo_files import (
    OLMO_LOSSES,
    OLMO_TARGETS,
    check_loss_col,
    olmo_config,
    olmo_file,
    olmo_metrics,
    olmo_tokens,
)
from bayes_scaling.data.read import read_table
from bayes_scaling.data.runs import load_runs
from bayes_scaling.data.source_tables import attach_columns, positive_column, require_columns
from bayes_scaling.errors import Problem, RunsError

__all__ = [
    "OLMO_EMBEDDING_ROWS",
    "OLMO_LOSSES",
    "olmo_ladder",
    "olmo_paper_predictions",
    "olmo_params",
    "olmo_targets",
]

#: Input-embedding rows of the ladder models (``embedding_size``, src/ladder/ladder.py).
OLMO_EMBEDDING_ROWS = 100352
#: File label -> (key in configs/final.json, d_model, n_layers), from src/ladder/ladder.py.
#: The 3B is not in final.json (the paper's ladder stops at 1.3B); its N comes from the formula.
_OLMO_SIZES = {
    "190M": ("190M", 768, 12),
    "370M": ("370M", 1024, 16),
    "760M": ("760M", 1536, 16),
    "1B": ("1.3B", 2048, 16),
    "3B": (None, 3328, 16),
}
_OLMO_MULTIPLES = ("0.5", "1", "2", "5", "10")


def olmo_params(d_model: int, n_layers: int) -> int:
    """N of an OLMo ladder model as the paper counts it: every weight but the input embedding.

    Per block: attention q, k, v, o (4 d²), a SwiGLU MLP of hidden size 4d (12 d²), four RMSNorm
    weight vectors (attention, MLP, query and key norms: 4d); then the final norm (d) and the
    untied output projection (100352·d). This reproduces configs/final.json's ``n`` exactly.

    Examples
    --------
    >>> olmo_params(768, 12)
    190354176
    """
    return n_layers * (16 * d_model**2 + 4 * d_model) + d_model + OLMO_EMBEDDING_ROWS * d_model


def olmo_ladder(
    path: str | PathLike | None = None,
    checkpoints: str = "final",
    *,
    loss_col: str = "val_c4_en",
    reruns: bool = False,
) -> pd.DataFrame:
    """The OLMo model ladder (Bhagia et al. 2024, arXiv:2412.04403): 190M-3B, 0.5-10 x Chinchilla.

    Parameters
    ----------
    path : path, optional
        A folder holding ``olmo-ladder/`` (or the ``olmo-ladder`` folder itself). By default
        ``$BAYES_SCALING_DATA``, then a verified download (see the module docstring).
    checkpoints : {"final", "all"}
        ``"final"``: one row per run, its last evaluated checkpoint (the end of training).
        ``"all"``: every evaluated checkpoint of every run (37-202 a run, 2,920 rows), with
        ``group`` = the run, so that the checkpoints of one run stay together.
    loss_col : str
        The column that becomes ``loss``. Default ``"val_c4_en"``: the cross-entropy (nats) on
        Paloma's C4 validation set, the language-modelling loss the paper fits as its
        alternative intermediate feature (its scripts' ``-y c4``). Any ``val_*`` set or a task
        ``bpb_*`` (bits per byte of the correct answer, the paper's main step-1 target) may be
        chosen instead; :data:`OLMO_LOSSES` lists them.
    reruns : bool
        Also return the five ``<size>-1xC-rerun`` runs (a second training run of each 1xC
        configuration; final C4 loss within 0.001 nats of the first). Off by default: the paper
        fits the original 1xC runs, and a rerun duplicates an (N, D) point. Rows have
        ``rerun=True``.

    Returns
    -------
    DataFrame
        Canonical columns (N = configs/final.json ``n``: all weights but the input embedding;
        D = ``throughput/total_tokens``; C = 6ND), then ``run`` (e.g. ``"760M-2xC"``), ``size``,
        ``multiple`` (tokens per 20 N), ``rerun``, ``in_paper`` (listed in final.json),
        ``step``, ``final``, ``d_model``, ``n_layers``, ``n_params_total`` (N + input embedding),
        ``n_params_nonembedding`` (N - output projection), ``training_flops`` (the log's FLOPs,
        attention included), ``lr``, ``lr_peak``, ``batch_tokens``, and the metrics:
        ``val_<set>`` (11 validation cross-entropies), ``bpb_<task>_<split>`` and
        ``acc_<task>_<split>`` (20 tasks, plus ``*_mmlu_avg_{val,test}`` with the paper's subject
        weights).

    Examples
    --------
    >>> runs = olmo_ladder()  # doctest: +SKIP
    >>> len(runs), runs["run"].is_unique  # doctest: +SKIP
    (25, True)
    """
    if checkpoints not in ("final", "all"):
        raise DatasetError(f"unknown checkpoints {checkpoints!r}; choose 'final' or 'all'")
    check_loss_col(loss_col)
    config = olmo_config(path)
    frames = []
    for size, (key, d_model, n_layers) in _OLMO_SIZES.items():
        n = int(config[key]["n"]) if key else olmo_params(d_model, n_layers)
        listed = {Path(p).name for p in config[key]["paths"]} if key else set()
        for multiple in _OLMO_MULTIPLES:
            for rerun in (False, True) if reruns and multiple == "1" else (False,):
                run = f"{size}-{multiple}xC" + ("-rerun" if rerun else "")
                part = _olmo_run(run, path, loss_col, last_only=checkpoints == "final")
                part.insert(1, "n_params", float(n))
                part = part.assign(
                    run=run,
                    size=size,
                    multiple=float(multiple),
                    rerun=rerun,
                    in_paper=f"{run}.csv" in listed,
                    d_model=d_model,
                    n_layers=n_layers,
                    n_params_total=n + OLMO_EMBEDDING_ROWS * d_model,
                    n_params_nonembedding=n - OLMO_EMBEDDING_ROWS * d_model,
                )
                if checkpoints == "all":
                    part["run_id"] = [f"{run}@{s}" for s in part["step"]]
                    part["group"] = run
                frames.append(part)
    table = pd.concat(frames, ignore_index=True)
    canonical = ["run_id", "n_params", "n_tokens", "loss"] + (["group"] * (checkpoints == "all"))
    first = ["run", "size", "multiple", "rerun", "in_paper", "step", "final", "d_model"]
    first += ["n_layers", "n_params_total", "n_params_nonembedding", "training_flops", "lr"]
    first += ["lr_peak", "batch_tokens"]
    extra = table[first + [c for c in table.columns if c not in first + canonical]]
    return attach_columns(load_runs(table[canonical]), extra)


def _olmo_run(run: str, path, loss_col: str, *, last_only: bool) -> pd.DataFrame:
    """The checkpoints of one ladder run (or its last), with run_id, D, loss and the metrics."""
    file = olmo_file(f"ladder-runs/{run}.csv", path)
    raw = read_table(file)
    needed = ["_step", "throughput/total_tokens", "throughput/total_training_Gflops"]
    needed += ["optim/learning_rate_group0", "learning_rate_peak", "batch_size_in_tokens"]
    require_columns(raw, needed, file, "an OLMo ladder run log")
    steps = positive_column(raw, "_step", file)
    if last_only:
        raw, steps = raw.iloc[[int(np.argmax(steps))]], steps[[int(np.argmax(steps))]]
    raw = raw.reset_index(drop=True)
    metrics = olmo_metrics(raw)
    if loss_col not in metrics:
        raise RunsError(
            Problem(
                None,
                loss_col,
                f"{file.name!r} has no column for {loss_col!r}; pass the original file, or "
                "choose another loss_col",
            )
        )

    def number(col: str) -> np.ndarray:
        return pd.to_numeric(raw[col], errors="coerce").to_numpy(dtype=float)

    head = pd.DataFrame(
        {
            "run_id": run,
            "n_tokens": olmo_tokens(raw, file),
            "loss": metrics[loss_col],
            "step": steps.astype(np.int64),
            "final": steps == steps.max(),
            "training_flops": number("throughput/total_training_Gflops") * 1e9,
            "lr": number("optim/learning_rate_group0"),
            "lr_peak": number("learning_rate_peak"),
            "batch_tokens": number("batch_size_in_tokens"),
        }
    )
    return pd.concat([head, metrics], axis=1)


def olmo_targets(
    path: str | PathLike | None = None, *, loss_col: str = "val_c4_en", average_last: int = 1
) -> pd.DataFrame:
    """The two targets of the OLMo ladder paper: OLMo 2 7B on 4T tokens and 13B on 5T tokens.

    Parameters
    ----------
    path : path, optional
        As for :func:`olmo_ladder`.
    loss_col : str
        As for :func:`olmo_ladder`.
    average_last : int
        Average the metrics over this many last evaluated checkpoints. 1 (default): the final
        checkpoint. 5 reproduces the paper's "actual" values for the 13B (its ``--moving_avg
        5``); the 7B file has a single (annealed) checkpoint, so it is unchanged.

    Returns
    -------
    DataFrame
        Two rows, ``run_id`` = ``"7B-4T"`` / ``"13B-5T"``: N from configs/final.json (same
        definition as the ladder), D from the log (``throughput/total_tokens``, or the last
        step x ``batch_size_in_tokens``), C = 6ND, ``training_flops`` (final.json's FLOPs per
        token x D), the metrics as in :func:`olmo_ladder` (plus multiple-choice accuracies
        ``acc_<task>_mc``), ``checkpoints_averaged`` and ``file``.
    """
    check_loss_col(loss_col)
    if isinstance(average_last, bool) or not isinstance(average_last, int) or average_last < 1:
        raise DatasetError(f"average_last must be a positive integer, got {average_last!r}")
    config = olmo_config(path)
    rows = []
    for target, name in OLMO_TARGETS.items():
        file = olmo_file(name, path)
        raw = read_table(file)
        if "_step" in raw.columns:
            raw = raw.iloc[np.argsort(positive_column(raw, "_step", file), kind="stable")]
        raw = raw.reset_index(drop=True)
        tokens = olmo_tokens(raw, file)
        tail = olmo_metrics(raw).iloc[-average_last:]
        if loss_col not in tail:
            raise RunsError(Problem(None, loss_col, f"{file.name!r} has no column for it"))
        n = int(config[target]["n"])
        rows.append(
            {
                "run_id": target,
                "n_params": float(n),
                "n_tokens": tokens[-1],
                "loss": tail[loss_col].mean(),
                "training_flops": float(config[target]["flops"]) * tokens[-1],
                "checkpoints_averaged": len(tail),
                "file": Path(name).name,
                **tail.mean().to_dict(),
            }
        )
    table = pd.DataFrame(rows)
    canonical = ["run_id", "n_params", "n_tokens", "loss"]
    return attach_columns(load_runs(table[canonical]), table.drop(columns=canonical))


_OLMO_PREDICTIONS = {  # method: (file, what is predicted)
    "chained": ("figures/chained_main.csv", "accuracy"),
    "chained_flops": ("figures/chained_flops_main.csv", "accuracy"),
    "step1": ("figures/step1_main.csv", "bpb"),
    "step2": ("figures/step2_main.csv", "accuracy"),
}


def olmo_paper_predictions(path: str | PathLike | None = None) -> pd.DataFrame:
    """The OLMo ladder paper's own predictions for its 13B-5T target, as a tidy table.

    Methods: ``chained`` (the paper's two-step prediction: (N, D) -> task bpb -> accuracy),
    ``chained_flops`` (the same from training FLOPs), ``step1`` ((N, D) -> task bpb alone),
    ``step2`` (task bpb -> accuracy, from the target's actual bpb). 8 tasks each, 32 rows.

    Returns
    -------
    DataFrame
        ``method, task, target, metric`` (``"accuracy"`` or ``"bpb"``), ``predicted``,
        ``actual``, ``relative_error`` = (predicted - actual) / actual (signed, recomputed),
        ``reported_error`` (the file's "Rel Error": its absolute value for the chained files,
        signed for the steps) and ``fit_error`` (step 1's error on the ladder itself, else NaN).
        ``actual`` is the mean of the target's last 5 checkpoints, as in the paper.
    """
    frames = []
    for method, (name, metric) in _OLMO_PREDICTIONS.items():
        file = olmo_file(name, path)
        raw = read_table(file)
        require_columns(raw, ["Task", "Actual", "Pred", "Rel Error"], file, "a prediction table")
        actual, predicted = positive_column(raw, "Actual", file), positive_column(raw, "Pred", file)
        frames.append(
            pd.DataFrame(
                {
                    "method": method,
                    "task": raw["Task"].astype(str).str.removesuffix("_5shot"),
                    "target": "13B-5T",
                    "metric": metric,
                    "predicted": predicted,
                    "actual": actual,
                    "relative_error": (predicted - actual) / actual,
                    "reported_error": pd.to_numeric(raw["Rel Error"], errors="coerce"),
                    "fit_error": pd.to_numeric(raw.get("Fit Error"), errors="coerce")
                    if "Fit Error" in raw
                    else np.nan,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
