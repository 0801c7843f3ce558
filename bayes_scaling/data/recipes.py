"""Groupings of the public run tables for recipe comparisons (:mod:`bayes_scaling.answers.gap`).

Each function loads a table with :mod:`bayes_scaling.data.datasets` and adds a ``group`` column
whose rule is stated here and stored in ``runs.attrs["grouping"]``:

``gemstones_by_shape``
    Gemstones models (McLeish et al. 2025) by their width-to-depth ratio: ``"deep"`` when
    width/depth is below the threshold, ``"wide"`` otherwise. The default threshold, 36, is the
    median ratio of the 20 models, so each group has 10 models spanning 5e7–2e9 parameters; the
    shape is fixed per model, so a group is a family of architectures, not a training choice.
``datablations_by_unique_tokens``
    Datablations runs (Muennighoff et al. 2023) by their unique-token budget U: ``"scarce"`` when
    U ≤ 1.5e9 (the 100M, 400M and 1.5B-token subsets, trained up to 9000, 750 and 400 epochs),
    ``"ample"`` otherwise (U from 2.7e9 to 1.8e11, at most 14.5 epochs). The Chinchilla law has no
    term for repetition, so the comparison asks how much a data-constrained regime changes the
    fitted law, not which recipe is better.
"""

from __future__ import annotations

import numpy as np

from bayes_scaling.data import datasets

GEMSTONES_SHAPE_THRESHOLD = 36.0
DATABLATIONS_SCARCE_MAX = 1.5e9


def gemstones_by_shape(path=None, *, variant: str = "cool_end", threshold: float | None = None):
    """Gemstones runs with ``group`` = ``"deep"`` (width/depth < threshold) or ``"wide"``."""
    runs = datasets.gemstones(path, variant=variant)
    cut = GEMSTONES_SHAPE_THRESHOLD if threshold is None else float(threshold)
    ratio = runs["width"] / runs["depth"]
    runs["group"] = np.where(ratio < cut, "deep", "wide")
    runs.attrs["grouping"] = f"width/depth < {cut:g}: deep; otherwise wide"
    return runs


def datablations_by_unique_tokens(
    path=None, *, subset: str = "fit182", scarce_max: float | None = None
):
    """Datablations runs with ``group`` = ``"scarce"`` (U ≤ scarce_max) or ``"ample"``."""
    runs = datasets.datablations(path, subset=subset)
    cut = DATABLATIONS_SCARCE_MAX if scarce_max is None else float(scarce_max)
    runs["group"] = np.where(runs["unique_tokens"] <= cut, "scarce", "ample")
    runs.attrs["grouping"] = f"unique tokens <= {cut:.3g}: scarce; otherwise ample"
    return runs
