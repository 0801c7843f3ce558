"""Inference: NUTS through nutpie (compile once per structure, swap data), the diagnostics gate
after every fit, the internal backtests that learn the extrapolation discrepancy, grouped
(hierarchical) fits, and many fits at once (processes or Dask). Imported on first use: only
sampling pays for PyMC, PyTensor, nutpie and numba.

nutpie imports ArviZ at module level (all of it: its plots load matplotlib, its statistics SciPy's
``stats``; 1.3 s) only to turn draws into a DataTree, which this stage does itself
(:func:`bayes_scaling.inference.compiled.draws_to_datasets`). So before nutpie is imported,
``arviz`` is registered as a deferred module (:func:`bayes_scaling._lazy.defer_import`): a
placeholder whose first attribute access imports the real ArviZ and becomes it. A fit then
imports no ArviZ plot or statistics module; code that uses ArviZ gets it whole on first use.
Nothing changes when ArviZ is already imported.
"""

from __future__ import annotations

from bayes_scaling._lazy import defer_import, lazy

defer_import("arviz")

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
