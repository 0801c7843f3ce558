"""One protocol for every kind of discrepancy (scaling, group, link): the same methods with the
same signatures and attributes, save/load round trips, the error as a sum of per-draw curves that
is zero inside the data; and the bound: no draw's loss below its E, however far out."""

from __future__ import annotations

import inspect
from dataclasses import replace

import numpy as np
import pytest
import xarray as xr

from bayes_scaling.discrepancy import (
    Discrepancy,
    DiscrepancyKind,
    GroupDiscrepancy,
    LinkDiscrepancy,
    read_discrepancy,
    shipped_prior,
)
from bayes_scaling.errors import ArgumentError

REFERENCE = {"compute": 1e21, "n_params": 1e10, "n_tokens": 2e11}
SHAPE = (2, 300)
#: Points inside the data (d = 0), one decade out (d = 1) and far out (d = 9).
SIZES = {"compute": xr.DataArray([1e20, 1e22, 1e30], dims="point")}
METHODS = (
    "curves", "term_distances", "error", "shift_and_sd", "quantiles", "describe", "to_dataset"
)  # fmt: skip
ATTRIBUTES = ("kind", "scale", "reference", "cut_on", "cuts", "n_checked", "learned", "prior")


def _scaling(seed=0, prior=None) -> Discrepancy:
    prior = shipped_prior() if prior is None else prior
    rng = np.random.default_rng(seed)
    weights = np.exp(prior.log_weights) * rng.uniform(0.5, 1.5, prior.log_weights.shape)
    return Discrepancy(
        prior.drift, prior.tau, prior.gamma, weights / weights.sum(), REFERENCE, "compute",
        (3e20,), 12, prior.name, drift_on="compute", axis_weights={"n_params": 2.0},
    )  # fmt: skip


def _group() -> GroupDiscrepancy:
    specific = _scaling(1)
    specific = Discrepancy(
        np.zeros(1), specific.tau, specific.gamma, specific.weights.sum(0, keepdims=True),
        REFERENCE, "compute", (3e20,), 12, "learned x 0.5 (group-specific)",
    )  # fmt: skip
    # a grouped fit's shared error keeps its drift on the farthest axis (grouped_evidence.py)
    shared = replace(_scaling(0), drift_on="distance", axis_weights={})
    return GroupDiscrepancy(shared, specific, ("A", "B"), "B")


def _link() -> LinkDiscrepancy:
    tau = np.linspace(0, 0.2, 41)
    weights = np.exp(-0.5 * (tau / 0.05) ** 2)
    return LinkDiscrepancy(tau, weights / weights.sum(), 0.05, REFERENCE, (3e20, 5e20), 9)


KINDS = {"scaling": _scaling, "group": _group, "link": _link}


@pytest.fixture(params=list(KINDS))
def record(request):
    return KINDS[request.param]()


def test_every_kind_follows_the_protocol_with_the_same_signatures():
    records = [make() for make in KINDS.values()]
    assert [r.kind for r in records] == list(KINDS)
    assert [r.scale for r in records] == ["log loss", "log loss", "metric"]
    for r in records:
        assert isinstance(r, DiscrepancyKind)
        for name in ATTRIBUTES:
            assert hasattr(r, name), (r.kind, name)
        assert isinstance(r.prior, str) and isinstance(r.learned, bool) and r.cut_on == "compute"
        assert r.reference == REFERENCE and r.n_checked > 0 and len(r.cuts) >= 1
    for name in (*METHODS, "from_dataset"):
        signatures = {inspect.signature(getattr(type(r), name)) for r in records}
        if name == "from_dataset":  # each returns its own kind
            signatures = {s.replace(return_annotation=inspect.Signature.empty) for s in signatures}
        assert len(signatures) == 1, (name, signatures)


def test_error_is_the_sum_of_its_curves_zero_inside_the_data(record):
    err = record.error(SIZES, draws_shape=SHAPE, seed=4)
    assert err.dims == ("chain", "draw", "point") and err.shape == (*SHAPE, 3)
    assert float(abs(err.isel(point=0)).max()) == 0.0  # inside the data: no error at all
    d = np.asarray(record.distance(SIZES))
    np.testing.assert_allclose(d, [0.0, 1.0, 9.0])
    curves = record.curves(draws_shape=SHAPE, seed=4)
    far = [np.asarray(x) for x in record.term_distances(SIZES)]
    by_hand = sum(c[..., None] * x ** g[..., None] for (c, g), x in zip(curves, far, strict=True))
    np.testing.assert_allclose(np.asarray(err), by_hand, rtol=1e-12)
    # seeded: the same seed gives the same curves (in a record that never drew them: the draws
    # of one are kept), another seed others
    again = replace(record).error(SIZES, draws_shape=SHAPE, seed=4)
    np.testing.assert_array_equal(err, again)
    if record.kind == "scaling":  # it keeps its draws: they cannot be changed
        with pytest.raises(ValueError, match="read-only"):
            curves[0][0][...] = 0.0
    assert not np.allclose(
        err.isel(point=1), record.error(SIZES, draws_shape=SHAPE, seed=5)[..., 1]
    )


