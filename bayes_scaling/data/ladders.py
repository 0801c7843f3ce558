"""Public model ladders for the calibration corpus (:mod:`bayes_scaling.data.corpus`).

The loss-to-loss and Llama 3 loaders are here; the OLMo loaders are in
:mod:`bayes_scaling.data.olmo` and re-exported here.

==================== ====================================================== ======= ===========
loader               one row is                                             rows    licence
==================== ====================================================== ======= ===========
``olmo_ladder``      a run of the OLMo ladder (Bhagia et al. 2024): 5 sizes 25      Apache-2.0
                     (190M-3B) x 5 token multiples (0.5-10 x 20 tokens per  (2,920)
                     parameter), at its final checkpoint; ``checkpoints=
                     "all"``: every evaluated checkpoint of every run.
``olmo_targets``     a target model of that paper: OLMo 2 7B (4T tokens)    2       Apache-2.0
                     and 13B (5T tokens), at the end of training.
``olmo_paper_        one of the paper's own predictions for the 13B-5T      32      Apache-2.0
predictions``        target: task, method, predicted, actual, error.
``loss_to_loss``     a run of Brandfonbrener et al. (2024), "Loss-to-Loss   529     none stated
                     Prediction": 6 training corpora, each its own isoFLOP
                     ladder (2e17-4.84e19 FLOPs) scored on its own
                     validation loss.
``llama3_isoflops``  a point of the Llama 3 isoFLOP figure (6e18-1e22       133     none stated
                     FLOPs), digitized; one of two loss conditions.
``step_law``         the best learning rate and batch size of one (N, D)    42      MIT /
                     of the Step Law sweep (Li et al. 2025) as split by     (2,819) CC-BY-4.0
                     ScaleBench: a tuned L(N, D) ladder, 60M-1.07B x
                     2e9-1e11 tokens; ``tuned=False``: every run.
==================== ====================================================== ======= ===========

Files are found as in :mod:`bayes_scaling.data.datasets`, with its own helpers: ``path=`` (the
file, or a folder holding ``<dataset>/<file>``; for the OLMo ladder, which is a folder of files,
a folder holding ``olmo-ladder/`` or the ``olmo-ladder`` folder itself), then the folder named by
``$BAYES_SCALING_DATA``, then a download at a pinned commit checked against a pinned SHA-256. The
pins are the SHA-256 of the reference copies in ``../shared/data``, which their ``SOURCE.txt``
describe as verbatim copies of the files at those commits.

Every loader that returns runs goes through :func:`~bayes_scaling.data.runs.load_runs`: canonical
columns (``run_id, n_params, n_tokens, compute, loss``, and ``group`` where stated) come first,
checked as for any runs table (a :class:`~bayes_scaling.errors.RunsError` lists every bad cell),
followed by extra columns with clean names. A file that cannot be found raises
:class:`~bayes_scaling.data.datasets.DatasetError`, as does an unknown option value.
See ``data/README.md`` for the sources, the choices and the caveats.
"""

from __future__ import annotations

import re
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling._constants import FLOPS_PER_PARAM_TOKEN
from bayes_scaling.data.datasets import DatasetError, Source, download_file, locate
from bayes_scaling.data.olmo import (
    OLMO_EMBEDDING_ROWS,
    OLMO_LOSSES,
    olmo_ladder,
    olmo_paper_predictions,
    olmo_params,
    olmo_targets,
)
from bayes_scaling.data.read import read_table
from bayes_scaling.data.runs import load_runs
from bayes_scaling.data.source_tables import attach_columns, positive_column, require_columns
from bayes_scaling.errors import Problem, RunsError

__all__ = [
    "LLAMA3_CONDITIONS",
    "LOSS_TO_LOSS_CORPORA",
    "OLMO_EMBEDDING_ROWS",
    "OLMO_LOSSES",
    "llama3_isoflops",
    "loss_to_loss",
    "step_law",
    "olmo_ladder",
    "olmo_paper_predictions",
    "olmo_params",
    "olmo_targets",
]

# --- sources -----------------------------------------------------------------------------------

