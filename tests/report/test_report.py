"""The decision report (no browser): order, numbers, escaping, warnings, unreachable targets.

Two real fits of the demo table per module: a converged one (seed 3) whose first run is named
``<script>alert(1)</script>``, and a deliberately short one that fails the diagnostics gate.
"""

from __future__ import annotations

import base64
import html
import re

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling import _format as fmt
from bayes_scaling.answers import allocation as al
from bayes_scaling.answers.decision import allocate
from bayes_scaling.cli.entry import main
from bayes_scaling.report import Report, build_report
from bayes_scaling.report.blocks import Content, Num, Section, Table
from bayes_scaling.report.facts import budget_grid
from bayes_scaling.report.markdown import esc as md_escape
from bayes_scaling.report.markdown import render_markdown
from bayes_scaling.report.render_html import render_html
from bayes_scaling.trust.sensitivity import prior_sensitivity

pytestmark = pytest.mark.slow

BUDGET = 1e24
TARGET = 2.3  # reachable at about the budget on the demo table
UNREACHABLE = 1.0  # below the posterior of E (~1.9): never reached
EVIL = "<script>alert(1)</script>"
TITLE = 'Budget <i>plan</i> & "risk"'
ORDER = [
    "question",
    "answer",
    "split",
    "risk",
    "target",
    "extrapolation",
    "trust",
    "health",
    "law",
    "priors",
    "data",
    "assumptions",
]
NUM = re.compile(r'<span class="num" id="([^"]+)" data-value="([^"]*)">([^<]*)</span>')


@pytest.fixture(scope="module")
def fit():
    runs = bs.datasets.demo()
    runs.loc[0, "run_id"] = EVIL
    return bs.fit(runs, seed=3, progress=False)


@pytest.fixture(scope="module")
def bad_fit():
    with pytest.warns(bs.ConvergenceWarning):
        return bs.fit(bs.datasets.demo(), seed=1, draws=30, tune=60, progress=False, rescue=False)


@pytest.fixture(scope="module")
def frontier_fit(fit):
    """L(C) on the same runs (a law of the compute frontier: no split), with its discrepancy."""
    return bs.fit(fit.runs, law="power:compute", seed=3, progress=False)


@pytest.fixture(scope="module")
def report(fit) -> Report:
    return build_report(fit, BUDGET, target=TARGET, tokens_per_param=20, title=TITLE)


@pytest.fixture(scope="module")
def unreachable(fit) -> Report:
    return build_report(fit, BUDGET, target=UNREACHABLE)


@pytest.fixture(scope="module")
def bad_report(bad_fit) -> Report:
    return build_report(bad_fit, BUDGET, target=TARGET)


def numbers(page: str) -> dict[str, str]:
    """Key numbers of a page by element id: the text shown (unescaped)."""
    ids = re.findall(r' id="([^"]*)"', page)
    assert len(ids) == len(set(ids)), "element ids must be unique on the page"
    found = NUM.findall(page)
    return {i: html.unescape(text) for i, _, text in found}


def section_html(page: str, ident: str) -> str:
    match = re.search(rf'<section id="{ident}">.*?</section>', page, re.S)
    assert match, f"no section {ident!r}"
    return match.group(0)


def row(table, quantity):
    return table.loc[table["quantity"] == quantity].iloc[0]


def test_sections_appear_in_order(report):
    positions = [report.html.find(f'<section id="{s}">') for s in ORDER]
    assert min(positions) > 0
    assert positions == sorted(positions)
    question = section_html(report.html, "question")
    assert "How should a" in question and "-FLOP budget be split" in question
    assert 'id="budget"' in question and 'id="target-loss"' in question