def test_the_drift_runs_along_compute_and_a_decade_of_n_counts_twice():
    record = _scaling()
    # 10x the largest model on the same compute (fewer tokens): beyond the data by 2 decades
    # (N weighted twice), with no drift (the drift runs along compute) but the error's spread
    sizes = {"compute": np.array([1e21, 1e22]), "n_params": np.array([1e11, 1e10])}
    np.testing.assert_allclose(np.asarray(record.distance(sizes)), [2.0, 1.0])
    np.testing.assert_allclose(np.asarray(record.drift_distance(sizes)), [0.0, 1.0])
    shift, sd = record.shift_and_sd(sizes, draws_shape=SHAPE, seed=0)
    assert float(abs(shift.isel(dim_0=0)).max()) == 0.0 and float(sd.isel(dim_0=0).min()) > 0
    gamma = record.draw_scale(SHAPE, 0)[2]
    np.testing.assert_allclose(sd.isel(dim_0=0) / sd.isel(dim_0=1), 2.0**gamma)
    # a record written before (drift along the farthest axis, no weights) reads back as it was
    ds = record.to_dataset()
    for name in ("drift_on", "axis_weight_axes", "axis_weight_values"):
        del ds.attrs[name]
    old = Discrepancy.from_dataset(ds)
    assert old.drift_on == "distance" and old.axis_weights == {}
    assert len(old.curves(draws_shape=SHAPE, seed=0)) == 1
    np.testing.assert_allclose(np.asarray(old.distance(sizes)), [1.0, 1.0])


def test_shift_and_sd_describe_the_error_draws(record):
    shape = (4, 5000)
    err = record.error(SIZES, draws_shape=shape, seed=2).isel(point=1)  # d = 1
    shift, sd = record.shift_and_sd(SIZES, draws_shape=shape, seed=2)
    # the draws' scales are shared: the error's mean and variance are those of the moments
    assert float(err.mean()) == pytest.approx(float(shift.isel(point=1).mean()), abs=3e-3)
    second = float((sd.isel(point=1) ** 2 + shift.isel(point=1) ** 2).mean())
    assert float((err**2).mean()) == pytest.approx(second, rel=0.1)


def test_quantiles_are_of_the_error_sd_one_decade_out(record):
    lo, med, hi = record.quantiles()
    assert 0 <= lo < med < hi
    shape = (4, 5000)
    _, sd = record.shift_and_sd({"compute": np.array([1e22])}, draws_shape=shape, seed=1)
    got = np.quantile(np.asarray(sd), [0.05, 0.5, 0.95])
    np.testing.assert_allclose(got, [lo, med, hi], rtol=0.15, atol=0.004)  # a grid cell


def test_save_and_load_round_trip_every_kind(record, tmp_path):
    ds = record.to_dataset()
    assert ds.attrs["kind"] == record.kind
    back = type(record).from_dataset(ds)
    assert type(back) is type(record)
    assert back.describe() == record.describe() and back.to_dataset().identical(ds)
    again = read_discrepancy(ds)
    assert type(again) is type(record)
    for a, b in ((back, record), (again, record)):
        np.testing.assert_array_equal(
            a.error(SIZES, draws_shape=SHAPE, seed=3), b.error(SIZES, draws_shape=SHAPE, seed=3)
        )
    # through a file (h5netcdf, as fits are saved) too
    path = tmp_path / f"{record.kind}.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    with xr.open_dataset(path, engine="h5netcdf") as loaded:
        from_file = read_discrepancy(loaded.load())
    assert from_file.to_dataset().identical(ds)


def test_records_written_before_the_protocol_still_load():
    scaling, link = _scaling(), _link()
    old = scaling.to_dataset()
    old.attrs.pop("kind")  # written before kinds were named
    assert read_discrepancy(old).describe() == scaling.describe()
    older = old.isel(drift=[12]).squeeze("drift", drop=True)  # before the drift: no m at all
    assert Discrepancy.from_dataset(older).drift.tolist() == [0.0]
    old_link = link.to_dataset()
    old_link.attrs.pop("kind")
    assert type(read_discrepancy(old_link)) is LinkDiscrepancy
    assert LinkDiscrepancy.from_dataset(old_link).describe() == link.describe()


