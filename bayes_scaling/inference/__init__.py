"""Inference: NUTS through nutpie (compile once per structure, swap data), the diagnostics gate
after every fit, the internal backtests that learn the extrapolation discrepancy, grouped
(hierarchical) fits, and many fits at once (processes or Dask).
"""

from bayes_scaling.inference.batch import FitTask, fit_many
from bayes_scaling.inference.grouped import fit_groups
from bayes_scaling.inference.sampling import fit

__all__ = ["FitTask", "fit", "fit_groups", "fit_many"]
