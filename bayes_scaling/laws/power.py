"""The one-variable power law L(x) = E + A·x^(−α) (Kaplan et al. 2020 fitted it to N, D and C)."""

from __future__ import annotations

from bayes_scaling.errors import LawError
from bayes_scaling.laws.law import Law
from bayes_scaling.priors import exponent_prior, irreducible_prior, log_coefficient_prior

#: Short names accepted for the variable of a one-variable law.
VARIABLE_ALIASES = {
    "n": "n_params",
    "d": "n_tokens",
    "c": "compute",
    "params": "n_params",
    "tokens": "n_tokens",
}


def one_variable(x: str, family: str) -> str:
    """The canonical column for a one-variable law's variable (``"n"`` → ``"n_params"``)."""
    x = VARIABLE_ALIASES.get(x, x)
    if x not in ("n_params", "n_tokens", "compute"):
        raise LawError(f"{family} law variable must be n_params, n_tokens or compute, not {x!r}")
    return x


def power(x: str = "compute") -> Law:
    """Single-variable law L(x) = E + A·x^(−α), with x one of n_params, n_tokens or compute.

    Parameters E (nats), log_A = log A and alpha. Kaplan et al. (2020) fitted this form to each of
    N, D and C separately. Registered as ``"power:<x>"``; ``"power"`` alone means
    ``"power:compute"``.

    Examples
    --------
    >>> power("d").name
    'power:n_tokens'
    """
    x = one_variable(x, "power")

    def fn(xs, p, xp):
        return p["E"] + xp.exp(p["log_A"] - p["alpha"] * xp.log(xs[x]))

    def priors(stats):
        return {
            "E": irreducible_prior(stats),
            "log_A": log_coefficient_prior(stats, x),
            "alpha": exponent_prior(),
        }

    return Law(
        name=f"power:{x}",
        inputs=(x,),
        params=("E", "log_A", "alpha"),
        fn=fn,
        default_priors=priors,
        exponents={"alpha": x},
        centred={"log_A": (x, "alpha")},
        derived={"A": lambda p, xp: xp.exp(p["log_A"])},
        description=f"L({x}) = E + A·{x}^(−α)",
    )
