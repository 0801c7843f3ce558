"""The files of the OLMo ladder (Bhagia et al. 2024) and how they are read.

Where they come from (the pinned commit of allenai/OLMo-ladder and the SHA-256 of each file),
finding one (:func:`olmo_file`, as described in :mod:`bayes_scaling.data.ladders`), reading
``configs/final.json`` (:func:`olmo_config`), and turning an evaluation log's columns into clean
metric names (:func:`olmo_metrics`, :data:`OLMO_LOSSES`) and token counts (:func:`olmo_tokens`).
The loaders built on them are in :mod:`bayes_scaling.data.olmo`.
"""

from __future__ import annotations

import json
import re
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling.data.datasets import DatasetError, Source, download_file, locate
from bayes_scaling.data.source_tables import positive_column, require_columns
from bayes_scaling.errors import RunsError

OLMO_REPO = ("allenai/OLMo-ladder", "67a3f440f787d020da35e3ca8eeae475fae754f5")
_OLMO_SHA256 = {
    "configs/final.json": "3fcb831b03e9761ab1be750f89c7a6b8832fda09c491d80bec8593ec9e08d1c8",
    "figures/chained_flops_main.csv": (
        "4c0abf0011a7bf770f7362110518ca9ce72d159df3d45a8db71a356ebec8a665"
    ),
    "figures/chained_main.csv": "62984273d7e0a2f8068771e4f4578deb9dd451e5fc93a1647fffd489efab0572",
    "figures/step1_main.csv": "e689f6f427ca0abab58d07f642bfef10d49354011a290bab264bb7e373a6b224",
    "figures/step2_main.csv": "4e20ac222cc6273d139fd1e8c121333129102977f170dcd0798836d9e1ee190f",
    "ladder-runs/190M-0.5xC.csv": (
        "d4e9f80960149676352b61b739c4dca727bffee5e7a8f41919119365fcde0534"
    ),
    "ladder-runs/190M-1xC.csv": "8ac0066547d5edec4d05d2b861a26c7faf591eef6971e11acba2450a45e69c27",
    "ladder-runs/190M-1xC-rerun.csv": (
        "50e635e970e4a29c838d644f942503f9ef6e0d78feb744055447413de42a3e2b"
    ),
    "ladder-runs/190M-2xC.csv": "db90c75f8d031d0754e7108f1a8d16f372603e0c04d2cb00cca08cf272ecf86a",
    "ladder-runs/190M-5xC.csv": "aefe54fa03bd158d6da178b1eb2ece88cb0681bb32403845b6e544ae9e4e5dcf",
    "ladder-runs/190M-10xC.csv": "192b115c3f02b6503043280f8303c59f5b10897cd631f1b8ec6aea944d22faa6",
    "ladder-runs/370M-0.5xC.csv": (
        "04e12eec843bb7b8bf292ec8837edd8db63010469e457d145a1757d48a91bac9"
    ),
    "ladder-runs/370M-1xC.csv": "3597a61872596affbb61e83f36c7cc3fe43485c3ed30ba6d658064b57edcea07",
    "ladder-runs/370M-1xC-rerun.csv": (
        "e27c89356cc6c842585c0232bb3be20bd066c2d4f859d1a3c772c43e5b6887c7"
    ),
    "ladder-runs/370M-2xC.csv": "73c686e580ad0600ca12334bf22ab3dad3265583a948e3beaae5b79b9a20c137",
    "ladder-runs/370M-5xC.csv": "199905d322b0332b69f1d0a40de9be43e5eb3cf576fc1d3031578cdea09708fa",
    "ladder-runs/370M-10xC.csv": "3f25b4ec4035caeb71b787d165857667779dc3b92739c6379b8f8ce7079fcb58",
    "ladder-runs/760M-0.5xC.csv": (
        "a02cee96b21c78a6a9c71ba99ead71c454fc6561e50b778681ab1d7182df6cf6"
    ),
    "ladder-runs/760M-1xC.csv": "a830185275c91cc077379540ec91a71b4bea6f191ca99a8090c851be19e7956d",
    "ladder-runs/760M-1xC-rerun.csv": (
        "f5b2775ebc27c80f21e13e0bf35622007b8b30f09734ab0bb6f7e871bf33103b"
    ),
    "ladder-runs/760M-2xC.csv": "8c1ad2bf7da390b9eed24af7b6eb12a6393cc077164d51b4e4740f7221f1193c",
    "ladder-runs/760M-5xC.csv": "9c08b58d2625f427253bbd2079bad3a90726a66486154dd4f82ef84560e275ec",
    "ladder-runs/760M-10xC.csv": "e256c9df6d3b7af66bbcf4dc7ca84b45a812bd205b70648ca5177c8b74f6ff40",
    "ladder-runs/1B-0.5xC.csv": "7c44ecf10ddaeba4c5ceb26ac0db8b9454163c19903556238d3117685768126a",
    "ladder-runs/1B-1xC.csv": "7fe91f0552829238e591e55c03f66b743ac5931388d9710457a845d92c2d9102",
    "ladder-runs/1B-1xC-rerun.csv": (
        "878e664acbb68df93b046a4242ccac12b321276e1f2fcbbbc6fa8779bd5eaa24"
    ),
    "ladder-runs/1B-2xC.csv": "34ba12a08a52e10e89a71d88a5c13538c3df21e5e993c476cadb08eb4b2eb354",
    "ladder-runs/1B-5xC.csv": "d195153f05b846f6d4f8ca95247d1f79d9d00e898d856b244b17e20431539ddb",
    "ladder-runs/1B-10xC.csv": "ec7e7487c67a774d9b919ec35121966ded7ae2ce5ede135f1d32f509f451476f",
    "ladder-runs/3B-0.5xC.csv": "35247d4ff9af52c11bdec95a31e069599f43564ba6094a3893b49d91aa258410",
    "ladder-runs/3B-1xC.csv": "bd5dbad1b2942c58439006f77dba46ff2f66ad8760f8d709f9ced4fcb387bedb",
    "ladder-runs/3B-1xC-rerun.csv": (
        "5c2b189aa82b964c4005fce327b42e9399110d297c83903d03d03d0892e11d7d"
    ),
    "ladder-runs/3B-2xC.csv": "b933055d54221855c893245331770c0e7314dea5203518640da88773d92d8e47",
    "ladder-runs/3B-5xC.csv": "4b02c35ea9b3623402ac3a401dbc66ed827dcecede04343ea65cc2bbf6bfd962",
    "ladder-runs/3B-10xC.csv": "1ff388361b6d8e4548aaaaecd8a0437a21e28b9af11c4696225e322c8526e488",
    "ladder-runs/peteish7_eval_anneal.csv": (
        "0742d6c113aa0f9c789cf9e5745678fc6f30eb9b873a1f98068fc6f6522c85df"
    ),
    "ladder-runs/peteish13_eval_final.csv": (
        "8cbdd4c2818b05ff30476a9bd4ecae620da89193ca61183bc2d61e111a9d0059"
    ),
}


