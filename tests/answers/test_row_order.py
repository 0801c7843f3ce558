"""Answers at points come back in the order the points were given: row i is point i.

The points are isoFLOP points (several N at one budget C, D = C/(6N)) in a shuffled order: their
computes are equal up to rounding, so an answer that sorts by compute (then N) scrambles them.
Each row is checked against a direct posterior computation at its own point, not only its sizes.
Real NUTS fits, small: a demo-table fit and a two-recipe grouped fit, once per session.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from bayes_scaling.answers.difference import difference_table, loss_difference
from bayes_scaling.cli import main
from bayes_scaling.trust.law_choice import stacked_bands

BUDGET = 1e20
#: isoFLOP sizes at one budget, shuffled (neither ascending nor descending).
PARAMS = np.array([3e8, 1e8, 1.5e9, 5e8, 2e8, 8e8])
TOKENS = BUDGET / (6 * PARAMS)


# small_fit, small_grouped: tests/conftest.py (short fits, no rescue ladder)


def _law_medians(fit, params, tokens) -> np.ndarray:
    """Posterior median of L(N_i, D_i; θ) at each point, computed directly."""
    loss = fit.law.evaluate(fit.posterior, {"n_params": params, "n_tokens": tokens})
    return loss.median(("chain", "draw")).to_numpy()


def test_band_frame_rows_follow_the_points_given(small_fit):
    probs = [0.9, 0.5]  # not sorted either
    df = small_fit.bands(params=PARAMS, tokens=TOKENS, prob=probs, discrepancy=False)
    n = len(PARAMS)
    assert len(df) == 2 * len(probs) * n
    expected = _law_medians(small_fit, PARAMS, TOKENS)
    for b, band in enumerate(["law", "predictive"]):
        for j, p in enumerate(probs):
            rows = df.iloc[(b * len(probs) + j) * n :][:n]
            assert (rows["band"] == band).all() and (rows["prob"] == p).all()
            np.testing.assert_array_equal(rows["params"].to_numpy(), PARAMS)
            np.testing.assert_allclose(rows["tokens"].to_numpy(), TOKENS, rtol=1e-12)
            if band == "law":
                np.testing.assert_allclose(rows["median"].to_numpy(), expected, rtol=1e-12)


def test_band_dataset_points_follow_the_points_given(small_fit):
    ds = small_fit.bands(params=PARAMS, tokens=TOKENS, prob=0.9, as_xarray=True, discrepancy=False)
    np.testing.assert_array_equal(ds["params"].to_numpy(), PARAMS)
    np.testing.assert_allclose(ds["tokens"].to_numpy(), TOKENS, rtol=1e-12)
    law = ds["median"].sel(band="law", prob=0.9).to_numpy()
    np.testing.assert_allclose(law, _law_medians(small_fit, PARAMS, TOKENS), rtol=1e-12)
    # the frame and the dataset agree row by row
    frame = small_fit.bands(params=PARAMS, tokens=TOKENS, prob=0.9, discrepancy=False)
    np.testing.assert_allclose(frame["median"].to_numpy()[: len(PARAMS)], law, rtol=1e-12)


def test_compute_only_bands_and_a_single_size_for_all_points(small_fit):
    compute = np.array([1e22, 1e20, 1e21])
    df = small_fit.bands(compute=compute, prob=0.9)
    np.testing.assert_array_equal(df["compute"].to_numpy()[:3], compute)
    # one tokens value stands for every params value, in order
    one = small_fit.bands(params=PARAMS, tokens=2e10, prob=0.9, as_xarray=True)
    np.testing.assert_array_equal(one["params"].to_numpy(), PARAMS)
    assert np.all(one["tokens"].to_numpy() == 2e10)


def test_stacked_bands_keep_the_order(small_fit):
    ds = stacked_bands(
        {"chinchilla": small_fit}, {"chinchilla": 1.0}, params=PARAMS, tokens=TOKENS, prob=0.9
    )
    np.testing.assert_array_equal(ds["params"].to_numpy(), PARAMS)


def test_loss_difference_rows_follow_the_points_given(small_grouped):
    # parameter-only, to check each row against the law's own values at its point (with the
    # discrepancy, the default, some points lie beyond the runs' largest N)
    kw = dict(params=PARAMS, tokens=TOKENS)
    draws = loss_difference(small_grouped, "A", "B", **kw, discrepancy=False)
    np.testing.assert_array_equal(
        loss_difference(small_grouped, "A", "B", **kw)["n_params"], PARAMS
    )
    np.testing.assert_array_equal(draws["n_params"].to_numpy(), PARAMS)
    table = difference_table(draws)
    np.testing.assert_array_equal(table["n_params"].to_numpy(), PARAMS)
    for name, group in (("loss_a", "A"), ("loss_b", "B")):
        post = small_grouped.group_posterior(group)
        loss = small_grouped.law.evaluate(post, {"n_params": PARAMS, "n_tokens": TOKENS})
        direct = loss.median(("chain", "draw")).to_numpy()
        np.testing.assert_allclose(table[name].to_numpy(), direct, rtol=1e-12)


def test_comparison_budgets_in_the_order_asked(small_grouped):
    table = small_grouped.compare(compute=[1e24, 1e20, 1e22, 1e20]).table()
    assert list(table["compute"]) == [1e24, 1e20, 1e22]  # a repeated budget is one row


def test_a_point_gets_the_same_band_in_any_order_and_when_repeated(small_fit):
    # the run noise and the local misfit are drawn per point: the positions once decided which
    # draws a point got (the same fit's band at 1e21 moved by 2e-4 when the other points were
    # reversed); now a point's draws are its own
    order = np.array([2, 0, 3, 1, 0])  # shuffled, point 0 twice
    kw = {"prob": [0.5, 0.9], "as_xarray": True}
    first = small_fit.bands(params=PARAMS[:4], tokens=TOKENS[:4], **kw)
    again = small_fit.bands(params=PARAMS[:4][order], tokens=TOKENS[:4][order], **kw)
    for name in ("lower", "median", "upper"):
        np.testing.assert_array_equal(again[name].values, first[name].isel(point=order).values)
    budgets = [1e22, 1e21, 1e23]
    one = small_fit.allocate(budgets).set_index(["compute", "quantity"]).sort_index()
    other = small_fit.allocate(budgets[::-1]).set_index(["compute", "quantity"]).sort_index()
    cols = ["estimate", "lower", "upper"]
    np.testing.assert_array_equal(one[cols].to_numpy(), other[cols].to_numpy())


def test_compare_csv_keeps_the_rows_at_sizes(small_grouped, tmp_path, capsys):
    path = small_grouped.save(tmp_path / "g.nc")
    sizes = ["--params", "1e9", "2e9", "--tokens", "2e10", "2e10"]
    code = main(["compare", str(path), "--compute", "1e21", "1e22", *sizes, "--format", "csv"])
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert code in (0, 3)
    assert table["compute"].tolist()[:2] == [1e21, 1e22] and table["compute"][2:].isna().all()
    assert table["n_params"][2:].tolist() == [1e9, 2e9] and table["n_params"][:2].isna().all()
    assert {"p_b_better", "converged", "p_crossover_in_range"} <= set(table.columns)
    # a range in which no draw crosses has no median crossover to print
    main(["compare", str(path), "--compute", "1e22", "--range", "1e10", "1e11"])
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("# crossover"))
    assert "no draw crosses there" in line and "nan" not in line
