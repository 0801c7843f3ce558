"""``PassKFit``: the difficulty distributions of one or more models on a benchmark; save and load.

Made by :func:`bayes_scaling.fit_passk`. Its DataTree holds

- ``posterior``: per model (dim ``model``) ``log_a``, ``log_b``, ``unsolvable_logit`` and
  the derived ``a``, ``b`` (the solvable problems' Beta) and ``pi`` (the unsolvable share), from
  the joint fit or from each model's own (``settings["pooling"]``); with the Beta mixture
  (``settings["difficulty"]``) also the hard component's ``log_a_hard``, ``log_hard_gap``,
  ``log_b_hard``, ``hard_logit`` and the derived ``a_hard``, ``b_hard``, ``hard_share``; with the
  logit-normal mixture instead :data:`LOGIT_PARAMETERS` (no a, b);
- ``models``: each model's gate and sampler record (R-hat, ESS, divergences, attempts, seconds)
  and its N and D when known;
- ``counts``: the whole counts table it saw (``model, problem, samples, correct`` ...);
- ``law_posterior`` (when the difficulty law was fitted): ``coef`` (dims ``param, term``),
  ``scatter`` (``param``) and the law-pooled ``theta`` (``model, param``); its design's centre and
  scale in the root attributes. A joint fit (``pooling="partial"``) stores its pooling there
  too, in its own coordinates (``param`` = log_a, log_b_over_a, unsolvable_logit) with ``z``
  (``model, param``), or as ``pool_posterior`` when the models have no sizes;

and the provenance attributes on the root (format tag, settings and diagnostics JSON, package
version, SHA-256 of the counts, created_at). No pymc is needed to read it or answer from it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling._constants import package_version
from bayes_scaling.passk.logit import LOGIT_PARAMS, NATURAL
from bayes_scaling.results.base import FitResult
from bayes_scaling.results.diagnostics import Diagnostics
from bayes_scaling.results.io import register_format

FORMAT = "bayes_scaling.passk/1"
PARAMETERS = ("log_a", "log_b", "unsolvable_logit", "a", "b", "pi")
#: The Beta mixture's hard component (``difficulty="beta-mixture"``), after :data:`PARAMETERS`.
HARD_PARAMETERS = ("log_a_hard", "log_b_hard", "hard_logit", "a_hard", "b_hard", "hard_share")
#: The logit-normal mixture's (``difficulty="logit-normal-mixture"``): its sampled parameters,
#: then the body's centre and sd in logit p, π, the hard component's share, centre and sd.
LOGIT_PARAMETERS = (*LOGIT_PARAMS, *NATURAL)


def counts_hash(counts: pd.DataFrame) -> str:
    """SHA-256 of the canonical counts table (CSV bytes)."""
    return hashlib.sha256(counts.to_csv(index=False).encode()).hexdigest()


def make_tree(
    posterior, models, counts, diag, settings, law_posterior=None, law_attrs=None, group=None
):
    """Assemble the result's DataTree (see the module docstring); ``law_posterior`` goes to the
    group ``group`` (default ``law_posterior``; ``pool_posterior`` for a joint fit without
    sizes)."""
    table = counts.reset_index(drop=True).rename_axis("row")
    counts_ds = xr.Dataset.from_dataframe(table)
    for name in counts_ds.data_vars:
        if counts_ds[name].dtype == object or str(counts_ds[name].dtype).startswith("str"):
            counts_ds[name] = counts_ds[name].astype(str)
    attrs = {
        "format": FORMAT,
        "settings": json.dumps(settings),
        "diagnostics": diag.to_json(),
        "converged": int(diag.converged),
        "package_version": package_version(),
        "counts_sha256": counts_hash(counts),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **{k: json.dumps(v) for k, v in (law_attrs or {}).items()},
    }
    groups = {
        "/": xr.Dataset(attrs=attrs),
        "posterior": posterior,
        "models": models,
        "counts": counts_ds,
    }
    if law_posterior is not None:
        groups[group or "law_posterior"] = law_posterior
    return xr.DataTree.from_dict(groups)


class PassKFit(FitResult):
    """Per-model difficulty distributions (Beta plus never-solvable mass) and, optionally, the law
    linking them to (N, D).

    Attributes
    ----------
    idata : xarray.DataTree
    counts : DataFrame
        The counts table it saw (also ``runs``, for the protocol).
    diagnostics : Diagnostics
        The gate over every model (and the law): converged only when all passed.
    settings : dict
    """

    FORMAT = FORMAT

    def __init__(self, idata: xr.DataTree, counts: pd.DataFrame, diagnostics, settings: dict):
        self.idata, self.counts = idata, counts
        self.diagnostics, self.settings = diagnostics, settings

    @property
    def runs(self) -> pd.DataFrame:
        return self.counts

    @property
    def models(self) -> list[str]:
        """The models, in the order of the counts table."""
        return [str(m) for m in self.posterior["model"].values]

    @property
    def parameters(self) -> list[str]:
        if "logit_mean" in self.posterior:  # the mixture's, or the crossed fit's (no hard part)
            return [p for p in LOGIT_PARAMETERS if p in self.posterior] + [
                p for p in ("log_loading", "log_sigma_within") if p in self.posterior
            ]
        hard = [p for p in HARD_PARAMETERS if p in self.posterior]
        return [*PARAMETERS, *hard]

    @property
    def difficulty(self) -> str:
        """``"beta"`` (one Beta), ``"beta-mixture"`` (a body and a hard component) or
        ``"logit-normal-mixture"`` (the same in logit p)."""
        return self.settings.get("difficulty", "beta")

    @property
    def model_info(self) -> pd.DataFrame:
        """One row per model: its gate, sampler record, N and D when known."""
        ds = self.idata["models"].to_dataset()
        return ds.to_dataframe().reset_index()

    @property
    def law_posterior(self) -> xr.Dataset | None:
        """The difficulty law's posterior (``coef``, ``scatter``, ``theta``), or None."""
        if "law_posterior" not in self.idata.children:
            return None
        return self.idata["law_posterior"].to_dataset()

    @property
    def pooling(self) -> str:
        """``"partial"`` (every model in one fit), ``"crossed"`` (one fit, the problems'
        difficulty shared) or ``"independent"`` (each on its own)."""
        return self.settings.get("pooling", "independent")

    @property
    def pool_posterior(self) -> xr.Dataset | None:
        """The joint fit's pooling (``coef``, ``scatter``, ``z``, ``theta``), with or without
        sizes; the crossed fit's problem effects (``problem_effect`` over ``problem``); None for
        independent fits."""
        if self.pooling not in ("partial", "crossed"):
            return None
        for group in ("law_posterior", "pool_posterior"):
            if group in self.idata.children:
                return self.idata[group].to_dataset()
        return None

    @property
    def law_design(self) -> dict | None:
        """The law's terms and its standardisation of (log N, log D), or None."""
        if "law_terms" not in self.idata.attrs:
            return None
        return {
            "terms": json.loads(self.idata.attrs["law_terms"]),
            "centre": np.asarray(json.loads(self.idata.attrs["law_centre"])),
            "scale": np.asarray(json.loads(self.idata.attrs["law_scale"])),
        }

    def _describe(self) -> str:
        law = " law" if self.law_posterior is not None else ""
        return (
            f"models={len(self.models)} problems={self.counts['problem'].nunique()} "
            f"counts={len(self.counts)} "
            f"draws={self.diagnostics.n_draws}{law}"
        )

    def _label_rows(self, table: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
        """Add ``model``: the model of each row."""
        table.insert(1, "model", [lab.split("[", 1)[1].rstrip("]") for lab in labels])
        return table


def from_tree(tree: xr.DataTree) -> PassKFit:
    """A :class:`PassKFit` from its saved tree."""
    diag = Diagnostics.from_json(tree.attrs["diagnostics"])
    settings = json.loads(tree.attrs["settings"])
    ds = tree["counts"].to_dataset()
    counts = ds.to_dataframe().reset_index(drop=True)
    for col in ("model", "problem"):
        counts[col] = counts[col].astype(str)
    for col in ("samples", "correct"):
        counts[col] = counts[col].astype(np.int64)
    return PassKFit(tree, counts, diag, settings)


register_format(FORMAT, from_tree)
