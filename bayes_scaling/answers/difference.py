"""ΔL = L_B − L_A at given sizes: both groups of a grouped fit at the same inputs, per draw.

Where :mod:`bayes_scaling.answers.gap` compares two recipes each on its own compute-optimal
split, :func:`loss_difference` puts both at the same sizes (``params`` and ``tokens``, or
``compute``), one distance beyond the runs (the worst axis, as for a single fit's bands). With
the fit's discrepancy each loss is L_g·exp(δ_shared(d) + δ_g(d)), the shared draw the same for
both groups, so the sign of ΔL carries the specific errors only (see the gap module's
docstring). :func:`difference_table` summarises the draws, row i for point i.
"""

from __future__ import annotations

import pandas as pd
import xarray as xr

from bayes_scaling import _validate as check
from bayes_scaling._constants import DEFAULT_PROB, SAMPLE_DIMS
from bayes_scaling.answers.allocation import flops_of
from bayes_scaling.answers.bands import argument_of
from bayes_scaling.answers.comparison import pick_pair, quantiles
from bayes_scaling.discrepancy.protocol import irreducible_loss, with_error
from bayes_scaling.errors import ArgumentError


def loss_difference(
    gfit,
    a: str | None = None,
    b: str | None = None,
    *,
    params=None,
    tokens=None,
    compute=None,
    unique_tokens=None,
    seed: int | None = None,
    discrepancy: bool = True,
    **aliases,
) -> xr.Dataset:
    """L_A, L_B and ΔL = L_B − L_A per draw at given sizes, both groups at the same inputs.

    With the fit's discrepancy (``discrepancy``, the default when it learned one) each loss
    carries δ_shared + δ_g at the points' distance beyond the runs (the worst axis), the shared
    draw the same for both groups (``seed``: the fit's by default), so ΔL's sign carries the
    specific errors only (module docstring).

    The sizes are the law's inputs, point by point: ``params`` and ``tokens`` for a law in N and
    D (e.g. ``params=[7e10], tokens=[1.4e12]``), ``compute`` for a law in compute,
    ``unique_tokens`` as well for a data-constrained law; a single value stands for every point.
    ``n_params=`` and ``n_tokens=`` are accepted as the old names of ``params`` and ``tokens``.
    Returns a Dataset with ``loss_a``, ``loss_b`` and ``difference``, dims
    ``(chain, draw, point)``, point i at the sizes' i-th values (coordinates named by runs-table
    column: ``n_params``, ``n_tokens``, ...); :func:`difference_table` summarises it.
    """
    where = "loss_difference"
    params = check.renamed(aliases, "n_params", "params", params, where, others=("n_tokens",))
    tokens = check.renamed(aliases, "n_tokens", "tokens", tokens, where, others=("n_params",))
    a, b = pick_pair(gfit.groups, a, b)
    given = {"n_params": params, "n_tokens": tokens, "compute": compute}
    given["unique_tokens"] = unique_tokens
    needs = " and ".join(argument_of(c) for c in gfit.law.inputs)
    for col, value in given.items():
        if value is not None and col not in gfit.law.inputs:
            raise ArgumentError(
                argument_of(col), f"law {gfit.law.name!r} compares at {needs}; drop this one"
            )
    for col in gfit.law.inputs:
        if given.get(col) is None:
            raise ArgumentError(
                argument_of(col), f"law {gfit.law.name!r} compares at {needs}; give all of them"
            )
    arrays = check.matched(
        {argument_of(c): check.positive_array(given[c], argument_of(c)) for c in gfit.law.inputs}
    )
    inputs = {c: arrays[argument_of(c)] for c in gfit.law.inputs}
    discrepancy = check.flag(discrepancy, "discrepancy")
    seed = gfit.settings.get("seed", 0) if seed is None else check.seed(seed)
    disc = gfit.discrepancy if discrepancy else None
    losses = []
    for g in (a, b):
        post = gfit.group_posterior(g)
        loss = gfit.law.evaluate(post, inputs)
        if disc is not None:
            sizes = {c: xr.DataArray(v, dims="point") for c, v in inputs.items()}
            if "compute" not in sizes and {"n_params", "n_tokens"} <= set(sizes):
                sizes["compute"] = flops_of(gfit, None) * sizes["n_params"] * sizes["n_tokens"]
            shape = (post.sizes["chain"], post.sizes["draw"])
            error = disc.error(sizes, draws_shape=shape, seed=seed, group=g)
            loss = with_error(loss, error, irreducible_loss(gfit.law, post))
        losses.append(loss)
    la, lb = losses
    out = xr.Dataset({"loss_a": la, "loss_b": lb, "difference": lb - la})
    out = out.assign_coords({c: ("point", v) for c, v in inputs.items()})
    return out.assign_attrs(a=a, b=b, discrepancy=disc.describe() if disc is not None else "off")


def difference_table(draws: xr.Dataset, prob: float = DEFAULT_PROB) -> pd.DataFrame:
    """One row per point of :func:`loss_difference`, row i for point i: both losses and ΔL with
    their central ``prob`` intervals, and P(B better)."""
    if not isinstance(draws, xr.Dataset) or not {"loss_a", "loss_b", "difference"} <= set(draws):
        raise ArgumentError("draws", "expected the Dataset that loss_difference() returns")
    prob = check.probability(prob, "prob")
    rows = []
    for i in range(draws.sizes["point"]):
        d = draws.isel(point=i)
        row = {c: float(d[c]) for c in draws.coords if c not in (*SAMPLE_DIMS, "point")}
        for name in ("loss_a", "loss_b", "difference"):
            lo, med, hi = quantiles(d[name], prob).to_numpy()
            row.update({name: med, f"{name}_lower": lo, f"{name}_upper": hi})
        row["p_b_better"] = float((d["difference"] < 0).mean())
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs.update(draws.attrs, prob=prob)
    return table
