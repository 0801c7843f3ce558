"""Real NUTS: recovery, reproducibility, compile-once refits, the gate, bands, save/load."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_scaling.inference.sampling as sampling
from bayes_scaling import ConvergenceWarning, FitFileError, fit, load, load_runs
from bayes_scaling.model.simulate import simulate_runs

TRUTHS = {
    "chinchilla": {
        "E": 1.8,
        "log_A": np.log(480.0),
        "alpha": 0.35,
        "log_B": np.log(2000.0),
        "beta": 0.36,
    },
    "chinchilla_b": {
        "E": 2.1,
        "log_A": np.log(220.0),
        "alpha": 0.30,
        "log_B": np.log(5e4),
        "beta": 0.55,
    },
}
BUDGETS = (1e18, 4e18, 1.6e19, 6.4e19, 2.56e20)  # 5 budgets x 8 sizes = 40 runs


def covered(result, truth, prob=0.94):
    post = result.posterior
    tail = (1 - prob) / 2
    return {
        k: bool(post[k].quantile(tail) <= v <= post[k].quantile(1 - tail)) for k, v in truth.items()
    }


@pytest.mark.parametrize("truth_name", list(TRUTHS))
def test_recovery_on_simulated_40_run_tables(truth_name):
    truth = TRUTHS[truth_name]
    misses = []
    for seed in range(5):
        runs = load_runs(
            simulate_runs(
                truth, budgets=BUDGETS, sizes_per_budget=8, sigma=0.01, nu=None, seed=seed
            )
        )
        assert len(runs) == 40
        result = fit(runs, seed=100 + seed, discrepancy=False)
        assert result.converged, result.diagnostics.reason()
        misses += [(seed, k) for k, ok in covered(result, truth).items() if not ok]
    print(f"{truth_name}: misses {misses} of {5 * len(truth)}")
    assert len(misses) <= 1, misses


def test_power_law_recovery():
    truth = {"E": 1.7, "log_A": np.log(2e3), "alpha": 0.15}
    rng = np.random.default_rng(0)
    misses = []
    for seed in range(5):
        compute = np.geomspace(1e17, 1e21, 40)
        loss = (truth["E"] + np.exp(truth["log_A"]) * compute ** -truth["alpha"]) * np.exp(
            rng.normal(0, 0.01, 40)
        )
        runs = load_runs(
            pd.DataFrame({"compute": compute, "n_params": np.sqrt(compute / 120), "loss": loss})
        )
        result = fit(runs, law="power", seed=seed, likelihood="normal", discrepancy=False)
        assert result.converged, result.diagnostics.reason()
        misses += [(seed, k) for k, ok in covered(result, truth).items() if not ok]
    assert len(misses) <= 1, misses
    bands = result.bands(compute=[1e22, 1e24], prob=[0.9])  # power:compute needs no split
    law = bands[bands["band"] == "law"]
    assert law["median"].iloc[1] < law["median"].iloc[0] and law["params"].isna().all()


def test_band_requests_that_cannot_be_answered(demo_fit):
    from bayes_scaling import ArgumentError, BayesScalingError

    with pytest.raises(ArgumentError, match="^tokens: law 'chinchilla' needs tokens"):
        demo_fit.bands(params=[1e9])
    with pytest.raises(ArgumentError, match="^params: has 2 values but tokens has 3"):
        demo_fit.bands(params=[1e9, 2e9], tokens=[1e10, 2e10, 3e10])
    with pytest.raises(ArgumentError, match="^compute: must be positive"):
        demo_fit.bands(compute=[-1])
    with pytest.raises(ArgumentError, match="^compute: is empty"):
        demo_fit.bands(compute=[])
    with pytest.raises(ArgumentError, match="^params: expected a number, got 'x'"):
        demo_fit.bands(params=["x"], tokens=[1e10])
    with pytest.raises(ArgumentError, match="^prob: must be strictly between 0 and 1"):
        demo_fit.bands(compute=[1e21], prob=[1.0])
    with pytest.raises(ArgumentError, match="^prob: must be strictly between 0 and 1"):
        demo_fit.summary(prob=-0.1)
    assert issubclass(ArgumentError, BayesScalingError)


def test_same_seed_same_posterior_and_refit_does_not_recompile(demo_fit):
    from bayes_scaling.data import datasets

    before = sampling.COMPILE_COUNT
    again = fit(datasets.demo(), seed=11)
    xr_equal = again.posterior.equals(demo_fit.posterior)
    assert xr_equal
    with warnings.catch_warnings():  # 30 runs may or may not pass the gate; not the point here
        warnings.simplefilter("ignore", ConvergenceWarning)
        other = fit(datasets.demo().iloc[:30], seed=12, rescue=False)  # new data, another length
    assert sampling.COMPILE_COUNT == before
    assert other.posterior.sizes["draw"] == 1000
    assert not other.posterior["alpha"].equals(demo_fit.posterior["alpha"])


def test_fit_holds_everything_it_saw(demo_fit):
    tree = demo_fit.idata
    assert {
        "posterior",
        "sample_stats",
        "log_likelihood",
        "observed_data",
        "constant_data",
        "runs",
    } <= set(tree.children)
    assert tree["log_likelihood"]["log_loss"].dims == ("chain", "draw", "run")
    assert tree["runs"]["loss"].size == len(demo_fit.runs) == 48
    assert set(demo_fit.priors) == {"E", "log_A", "alpha", "log_B", "beta", "sigma", "nu"}
    assert demo_fit.converged and demo_fit.settings["seed"] == 11


def test_gate_flags_a_fit_that_failed_and_the_flag_travels():
    from bayes_scaling.data import datasets

    with pytest.warns(ConvergenceWarning, match=r"did not converge: .*(R-hat|ESS).*Try: "):
        short = fit(datasets.demo(), seed=3, draws=40, tune=100, discrepancy=False, rescue=False)
    assert not short.converged
    assert short.summary().attrs["converged"] is False
    assert not short.bands(compute=[1e21])["converged"].any()


def test_summary_table(demo_fit):
    table = demo_fit.summary(prob=0.9)
    assert list(table.columns) == [
        "parameter",
        "mean",
        "sd",
        "median",
        "lower",
        "upper",
        "r_hat",
        "ess_bulk",
        "ess_tail",
    ]
    row = table.set_index("parameter").loc["alpha"]
    assert row["lower"] < row["median"] < row["upper"] and row.r_hat <= 1.01 and row.ess_bulk >= 400


def test_bands_are_nested_and_predictive_is_wider(demo_fit):
    df = demo_fit.bands(compute=[1e19, 1e21, 1e23])
    assert list(df.columns) == [
        "params",
        "tokens",
        "compute",
        "distance",
        "band",
        "prob",
        "lower",
        "median",
        "upper",
        "converged",
        "discrepancy",
    ]
    width = (df["upper"] - df["lower"]).to_numpy().reshape(2, 4, 3)  # band, prob, point
    assert np.all(np.diff(width, axis=1) > 0)  # wider at higher probability
    assert np.all(width[1] > width[0])  # predictive wider than law-only
    assert np.all(width[0, :, 2] > width[0, :, 0])  # wider further out
    ds = demo_fit.bands(compute=[1e21], as_xarray=True)
    assert ds["lower"].dims == ("band", "prob", "point") and ds.attrs["split"] == "per-draw optimum"


def test_band_split_options_agree(demo_fit):
    # a fixed tokens-per-parameter ratio gives that ratio exactly
    df = demo_fit.bands(compute=[1e22], tokens_per_param=20)
    np.testing.assert_allclose(df["tokens"] / df["params"], 20)
    # (N, D) points match the same points given as compute + params
    n, d = 3e9, 6e10
    a = demo_fit.bands(params=[n], tokens=[d])
    b = demo_fit.bands(compute=[6 * n * d], params=[n])
    np.testing.assert_allclose(a[["lower", "median", "upper"]], b[["lower", "median", "upper"]])


def test_bands_match_a_direct_posterior_computation(demo_fit):
    post = demo_fit.posterior
    n, d = 1e9, 2e10
    curve = (
        post["E"]
        + np.exp(post["log_A"]) * n ** -post["alpha"]
        + np.exp(post["log_B"]) * (d ** -post["beta"])
    )
    df = demo_fit.bands(params=[n], tokens=[d], prob=0.9, discrepancy=False)
    law = df[df["band"] == "law"].iloc[0]
    assert law["lower"] == pytest.approx(float(curve.quantile(0.05)), rel=1e-9)
    assert law["upper"] == pytest.approx(float(curve.quantile(0.95)), rel=1e-9)
    # this point lies beyond the demo runs (C = 1.2e20 > 1e20): the discrepancy widens it
    wide = demo_fit.bands(params=[n], tokens=[d], prob=0.9)
    wide = wide[wide["band"] == "law"].iloc[0]
    assert wide["upper"] - wide["lower"] > law["upper"] - law["lower"]


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_save_load_round_trip_gives_identical_bands(demo_fit, tmp_path, suffix):
    if suffix == ".zarr":
        pytest.importorskip("zarr")
    path = demo_fit.save(tmp_path / f"fit{suffix}")
    back = load(path)
    pd.testing.assert_frame_equal(
        back.bands(compute=[1e20, 1e22]), demo_fit.bands(compute=[1e20, 1e22])
    )
    pd.testing.assert_frame_equal(back.summary(), demo_fit.summary())
    assert back.priors == demo_fit.priors and back.converged
    pd.testing.assert_frame_equal(
        back.runs[demo_fit.runs.columns], demo_fit.runs, check_dtype=False
    )
    attrs = back.idata.attrs
    assert attrs["law"] == "chinchilla" and len(attrs["runs_sha256"]) == 64
    assert "seed" in attrs["settings"] and attrs["package_version"]


def test_load_rejects_files_that_are_not_ours(tmp_path):
    import xarray as xr

    other = tmp_path / "other.nc"
    xr.Dataset({"x": ("a", [1.0, 2.0])}).to_netcdf(other, engine="h5netcdf")
    with pytest.raises(FitFileError, match="not a bayes_scaling fit"):
        load(other)
    text = tmp_path / "runs.csv"
    text.write_text("a,b\n1,2\n")
    with pytest.raises(FitFileError, match="not a readable"):
        load(text)
    with pytest.raises(FitFileError, match="no such fit file"):
        load(tmp_path / "missing.nc")


def test_normal_likelihood_option():
    from bayes_scaling.data import datasets

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = fit(datasets.demo(), likelihood="normal", seed=5, discrepancy=False)
    assert "nu" not in result.posterior and result.settings["likelihood"] == "normal"


def test_plumbing_a_plain_dataframe_is_loaded_first_and_a_numpy_seed_saves():
    # a DataFrame with loss and n_params but no run_id crashed after sampling
    import warnings

    import numpy as np

    from bayes_scaling import datasets, fit

    table = datasets.demo()[["n_params", "n_tokens", "loss"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(table, seed=np.int64(3), draws=100, tune=100, chains=2, rescue=False,
                     discrepancy=False)  # fmt: skip
    assert len(result.runs) == len(table) and "run_id" in result.runs
    assert result.settings["seed"] == 3 and type(result.settings["seed"]) is int


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"seed": -1}, "seed: must be a whole number"),
        ({"seed": 2**64}, r"seed: must be at most 2\^63 - 1"),
        ({"flops_per_param_token": -6.0}, "flops_per_param_token: must be positive"),
        ({"rescue": "no"}, "rescue: expected True or False"),
    ],
)
def test_plumbing_bad_fit_options_stop_before_sampling(options, needle, no_sampling):
    from bayes_scaling import ArgumentError, datasets, fit

    with pytest.raises(ArgumentError, match=needle):
        fit(datasets.demo(), **options)
