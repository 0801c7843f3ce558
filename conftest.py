"""Root pytest configuration: one BLAS thread per test process.

The suite runs on two pytest-xdist workers (``pyproject.toml``), and every NUTS run samples its
chains in nutpie's own threads, so the two cores are busy already; OpenBLAS's extra threads
then wait for a core by spinning. With one BLAS thread, ``tests/trust/test_trust.py``,
``tests/discrepancy/test_calibration.py`` and ``tests/results/test_disk.py`` together took
37.0 s instead of 45.5 s (user CPU 65 s instead of 82 s) on a 2-core machine. Set here, before
the workers start, so that they, the notebooks' kernels and the CLI's subprocesses inherit it;
a value already in the environment is kept.
"""

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
