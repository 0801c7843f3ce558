"""Number formats of the report, shared by the HTML and Markdown renderers (and by the tests).

One function per kind of quantity, so that a number reads the same wherever it appears:

- :func:`flops` and :func:`count`: compute (FLOPs), parameters N and tokens D, 3 significant digits;
- :func:`loss`: a loss in nats, 3 decimals; :func:`nats`: a small difference of losses (regret);
- :func:`ratio`: tokens per parameter; :func:`multiple`: "how many times the largest run";
- :func:`prob`: a probability as a percentage that never rounds 0.3% to "0%" or 99.7% to "100%";
- :func:`not_reachable`: the one wording of a target no amount reaches with probability p.
"""

from __future__ import annotations

import math


def flops(x: float) -> str:
    """Compute in FLOPs, e.g. ``"1e+24"`` or ``"3.5e+21"``.

    >>> flops(1e24), flops(3.5e21)
    ('1e+24', '3.5e+21')
    """
    return f"{float(x):.3g}"


def count(x: float) -> str:
    """A count of parameters or tokens, 3 significant digits: ``"1.26e+10"``.

    >>> count(12_588_570_000)
    '1.26e+10'
    """
    return f"{float(x):.3g}"


def loss(x: float) -> str:
    """A loss in nats, 3 decimals.

    >>> loss(2.30390)
    '2.304'
    """
    return f"{float(x):.3f}"


def nats(x: float) -> str:
    """A loss difference in nats (regret), 3 significant digits.

    >>> nats(0.0707531)
    '0.0708'
    """
    return f"{float(x):.3g}"


def ratio(x: float) -> str:
    """Tokens per parameter: whole numbers from 100 up, else 3 significant digits.

    >>> ratio(1051.709), ratio(20.04)
    ('1,052', '20')
    """
    x = float(x)
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def multiple(x: float) -> str:
    """A multiple of the largest run's compute: ``"10,000x"``, ``"77x"``, ``"0.5x"``.

    >>> multiple(1e4), multiple(76.6), multiple(0.5)
    ('10,000x', '77x', '0.5x')
    """
    x = float(x)
    return f"{x:,.0f}x" if abs(x) >= 10 else f"{x:.2g}x"


def prob(p: float) -> str:
    """A probability as a whole percentage; "<1%" and ">99%" instead of a misleading 0 or 100.

    >>> prob(0.485), prob(0.004), prob(0.0), prob(0.997), prob(1.0)
    ('48%', '<1%', '0%', '>99%', '100%')
    """
    p = float(p)
    if math.isnan(p):
        return "n/a"
    if 0 < p < 0.01:
        return "<1%"
    if 0.99 < p < 1:
        return ">99%"
    return f"{p:.0%}"


def not_reachable(p: float, q: float) -> str:
    """The one wording of "needed at probability p, else not reachable": no amount (compute,
    samples) reaches the target with probability ``p`` because with probability ``q`` it is
    never reached (p > 1 − q; :func:`bayes_scaling.answers.intervals.needed_quantiles`).

    >>> not_reachable(0.9, 0.36)
    'not reachable with probability 90% (unreachable with probability 36%)'
    """
    return f"not reachable with probability {prob(p)} (unreachable with probability {prob(q)})"


def met_from_start(target: str, p: float, compute: float, times: float) -> str:
    """The one wording of a target met already at the smallest compute searched: the compute
    found there is the search's lower end, not a compute the target needs.

    >>> met_from_start("3 nats", 0.5, 1e14, 1e-6)
    '3 nats is met with probability 50% already at the smallest compute searched (1e+14 FLOPs, 1e-06x the largest run)'
    """  # noqa: E501
    return (
        f"{target} is met with probability {prob(p)} already at the smallest compute searched "
        f"({flops(compute)} FLOPs, {multiple(times)} the largest run)"
    )


def reach_sentences(target: str, answer, searched: str = "") -> list[str]:
    """One sentence per probability of a target search (the core's
    :class:`~bayes_scaling.answers.target_answer.TargetAnswer` or a downstream metric's): the
    compute needed, the target met from the start (:func:`met_from_start`) or not reachable
    (:func:`not_reachable`; ``searched`` says how far, e.g. ``" up to 1e+25 FLOPs"``). ``answer``
    has ``compute_needed`` (probability -> FLOPs or None), ``multiple_of_largest``,
    ``met_from_start(p)`` and ``prob_unreachable``."""
    out = []
    for p, c in answer.compute_needed.items():
        if c is None:
            out.append(
                f"No compute{searched} reaches {target} with probability {prob(p)}: "
                f"{not_reachable(p, answer.prob_unreachable)}."
            )
        elif answer.met_from_start(p):
            out.append(met_from_start(target, p, c, answer.multiple_of_largest[p]) + ".")
        else:
            out.append(
                f"Reaching {target} with probability {prob(p)} needs about {flops(c)} FLOPs, "
                f"{multiple(answer.multiple_of_largest[p])} the largest run."
            )
    return out


def interval(lower: str, upper: str) -> str:
    """An interval from two formatted ends: ``"2.154 – 2.434"``."""
    return f"{lower} – {upper}"
