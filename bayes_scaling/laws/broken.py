"""A broken power law with one break (Caballero et al. 2022, "Broken Neural Scaling Laws", n = 1).

In one variable x ∈ {N, D, C}::

    L(x) = E + A·x^(−α)·(1 + (x/x_b)^(1/f))^(−Δα·f),   Δα = α' − α

Well below the break x_b the reducible loss falls as x^(−α); well above it as x^(−α'). The
smoothness f > 0 (in units of log x) sets how many e-folds of x the transition takes; f → 0 is a
sharp kink. α' > α means the curve steepens after the break, α' < α that it flattens.

The coefficient is parametrised by the reducible loss at the break, L_b = L(x_b) − E, and the law
is evaluated on the log scale, with a stable softplus log(1 + e^z) = logaddexp(0, z)::

    log(L − E) = log L_b − α·(log x − log x_b) − (α' − α)·f·(logaddexp(0, z) − log 2),
    z = (log x − log x_b)/f,      so that      log A = log L_b + α·log x_b + (α' − α)·f·log 2

Parameters: ``E``, ``log_Lb`` (log L_b), ``alpha`` (α), ``alpha_after`` (α'), ``log_xb`` (log x_b)
and ``f``; reported also as ``delta_alpha`` (Δα = α' − α), ``log_A``, ``A`` and ``x_break``.

Measured on simulated tables with a break (40–48 runs over C = 1e17–1e22 FLOPs, noise 0.5–1%,
seeds 0–9 of two designs, 20 fits per variant):

- α' and not Δα is sampled. Both exponents are then positive (the loss keeps falling with scale),
  which rules out a region where the curve rises after the break. With Δα ~ Normal(0, 0.3), one
  chain of four got stuck (R-hat ≈ 1.55) in 7 of 20 fits (4 × (500 + 500) draws); with α', in none.
- The coefficient is the loss at the break, not A centred at the runs' mean log x as elsewhere:
  A·x^(−α), extrapolated from before the break, is tied to the break's location and size. Fits
  that failed the gate (R-hat > 1.01, ESS < 400 or any divergence; 4 × (1000 + 1000)): 7 of 20
  against 13 of 20. The failures left are one or two divergences, or R-hat ≈ 1.01–1.02 for f or E;
  with ``fit(..., target_accept=0.99)`` 1 of 20 failed (R-hat 1.012 for f). Use that for this law.

On real tables (the OLMo ladder, a loss-to-loss corpus, Llama 3 isoFLOPs) the default fit fails
the gate on log x_b: the runs show no break (Δα's interval includes 0), so x_b and f keep their
flat priors and mix slowly. The rescue ladder of :func:`bayes_scaling.fit` passes them with more
draws; when it does not, :func:`identification` adds to the fit's message what the runs cannot
tell (no break seen; a break at the edge of the runs' range, and where runs are needed).
"""

from __future__ import annotations

import numpy as np

from bayes_scaling.laws.law import Law
from bayes_scaling.laws.power import one_variable
from bayes_scaling.priors import (
    break_location_prior,
    exponent_prior,
    irreducible_prior,
    log_reducible_loss_prior,
    smoothness_prior,
)

LOG_2 = 0.6931471805599453


def _log_a(p, xp):
    """log A of the pre-break power law A·x^(−α), from the loss at the break."""
    delta = p["alpha_after"] - p["alpha"]
    return p["log_Lb"] + p["alpha"] * p["log_xb"] + delta * p["f"] * LOG_2


