"""``DownstreamFit``: a two-step chain (N, D) → intermediate loss → metric, as one saved result.

It holds both steps: step 1 is a whole :class:`~bayes_scaling.results.ScalingFit` (the law fitted
to the intermediate loss, with its extrapolation discrepancy), kept as the DataTree group
``step1``; step 2 is the link's posterior (the groups ``posterior``, ``sample_stats``,
``log_likelihood``, ``observed_data``, ``constant_data`` of the root, over the points step 2 saw).
The optional direct one-step alternative (the same link on −log10 C) is the group ``direct``;
``chain_log_likelihood`` holds the chain's pointwise log density of each run's metric given its
(N, D), and ``comparison`` their PSIS-LOO comparison. ``runs`` is the runs table it saw, with
the ``via`` and ``metric`` columns; ``link_discrepancy`` step 2's extrapolation discrepancy
(:mod:`bayes_scaling.discrepancy.link`). The root attributes hold the provenance
as for every result.

Answers (bands, targets, the loss at which a task leaves chance) are attached by
:mod:`bayes_scaling.downstream.answers`; the report by :mod:`bayes_scaling.downstream.report`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling._constants import DEFAULT_PROB, SAMPLE_DIMS, package_version
from bayes_scaling.data.runs import runs_hash
from bayes_scaling.discrepancy.link import LinkDiscrepancy
from bayes_scaling.downstream.links import Link, get_link
from bayes_scaling.priors import Prior, priors_from_json, priors_to_json
from bayes_scaling.results.base import FitResult
from bayes_scaling.results.diagnostics import Diagnostics
from bayes_scaling.results.io import register_format, scaling_from_tree
from bayes_scaling.results.scaling import ScalingFit

FORMAT = "bayes_scaling.downstream/1"
#: Reported noise: the learned extra scatter and the total sd sqrt(floor² + extra²).
NOISE_NAMES = ("sigma_extra", "sigma")


class DownstreamWarning(UserWarning):
    """The chain and the direct one-step law disagree beyond their intervals."""


def runs_dataset(runs: pd.DataFrame) -> xr.Dataset:
    """A runs table as a Dataset on ``run`` (text columns as str), for the DataTree."""
    run = runs["run_id"].astype(str).to_numpy()
    table = runs.drop(columns="run_id").reset_index(drop=True).rename_axis("run")
    ds = xr.Dataset.from_dataframe(table).assign_coords(run=run)
    for name in ds.data_vars:
        if ds[name].dtype == object:
            ds[name] = ds[name].astype(str)
    return ds


def merge_diagnostics(parts: dict[str, Diagnostics]) -> Diagnostics:
    """One gate over several fits: worst R-hat and ESS, all divergences, failures by step."""
    items = list(parts.items())
    return Diagnostics(
        max_rhat=max(d.max_rhat for _, d in items),
        min_ess_bulk=min(d.min_ess_bulk for _, d in items),
        min_ess_tail=min(d.min_ess_tail for _, d in items),
        n_divergent=sum(d.n_divergent for _, d in items),
        n_draws=items[-1][1].n_draws,
        failures=tuple(f"{name}: {f}" for name, d in items for f in d.failures),
        advice=tuple(a for _, d in items for a in d.advice),
    )


def make_downstream_tree(
    *,
    step1: ScalingFit,
    step2: dict,
    runs: pd.DataFrame,
    link: Link,
    priors: dict[str, Prior],
    constants: dict,
    diagnostics: Diagnostics,
    settings: dict,
    direct: dict | None = None,
    chain_loglik: xr.DataArray | None = None,
    comparison: pd.DataFrame | None = None,
    link_discrepancy: LinkDiscrepancy | None = None,
) -> xr.DataTree:
    """Assemble the DataTree (see the module docstring). ``step2`` and ``direct`` hold
    ``posterior``, ``sample_stats``, ``loglik`` (dims chain, draw, point) and ``loss`` / ``metric``
    (the points), and ``direct`` its ``diagnostics``."""
    attrs = {
        "format": FORMAT,
        "metric": settings["metric"],
        "via": settings["via"],
        "link": link.name,
        "link_description": link.description,
        "law": step1.law.name,
        "priors": priors_to_json(priors),
        "constants": json.dumps(constants),
        "settings": json.dumps(settings),
        "diagnostics": diagnostics.to_json(),
        "converged": int(diagnostics.converged),
        "package_version": package_version(),
        "runs_sha256": runs_hash(runs),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    nodes = {"/": xr.Dataset(attrs=attrs), **_step_nodes("", step2), "runs": runs_dataset(runs)}
    if direct is not None:
        nodes.update(_step_nodes("direct/", direct))
        nodes["direct"] = xr.Dataset(attrs={"diagnostics": direct["diagnostics"].to_json()})
    if chain_loglik is not None:
        run = runs["run_id"].astype(str).to_numpy()
        nodes["chain_log_likelihood"] = xr.Dataset({"metric": chain_loglik}).assign_coords(run=run)
    if comparison is not None:
        table = comparison.rename_axis("model").reset_index()
        nodes["comparison"] = xr.Dataset.from_dataframe(table.set_index("model"))
    if link_discrepancy is not None:
        nodes["link_discrepancy"] = link_discrepancy.to_dataset()
    tree = xr.DataTree.from_dict(nodes)
    tree["step1"] = step1.idata.copy()
    return tree


def _step_nodes(prefix: str, part: dict) -> dict:
    point = np.arange(len(part["metric"]))
    return {
        f"{prefix}posterior": part["posterior"],
        f"{prefix}sample_stats": part["sample_stats"],
        f"{prefix}log_likelihood": xr.Dataset({"metric": part["loglik"]}).assign_coords(
            point=point
        ),
        f"{prefix}observed_data": xr.Dataset(
            {"metric": ("point", np.asarray(part["metric"], float))}, coords={"point": point}
        ),
        f"{prefix}constant_data": xr.Dataset(
            {"loss": ("point", np.asarray(part["loss"], float))}, coords={"point": point}
        ),
    }


def pair_draws(posterior: xr.Dataset, like: xr.Dataset, seed: int = 0) -> xr.Dataset:
    """``posterior`` with the (chain, draw) shape of ``like`` (step 1's): itself when the shapes
    agree, else draws resampled with a fixed seed. Draw s of the result goes with draw s of
    step 1: the two steps' posteriors are independent, so any fixed pairing is valid."""
    shape = tuple(like.sizes[d] for d in SAMPLE_DIMS)
    coords = {d: like[d].values for d in SAMPLE_DIMS}
    if tuple(posterior.sizes[d] for d in SAMPLE_DIMS) == shape:
        return posterior.assign_coords(coords)
    flat = posterior.stack(sample=SAMPLE_DIMS)
    idx = np.random.default_rng([int(seed), 23]).integers(0, flat.sizes["sample"], shape)
    picked = flat.isel(sample=xr.DataArray(idx, dims=SAMPLE_DIMS))
    picked = picked.drop_vars(["sample", *SAMPLE_DIMS], errors="ignore")
    return picked.assign_coords(coords)


class DownstreamFit(FitResult):
    """A fitted two-step chain: step 1 a :class:`ScalingFit` of the intermediate loss, step 2 a
    link from that loss to the metric, and optionally the direct one-step alternative.

    Made by :func:`bayes_scaling.fit_downstream` or :func:`bayes_scaling.load`; it never samples.
    ``converged`` is the gate over both steps and, when fitted, the direct alternative, whose
    bands and comparison are shown beside the chain's (its own gate alone is
    ``direct_diagnostics``). ``posterior`` is step 2's; ``step1.posterior`` step 1's.

    Attributes
    ----------
    idata : xarray.DataTree
    step1 : ScalingFit
    link : Link
    priors : dict of Prior
        Step 2's priors.
    constants : dict
        ``chance`` (None when learned), ``ceiling``, ``ref`` (mean loss of step 2's points),
        ``noise_floor`` (checkpoint noise of the metric) and ``noise_floor_source``.
    diagnostics : Diagnostics
    runs : DataFrame
        One row per model: canonical sizes, ``via`` and ``metric``.
    settings : dict
        ``metric``, ``via``, sampler settings, seed, the rescue record of step 2.
    """

    FORMAT = FORMAT

    def __init__(self, idata, step1, link, priors, constants, diagnostics, runs, settings):
        self.idata, self.step1, self.link, self.priors = idata, step1, link, priors
        self.constants, self.diagnostics, self.runs = constants, diagnostics, runs
        self.settings = settings

    @classmethod
    def from_tree(cls, tree: xr.DataTree, step1: ScalingFit) -> DownstreamFit:
        """Read back a saved tree (``step1`` is its ``step1`` group, already read)."""
        settings = json.loads(tree.attrs["settings"])
        runs = tree["runs"].to_dataset().to_dataframe().rename_axis("run_id").reset_index()
        runs["run_id"] = runs["run_id"].astype(str)
        return cls(
            tree,
            step1,
            get_link(tree.attrs["link"]),
            priors_from_json(tree.attrs["priors"]),
            json.loads(tree.attrs["constants"]),
            Diagnostics.from_json(tree.attrs["diagnostics"]),
            runs,
            settings,
        )

    @property
    def law(self):
        """Step 1's law."""
        return self.step1.law

    @property
    def metric(self) -> str:
        return self.settings["metric"]

    @property
    def via(self) -> str:
        return self.settings["via"]

    @property
    def chance_learned(self) -> bool:
        return self.constants.get("chance") is None

    @property
    def parameters(self) -> list[str]:
        """Step 2's reported parameters: the link's, its derived ones, chance if learned, noise."""
        extra = ["chance"] if self.chance_learned else []
        return [*self.link.params, *self.link.derived, *extra, *NOISE_NAMES]

    @property
    def direct_posterior(self) -> xr.Dataset | None:
        """The direct one-step alternative's posterior (link on −log10 C), or None."""
        if "direct" not in self.idata.children:
            return None
        return self.idata["direct/posterior"].to_dataset()

    @property
    def direct_diagnostics(self) -> Diagnostics | None:
        if "direct" not in self.idata.children:
            return None
        return Diagnostics.from_json(self.idata["direct"].attrs["diagnostics"])

    @property
    def link_discrepancy(self) -> LinkDiscrepancy | None:
        """Step 2's extrapolation discrepancy (the link's error beyond the ladder), or None (a
        fit without discrepancy, or saved before it existed)."""
        if "link_discrepancy" not in self.idata.children:
            return None
        return LinkDiscrepancy.from_dataset(self.idata["link_discrepancy"].to_dataset())

    @property
    def comparison(self) -> pd.DataFrame | None:
        """The PSIS-LOO comparison of the chain and the direct law on the runs' metric (rows by
        rank, ArviZ's columns), or None."""
        if "comparison" not in self.idata.children:
            return None
        return self.idata["comparison"].to_dataset().to_dataframe()

    def link_constants(self) -> dict:
        """The constants the link function reads (chance only when given)."""
        out = {k: self.constants[k] for k in ("ceiling", "ref")}
        if not self.chance_learned:
            out["chance"] = self.constants["chance"]
        return out

    def paired(self, posterior: xr.Dataset, like: xr.Dataset, seed: int = 0) -> xr.Dataset:
        """See :func:`pair_draws`."""
        return pair_draws(posterior, like, seed)

    def summary(self, prob: float = DEFAULT_PROB) -> pd.DataFrame:
        """Both steps' posterior tables, stacked, with a ``step`` column (1 the law, 2 the link)."""
        second = super().summary(prob).drop(columns="step", errors="ignore")  # files of 0.1.0
        first = self.step1.summary(prob)
        table = pd.concat([first.assign(step=1), second.assign(step=2)], ignore_index=True).reindex(
            columns=["parameter", "step", *second.columns[1:]]
        )
        table.attrs.update(second.attrs)
        return table

    def _describe(self) -> str:
        return (
            f"metric={self.metric} via={self.via} law={self.law.name} link={self.link.name} "
            f"runs={len(self.runs)}"
        )


register_format(
    FORMAT, lambda tree: DownstreamFit.from_tree(tree, scaling_from_tree(tree["step1"]))
)