def test_html_numbers_match_allocate(fit, report):
    table = allocate(fit, BUDGET, tokens_per_param=20, target=TARGET, prob=0.9)
    shown = numbers(report.html)
    triples = {
        "n_params_opt": ("n-star", fmt.count),
        "n_tokens_opt": ("d-star", fmt.count),
        "tokens_per_param_opt": ("tpp", fmt.ratio),
        # the law-only band carries the discrepancy, as the text says and bands' law band does
        "loss_opt_discrepancy": ("law", fmt.loss),
        "chosen_loss": ("chosen-loss", fmt.loss),
    }
    for quantity, (stem, form) in triples.items():
        r = row(table, quantity)
        assert shown[f"{stem}-median"] == form(r["estimate"]), quantity
        assert shown[f"{stem}-lower"] == form(r["lower"]), quantity
        assert shown[f"{stem}-upper"] == form(r["upper"]), quantity
    singles = {
        "n_params_bayes": ("n-bayes", fmt.count),
        "n_params_tail_safe": ("n-tail-safe", fmt.count),
        "n_params_mean_fit": ("n-mean-fit", fmt.count),
        "prob_a_gt_half": ("prob-a-gt-half", fmt.prob),
        "regret_mean": ("regret-mean", fmt.nats),
        "regret_q90": ("regret-q90", fmt.nats),
        "regret_q95": ("regret-q95", fmt.nats),
        "regret_cvar95": ("regret-cvar95", fmt.nats),
        "prob_reach_opt": ("prob-reach-opt", fmt.prob),
        "prob_reach_chosen": ("prob-reach-chosen", fmt.prob),
        "prob_unreachable": ("prob-unreachable", fmt.prob),
        "extrapolation": ("extrapolation-multiple", fmt.multiple),
    }
    for quantity, (ident, form) in singles.items():
        assert shown[ident] == form(row(table, quantity)["estimate"]), quantity
    for p in (50, 90):
        needed = row(table, f"compute_needed_p{p}")["estimate"]
        assert np.isfinite(needed), "the demo reaches 2.3 nats within the search range"
        assert shown[f"compute-needed-p{p}"] == fmt.flops(needed)
    assert shown["budget"] == "1e+24" and shown["extrapolation-multiple"] == "10,000x"


def test_predictive_band_matches_bands_and_is_named(fit, report):
    grid = budget_grid(fit.runs, BUDGET)
    band = fit.bands(compute=grid, prob=(0.9,), as_xarray=True)
    one = band.sel(band="predictive").isel(point=int(np.flatnonzero(grid == BUDGET)[0]), prob=0)
    shown = numbers(report.html)
    assert shown["loss-lower"] == fmt.loss(one["lower"])
    assert shown["loss-upper"] == fmt.loss(one["upper"])
    answer = section_html(report.html, "answer")
    assert "With 90% probability a run&#x27;s final loss at 1e+24 FLOPs lies between" in answer
    assert "(predictive band" in answer and "(law-only band" in answer


def test_refits_that_failed_their_gate_are_flagged(fit):
    # another law's refit and the prior-sensitivity refits that did not converge are named so,
    # and the page no longer says "the data, not the priors, decide" on their word
    import pandas as pd

    from bayes_scaling.report.confidence import LawEvidence, _law_table
    from bayes_scaling.trust.sensitivity import Sensitivity

    comparison = pd.DataFrame(
        {"elpd": [90.0, 80.0], "se": [5.0, 6.0], "weight": [1.0, 0.0], "n_high_k": [0, 0],
         "k_threshold": [0.7, 0.7], "converged": [True, False]},
        index=["chinchilla", "power"],
    )  # fmt: skip
    table = _law_table(LawEvidence(comparison, pd.DataFrame(), ""))
    assert [r[0] for r in table.rows] == ["chinchilla", "power (NOT converged)"]
    flags = pd.DataFrame({"kind": ["band"], "quantity": ["loss"], "compute": [1e23],
                          "max_shift": [0.05], "max_width_change": [1.1],
                          "prior_driven": [False]})  # fmt: skip
    sens = Sensitivity(pd.DataFrame(), flags, pd.DataFrame(columns=["diagnosis"]),
                       {"default": True, "wide": False}, {})  # fmt: skip
    said = " ".join(sens.sentences())
    assert "did not converge" in said and "the data, not the priors, decide" not in said


def test_risk_without_a_proposal_is_the_point_fits(fit, unreachable):
    n_mean_fit = float(np.asarray(al.mean_parameter_optimum(fit, BUDGET)["n_params"]))
    table = allocate(fit, BUDGET, params=n_mean_fit, prob=0.9)
    shown = numbers(unreachable.html)
    for name in ("mean", "q90", "q95", "cvar95"):
        assert shown[f"regret-{name}"] == fmt.nats(row(table, f"regret_{name}")["estimate"])
    assert "point fit" in section_html(unreachable.html, "risk")


