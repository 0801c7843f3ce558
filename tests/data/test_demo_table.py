"""The bundled demo table is exactly what the documented simulator produces."""

import numpy as np
import pandas as pd

from bayes_scaling.data import datasets
from bayes_scaling.model.simulate import (
    DEMO_NOISE,
    DEMO_SEED,
    DEMO_TRUTH,
    demo_table,
    simulate_runs,
)


def test_demo_table_is_the_simulator_output():
    shipped, regenerated = datasets.demo(), demo_table()
    assert len(shipped) == len(regenerated) == 48  # the documented size (docstring, README)
    assert list(shipped.columns) == list(regenerated.columns)
    assert shipped["run_id"].tolist() == regenerated["run_id"].tolist()
    pd.testing.assert_frame_equal(
        shipped.drop(columns="run_id"),
        regenerated.drop(columns="run_id"),
        check_exact=False,
        rtol=1e-12,
    )


def test_the_comparison_can_tell_another_seed():
    # the check above is not vacuous: another seed gives other losses
    other = simulate_runs(DEMO_TRUTH, seed=DEMO_SEED + 1, **DEMO_NOISE)
    assert not np.allclose(other["loss"], datasets.demo()["loss"], rtol=1e-6)
