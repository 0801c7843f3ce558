"""What a target search answers: :class:`TargetAnswer`, the compute needed to reach a target loss
with each probability, the chance it is never reached, and the sentences that say so (an
unreachable target is never hidden behind a number). The search itself is
:func:`bayes_scaling.answers.targets.compute_to_reach`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from bayes_scaling import _format as fmt

#: Compute searched for C_reach, as multiples of the largest run's compute.
SEARCH_MULTIPLES = (1e-6, 1e12)
#: Below this probability of "not reachable" the report does not raise it.
UNREACHABLE_NOTICE = 0.05


@dataclass(frozen=True)
class TargetAnswer:
    """Answers about one target loss."""

    target: float
    prob_unreachable: float  # q = P(never reached at any compute)
    prob_irreducible_above: float  # P(E ≥ target), law only
    compute_needed: dict  # {p: FLOPs or None when not reachable with probability p}
    multiple_of_largest: dict  # {p: compute_needed / largest run's compute}
    largest_run_compute: float

    def to_dict(self) -> dict:
        return asdict(self)

    def met_from_start(self, p: float) -> bool:
        """Whether the compute found for probability ``p`` is the search's lower end (the target
        is met there already: no compute is "needed")."""
        m = self.multiple_of_largest.get(p)
        return m is not None and m <= SEARCH_MULTIPLES[0] * (1 + 1e-9)

    def sentences(self) -> list[str]:
        """Plain-language statements, never hiding an unreachable target behind a number."""
        out = []
        if self.prob_unreachable >= UNREACHABLE_NOTICE:
            out.append(
                f"The target {self.target:.4g} nats is not reachable at any compute with "
                f"probability {fmt.prob(self.prob_unreachable)} (the irreducible loss E is above "
                f"it with probability {fmt.prob(self.prob_irreducible_above)}; run noise and the "
                "law's error keep more draws above it)."
            )
        return out + fmt.reach_sentences(f"{self.target:.4g} nats", self)
