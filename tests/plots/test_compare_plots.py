"""The recipe comparison figure and report, on one real (short, seeded) grouped fit.

The fit is deliberately small (300 draws, 2 chains), so whether it passes the diagnostics gate is
not what is tested: each test sets ``converged`` itself with :func:`dataclasses.replace`.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import re
import warnings

import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from bayes_scaling.inference.grouped import fit_groups
from bayes_scaling.model.simulate import two_recipe_ladder
from bayes_scaling.plots import comparison_plot
from bayes_scaling.report import comparison_report
from bayes_scaling.report.comparison import build_comparison_report, multiplier

pytestmark = pytest.mark.slow

BUDGETS = [1e20, 1e22, 1e24]
REASON = "R-hat 1.05 > 1.01 for alpha"
IMG = re.compile(r'<img id="img-comparison" src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(scope="module")
def comparison():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short fit may fail the gate; tests set it themselves
        gfit = fit_groups(
            two_recipe_ladder(seed=3), seed=3, draws=300, chains=2, progress=False, rescue=False
        )
    return gfit.compare(compute=BUDGETS)


@pytest.fixture(scope="module")
def good(comparison):
    return dataclasses.replace(comparison, converged=True, reason="")


@pytest.fixture(scope="module")
def bad(comparison):
    return dataclasses.replace(comparison, converged=False, reason=REASON)


def _title(fig: Figure) -> str:
    return fig._suptitle.get_text() if fig._suptitle is not None else ""


def test_plot_has_three_panels_and_a_plain_title(good):
    fig = comparison_plot(good)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    assert all(ax.get_xscale() == "log" for ax in fig.axes)
    assert "NOT CONVERGED" not in _title(fig)
    assert "B against A" in _title(fig)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "NOT CONVERGED" not in texts
    # both groups' runs are drawn, each as its own labelled scatter
    labels = [c.get_label() for c in fig.axes[0].collections]
    assert "A: runs (n=48)" in labels and "B: runs (n=48)" in labels
    # the crossover of this ladder is inside the range: its line and span are in panel (b)
    assert any(line.get_label().startswith("crossover median") for line in fig.axes[1].lines)


def test_plot_says_not_converged_in_red(bad):
    fig = comparison_plot(bad)
    assert len(fig.axes) == 3
    title = fig._suptitle
    assert "NOT CONVERGED" in title.get_text() and REASON in title.get_text()
    assert to_rgba(title.get_color()) == to_rgba("red")


def test_plot_draws_into_given_axes(good):
    fig = Figure()
    axes = fig.subplots(3, 1)
    assert comparison_plot(good, axes=axes) is fig
    with pytest.raises(ValueError, match="three Axes"):
        comparison_plot(good, axes=axes[:2])


def test_report_writes_headline_table_and_embedded_figure(good, tmp_path):
    paths = comparison_report(good, tmp_path / "c.html", tmp_path / "c.md", title="B vs A")
    assert set(paths) == {"html", "markdown", "figure:comparison"}
    page = paths["html"].read_text(encoding="utf-8")
    headline = good.headline()
    # the headline, in bold, is the first thing after the title
    first = page.index('<p id="headline"><strong>')
    assert html.escape(headline) in page[first : first + 400 + len(headline)]
    assert first < page.index('<nav id="contents"')
    assert 'id="convergence-warning"' not in page and "NOT CONVERGED" not in page
    # the table per budget, with intervals, probabilities and multipliers
    assert '<table id="budget-table">' in page and '<table id="parameter-table">' in page
    for i in range(len(BUDGETS)):
        assert f'id="budget-{i}-multiplier"' in page
        assert f'id="budget-{i}-p-b-better"' in page
    assert 'id="crossover-median"' in page and "probability of no crossover" in page
    # the figure is embedded as a decodable PNG, and nothing is fetched
    (b64,) = IMG.findall(page)
    assert base64.b64decode(b64)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<script" not in page and "http://" not in page and "https://" not in page
    # the Markdown twin: headline first after the title, figure beside it
    md = paths["markdown"].read_text(encoding="utf-8")
    assert md.startswith("# B vs A\n\n**B beats A at 1e+24 FLOPs")
    assert "figures/comparison.png" in md and paths["figure:comparison"].stat().st_size > 1000


def test_report_shows_a_red_banner_when_not_converged(bad, tmp_path):
    paths = comparison_report(bad, tmp_path / "bad.html")
    assert set(paths) == {"html"}
    page = paths["html"].read_text(encoding="utf-8")
    banner = page.index('<div id="convergence-warning"')
    assert "NOT CONVERGED" in page[banner : banner + 300]
    assert html.escape(REASON) in page[banner : banner + 600]
    assert page.index('id="headline"') < banner < page.index('<section id="budgets"')
    assert f"NOT CONVERGED: {html.escape(REASON)}" in page  # the headline says it too
    assert "diagnostics gate FAILED" in page


def test_report_escapes_group_names(comparison):
    evil = dataclasses.replace(comparison, b="<b>x</b>")
    page = build_comparison_report(evil).html
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_multiplier_format():
    assert multiplier(3.914) == "3.91×"
    assert multiplier(float("inf")).startswith(">")
    assert multiplier(0.0).startswith("<")