def test_a_group_is_named_only_where_there_are_groups():
    group = _group()
    a = group.error(SIZES, draws_shape=SHAPE, seed=1, group="A")
    b = group.error(SIZES, draws_shape=SHAPE, seed=1)  # the record's own group, B
    assert not np.allclose(a.isel(point=1), b.isel(point=1))
    shared = group.shared.error(SIZES, draws_shape=SHAPE, seed=1)  # the same for A and B
    own_a, own_b = (np.ravel((e - shared).isel(point=1)) for e in (a, b))
    assert abs(np.corrcoef(own_a, own_b)[0, 1]) < 0.2  # each group's own η
    with pytest.raises(ArgumentError, match="group"):
        group.error(SIZES, draws_shape=SHAPE, seed=1, group="C")
    for other in (_scaling(), _link()):
        with pytest.raises(ArgumentError, match="group"):
            other.error(SIZES, draws_shape=SHAPE, seed=1, group="A")


def test_a_group_quantiles_combine_the_shared_and_its_own_part():
    group = _group()
    shared, own, total = group.shared.quantiles(), group.specific.quantiles(), group.quantiles()
    # sqrt(τ² + τ'²) is at least each part in every draw, so in every quantile
    assert np.all(total >= np.maximum(shared, own) - 1e-12)
    assert total[1] > 1.2 * max(shared[1], own[1])  # two parts of similar size: about √2 times


SIZES_PER_AXIS = {"compute": [1e20, 3e22], "n_params": [1e9, 4e10], "n_tokens": [1e10, 7e11]}


@pytest.mark.parametrize(
    "sizes",
    [
        {"compute": 3e22, "n_params": 4e10, "n_tokens": 7e11},  # plain numbers, as searches ask
        SIZES_PER_AXIS,
        {c: xr.DataArray(v, dims="point") for c, v in SIZES_PER_AXIS.items()},
    ],
)
def test_the_error_is_the_same_sum_whether_sizes_are_numbers_arrays_or_labelled(sizes):
    disc = _scaling()
    error = disc.error(sizes, draws_shape=SHAPE, seed=3)
    assert error.dims[:2] == ("chain", "draw")
    d_c, d = disc.term_distances(sizes)
    logs = {a: np.log10(np.asarray(sizes[a], float) / REFERENCE[a]).clip(0) for a in REFERENCE}
    np.testing.assert_allclose(d_c, logs["compute"])
    np.testing.assert_allclose(
        d, np.maximum.reduce([logs["compute"], 2 * logs["n_params"], logs["n_tokens"]])
    )
    (m, g1), (te, g2) = disc.curves(draws_shape=SHAPE, seed=3)
    tail = (...,) + (None,) * np.ndim(d)
    expected = m[tail] * np.asarray(d_c) ** g1[tail] + te[tail] * np.asarray(d) ** g2[tail]
    np.testing.assert_allclose(error.values, expected)


def test_per_draw_distances_keep_each_draw_with_its_own_curve():
    # a per-draw point (say each draw's optimal N) broadcasts on chain and draw, not beside them
    disc = _scaling()
    rng = np.random.default_rng(1)
    n = xr.DataArray(10 ** rng.uniform(9, 12, SHAPE), dims=("chain", "draw"))
    error = disc.error({"n_params": n, "compute": 1e21}, draws_shape=SHAPE, seed=2)
    assert error.dims == ("chain", "draw")
    (m, g1), (te, g2) = disc.curves(draws_shape=SHAPE, seed=2)
    d = 2 * np.log10(n.values / REFERENCE["n_params"]).clip(0)
    np.testing.assert_allclose(error.values, te * d**g2)


def test_a_point_without_compute_measures_the_drift_on_the_farthest_axis():
    # a law of N alone answers points with no compute (None): the drift falls back to d(x)
    record = _scaling()
    sizes = {"n_params": xr.DataArray([1e9, 1e11], dims="point"), "compute": None}
    np.testing.assert_allclose(record.drift_distance(sizes), [0.0, 2.0])  # w_N = 2, one decade
    assert record.error(sizes, draws_shape=SHAPE, seed=1).sizes == {
        "chain": 2, "draw": 300, "point": 2
    }  # fmt: skip
