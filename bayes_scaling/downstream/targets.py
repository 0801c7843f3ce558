"""Targets and leaving chance of a :class:`~bayes_scaling.downstream.result.DownstreamFit`.

Draws as in :mod:`bayes_scaling.downstream.answers` (each step-1 draw through step 2's paired
draw, with the extrapolation discrepancy δ, step 1's run noise ε₁ and step 2's noise ε₂):

- :func:`target_answer`: P(m ≥ target) at budgets (≤ for an error), and the compute needed for
  the target with probability p along the optimal split (the p-quantile of the per-draw compute,
  :func:`~bayes_scaling.answers.intervals.needed_quantiles`), or "not reachable with probability
  p" in the core's words (each draw's path m_s(C) with one ε₁, δ-curve and ε₂ per draw, as in
  :mod:`bayes_scaling.answers.targets`);
- :func:`leaves_chance`: the loss L* at which the expected metric leaves chance by a margin
  (default: 2σ, two evaluation-noise sds), L* = link⁻¹(chance + margin; φ_s), with its interval,
  how far the loss must still fall from the best run's, and the compute at which step 1 gets
  there: the honest version of "emergence".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import xarray as xr

from bayes_scaling import _format as fmt
from bayes_scaling import _validate as check
from bayes_scaling._constants import SAMPLE_DIMS
from bayes_scaling.answers.bands import resolve_sizes
from bayes_scaling.answers.intervals import central_interval, needed_quantiles
from bayes_scaling.discrepancy import irreducible_loss, with_error
from bayes_scaling.downstream.answers import (
    DOWNSTREAM_PROBS,
    _paired,
    _seed,
    _sign,
    link_error,
    metric_draws,
)
from bayes_scaling.downstream.result import DownstreamFit
from bayes_scaling.model.likelihoods import draw_noise
from bayes_scaling.results.base import method_of

#: Compute searched for a target, as multiples of the largest run's compute, and its points per
#: decade.
SEARCH = (1e-2, 1e8, 20)


# --- targets --------------------------------------------------------------------------------


def _path_draws(fit: DownstreamFit, compute, tokens_per_param, seed, discrepancy):
    """Per-draw metric along budgets (dim point), with one ε₁, δ-curve, δ₂-curve and ε₂ per
    draw, so that each draw's path rises (or falls) smoothly with compute."""
    sizes = resolve_sizes(fit.step1, compute=compute, tokens_per_param=tokens_per_param)
    step1 = fit.step1
    post = step1.posterior
    law = step1.law
    mean = law.fn({c: sizes[c] for c in law.inputs}, {p: post[p] for p in law.params}, np)
    mean = mean.broadcast_like(post["sigma"]).transpose(*SAMPLE_DIMS, "point")
    disc = step1.discrepancy if discrepancy else None
    if disc is not None:
        error = disc.error(sizes, draws_shape=mean.shape[:2], seed=seed).broadcast_like(mean)
        mean = with_error(mean, error, irreducible_loss(law, post))
    shape = (post.sizes["chain"], post.sizes["draw"], 1)
    eps1 = draw_noise(post, step1.settings.get("likelihood", "student_t"), shape, seed)
    via = mean * np.exp(xr.DataArray(np.asarray(eps1)[..., 0], dims=SAMPLE_DIMS))
    p2 = _paired(fit, seed)
    eps2 = np.random.default_rng([seed, 47]).standard_normal(shape[:2]) * np.asarray(p2["sigma"])
    eps2 = xr.DataArray(eps2, dims=SAMPLE_DIMS) + link_error(fit, sizes, seed, discrepancy)
    metric = fit.link.evaluate(p2, via, fit.link_constants()) + eps2
    return metric.clip(0, fit.constants["ceiling"]).transpose(*SAMPLE_DIMS, "point"), via


