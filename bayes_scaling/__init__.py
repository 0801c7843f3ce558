"""bayes_scaling: Bayesian neural scaling laws with checked posteriors and honest loss bands.

The package is laid out by stage, each importing only from the stages below it::

    data → priors → laws → model → results → inference → answers → trust → plots → report → cli

(``errors``, ``_validate``, ``_constants`` and ``_format`` are shared by all.) The public API:

>>> import bayes_scaling as bs
>>> runs = bs.datasets.demo()                       # doctest: +SKIP
>>> result = bs.fit(runs, law="chinchilla", seed=1)  # doctest: +SKIP
>>> result.summary()                                 # doctest: +SKIP
>>> result.bands(compute=[1e22, 1e23])               # doctest: +SKIP
"""

from bayes_scaling import answers, laws, report  # noqa: F401  (attach the results' methods)
from bayes_scaling.data import datasets, load_runs
from bayes_scaling.errors import (
    ArgumentError,
    BayesScalingError,
    ConvergenceWarning,
    FitFileError,
    LawError,
    PriorError,
    RunsError,
    RunsWarning,
)
from bayes_scaling.inference import FitTask, fit, fit_groups, fit_many
from bayes_scaling.laws import Law, get_law, register_law
from bayes_scaling.model import prior_predictive
from bayes_scaling.priors import Prior
from bayes_scaling.results import FitResult, GroupedFit, ScalingFit, load

__all__ = [
    "ArgumentError",
    "BayesScalingError",
    "ConvergenceWarning",
    "FitFileError",
    "FitResult",
    "FitTask",
    "GroupedFit",
    "Law",
    "LawError",
    "Prior",
    "PriorError",
    "RunsError",
    "RunsWarning",
    "ScalingFit",
    "datasets",
    "fit",
    "fit_groups",
    "fit_many",
    "get_law",
    "laws",
    "load",
    "load_runs",
    "prior_predictive",
    "register_law",
]
