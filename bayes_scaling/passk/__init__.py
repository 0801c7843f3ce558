"""pass@k: how many samples a problem at inference, from per-problem counts (test-time compute).

A capability over the core, in the core's stage order (each module imports only from those above
it in this list, and from the core)::

    data → sweep → logit → law → families → model → result → joint → fit → sbc → answers
    → decisions → plots → report → cli

- :mod:`.data`: counts tables (one row per model and problem), GSM8K's, best-of-N jailbreaking's
  (an early-stopped sweep), thinning that respects the stopping;
- :mod:`.logit`: pass@k of a two-component normal mixture in logit p with an unsolvable share,
  by quadrature;
- :mod:`.law`: pass@k of a Beta difficulty (or a two-component Beta mixture) with an unsolvable
  share, in closed form; the priors of every difficulty;
- :mod:`.families`: each difficulty's closed forms as data, and the prior predictive check;
- :mod:`.model`: the PyMC models (one model; every model jointly, partially pooled along
  log N and log D; the two-stage law across models);
- :mod:`.result`: :class:`PassKFit`, saved and loaded like every result;
- :mod:`.joint`, :mod:`.fit`: :func:`fit_passk`, NUTS with the gate and the rescue, every model
  in one fit (``pooling="partial"``) or each on its own (``"independent"``);
- :mod:`.sbc`: simulation-based calibration on simulated benchmarks of a given shape;
- :mod:`.answers`, :mod:`.decisions`: bands at any k, samples needed, bigger model or more samples;
- :mod:`.plots`, :mod:`.report`, :mod:`.cli`: figures, report section, ``bayes-scaling passk``.

>>> import bayes_scaling as bs
>>> p = bs.fit_passk("counts.csv", seed=1)  # doctest: +SKIP
>>> p.bands(k=[1_000, 10_000])              # doctest: +SKIP
"""

from bayes_scaling._lazy import lazy
from bayes_scaling.passk import answers, cli, decisions, report  # noqa: F401  (attach, register)
from bayes_scaling.passk.data import load_counts
from bayes_scaling.passk.result import PassKFit

# The sampler is imported on first use: answering from a saved fit never imports PyMC.
__getattr__, __dir__ = lazy(__name__, {"fit_passk": "bayes_scaling.passk.fit"})

__all__ = ["PassKFit", "fit_passk", "load_counts"]