def first_crossing(values: np.ndarray, grid: np.ndarray, level) -> np.ndarray:
    """Per row of ``values`` (..., point) rising along ``grid``, the first grid value where it
    reaches ``level`` (broadcast per row), interpolated in log grid; inf where it never does."""
    level = np.broadcast_to(np.asarray(level, float), values.shape[:-1])[..., None]
    hit = values >= level
    first = np.argmax(hit, axis=-1)
    never = ~hit.any(axis=-1)
    i = np.clip(first, 1, values.shape[-1] - 1)
    v0 = np.take_along_axis(values, (i - 1)[..., None], -1)[..., 0]
    v1 = np.take_along_axis(values, i[..., None], -1)[..., 0]
    frac = np.clip((level[..., 0] - v0) / np.where(v1 > v0, v1 - v0, np.inf), 0, 1)
    log_grid = np.log(grid)
    out = np.exp(log_grid[i - 1] + frac * (log_grid[i] - log_grid[i - 1]))
    out = np.where(first == 0, grid[0], out)
    return np.where(never, np.inf, out)


def _search_grid(fit) -> np.ndarray:
    largest = float(fit.runs["compute"].max())
    lo, hi, per = SEARCH
    n = int(round(np.log10(hi / lo) * per)) + 1
    return largest * np.logspace(np.log10(lo), np.log10(hi), n)


@dataclass(frozen=True)
class MetricTarget:
    """Answers about one target metric."""

    metric: str
    target: float
    higher_is_better: bool
    compute: list  # budgets asked about
    prob_reach: list  # P(metric reaches the target) at each budget
    prob_unreachable: float  # q: no compute in the search range reaches it
    compute_needed: dict  # {p: FLOPs, or None when not reachable with probability p}
    multiple_of_largest: dict
    largest_run_compute: float

    def to_dict(self) -> dict:
        return asdict(self)

    def met_from_start(self, p: float) -> bool:
        """Whether the compute found for probability ``p`` is the search's lower end."""
        m = self.multiple_of_largest.get(p)
        return m is not None and m <= SEARCH[0] * (1 + 1e-9)

    def sentences(self) -> list[str]:
        """Plain statements; an unreachable target is never hidden behind a number."""
        word = "at least" if self.higher_is_better else "at most"
        out = [
            f"P({self.metric} {word} {self.target:.3g} at {fmt.flops(c)} FLOPs) = {fmt.prob(p)}."
            for c, p in zip(self.compute, self.prob_reach, strict=True)
        ]
        searched = f" up to {fmt.flops(SEARCH[1] * self.largest_run_compute)} FLOPs"
        return out + fmt.reach_sentences(f"{self.target:.3g}", self, searched)


def target_answer(
    fit: DownstreamFit,
    target: float,
    *,
    compute=None,
    prob=None,
    tokens_per_param=None,
    seed=None,
    discrepancy=True,
) -> MetricTarget:
    """P(metric reaches ``target``) at budgets ``compute``, and the compute needed for it with
    each probability in ``prob`` (or "not reachable with probability q"); see the module
    docstring."""
    target = check.fraction(target, "target") if fit.constants["ceiling"] <= 1 else target
    probs = check.probabilities(DOWNSTREAM_PROBS if prob is None else prob, "prob")
    seed, sign = _seed(fit, seed), _sign(fit)
    discrepancy = check.flag(discrepancy, "discrepancy")
    asked = [] if compute is None else list(check.positive_array(compute, "compute"))
    reach = []
    if asked:
        sizes = resolve_sizes(fit.step1, compute=asked, tokens_per_param=tokens_per_param)
        m = metric_draws(fit, sizes, seed, discrepancy)["metric"]
        reach = [float(v) for v in ((sign * m >= sign * target).mean(SAMPLE_DIMS)).values]
    grid = _search_grid(fit)
    path, _ = _path_draws(fit, grid, tokens_per_param, seed, discrepancy)
    c_reach = first_crossing(sign * path.values, grid, sign * target).ravel()
    largest = float(fit.runs["compute"].max())
    found = needed_quantiles(c_reach, probs)
    needed, q = found.values, found.prob_unreachable
    multiple = {p: None if c is None else c / largest for p, c in needed.items()}
    return MetricTarget(
        fit.metric,
        float(target),
        fit.link.higher_is_better,
        [float(c) for c in asked],
        reach,
        q,
        needed,
        multiple,
        largest,
    )


