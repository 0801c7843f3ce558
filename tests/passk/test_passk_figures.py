"""pass@k figures and page from real small fits (tests/conftest.py): what each figure draws is
the fit's numbers (bands, the unbiased estimates, the unsolvable share, the choice), the page
holds the section, both figures and the convergence alert, in HTML and Markdown."""

from __future__ import annotations

import re
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pytest

from bayes_scaling import _format as fmt
from bayes_scaling.passk.answers import band_dataset, pass_at_k
from bayes_scaling.passk.decisions import decision_table
from bayes_scaling.passk.law import chen_pass_at_k
from bayes_scaling.passk.plots import across_models, difficulty_posterior, passk_fan, size_frontier
from bayes_scaling.passk.report import borrowing
from bayes_scaling.passk.result import PassKFit, make_tree


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _line(ax, label):
    return next(line for line in ax.get_lines() if line.get_label() == label)


def test_fan_draws_the_posterior_median_and_the_unbiased_estimates(passk_fit, tmp_path):
    fig = passk_fan(passk_fit, k_max=1e4)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and ax.get_ylim() == (0, 1)
    median = _line(ax, "median")
    k = median.get_xdata()
    draws = pass_at_k(passk_fit, k, models=[passk_fit.models[0]]).values[:, 0, :]
    np.testing.assert_allclose(median.get_ydata(), np.median(draws, axis=0))
    assert np.all(np.diff(median.get_ydata()) >= 0)  # pass@k rises with k
    dots = _line(ax, "observed (unbiased estimator)")
    n, c = (passk_fit.counts[col].to_numpy(float) for col in ("samples", "correct"))
    assert dots.get_xdata().max() <= n.min() and len(dots.get_xdata()) >= 10
    expected = [np.mean(chen_pass_at_k(n, c, kk)) for kk in dots.get_xdata()]
    np.testing.assert_allclose(dots.get_ydata(), expected)
    # the estimates sit inside the 90% band where they overlap (the model fits its own data)
    lo, hi = np.quantile(draws, [0.05, 0.95], axis=0)
    inside = np.isin(k, dots.get_xdata())
    est = np.interp(k[inside], dots.get_xdata(), dots.get_ydata())
    assert np.mean((lo[inside] - 0.02 <= est) & (est <= hi[inside] + 0.02)) >= 0.9
    fig.savefig(tmp_path / "fan.png")
    assert (tmp_path / "fan.png").stat().st_size > 10_000


def test_difficulty_draws_one_curve_a_draw_and_the_unsolvable_share(passk_fit):
    fig = difficulty_posterior(passk_fit, draws=25, seed=1)
    (ax,) = fig.axes
    assert len([ln for ln in ax.get_lines() if ln.get_alpha() == 0.15]) == 25
    pi = passk_fit.posterior["pi"].values
    (bar,) = ax.patches[-1:]
    assert bar.get_height() == pytest.approx(float(np.median(pi)))
    never = (passk_fit.counts["correct"] == 0).mean()
    assert any(t.get_text().startswith(f"{never:.0%}\nnever") for t in ax.texts)


def test_size_frontier_marks_the_choice(passk_law_fit):
    ds = passk_law_fit.size_vs_samples(2e13, tokens_per_sample=100)
    fig = size_frontier(ds, prob=0.9)
    (ax,) = fig.axes
    table = decision_table(ds)
    choice = _line(ax, "choice")
    chosen = table[table["chosen"]]
    assert choice.get_xdata().tolist() == chosen["n_params"].tolist()
    med = np.median(ds["pass_at_k"].values, axis=0)[ds["chosen"].values]
    np.testing.assert_allclose(choice.get_ydata(), med)
    notes = [t.get_text() for t in ax.texts]
    assert len(notes) == int(ds["affordable"].sum()) and all(n.startswith("k=") for n in notes)
    assert "2e+13" in ax.get_title()