def broken(x: str = "compute") -> Law:
    """Broken power law in one variable x (n_params, n_tokens or compute), with one break.

    L(x) = E + A·x^(−α)·(1 + (x/x_b)^(1/f))^(−(α'−α)·f): exponent α before the break x_b and α'
    after it, with smoothness f. Registered as ``"broken:<x>"``; ``"broken"`` alone means
    ``"broken:compute"``.

    Default priors: E and α as for :func:`~bayes_scaling.laws.power.power`, and α' like α (so
    Δα = α' − α is centred on 0, no break, with quartiles ±0.2); log L_b ~ Normal(log(median
    loss / 2), 2); log x_b flat over the runs' range of log x, the only place where a break can
    be seen; f ~ LogNormal(log 0.5, 0.7).

    Examples
    --------
    >>> import numpy as np
    >>> law = broken("n_params")
    >>> p = {"E": 1.7, "log_Lb": 0.0, "alpha": 0.3, "alpha_after": 0.3, "log_xb": 20.0, "f": 0.5}
    >>> bool(np.isclose(law.fn({"n_params": 1e9}, p, np), 1.7 + (1e9 / np.exp(20.0)) ** -0.3))
    True
    """
    x = one_variable(x, "broken")

    def fn(xs, p, xp):
        past = xp.log(xs[x]) - p["log_xb"]  # log(x / x_b)
        bend = p["f"] * (xp.logaddexp(0.0, past / p["f"]) - LOG_2)  # 0 at the break
        delta = p["alpha_after"] - p["alpha"]
        return p["E"] + xp.exp(p["log_Lb"] - p["alpha"] * past - delta * bend)

    def priors(stats):
        return {
            "E": irreducible_prior(stats),
            "log_Lb": log_reducible_loss_prior(stats),
            "alpha": exponent_prior(),
            "alpha_after": exponent_prior(),
            "log_xb": break_location_prior(stats, x),
            "f": smoothness_prior(),
        }

    return Law(
        name=f"broken:{x}",
        inputs=(x,),
        params=("E", "log_Lb", "alpha", "alpha_after", "log_xb", "f"),
        fn=fn,
        default_priors=priors,
        exponents={"alpha": x, "alpha_after": x},
        derived={
            "delta_alpha": lambda p, xp: p["alpha_after"] - p["alpha"],
            "log_A": _log_a,
            "A": lambda p, xp: xp.exp(_log_a(p, xp)),
            "x_break": lambda p, xp: xp.exp(p["log_xb"]),
        },
        description=f"L({x}) = E + A·{x}^(−α)·(1 + ({x}/x_b)^(1/f))^(−(α'−α)·f)",
    )


#: Share of the runs' range of log x at either end within which a break location "sits at the
#: edge" (where only the runs on one side of it are seen).
EDGE = 0.2


def identification(posterior, stats, x: str) -> tuple[str, str] | None:
    """What the runs cannot tell about the break, from a fit's draws: ``(what, advice)`` or None.

    Two cases, either or both: Δα = α' − α has a 90% interval that includes 0 (the runs show no
    break, so its location and smoothness are set by their priors), or the break's location
    sits within :data:`EDGE` of either end of the runs' range of log x (only runs on one side of
    it are seen). ``posterior`` holds draws of the law's parameters; ``stats`` is
    :func:`bayes_scaling.priors.runs_stats` of the fitted runs.
    """
    delta = (posterior["alpha_after"] - posterior["alpha"]).values.ravel()
    lo, hi = (float(v) for v in np.quantile(delta, [0.05, 0.95]))
    low, high = stats[f"min_log_{x}"], stats[f"max_log_{x}"]
    where = (float(np.median(posterior["log_xb"].values)) - low) / max(high - low, 1e-12)
    what, advice = [], []
    if lo < 0 < hi:
        what.append(
            f"the runs show no break: the change of exponent α' − α has a 90% interval "
            f"[{lo:.2f}, {hi:.2f}] that includes 0, so the break's location and smoothness are "
            "not identified"
        )
        advice.append(f"fit law='power:{x}' (no break) to these runs")
    if where > 1 - EDGE:
        what.append(
            f"the break location sits at the top of the runs' range ({x} up to "
            f"{np.exp(high):.3g}, the break's median at {np.exp(low + where * (high - low)):.3g})"
        )
        advice.append(f"runs beyond {x}={np.exp(high):.3g} are needed to place the break")
    elif where < EDGE:
        what.append(
            f"the break location sits at the bottom of the runs' range ({x} from "
            f"{np.exp(low):.3g}, the break's median at {np.exp(low + where * (high - low)):.3g})"
        )
        advice.append(f"runs below {x}={np.exp(low):.3g} are needed to place the break")
    if not what:
        return None
    return "; ".join(what), "; ".join(advice)
