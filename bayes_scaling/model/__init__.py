"""The generative model: likelihoods on log loss, pooling across groups, the PyMC model builder,
the extrapolation discrepancy, and the same model run forwards (simulated ladders, prior
predictive).
"""

from bayes_scaling.model.builder import build_model
from bayes_scaling.model.predictive import prior_predictive

__all__ = ["build_model", "prior_predictive"]
