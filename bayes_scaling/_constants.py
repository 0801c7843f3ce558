"""Numbers and names that every stage shares, defined once.

- ``FLOPS_PER_PARAM_TOKEN``: k in C ≈ k·N·D, the training FLOPs per parameter and token
  (6: a forward and backward pass, Kaplan et al. 2020). Tables may carry their own k.
- ``NOISE_PARAMS``: the likelihood's noise parameters, σ (scale of log loss) and ν (Student-t dof).
- ``SAMPLE_DIMS``: the dimensions of posterior draws.
- ``DEFAULT_PROB``: the central interval probability of every answer unless the caller asks for
  another one (summaries, allocations, comparisons, the CLI's ``--prob``).
- ``DEFAULT_PROBS``: the band probabilities drawn in fans and reported by ``bands``.
"""

from __future__ import annotations

FLOPS_PER_PARAM_TOKEN = 6.0
NOISE_PARAMS = ("sigma", "nu")
SAMPLE_DIMS = ("chain", "draw")
DEFAULT_PROB = 0.9
DEFAULT_PROBS = (0.5, 0.8, 0.9, 0.95)


def package_version() -> str:
    """The installed version of bayes_scaling ("0+unknown" when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bayes_scaling")
    except PackageNotFoundError:
        return "0+unknown"
