"""Results: the shared protocol (:class:`FitResult`) and every fitted result, with save and load.

- :mod:`.base`: ``FitResult`` (converged, diagnostics, posterior, summary, save) and ``method_of``;
- :mod:`.diagnostics`: the gate (R-hat, ESS, divergences) and its verdict;
- :mod:`.scaling`: ``ScalingFit``, one law fitted to one runs table;
- :mod:`.grouped`: ``GroupedFit``, one hierarchical fit over groups of runs;
- :mod:`.io`: ``load``, which reads any of them back by its format tag.
"""

from bayes_scaling.results.base import FitResult, method_of
from bayes_scaling.results.diagnostics import Diagnostics
from bayes_scaling.results.grouped import GroupedFit
from bayes_scaling.results.io import load
from bayes_scaling.results.scaling import ScalingFit

__all__ = ["Diagnostics", "FitResult", "GroupedFit", "ScalingFit", "load", "method_of"]