_LOSS_TO_LOSS = Source(
    "loss-to-loss",
    "sweep.csv",
    "KempnerInstitute/loss-to-loss-notebooks",
    "457ce81a019019bc3981937c20a70c52f5fad436",
    "data/sweep.csv",
    "1a9fd71e3bd6ecf35bdd32b660a9b42dbb3b8635630b1a358633fa18d61fb13c",
)
_LLAMA3 = Source(
    "llama3-isoflops",
    "isoflops.csv",
    "Open-Athena/scaling-law-analysis",
    "3e0656ee3dce1a2c89aa67691920f5eb9d30f0fc",
    "data/isoflops/extract/llama_3/isoflops.csv",
    "9450f8829778ce8bfb51cc9b18ef121ef18f0c81758cd8fbe74d9dcf0545a692",
)

_STEP_LAW = {
    part: Source(
        "scalebench",
        f"lr_bsz_scaling_law_{part}.parquet",
        "PlanarG/active-sl",
        "e0a58ffde4f6fdfb20880d47d6d180fdbcb1440d",
        f"benchmark/dataset/lr_bsz_scaling_law/lr_bsz_scaling_law_{part}.parquet",
        digest,
    )
    for part, digest in (
        ("train", "3e8bf513e7c7da2b82e3d324c19643256e3f5cc5770aa4d0dcbc0aa3c38768e5"),
        ("test", "ed6c33d124562015805d3715f9f01a58e5d27befcd63d30be23a94eedc9caa68"),
    )
}


# --- loss-to-loss ------------------------------------------------------------------------------

#: The six training corpora of the loss-to-loss sweep -> the stem of their validation set.
_CORPUS_VAL = {
    "fineweb-100b": "fineweb_100b",
    "fineweb-edu-100b": "fineweb_edu_100b",
    "proof-pile-2": "proof_pile_2",
    "slimpajama-chunk1": "slimpajama",
    "smollm-corpus": "smollm",
    "starcoder": "starcoder",
}
LOSS_TO_LOSS_CORPORA = tuple(_CORPUS_VAL)
_L2L_RENAME = {
    "params": "n_params",
    "tokens": "n_tokens",
    "iso_flop": "compute",
    "data": "corpus",
    "id": "wandb_id",
    "n_layers": "n_layers",
    "d_model": "d_model",
    "steps": "steps",
    "data_ratio": "tokens_per_param",
    "train/CrossEntropyLoss": "train_loss",
    "olmo_suite_acc": "olmo_suite_acc",
    "olmo_suite_ce_loss": "olmo_suite_answer_loss",
    "mmlu_suite_acc": "mmlu_suite_acc",
    "mmlu_suite_ce_loss": "mmlu_suite_answer_loss",
}


def _l2l_name(col: str) -> str | None:
    """The clean name of a loss-to-loss metric column, or None to leave it out."""
    match = re.fullmatch(r"eval/(.+)_val/CrossEntropyLoss", col)
    if match:
        return f"val_{match.group(1).lower()}"
    for pattern, prefix in (
        (r"eval/downstream_ce_loss/(.+)_ce_loss", "answer_loss_"),
        (r"eval/downstream/(.+)_ctx_ce_loss", "ctx_loss_"),
        (r"eval/downstream/(.+)_(?:len_norm|acc)", "acc_"),
    ):
        match = re.fullmatch(pattern, col)
        if match:
            return prefix + re.sub(r"_test$", "", match.group(1))
    return _L2L_RENAME.get(col)