# --- leaving chance ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChanceAnswer:
    """Where a task leaves chance: the loss threshold, how far the loss must still fall, when."""

    metric: str
    via: str
    prob: float
    margin: str  # how the margin was set
    threshold: tuple  # (lower, median, upper) of L*
    best_loss: float  # the lowest via loss among the runs
    fall: tuple  # (lower, median, upper) of best_loss − L* (> 0: must still fall)
    prob_already: float  # P(the best run has already left chance)
    prob_never: float  # P(the link never rises the margin above chance)
    compute: tuple  # (lower, median, upper) FLOPs at which step 1 reaches L* (inf: beyond)

    def to_dict(self) -> dict:
        return asdict(self)

    def sentence(self) -> str:
        lo, med, hi = self.threshold
        p = fmt.prob(self.prob)
        if self.prob_already >= 0.95:
            return (
                f"{self.metric} has left chance: its loss {self.via} is {self.best_loss:.3g} in "
                f"the best run, below the threshold {med:.3g} ({p}: {lo:.3g}–{hi:.3g})."
            )
        text = (
            f"{self.metric} leaves chance once {self.via} falls below {med:.3g} ({p}: "
            f"{lo:.3g}–{hi:.3g}), {self.fall[1]:.3g} below the best run's {self.best_loss:.3g}"
        )
        c_lo, c_med, c_hi = self.compute
        if np.isfinite(c_med):
            upper = fmt.flops(c_hi) if np.isfinite(c_hi) else "beyond the search"
            text += (
                f"; step 1 gets there at about {fmt.flops(c_med)} FLOPs ({fmt.flops(c_lo)}–{upper})"
            )
        if self.prob_never >= 0.05:
            text += f"; with probability {fmt.prob(self.prob_never)} it never rises that far"
        return text + "."


def leaves_chance(
    fit: DownstreamFit,
    *,
    margin: float | None = None,
    prob: float = 0.9,
    tokens_per_param=None,
    seed=None,
    discrepancy=True,
) -> ChanceAnswer:
    """The loss at which the expected metric first exceeds chance by ``margin`` (default 2σ per
    draw: distinguishable from chance in one evaluation), with its central ``prob`` interval."""
    prob = check.probability(prob, "prob")
    seed, sign = _seed(fit, seed), _sign(fit)
    p2 = _paired(fit, seed)
    chance = p2["chance"] if "chance" in p2 else fit.constants["chance"]
    if margin is None:
        size, how = 2 * p2["sigma"], "2 sd of the evaluation noise"
    else:
        size, how = check.positive(margin, "margin"), f"{margin:g}"
    level = chance + sign * size
    threshold = fit.link.invert(p2, level, fit.link_constants())
    threshold = xr.DataArray(np.asarray(threshold, float), dims=SAMPLE_DIMS)
    best = float(fit.runs[fit.via].min())
    never = ~np.isfinite(threshold.values)
    finite = threshold.values[~never]
    thr = _three(finite, prob) if finite.size else (np.nan,) * 3
    fall = tuple(best - v for v in thr[::-1])
    already = float(np.mean(np.where(never, False, threshold.values >= best)))
    grid = _search_grid(fit)
    _, via = _path_draws(fit, grid, tokens_per_param, seed, discrepancy)
    c = first_crossing(-via.values, grid, -np.where(never, -np.inf, threshold.values)).ravel()
    comp = _three(c, prob) if c.size else (np.inf,) * 3
    return ChanceAnswer(
        fit.metric, fit.via, prob, how, thr, best, fall, already, float(never.mean()), comp
    )


def _three(values: np.ndarray, prob: float) -> tuple:
    """(lower, median, upper) of the central ``prob`` interval of draws."""
    ci = central_interval(values, prob)
    return tuple(float(ci[v]) for v in ("lower", "median", "upper"))


@method_of(DownstreamFit)
def target(self, target: float, **kwargs) -> MetricTarget:
    """P(metric reaches ``target``) at budgets, and the compute needed; see
    :func:`target_answer`."""
    return target_answer(self, target, **kwargs)


@method_of(DownstreamFit)
def chance_threshold(self, **kwargs) -> ChanceAnswer:
    """The loss at which the task leaves chance; see :func:`leaves_chance`."""
    return leaves_chance(self, **kwargs)