def _olmo_source(name: str) -> Source:
    # ladder-runs/ sits under data/ in the repository; configs/ and figures/ do not
    in_repo = f"data/{name}" if name.startswith("ladder-runs/") else name
    return Source(
        "olmo-ladder", name, *OLMO_REPO, f"src/scripts/paper/{in_repo}", _OLMO_SHA256[name]
    )


def olmo_file(name: str, path: str | PathLike | None) -> Path:
    """One file of the OLMo ladder folder: ``path`` is a folder, never one of its files."""
    if path is not None and Path(path).expanduser().is_file():
        raise DatasetError(
            f"the OLMo ladder is a folder of files, but {str(path)!r} is a file; pass the folder "
            "holding olmo-ladder/ (or the olmo-ladder folder itself), or set BAYES_SCALING_DATA "
            "to a folder holding olmo-ladder/"
        )
    try:
        return locate(_olmo_source(name), path, download_file)
    except DatasetError as exc:
        if path is None:
            raise
        raise DatasetError(  # the generic message offers "the file itself", which this is not
            f"no olmo-ladder/{name} at {str(path)!r}; pass a folder laid out like "
            f"<folder>/olmo-ladder/{name} (or the olmo-ladder folder itself), or set "
            "BAYES_SCALING_DATA to a folder holding olmo-ladder/"
        ) from exc