def loss_to_loss(path: str | PathLike | None = None, corpus: str | None = None) -> pd.DataFrame:
    """The loss-to-loss sweep (Brandfonbrener et al. 2024, arXiv:2411.12925): six ladders.

    529 finished OLMo-architecture runs (20M-1.74B parameters, 8 isoFLOP budgets from 2e17 to
    4.84e19 FLOPs) trained on one of six corpora, :data:`LOSS_TO_LOSS_CORPORA`:
    ``fineweb-100b``, ``fineweb-edu-100b``, ``proof-pile-2``, ``slimpajama-chunk1``,
    ``smollm-corpus``, ``starcoder``. Each corpus is its own ladder: ``loss`` is a run's
    cross-entropy on *its own* corpus's validation set (the source's ``val_loss``).

    Parameters
    ----------
    path : path, optional
        ``sweep.csv``, or a folder holding ``loss-to-loss/sweep.csv``. By default
        ``$BAYES_SCALING_DATA``, then a verified download.
    corpus : str, optional
        One training corpus (one ladder, 84-91 runs). ``None``: all 529 runs.

    Returns
    -------
    DataFrame
        Canonical columns with ``group`` = ``corpus`` (N = ``params``, D = ``tokens``, C = the
        run's isoFLOP budget, equal to 6ND), then ``corpus``, ``n_layers``, ``d_model``,
        ``steps``, ``tokens_per_param``, ``wandb_id``, ``val_<set>`` (cross-entropy on 8
        validation sets: c4, fineweb_100b, fineweb_1t, fineweb_edu_100b, proof_pile_2,
        slimpajama, smollm, starcoder), ``train_loss``, downstream ``acc_<task>``,
        ``answer_loss_<task>`` (cross-entropy of the correct answer; the source's
        ``downstream_ce_loss``), ``ctx_loss_<task>`` (the source's ``ctx_ce_loss``, undocumented
        there), and the source's suite averages ``{olmo,mmlu}_suite_{acc,answer_loss}``.
    """
    if corpus is not None and corpus not in _CORPUS_VAL:
        raise DatasetError(
            f"unknown corpus {corpus!r}; choose one of {list(LOSS_TO_LOSS_CORPORA)}, or None "
            "for all six"
        )
    file = locate(_LOSS_TO_LOSS, path, download_file)
    raw = read_table(file)
    own = [f"eval/{v}_val/CrossEntropyLoss" for v in _CORPUS_VAL.values()]
    require_columns(raw, ["name", "params", "tokens", "iso_flop", "data", *own], file, "sweep.csv")
    unknown = ~raw["data"].isin(list(_CORPUS_VAL))
    if unknown.any():
        raise RunsError(
            [
                Problem(int(i), "data", f"unknown training corpus {raw['data'].iloc[i]!r}")
                for i in np.flatnonzero(unknown)[:10]
            ]
        )
    if corpus is not None:
        raw = raw[raw["data"] == corpus].reset_index(drop=True)
    loss = [
        raw[f"eval/{_CORPUS_VAL[c]}_val/CrossEntropyLoss"].iloc[i]
        for i, c in enumerate(raw["data"])
    ]
    runs = load_runs(
        pd.DataFrame(
            {
                "run_id": raw["name"],
                "n_params": raw["params"],
                "n_tokens": raw["tokens"],
                "compute": raw["iso_flop"],
                "loss": loss,
                "group": raw["data"],
            }
        )
    )
    names = {c: _l2l_name(str(c)) for c in raw.columns}
    extra = raw[[c for c, n in names.items() if n]].rename(columns=names)
    order = ("corpus", "n_layers", "d_model", "steps", "tokens_per_param", "wandb_id", "val_")
    order += ("train_loss", "acc_", "answer_loss_", "ctx_loss_", "olmo_suite", "mmlu_suite")
    rank = {
        c: next(i for i, p in enumerate(order) if c.startswith(p))
        for c in extra.columns
        if c not in ("n_params", "n_tokens", "compute")
    }
    return attach_columns(runs, extra[sorted(rank, key=lambda c: (rank[c], c))])


# --- Llama 3 isoFLOPs --------------------------------------------------------------------------

LLAMA3_CONDITIONS = ("raw_loss", "exp_loss")


def llama3_isoflops(
    path: str | PathLike | None = None, condition: str = "raw_loss"
) -> pd.DataFrame:
    """The Llama 3 isoFLOP curves (Llama Team 2024, Figure 2), digitized by Open-Athena.

    133 points on 10 budgets from 6e18 to 1e22 FLOPs. D is read off the figure; N is derived
    as C / (6D) (the file's ``params`` column is exactly that).

    Parameters
    ----------
    path : path, optional
        ``isoflops.csv``, or a folder holding ``llama3-isoflops/isoflops.csv``. By default
        ``$BAYES_SCALING_DATA``, then a verified download.
    condition : {"raw_loss", "exp_loss"}
        ``"raw_loss"`` (default): the figure's y axis, a negative log-likelihood in nats
        (0.69-0.93). ``"exp_loss"``: the digitizers' exp(raw_loss) (2.0-2.5), not a loss in nats.

    Returns
    -------
    DataFrame
        Canonical columns (``run_id`` = ``"<budget>-<k>"``), then ``budget`` and ``condition``.
    """
    if condition not in LLAMA3_CONDITIONS:
        raise DatasetError(
            f"unknown condition {condition!r}; choose one of {list(LLAMA3_CONDITIONS)}"
        )
    file = locate(_LLAMA3, path, download_file)
    raw = read_table(file)
    require_columns(raw, ["condition", "tokens", "budget", "loss"], file, "isoflops.csv")
    raw = raw[raw["condition"] == condition].reset_index(drop=True)
    if raw.empty:
        raise RunsError(
            Problem(None, "condition", f"{file.name!r} has no rows of condition {condition!r}")
        )
    tokens, budget = positive_column(raw, "tokens", file), positive_column(raw, "budget", file)
    rank = raw.groupby(budget).cumcount().to_numpy()
    runs = load_runs(
        pd.DataFrame(
            {
                "run_id": [f"{b:.0e}-{k:02d}" for b, k in zip(budget, rank, strict=True)],
                "n_params": budget / (FLOPS_PER_PARAM_TOKEN * tokens),
                "n_tokens": tokens,
                "compute": budget,
                "loss": raw["loss"],
            }
        )
    )
    return attach_columns(runs, pd.DataFrame({"budget": budget, "condition": condition}))


