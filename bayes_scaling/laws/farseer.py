"""A Farseer-style refined law: the Chinchilla law with a data exponent that depends on N.

Li et al. (2025), "Farseer: A Refined Scaling Law in Large Language Models" (arXiv:2506.10972),
fit the loss surface::

    L(N, D) = exp(a₃·N^γ + b₃) + exp(a₂·N^β + b₂) · D^(−exp(a₁·N^α + b₁))

nine parameters, with every term, the data exponent included, a function of N. They fitted it
to about a thousand runs by a staged, differential procedure. For the tables this package is
given (20–200 runs, often 3–6 model sizes) the nine are not identified: three nested
exponentials of N^c trade off against each other along ridges no sampler crosses in minutes.
So the law registered here is a **reduced** refined form that keeps the paper's key idea, a data
exponent that changes with model size, and nests Chinchilla::

    L(N, D) = E + A·N^(−α) + B·D^(−β(N)),    β(N) = β·(N/N₀)^κ,    N₀ = 10⁹ parameters

κ = d log β / d log N is the drift of the data exponent per e-fold of N; κ = 0 is Chinchilla
exactly. The log-linear β(N) is the Farseer exponent exp(a₁·N^c₁ + b₁) to first order in a small
c₁ (N^c₁ ≈ 1 + c₁·log N), and like it stays positive at any N, so an extrapolation never has
the loss rise with more data. The coefficient B stays constant (Farseer lets it vary with N too;
with a handful of sizes that was one degree of freedom too many).

Parameters: ``E``, ``log_A``, ``alpha``, ``log_B``, ``beta`` (β at N₀) and ``kappa``; reported
also as ``A`` and ``B``. Default priors: Chinchilla's for the first five and
κ ~ Normal(0, 0.03), so that across three decades of N (6.9 e-folds) β moves by a factor
exp(±0.21) at one sd: weak, but it keeps κ from absorbing the run-to-run noise of a small table.
There is no closed-form compute-optimal split: the optimum is found per draw and budget by
:func:`bayes_scaling.laws.law.numerical_optimum`, so bands at a budget, allocation and targets
work as for Chinchilla.

Measured (default fit, seed 1): it passes the gate at once on chinchilla-epoch (240 runs, 8 s),
loss-to-loss/fineweb-100b and the OLMo ladder, and on Gemstones after the rescue ladder's
longer rung. On all four κ's 90% interval lies below 0 (−0.005 to −0.037: the data exponent
falls with model size). In the protocol backtests of ``benchmarks/law_skill.py`` it had the
best 90% interval score of the four laws on the OLMo ladder and loss-to-loss, and took most of
the backtest-skill weight on every ladder tried.
"""

from __future__ import annotations

import math

from bayes_scaling.laws.chinchilla import _chinchilla_priors
from bayes_scaling.laws.law import Law, numerical_optimum
from bayes_scaling.priors import Prior

#: The model size at which ``beta`` is the data exponent (parameters).
N_REF = 1e9
LOG_N_REF = math.log(N_REF)


def _beta_at(p, log_n, xp):
    """β(N) = β·(N/N₀)^κ, on the log scale."""
    return xp.exp(xp.log(p["beta"]) + p["kappa"] * (log_n - LOG_N_REF))


def _farseer_fn(x, p, xp):
    log_n = xp.log(x["n_params"])
    return (
        p["E"]
        + xp.exp(p["log_A"] - p["alpha"] * log_n)
        + xp.exp(p["log_B"] - _beta_at(p, log_n, xp) * xp.log(x["n_tokens"]))
    )


def kappa_prior() -> Prior:
    """Default prior of κ = d log β / d log N: Normal(0, 0.03), centred on Chinchilla (κ = 0)."""
    return Prior(
        "Normal",
        {"mu": 0.0, "sigma": 0.03},
        why="centred on Chinchilla (kappa = 0); beta moves by exp(±0.21) over 3 decades of N",
    )


def _farseer_priors(stats):
    return {**_chinchilla_priors(stats), "kappa": kappa_prior()}


FARSEER = Law(
    name="farseer",
    inputs=("n_params", "n_tokens"),
    params=("E", "log_A", "alpha", "log_B", "beta", "kappa"),
    fn=_farseer_fn,
    default_priors=_farseer_priors,
    exponents={"alpha": "n_params", "beta": "n_tokens"},
    # log B is sampled centred with β (exact at κ = 0, close for small κ): a reparameterisation
    # with unit Jacobian, so it is valid for any κ
    centred={"log_A": ("n_params", "alpha"), "log_B": ("n_tokens", "beta")},
    derived={
        "A": lambda p, xp: xp.exp(p["log_A"]),
        "B": lambda p, xp: xp.exp(p["log_B"]),
    },
    optimum=numerical_optimum(_farseer_fn),
    description="L(N, D) = E + A·N^(−α) + B·D^(−β·(N/1e9)^κ) (reduced Farseer, Li et al. 2025)",
)