def test_markdown_carries_the_same_key_numbers(report):
    shown = numbers(report.html)
    assert len(shown) > 30
    for ident, text in shown.items():
        assert f"**{md_escape(text)}**" in report.markdown, ident
    headings = [line[3:] for line in report.markdown.splitlines() if line.startswith("## ")]
    assert headings[0] == "The question" and headings[-1] == "Assumptions"
    assert "![" in report.markdown and "](figures/fan_chart.png)" in report.markdown


def test_user_strings_are_escaped(report):
    for text in (report.html, report.markdown):
        assert EVIL not in text and "<script" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section_html(report.html, "data")
    assert "&lt;script" in report.markdown
    assert "<i>plan</i>" not in report.html
    assert "Budget &lt;i&gt;plan&lt;/i&gt; &amp; &quot;risk&quot;" in report.html


def test_every_string_of_the_content_is_escaped():
    """Section titles, column names, cells and numbers from the user are all text."""
    tag = "<img src=x onerror=alert(1)>"
    content = Content(
        title=tag,
        subtitle=tag,
        sections=(
            Section(
                tag,
                tag,
                ((tag, Num(tag, tag, 1.0)),),
                (Table(tag, (tag, "group"), ((tag, tag),), id=tag),),
                ((tag,),),
            ),
        ),
    )
    page = render_html(content, {})
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<img" not in render_markdown(content)


def test_convergence_warning_only_for_a_fit_that_failed(report, bad_fit, bad_report):
    assert not bad_fit.converged
    assert 'id="convergence-warning"' in bad_report.html
    block = re.search(r'<div id="convergence-warning".*?</div>', bad_report.html, re.S).group(0)
    assert "did NOT converge" in block
    assert html.escape(bad_fit.diagnostics.reason()) in block
    assert bad_report.html.find("convergence-warning") < bad_report.html.find('id="question"')
    assert "WARNING" in bad_report.markdown
    assert 'id="convergence-warning"' not in report.html and "WARNING" not in report.markdown
    assert numbers(bad_report.html)["fit-status"] == "did NOT pass"


def test_unreachable_target_says_so_and_prints_no_compute(unreachable):
    target = section_html(unreachable.html, "target")
    assert re.search(r"not reachable with probability (100%|&gt;99%)", target), target
    assert "compute-needed-p50" not in unreachable.html
    assert "compute-needed-p90" not in unreachable.html
    assert "needs about" not in target
    assert set(re.findall(r"([0-9.e+]+) FLOPs", target)) == {"1e+24"}
    assert numbers(unreachable.html)["prob-unreachable"] in {"100%", ">99%"}


def test_page_is_self_contained(report):
    sources = re.findall(r'<img[^>]* src="([^"]*)"', report.html)
    assert len(sources) == 3
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    links = re.findall(r'(?:src|href)="([^"]*)"', report.html)
    # self-contained: only embedded images and in-page anchors, nothing fetched from anywhere
    assert links and not [u for u in links if not u.startswith(("data:image/png;base64,", "#"))]
    assert "<link" not in report.html and "<script" not in report.html
    assert set(report.figures) == {"fan_chart", "optimum_posterior", "allocation_frontier"}


def test_save_writes_the_page_the_markdown_and_its_figures(report, tmp_path):
    written = report.save(tmp_path / "r.html", tmp_path / "md" / "r.md")
    assert written["html"].read_text(encoding="utf-8") == report.html
    assert written["markdown"].read_text(encoding="utf-8") == report.markdown
    for key, png in report.figures.items():
        assert (tmp_path / "md" / "figures" / f"{key}.png").read_bytes() == png


def test_a_double_proposal_is_refused(fit):
    with pytest.raises(bs.BayesScalingError, match="not both"):
        build_report(fit, BUDGET, params=1e10, tokens_per_param=20)


def test_trust_section_names_the_discrepancy_and_the_horizon(fit, report):
    trust = section_html(report.html, "trust")
    assert "extrapolation discrepancy" in trust
    found = numbers(report.html)
    assert {"param-only-width", "discrepancy-width", "trust-horizon"} <= set(found)
    assert float(found["discrepancy-width"]) > float(found["param-only-width"])
    assert "Trust horizon" in trust and "largest run" in trust
    assert "extrapolation discrepancy" in section_html(report.html, "answer")
    assert "trust horizon" in report.markdown.lower()


