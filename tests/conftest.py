"""Shared fixtures. Reference tables are read from ../shared/data beside the project; tests that
need them skip with a reason when the folder is absent."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "chinchilla-epoch" / "svg_extracted_data.csv").exists():
        pytest.skip(f"reference data {SHARED_DATA} is absent (see ../shared/data/README.md)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def demo_fit():
    """One real NUTS fit of the packaged demo table, shared by tests that only read it."""
    from bayes_scaling import datasets, fit

    with warnings.catch_warnings():
        warnings.simplefilter("error", category=UserWarning)  # must converge quietly
        return fit(datasets.demo(), seed=11)
