"""Inference: NUTS through nutpie (compile once per structure, swap data), the diagnostics gate
after every fit, the internal backtests that learn the extrapolation discrepancy, grouped
(hierarchical) fits, and many fits at once (processes or Dask). Imported on first use: only
sampling pays for PyMC, PyTensor, nutpie and numba.
"""

from bayes_scaling._lazy import lazy

__getattr__, __dir__ = lazy(
    __name__,
    {
        "FitTask": "bayes_scaling.inference.batch",
        "fit_many": "bayes_scaling.inference.batch",
        "fit_groups": "bayes_scaling.inference.grouped",
        "fit": "bayes_scaling.inference.sampling",
    },
)
__all__ = ["FitTask", "fit", "fit_groups", "fit_many"]