def test_across_models_draws_every_model_at_its_size_with_its_band(passk_law_fit):
    k = (100, 10_000)
    fig = across_models(passk_law_fit, k=k, prob=0.9)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    ds = band_dataset(passk_law_fit, k, [0.9])
    sizes = passk_law_fit.counts.groupby("model", sort=False)["n_params"].first()
    order = np.argsort(sizes.to_numpy(), kind="stable")
    for j, kk in enumerate(k):
        line = _line(ax, f"k = {kk:,}")
        assert len(line.get_xdata()) == len(passk_law_fit.models)  # every model, none dropped
        np.testing.assert_allclose(line.get_xdata(), sizes.to_numpy()[order])
        med = ds["median"].isel(k=j, prob=0).values[order]
        np.testing.assert_allclose(line.get_ydata(), med)
    lo10, lo1e4 = (ds["lower"].isel(k=j, prob=0).values for j in range(2))
    assert np.all(lo1e4 >= lo10 - 1e-12)  # more samples never lower pass@k


def test_across_models_without_sizes_names_the_models(passk_fit):
    fig = across_models(passk_fit, k=(10, 1000))
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == passk_fit.models


def test_page_opens_with_the_decision_and_says_who_borrowed(passk_law_fit, tmp_path):
    page = passk_law_fit.report(tmp_path / "law.md", k=(100, 1000), target=0.5).markdown
    decision, rest = page.index("The decision"), page.index("Test-time compute: pass@k")
    assert decision < rest
    head = page[decision:rest].replace("\\", "")  # Markdown escapes dropped
    need = passk_law_fit.samples_for(0.5, prob=0.9)
    sizes = passk_law_fit.counts.groupby("model", sort=False)["n_params"].first()
    cost = need["samples"].to_numpy() * sizes.loc[need["model"]].to_numpy()
    best = need.iloc[int(np.argmin(cost))]
    said = f"takes **{fmt.count(best['samples'])}** samples a problem with {best['model']} "
    assert said in head
    ds = passk_law_fit.size_vs_samples(2 * sizes.min() * 1000, tokens_per_sample=1.0)
    chosen = decision_table(ds).query("chosen")["candidate"].iloc[0]
    assert f"the best bet is {chosen} with" in head
    assert "give total_compute=" in head  # the law is there; the budget was not given
    share = borrowing(passk_law_fit)
    assert set(share) == set(passk_law_fit.models) and all(v < 1 for v in share.values())
    top = max(share, key=share.get)
    assert "Borrowed most from the other models through the difficulty law" in head
    assert f"{top} ({share[top]:.0%})" in head
    assert "Every model of the fit is shown (6)" in page


def test_page_without_sizes_says_what_it_cannot_answer_and_who_was_left_out(passk_fit, tmp_path):
    page = passk_fit.report(tmp_path / "one.md", k=(100,), target=0.5).markdown
    assert "Bigger model or more samples: not answered" in page
    assert "Training or inference compute: not answered" in page
    assert "none borrowed from the others" in page


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def test_report_page_has_the_section_figures_and_no_alert(passk_fit, tmp_path):
    path = tmp_path / "passk.html"
    built = passk_fit.report(path, k=(100, 1000), target=0.5)
    html = path.read_text()
    assert built is not None and html.count("data:image/png;base64,") == 3
    words = _text(html)
    assert "Test-time compute: pass@k" in words and "NOT CONVERGED" not in words
    samples = passk_fit.samples_for(0.5, prob=(0.5, 0.9))["samples"].to_numpy()
    assert f"needs {int(samples[0])} samples with probability 50%" in words
    median = passk_fit.bands(k=[1000], prob=0.9)["median"].iloc[0]
    assert f"{median:.3g}" in words
    md = tmp_path / "passk.md"
    passk_fit.report(md, k=(100, 1000), target=0.5)
    text = md.read_text()
    assert "pass@k" in text and len(re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)) == 3
    for name in re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text):
        assert (md.parent / name).exists(), name


def test_report_of_a_fit_that_did_not_converge_says_so_plumbing(passk_fit, tmp_path):
    failed = replace(passk_fit.diagnostics, failures=("R-hat 1.05 > 1.01 for a",))
    tree = make_tree(
        passk_fit.posterior,
        passk_fit.idata["models"].to_dataset(),
        passk_fit.counts,
        failed,
        passk_fit.settings,
    )
    bad = PassKFit(tree, passk_fit.counts, failed, passk_fit.settings)
    bad.report(tmp_path / "bad.html", k=(100,))
    words = _text((tmp_path / "bad.html").read_text())
    assert "NOT CONVERGED" in words and "R-hat 1.05 &gt; 1.01 for a" in (
        tmp_path / "bad.html"
    ).read_text().replace(">", "&gt;")
