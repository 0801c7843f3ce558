"""Downstream metrics: what a loss means for a task, through a two-step chain.

Step 1, (N, D) → the task's loss by a scaling law (a core fit, with its discrepancy); step 2, that
loss → the metric by a link (sigmoid from chance to a ceiling, or exponential), with its own
posterior, noise and link discrepancy. A capability over the core, in the core's stage order::

    data → links → model → result → link_fit → direct → fit → answers → targets
         → plots → report → cli

- :mod:`.data`: downstream tables (OLMo ladder, loss-to-loss) and their checks;
- :mod:`.links`: the links as data (a function, names, default priors);
- :mod:`.model`: the step-2 PyMC model and a simulated two-step truth;
- :mod:`.result`: :class:`DownstreamFit`, saved and loaded like every result;
- :mod:`.link_fit`, :mod:`.direct`, :mod:`.fit`: step 2, the direct one-step law, and
  :func:`fit_downstream`;
- :mod:`.answers`, :mod:`.targets`: metric bands, compute for a target, leaving chance;
- :mod:`.plots`, :mod:`.report`, :mod:`.cli`: figures, report section, ``bayes-scaling downstream``.

>>> import bayes_scaling as bs
>>> d = bs.fit_downstream(runs, metric="acc", via="bpb", chance=0.25, seed=1)  # doctest: +SKIP
>>> d.bands(compute=[1e23, 1e24])                                             # doctest: +SKIP
"""

from bayes_scaling._lazy import lazy
from bayes_scaling.downstream import answers, cli, report, targets  # noqa: F401  (attach, register)
from bayes_scaling.downstream.links import Link, get_link, known_links, register_link
from bayes_scaling.downstream.result import DownstreamFit

# The sampler is imported on first use: answering from a saved fit never imports PyMC.
__getattr__, __dir__ = lazy(__name__, {"fit_downstream": "bayes_scaling.downstream.fit"})

__all__ = ["DownstreamFit", "Link", "fit_downstream", "get_link", "known_links", "register_link"]
