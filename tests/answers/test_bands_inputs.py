"""What the bands take and say at their edges: points below the runs are flagged, a
data-constrained law's unique tokens are taken, a law without E answers a target, the
crossover line tells none from too few (a comparison's CSV rows: test_row_order.py). Plumbing:
short fits and hand-made posteriors, no inference claimed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from bayes_scaling import ArgumentError, datasets, get_law
from bayes_scaling.cli import main
from bayes_scaling.errors import ExtrapolationWarning
from bayes_scaling.results import ScalingFit
from bayes_scaling.results.diagnostics import Diagnostics


def test_points_below_the_runs_are_flagged(small_fit):
    low = float(small_fit.runs["compute"].min())
    with pytest.warns(ExtrapolationWarning, match=r"point\(s\) 1 lie below the smallest run"):
        table = small_fit.bands(compute=[low * 10, low / 1e3], prob=0.9)
    assert table["compute"].tolist()[:2] == [low * 10, low / 1e3]  # rows as given
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExtrapolationWarning)
        small_fit.bands(compute=[low, float(small_fit.runs["compute"].max()) * 100], prob=0.9)


def test_cli_bands_below_the_runs_print_one_warning_line(small_fit, tmp_path, capsys):
    path = small_fit.save(tmp_path / "small.nc")
    code = main(["bands", str(path), "--compute", "1e10", "--prob", "0.9", "--format", "csv"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code in (0, 3)  # (the short fit may fail the gate: a line of its own)
    warned = [line for line in err if "warning" in line]
    assert len(warned) == 1 and warned[0].startswith("bayes-scaling: warning: point(s) 0 lie below")


def _constrained_fit() -> ScalingFit:
    """Hand-made draws of the data-constrained law with the published base (R*_D, R*_N free)."""
    law = get_law("data_constrained:muennighoff2023")
    rng = np.random.default_rng(0)
    post = xr.Dataset(
        {
            "log_RD": (("chain", "draw"), np.log(15.4) + 0.1 * rng.standard_normal((1, 50))),
            "log_RN": (("chain", "draw"), np.log(5.3) + 0.1 * rng.standard_normal((1, 50))),
            "sigma": (("chain", "draw"), np.full((1, 50), 1e-9)),
        },
        coords={"chain": [0], "draw": np.arange(50)},
    )
    runs = datasets.demo().assign(unique_tokens=lambda t: t["n_tokens"] / 2)
    settings = {"seed": 0, "likelihood": "normal", "flops_per_param_token": 6.0}
    tree = xr.DataTree.from_dict({"posterior": post})
    return ScalingFit(tree, law, {}, Diagnostics(1.0, 1000.0, 1000.0, 0, 50), runs, settings)


def test_a_data_constrained_law_takes_unique_tokens():
    fit = _constrained_fit()
    params, tokens, unique = [1e9, 1e9, 1e9], [1e11, 1e11, 1e11], [1e11, 1e10, 1e9]
    table = fit.bands(params=params, tokens=tokens, unique_tokens=unique, prob=0.5)
    law = table[table["band"] == "law"]
    assert law["unique_tokens"].tolist() == unique  # shown beside tokens, rows as given
    # the same N and D on fewer unique tokens (more epochs) is worth less: the loss rises
    assert law["median"].is_monotonic_increasing and law["median"].nunique() == 3
    with pytest.raises(ArgumentError, match="^unique_tokens: .*needs unique_tokens"):
        fit.bands(params=params, tokens=tokens)
    with pytest.raises(ArgumentError, match="^unique_tokens: .*same length|^unique_tokens"):
        fit.bands(params=params, tokens=tokens, unique_tokens=[1e10, 1e10])


def test_a_law_without_e_answers_a_target():
    # Kaplan's law has no irreducible loss: the target answer reads 0 for it, not a missing E
    from bayes_scaling.answers.targets import target_answer

    law = get_law("kaplan")
    values = {"log_Nc": np.log(8.8e13), "alpha_N": 0.076, "log_Dc": np.log(5.4e13)}
    post = xr.Dataset(
        {
            **{k: (("chain", "draw"), np.full((1, 20), v)) for k, v in values.items()},
            "alpha_D": (("chain", "draw"), np.linspace(0.09, 0.1, 20)[None, :]),
            "sigma": (("chain", "draw"), np.full((1, 20), 1e-9)),
        },
        coords={"chain": [0], "draw": np.arange(20)},
    )
    tree = xr.DataTree.from_dict({"posterior": post})
    settings = {"seed": 0, "likelihood": "normal", "flops_per_param_token": 6.0}
    fit = ScalingFit(tree, law, {}, Diagnostics(1.0, 1e3, 1e3, 0, 20), datasets.demo(), settings)
    answer = target_answer(fit, 2.5, discrepancy=False)
    assert answer.prob_irreducible_above == 0.0
    table = fit.allocate(1e22, target=2.5, discrepancy=False)
    assert "n_params_opt" in set(table["quantity"])


def test_unique_tokens_are_refused_by_a_law_that_does_not_read_them(small_fit):
    with pytest.raises(ArgumentError, match="does not read unique tokens"):
        small_fit.bands(params=[1e9], tokens=[2e10], unique_tokens=[1e10])


def test_a_point_whose_compute_overflows_is_refused_by_row(small_fit, tmp_path, capsys):
    # 6·1e160·1e160 is inf: at an infinite distance the band dropped its discrepancy silently
    with pytest.raises(ArgumentError, match=r"^params: point 1: the compute 6·N·D overflows"):
        small_fit.bands(params=[1e150, 1e160], tokens=[1e150, 1e160], prob=0.9)
    path = small_fit.save(tmp_path / "small.nc")
    assert main(["bands", str(path), "--params", "1e9", "1e160", "--tokens", "1e160"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bayes-scaling: error: --params: point 1")


def test_the_crossover_line_tells_none_from_too_few():
    from bayes_scaling.cli.compare import _crossing_line

    x = dict(range_lower=1e18, range_upper=1e22, crossover=np.nan, crossover_lower=np.nan)
    x.update(crossover_upper=np.nan, p_b_ahead_throughout=0.0, p_a_overtakes_b=0.0)
    none = _crossing_line({**x, "p_crossover_in_range": 0.0, "p_a_ahead_throughout": 1.0}, 0.9)
    few = _crossing_line({**x, "p_crossover_in_range": 0.006, "p_a_ahead_throughout": 0.994}, 0.9)
    assert "no draw crosses there" in none and "too few draws cross there" in few
