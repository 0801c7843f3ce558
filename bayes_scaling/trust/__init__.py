"""Trust: how far the answers can be believed.

- :mod:`.backtests`: fit below cuts, score the held-out runs (coverage, PIT, interval score, LPD);
- :mod:`.baseline`: the classical Huber + bootstrap fit, scored beside ours;
- :mod:`.law_choice`: PSIS-LOO comparison of laws, stacking, where laws disagree;
- :mod:`.law_skill`: laws weighed by backtest skill (extrapolation to internal cuts);
- :mod:`.sensitivity`: refits under other prior sets, power-scaling;
- :mod:`.sbc`: simulation-based calibration of the whole fitting procedure, with its rank
  statistics and uniformity tests in :mod:`.ranks`.

Each is imported on first use (the fitting ones import the sampler).
"""

from bayes_scaling._lazy import lazy
from bayes_scaling.trust.sbc import sbc  # eager: the function, not its module, is ``trust.sbc``

__getattr__, __dir__ = lazy(
    __name__,
    {
        "backtest": "bayes_scaling.trust.backtests",
        "by_distance": "bayes_scaling.trust.backtests",
        "coverage": "bayes_scaling.trust.backtests",
        "bootstrap_fit": "bayes_scaling.trust.baseline",
        "huber_fit": "bayes_scaling.trust.baseline",
        "compare_laws": "bayes_scaling.trust.law_choice",
        "law_skill": "bayes_scaling.trust.law_skill",
        "prior_sensitivity": "bayes_scaling.trust.sensitivity",
    },
)
__all__ = [
    "backtest",
    "bootstrap_fit",
    "by_distance",
    "compare_laws",
    "coverage",
    "huber_fit",
    "law_skill",
    "prior_sensitivity",
    "sbc",
]
