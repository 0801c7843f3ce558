"""The generative model: likelihoods on log loss, pooling across groups, the PyMC model builder,
the extrapolation discrepancy, and the same model run forwards (simulated ladders, prior
predictive). PyMC is imported only by the modules that build models (on first use here).
"""

from bayes_scaling._lazy import lazy

__getattr__, __dir__ = lazy(
    __name__,
    {
        "build_model": "bayes_scaling.model.builder",
        "prior_predictive": "bayes_scaling.model.predictive",
    },
)
__all__ = ["build_model", "prior_predictive"]
