"""Trust: how far the answers can be believed.

- :mod:`.backtests`: fit below cuts, score the held-out runs (coverage, PIT, interval score, LPD);
- :mod:`.baseline`: the classical Huber + bootstrap fit, scored beside ours;
- :mod:`.law_choice`: PSIS-LOO comparison of laws, stacking, where laws disagree;
- :mod:`.sensitivity`: refits under other prior sets, power-scaling;
- :mod:`.sbc`: simulation-based calibration of the whole fitting procedure, with its rank
  statistics and uniformity tests in :mod:`.ranks`.
"""

from bayes_scaling.trust.backtests import backtest, by_distance, coverage
from bayes_scaling.trust.baseline import bootstrap_fit, huber_fit
from bayes_scaling.trust.law_choice import compare_laws
from bayes_scaling.trust.sbc import sbc
from bayes_scaling.trust.sensitivity import prior_sensitivity

__all__ = [
    "backtest",
    "bootstrap_fit",
    "by_distance",
    "compare_laws",
    "coverage",
    "huber_fit",
    "prior_sensitivity",
    "sbc",
]
