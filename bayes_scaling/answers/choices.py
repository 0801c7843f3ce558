"""Which answers a fit's law can give at a compute budget, checked before any is computed.

A law with a compute-optimal split (``chinchilla``, ``kaplan``, ``farseer``) answers allocation,
regret, targets and the report; a law in compute alone, L(C) (``power:compute``,
``broken:compute``, :attr:`~bayes_scaling.laws.Law.reads_compute_only`), answers the loss and
targets at a budget but takes no split; any other law answers bands and summaries only.
"""

from __future__ import annotations

from bayes_scaling.errors import ArgumentError, BayesScalingError


def require_optimum(fit):
    """Raise unless the fit's law has a compute-optimal split."""
    if fit.law.optimum is None:
        raise BayesScalingError(
            f"law {fit.law.name!r} has no compute-optimal split; allocation (and the report "
            "built on it) needs a law in N and D alone ('chinchilla', 'kaplan', 'farseer'), or "
            "a law in compute alone ('power:compute', 'broken:compute') for the loss, targets and "
            "report without a split; its bands and summary still answer"
        )


def refuse_split(fit, params=None, tokens_per_param=None) -> None:
    """A law in compute alone (L(C)) takes no split: say so for one that was given."""
    for name, value in (("params", params), ("tokens_per_param", tokens_per_param)):
        if value is not None:
            raise ArgumentError(
                name,
                f"law {fit.law.name!r} reads compute alone, so a split does not change its "
                "answer; drop it, or fit a law in N and D",
            )


def check_choice(fit, params=None, tokens_per_param=None) -> None:
    """A split to assess needs a law with a compute-optimal split, and is given one way at most;
    a law in compute alone (L(C)) takes none. Checked before any answer or refit."""
    if fit.law.reads_compute_only:
        refuse_split(fit, params, tokens_per_param)
        return
    require_optimum(fit)
    if params is not None and tokens_per_param is not None:
        raise ArgumentError(
            "params", "propose either params (N) or tokens_per_param (D/N), not both"
        )
