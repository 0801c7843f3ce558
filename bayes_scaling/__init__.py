"""bayes_scaling: Bayesian neural scaling laws with checked posteriors and honest loss bands.

The flow: runs table → law → priors → PyMC model → NUTS (nutpie) + diagnostics gate →
``ScalingFit`` → bands / plots / report / CLI. Runs in groups (recipes): ``fit_groups`` →
``GroupedFit`` → ``compare``.

>>> import bayes_scaling as bs
>>> runs = bs.datasets.demo()                       # doctest: +SKIP
>>> result = bs.fit(runs, law="chinchilla", seed=1)  # doctest: +SKIP
>>> result.summary()                                 # doctest: +SKIP
>>> result.bands(compute=[1e22, 1e23])               # doctest: +SKIP
"""

from bayes_scaling import datasets, laws
from bayes_scaling.batch import FitTask, fit_many
from bayes_scaling.errors import (
    BayesScalingError,
    ConvergenceWarning,
    FitFileError,
    LawError,
    PriorError,
    RunsError,
    RunsWarning,
)
from bayes_scaling.grouped import GroupedFit, fit_groups
from bayes_scaling.laws import Law, get_law, register_law
from bayes_scaling.posterior import ScalingFit, load
from bayes_scaling.priors import Prior, prior_predictive
from bayes_scaling.runs import load_runs
from bayes_scaling.sampling import fit

__all__ = [
    "BayesScalingError",
    "ConvergenceWarning",
    "FitFileError",
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