def test_a_budget_inside_the_runs_gets_no_width_from_the_discrepancy(fit):
    largest = float(fit.runs["compute"].max())
    trust = section_html(build_report(fit, largest, tolerance=None).html, "trust")
    exact = {i: float(v) for i, v, _ in NUM.findall(trust)}  # data-value: unrounded
    with_it, without = exact["discrepancy-width"], exact["param-only-width"]
    assert with_it == pytest.approx(without, rel=0.1)  # zero error inside the runs
    assert ("widens" in trust) == (with_it > without)
    assert ("adds nothing measurable" in trust) == (with_it <= without)


def test_report_compares_laws_and_flags_prior_driven_conclusions(fit, frontier_fit):
    power = frontier_fit
    sens = prior_sensitivity(fit, compute=[BUDGET])
    page = build_report(fit, BUDGET, laws={"power:compute": power}, sensitivity=sens).html
    trust = section_html(page, "trust")
    assert 'id="law-table"' in trust and "stacking weight" in trust
    assert "power:compute" in trust and "chinchilla" in trust
    assert 'id="prior-sensitivity-table"' in trust
    assert ("prior-driven" in trust) == bool(sens.flags["prior_driven"].any())


def test_a_law_in_compute_alone_gets_a_page_without_a_split(frontier_fit):
    budget, target = 1e22, 2.6
    page = build_report(frontier_fit, budget, target=target)
    ids = re.findall(r'<section id="([^"]+)"', page.html)
    assert ids == [s for s in ORDER if s not in ("split", "risk")]
    assert set(page.figures) == {"fan_chart"}
    found = numbers(page.html)
    grid = budget_grid(frontier_fit.runs, budget)
    bands = frontier_fit.bands(compute=grid, prob=[0.9], as_xarray=True)
    band = bands.sel(band="predictive", prob=0.9).isel(point=int(np.flatnonzero(grid == budget)[0]))
    assert found["loss-median"] == fmt.loss(band["median"])
    # P(reach) at the budget two ways: the run losses at C, and the per-draw compute that first
    # reaches the target (a search along C), which must agree draw by draw up to the search grid
    reach = bs.answers.targets.compute_to_reach(frontier_fit, target)
    p_reach = bs.answers.targets.prob_reach(frontier_fit, budget, target)
    assert float((reach <= budget).mean()) == pytest.approx(p_reach, abs=0.002)
    assert 0.05 < p_reach < 0.95 and found["prob-reach-opt"] == fmt.prob(p_reach)
    table = allocate(frontier_fit, [budget], target=target).set_index("quantity")
    assert "n_params_opt" not in table.index and "loss_opt_discrepancy" in table.index
    assert "at C" in table.loc["prob_reach_opt", "note"]
    needed = table.loc["compute_needed_p50", "estimate"]
    assert float((reach <= needed).mean()) == pytest.approx(0.5, abs=0.01)
    assert "alpha the exponent of compute" in section_html(page.html, "law")
    assert "split as the table" in section_html(page.html, "answer")
    assert "local misfit" not in section_html(page.html, "trust")  # none for a law in C alone
    for kwargs in ({"params": 1e9}, {"tokens_per_param": 20}):
        (name,) = kwargs
        with pytest.raises(bs.ArgumentError, match=f"{name}: law 'power:compute' reads compute"):
            build_report(frontier_fit, budget, **kwargs)
        with pytest.raises(bs.ArgumentError, match="reads compute alone"):
            allocate(frontier_fit, [budget], **kwargs)
    with pytest.raises(bs.ArgumentError, match="tokens_per_param: law 'power:compute'"):
        bs.answers.targets.compute_to_reach(frontier_fit, target, tokens_per_param=20)
    with pytest.raises(bs.ArgumentError, match="tokens_per_param: law 'power:compute'"):
        frontier_fit.bands(compute=[budget], tokens_per_param=20)  # as if split: refused


def test_cli_refuses_a_split_for_a_law_in_compute_alone_before_any_refit(
    frontier_fit, tmp_path, no_sampling, capsys
):
    saved = tmp_path / "compute_only.nc"
    frontier_fit.save(saved)
    out = str(tmp_path / "page.html")
    args = ["report", str(saved), "--compute", "1e22", "--params", "1e9", "--out", out]
    assert main([*args, "--prior-sensitivity"]) == 2  # no refit ran (no_sampling)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bayes-scaling: error: --params:")
    assert "reads compute alone" in err and "drop it" in err
