"""A population prior on the Chinchilla law's parameters, learned across public ladders.

With a few runs, E, the coefficients and the exponents of L(N, D) = E + A·N^(−α) + B·D^(−β) slide
along a ridge that the data do not close, and the bands are honest but wide. Across ladders the
five parameters are far from independent: Choshen et al. (2024, "A Hitchhiker's guide to scaling
law estimation") found three components explain 99.5% of their variance over 40+ model families.
This module holds such a prior as data:

    z = (log E − ℓ, log A − ℓ, α, log B − ℓ, β) ~ MvNormal(m, Σ),   ℓ = log median loss of the table

The coordinates are **data-scaled in the loss only**: E, A and B scale with the loss (the
tokenizer, the validation set, nats or bits), and ℓ, the median of the table's log losses, takes
that scale out; the exponents are scale free. The median, not the lowest loss, is the reference
because it moves little when a table is subsampled (a random tenth of a ladder has about its
median, while its lowest loss is the largest run it happened to keep). N and D keep their units.

How it is learned (:func:`learn_population`), from each ladder's posterior of z (its full table,
the default fit, summarised by the draws' mean and covariance):

1. families weight equally (a family is a ladder's name up to its first "/": the six
   loss-to-loss corpora are one family, each weighing 1/6);
2. Σ is the covariance of the mixture of the ladders' posteriors: the weighted mean of their
   covariances (what one ladder does not pin down) plus the weighted spread of their means (how
   ladders differ), the latter × n/(n − 1) (unbiased, n the effective number of ladders, Kish)
   and × (1 + 1/n) (a new ladder's spread around a mean estimated from n ladders);
3. Σ's correlations are shrunk to their top 3 principal components (Choshen et al.'s three),
   the rest of each variance kept on the diagonal, so the variances are unchanged and the
   correlations a handful of families cannot support are damped.

In a fit it enters as exact marginals, each a standard family (E ~ LogNormal, log A and log B ~
Normal, α and β ~ TruncatedNormal above 0), plus one entry :data:`JOINT` holding the Cholesky
factor of the correlation matrix; the model adds the MvNormal's log density minus the
marginals' (:func:`bayes_scaling.model.builder.build_model`), so the joint density is the MvNormal
restricted to α, β > 0. Every other user of a fit's priors (reports, anchored coordinates) reads the
marginals; :func:`bayes_scaling.priors.draw_priors` draws jointly.

``fit`` uses it by default for Chinchilla tables of fewer than 15 runs
(:data:`bayes_scaling.inference.sampling.SMALL_TABLE`): leave-one-family-out on the corpus
(``benchmarks/sparse.py``) it narrowed the bands of 6- and 10-run subsamples at the same or
closer-to-nominal coverage, and changed nothing measurable at 20 runs or on the full fit parts.

The prior ships as ``law_prior.json`` beside this module, with each ladder's summary, so a prior
without some families (leave-one-family-out) is recomputed without refitting:
``learned_prior(exclude={"gemstones"})``. ``scripts/learn-law-prior`` regenerates it.

**Run noise.** The same file holds a population prior on σ, the scale of the run noise of log
loss, which ``priors="learned"`` uses instead of the default HalfNormal: a floor learned from the
ladders' full tables, which keeps a few runs out of the funnel at σ → 0
(:mod:`bayes_scaling.priors.noise`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from os import PathLike
from pathlib import Path

import numpy as np

from bayes_scaling._disk import write_atomic
from bayes_scaling.errors import ArgumentError, PriorError
from bayes_scaling.priors.noise import METHOD as NOISE_METHOD
from bayes_scaling.priors.noise import (
    NOISE,
    NOISE_KEY,
    noise_population,
    noise_prior,
    noise_summary,
)
from bayes_scaling.priors.population import (
    effective_ladders,
    family_of,
    family_weights,
    inflated_between,
)
from bayes_scaling.priors.prior import Prior

#: The shipped file, beside this module.
SHIPPED = "law_prior.json"
FORMAT = "bayes_scaling.learned_law_prior/1"
#: The law the prior is for.
LAW = "chinchilla"
#: The law's parameters in the order of z, and whether z holds their log (E) or themselves.
PARAMS = ("E", "log_A", "alpha", "log_B", "beta")
LOG_PARAMS = frozenset({"E"})
#: Coordinates shifted by ℓ = log median loss (loss-scaled).
LOSS_SCALED = frozenset({"E", "log_A", "log_B"})
COORDINATES = ("log E - l", "log A - l", "alpha", "log B - l", "beta")
#: The priors entry holding the correlation (its Cholesky factor, lower triangle by rows).
JOINT = "law_joint"
#: Principal components kept in the correlation (Choshen et al. 2024).
COMPONENTS = 3
#: Floor of each coordinate's own (diagonal) share of its variance after the shrinkage.
MIN_RESIDUAL = 0.02
#: Values of ``fit(priors=...)`` that are names.
NAMES = ("default", "learned")


def chol_keys(k: int = len(PARAMS)) -> list[str]:
    """Keys of the Cholesky factor's lower triangle in the :data:`JOINT` entry."""
    return [f"L{i}{j}" for i in range(k) for j in range(i + 1)]