def step_law(path: str | PathLike | None = None, tuned: bool = True) -> pd.DataFrame:
    """The Step Law learning-rate / batch-size sweep (Li et al. 2025), as split by ScaleBench.

    2,819 runs (ScaleBench's train and test files): N (non-embedding) 60M-1.07B, D 2e9-1e11
    tokens, each (N, D) trained at many learning rates and batch sizes; the loss is the final
    validation loss. With ``tuned=True`` (default) one row per (N, D), its best learning rate and
    batch size: a 42-point L(N, D) ladder tuned at every size (41 from the train file, and the
    test file's 1.07B x 1e11 configuration, the largest). ``compute`` is 6·N·D.

    Parameters
    ----------
    path : path, optional
        A folder holding ``scalebench/lr_bsz_scaling_law_{train,test}.parquet`` (or the
        ``scalebench`` folder itself). By default ``$BAYES_SCALING_DATA``, then a verified download.
    tuned : bool
        One row per (N, D), the lowest loss over its learning rates and batch sizes (default), or
        every run (``False``).

    Returns
    -------
    DataFrame
        Canonical columns (``run_id`` = ``"N<N>-D<D>"``, with ``-lr<lr>-bsz<bsz>`` for every run),
        then ``lr``, ``bsz`` and ``part`` (``"train"`` or ``"test"``), in order of compute.
    """
    if path is not None and Path(path).expanduser().is_file():  # one file is half the ladder
        raise DatasetError(
            f"the Step Law ladder is two files (lr_bsz_scaling_law_train.parquet and _test); "
            f"pass the folder holding them, not the file {str(path)!r}"
        )
    frames = []
    for part, source in _STEP_LAW.items():
        file = locate(source, path, download_file)
        raw = read_table(file)
        require_columns(
            raw,
            ["lr", "bsz", "data_size", "non_embedding_param_size", "lm_loss"],
            file,
            source.name,
        )
        n, d = (positive_column(raw, c, file) for c in ("non_embedding_param_size", "data_size"))
        frames.append(raw.assign(n_params=n, n_tokens=d, part=part))
    raw = pd.concat(frames, ignore_index=True)
    if tuned:
        best = raw.groupby(["n_params", "n_tokens"])["lm_loss"].idxmin().to_numpy()
        raw = raw.loc[best]
    raw = raw.assign(compute=FLOPS_PER_PARAM_TOKEN * raw["n_params"] * raw["n_tokens"])
    raw = raw.sort_values(["compute", "n_params"], kind="stable").reset_index(drop=True)
    ids = [f"N{a:.3g}-D{b:.3g}" for a, b in zip(raw["n_params"], raw["n_tokens"], strict=True)]
    if not tuned:
        ids = [
            f"{i}-lr{lr:.3g}-bsz{int(b)}"
            for i, lr, b in zip(ids, raw["lr"], raw["bsz"], strict=True)
        ]
    runs = load_runs(
        pd.DataFrame(
            {
                "run_id": ids,
                "n_params": raw["n_params"],
                "n_tokens": raw["n_tokens"],
                "compute": raw["compute"],
                "loss": raw["lm_loss"],
            }
        )
    )
    extra = raw[["lr", "bsz", "part"]].reset_index(drop=True)
    return attach_columns(runs, extra)
