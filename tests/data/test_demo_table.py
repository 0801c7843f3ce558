"""The bundled demo table is exactly what the documented simulator produces."""

import numpy as np

from bayes_scaling.data import datasets
from bayes_scaling.model.simulate import demo_table


def test_demo_table_is_the_simulator_output():
    shipped, regenerated = datasets.demo(), demo_table()
    assert len(shipped) == 48 <= 60
    np.testing.assert_allclose(shipped["n_params"], regenerated["n_params"])
    np.testing.assert_allclose(shipped["loss"], regenerated["loss"], rtol=1e-12)