@dataclass(frozen=True)
class LearnedLawPrior:
    """The population prior z ~ MvNormal(mean, cov) with its provenance.

    Parameters
    ----------
    mean : array, shape (5,)
        Population mean of z, in :data:`COORDINATES` order.
    cov : array, shape (5, 5)
        Population covariance of z (shrunk, see the module docstring).
    ladders : list of dict
        Each ladder's summary: ``name, family, weight, runs, converged, mean, cov``.
    provenance : dict
        How and when it was made (ladders, method, date, package version, excluded families).
    noise : dict
        The learned prior of σ (:func:`bayes_scaling.priors.noise.noise_population`), or empty
        (a file without it: σ keeps its default prior).

    Examples
    --------
    >>> prior = learned_prior()                     # doctest: +SKIP
    >>> prior.priors({"median_loss": 2.5})["alpha"]  # doctest: +SKIP
    Prior(TruncatedNormal(mu=0.33, sigma=0.1, lower=0))
    """

    mean: np.ndarray
    cov: np.ndarray
    ladders: list = field(default_factory=list)
    provenance: dict = field(default_factory=dict)
    noise: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        excluded = self.provenance.get("excluded_families") or []
        return "learned" if not excluded else f"learned without {', '.join(excluded)}"

    @property
    def sd(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))

    @property
    def correlation(self) -> np.ndarray:
        return self.cov / np.outer(self.sd, self.sd)

    def priors(self, stats: Mapping[str, float]) -> dict[str, Prior]:
        """The law's priors for a table with these :func:`~bayes_scaling.priors.runs_stats`:
        the five marginals, the :data:`JOINT` correlation entry and, when the prior has one,
        σ's (:data:`~bayes_scaling.priors.noise.NOISE`, an InverseGamma floor)."""
        level = float(np.log(stats["median_loss"]))
        why = f"{self.name} population prior across public ladders (correlated; see {JOINT})"
        out = {}
        for k, name in enumerate(PARAMS):
            mu = float(self.mean[k] + (level if name in LOSS_SCALED else 0.0))
            sigma = float(self.sd[k])
            if name in LOG_PARAMS:
                out[name] = Prior("LogNormal", {"mu": mu, "sigma": sigma}, why=why)
            elif name in ("alpha", "beta"):
                params = {"mu": mu, "sigma": sigma, "lower": 0.0}
                out[name] = Prior("TruncatedNormal", params, why=why)
            else:
                out[name] = Prior("Normal", {"mu": mu, "sigma": sigma}, why=why)
        chol = np.linalg.cholesky(self.correlation)
        values = {f"L{i}{j}": float(chol[i, j]) for i in range(len(PARAMS)) for j in range(i + 1)}
        out[JOINT] = Prior(
            "MvNormal",
            values,
            why=f"correlation of z = ({', '.join(COORDINATES)}), l = log median loss: "
            "Cholesky factor by rows; the marginals are the law's priors",
        )
        if self.noise:
            out[NOISE] = noise_prior(self.noise, self.name)
        return out

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "law": LAW,
            "coordinates": list(COORDINATES),
            "mean": [float(v) for v in self.mean],
            "cov": [[float(v) for v in row] for row in self.cov],
            "ladders": self.ladders,
            "provenance": self.provenance,
            **({"noise": dict(self.noise)} if self.noise else {}),
        }

    def save(self, path: str | PathLike) -> Path:
        return write_atomic(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def from_dict(cls, d: Mapping) -> LearnedLawPrior:
        if d.get("format") != FORMAT:
            raise PriorError(f"not a learned law prior (format {d.get('format')!r}, need {FORMAT})")
        return cls(
            np.asarray(d["mean"], float),
            np.asarray(d["cov"], float),
            d["ladders"],
            d["provenance"],
            dict(d.get("noise") or {}),
        )


def posterior_coordinates(posterior, median_loss: float) -> np.ndarray:
    """A Chinchilla posterior's draws of z (draws × 5), for a table with this median loss.

    ``posterior`` maps each of :data:`PARAMS` to draws (any shape; flattened)."""
    level = float(np.log(median_loss))
    cols = []
    for name in PARAMS:
        x = np.asarray(posterior[name], float).ravel()
        x = np.log(x) if name in LOG_PARAMS else x
        cols.append(x - (level if name in LOSS_SCALED else 0.0))
    return np.column_stack(cols)


def ladder_summary(name: str, draws: np.ndarray, *, runs: int, converged: bool, sigma=None) -> dict:
    """One ladder's entry: the mean and covariance of its draws of z and, given its draws of
    σ, the mean and sd of log σ (:func:`noise_summary`)."""
    out = {
        "name": name,
        "family": family_of(name),
        "runs": int(runs),
        "converged": bool(converged),
        "mean": [float(v) for v in draws.mean(axis=0)],
        "cov": [[float(v) for v in row] for row in np.cov(draws, rowvar=False)],
    }
    return out if sigma is None else {**out, NOISE_KEY: noise_summary(sigma)}


def shrink_correlation(cov: np.ndarray, components: int = COMPONENTS) -> np.ndarray:
    """Keep the variances; replace the correlation R by its top principal components plus
    the diagonal remainder: R' = V_k Λ_k V_kᵀ + diag(1 − diag(V_k Λ_k V_kᵀ)), each coordinate
    keeping at least :data:`MIN_RESIDUAL` of its variance as its own."""
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    values, vectors = np.linalg.eigh(corr)
    top = np.argsort(values)[::-1][:components]
    low_rank = (vectors[:, top] * values[top]) @ vectors[:, top].T
    scale = np.sqrt(np.clip((1 - MIN_RESIDUAL) / np.diag(low_rank), None, 1.0))
    low_rank = low_rank * np.outer(scale, scale)
    shrunk = low_rank + np.diag(1 - np.diag(low_rank))
    return shrunk * np.outer(sd, sd)


def learn_population(
    ladders: Iterable[Mapping], exclude: Iterable[str] = (), provenance: Mapping | None = None
) -> LearnedLawPrior:
    """The population prior from ladders' summaries (:func:`ladder_summary`), leaving out the
    families in ``exclude`` (see the module docstring for the method)."""
    exclude = sorted(set(exclude))
    used = [dict(lad) for lad in ladders if lad["family"] not in exclude]
    if len({lad["family"] for lad in used}) < 2:
        raise PriorError("a population prior needs ladders of at least two families")
    w = family_weights(used)
    means = np.array([lad["mean"] for lad in used])
    covs = np.array([lad["cov"] for lad in used])
    mean = w @ means
    n_eff = effective_ladders(w)
    between = inflated_between(means, w)
    within = np.einsum("l,lij->ij", w, covs)
    cov = shrink_correlation(between + within)
    for lad, weight in zip(used, w, strict=True):
        lad["weight"] = float(weight)
    info = {
        **(provenance or {}),
        "ladders": [lad["name"] for lad in used],
        "excluded_families": exclude,
        "effective_ladders": float(n_eff),
        "method": "z = (log E - l, log A - l, alpha, log B - l, beta), l = log median loss; "
        "each ladder's full-table posterior (mean, covariance); families weighted equally; "
        "covariance = mean within-ladder covariance + between-ladder covariance x n/(n-1) x "
        f"(1 + 1/n), n = Kish effective ladders; correlation shrunk to its top {COMPONENTS} "
        "principal components, variances kept",
    }
    noise = noise_population(used)
    if noise:
        info["noise_method"] = NOISE_METHOD
    return LearnedLawPrior(mean, cov, used, info, noise)


def with_noise(
    prior: LearnedLawPrior, summaries: Mapping[str, Mapping], provenance: Mapping | None = None
) -> LearnedLawPrior:
    """``prior`` with each ladder's log-σ summary (by ladder name, :func:`noise_summary`) and
    the noise prior learned from them; the law's part is unchanged."""
    missing = [lad["name"] for lad in prior.ladders if lad["name"] not in summaries]
    if missing:
        raise PriorError(f"no noise summary for the ladders {missing}")
    ladders = [{**lad, NOISE_KEY: dict(summaries[lad["name"]])} for lad in prior.ladders]
    info = {**prior.provenance, **(provenance or {}), "noise_method": NOISE_METHOD}
    return LearnedLawPrior(prior.mean, prior.cov, ladders, info, noise_population(ladders))


def load(path: str | PathLike | None = None) -> LearnedLawPrior:
    """The learned prior in ``path``, or the one shipped with the package."""
    if path is None:
        text = resources.files("bayes_scaling.priors").joinpath(SHIPPED).read_text()
    else:
        text = Path(path).read_text()
    return LearnedLawPrior.from_dict(json.loads(text))


def learned_prior(exclude: Iterable[str] = (), path=None) -> LearnedLawPrior:
    """The shipped learned prior, or, with ``exclude``, the one learned without those families.

    Examples
    --------
    >>> learned_prior(exclude={"olmo-ladder"}).name   # doctest: +SKIP
    'learned without olmo-ladder'
    """
    shipped = load(path)
    exclude = set(exclude)
    if not exclude:
        return shipped
    keep = ("fit", "data", "created_at", "noise_created_at", "noise_fit")
    keep = {k: v for k, v in shipped.provenance.items() if k in keep}
    return learn_population(shipped.ladders, exclude, {**keep, "derived_from": SHIPPED})


def check_priors_argument(value):
    """``fit``'s ``priors``: None, ``"default"``, ``"learned"``, a :class:`LearnedLawPrior` or
    a dict of overrides by parameter name. Raises :class:`ArgumentError` otherwise."""
    if value is None or isinstance(value, LearnedLawPrior | Mapping):
        return value
    if isinstance(value, str) and value in NAMES:
        return value
    raise ArgumentError(
        "priors",
        f"expected 'default', 'learned', a LearnedLawPrior or a dict of overrides by parameter "
        f"name, got {value!r}",
    )


#: How :func:`prior_label` names a ``priors`` dict of overrides (their names follow).
OVERRIDES = "default with overrides of "


def prior_label(value) -> str:
    """What ``settings["priors"]`` says for a ``priors`` argument."""
    if value is None or value == "default":
        return "default"
    if isinstance(value, LearnedLawPrior):
        return value.name
    if isinstance(value, str):
        return value
    return OVERRIDES + ", ".join(sorted(map(str, value)))


def resolve_learned(value, law_name: str, stats: Mapping[str, float]) -> dict[str, Prior] | None:
    """The law's learned priors when ``value`` asks for them (``"learned"`` or a
    :class:`LearnedLawPrior`), else None."""
    if not (value == "learned" or isinstance(value, LearnedLawPrior)):
        return None
    if law_name != LAW:
        raise ArgumentError(
            "priors",
            f"the learned prior is for the {LAW} law, not {law_name!r}; use priors='default' "
            "(CLI: --priors default) or, in Python, a dict of overrides",
        )
    prior = learned_prior() if isinstance(value, str) else value
    return prior.priors(stats)