#: The paper's target models -> their evaluation log.
OLMO_TARGETS = {
    "7B-4T": "ladder-runs/peteish7_eval_anneal.csv",
    "13B-5T": "ladder-runs/peteish13_eval_final.csv",
}
_OLMO_VALIDATION = (
    "c4_en",
    "dolma_books",
    "dolma_common_crawl",
    "dolma_pes2o",
    "dolma_reddit",
    "dolma_stack",
    "dolma_wiki",
    "ice",
    "m2d2_s2orc",
    "pile",
    "wikitext_103",
)
_OLMO_TASKS = (
    *(
        f"mmlu_{s}_{split}"
        for split in ("val", "test")
        for s in ("stem", "humanities", "social_sciences", "other")
    ),
    "hellaswag_val",
    "arc_easy_val",
    "arc_easy_test",
    "arc_challenge_val",
    "arc_challenge_test",
    "boolq_val",
    "csqa_val",
    "openbookqa_val",
    "openbookqa_test",
    "piqa_val",
    "socialiqa_val",
    "winogrande_val",
)
#: MMLU subject weights of the paper's MMLU average (WEIGHT_BY_KEY in src/scaling/utils.py).
_MMLU_WEIGHTS = {"stem": 0.215, "humanities": 0.335, "social_sciences": 0.219, "other": 0.231}
#: Names accepted as ``loss_col``: validation cross-entropies (nats) and task bits-per-byte.
OLMO_LOSSES = (
    *(f"val_{v}" for v in _OLMO_VALIDATION),
    *(f"bpb_{t}" for t in _OLMO_TASKS),
    "bpb_mmlu_avg_val",
    "bpb_mmlu_avg_test",
)
_OLMO_PATTERNS = (
    (re.compile(r"eval/(.+)-validation/CrossEntropyLoss"), "val_{}"),
    (re.compile(r"eval/downstream_bpb/(.+)_rc_5shot_bpb"), "bpb_{}"),
    (re.compile(r"eval/downstream/(.+)_rc_5shot_(?:len_norm|acc)"), "acc_{}"),
    (re.compile(r"eval/downstream/(.+)_mc_5shot_(?:len_norm|acc)"), "acc_{}_mc"),
)


def olmo_config(path) -> dict:
    """configs/final.json: N, FLOPs per token and run files of each ladder size and target."""
    file = olmo_file("configs/final.json", path)
    try:
        config = json.loads(file.read_text())
        for key in ("190M", "370M", "760M", "1.3B", *OLMO_TARGETS):
            int(config[key]["n"]), int(config[key]["flops"]), list(config[key]["paths"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RunsError(
            f"cannot read {file}: {type(exc).__name__}: {exc}; it should be configs/final.json of "
            "the OLMo-ladder repository (keys 190M ... 13B-5T, each with n, flops and paths)"
        ) from None
    return config


def olmo_metrics(raw: pd.DataFrame) -> pd.DataFrame:
    """Validation losses, task bits-per-byte and accuracies of an OLMo eval file, renamed."""
    columns = {}
    for col in raw.columns:
        for pattern, template in _OLMO_PATTERNS:
            match = pattern.fullmatch(str(col))
            if match:
                columns[template.format(match.group(1).replace("-", "_"))] = pd.to_numeric(
                    raw[col], errors="coerce"
                ).to_numpy(dtype=float)
                break
    out = pd.DataFrame(columns, index=raw.index)
    for kind in ("bpb", "acc"):
        for split in ("val", "test"):
            names = [f"{kind}_mmlu_{s}_{split}" for s in _MMLU_WEIGHTS]
            if all(n in out for n in names):
                weights = np.array(list(_MMLU_WEIGHTS.values()))
                out[f"{kind}_mmlu_avg_{split}"] = out[names].to_numpy() @ weights / weights.sum()
    return out


def olmo_tokens(raw: pd.DataFrame, file: Path) -> np.ndarray:
    """Tokens seen at each row of an evaluation log (the logged total, or step x batch)."""
    if "throughput/total_tokens" in raw.columns:
        return positive_column(raw, "throughput/total_tokens", file)
    require_columns(raw, ["_step", "batch_size_in_tokens"], file, "an OLMo evaluation log")
    return positive_column(raw, "_step", file) * positive_column(raw, "batch_size_in_tokens", file)


def check_loss_col(loss_col: str) -> None:
    """A DatasetError unless ``loss_col`` is one of :data:`OLMO_LOSSES`."""
    if loss_col not in OLMO_LOSSES:
        raise DatasetError(
            f"unknown loss_col {loss_col!r}; choose a validation cross-entropy "
            f"({', '.join(n for n in OLMO_LOSSES if n.startswith('val_'))}) or a task "
            "bits-per-byte such as bpb_hellaswag_val or bpb_mmlu_avg_test (OLMO_LOSSES lists all)"
        )
