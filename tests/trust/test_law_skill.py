"""Laws weighed by backtest skill: the stacking optimiser against a general one, the disagreement
rule, and real NUTS refits below internal cuts of the demo table (simulated from Chinchilla)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from bayes_scaling import BayesScalingError, datasets, fit
from bayes_scaling.trust.law_skill import (
    DISAGREE_TV,
    LawSkill,
    law_skill,
    skill_bands,
    stack_densities,
    stacking_score,
)


def _best_by_scipy(lpd):
    """The stacking optimum by a general constrained optimiser (softmax parameters)."""

    def negative(z):
        w = np.exp(z - z.max())
        return -stacking_score(lpd, w / w.sum())

    best = optimize.minimize(
        negative,
        np.zeros(lpd.shape[1]),
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 20_000},
    )
    return -best.fun


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stacking_weights_maximise_the_held_out_score(seed):
    rng = np.random.default_rng(seed)
    lpd = rng.normal(0, 1, (40, 3)) + np.array([0.0, 0.2, -0.5])
    w = stack_densities(lpd)
    assert np.all(w >= 0) and w.sum() == pytest.approx(1.0)
    assert stacking_score(lpd, w) >= _best_by_scipy(lpd) - 1e-6
    for k in range(3):  # better than any single law
        assert stacking_score(lpd, w) >= stacking_score(lpd, np.eye(3)[k]) - 1e-9


def test_a_law_that_wins_everywhere_takes_all_the_weight_and_misses_are_finite():
    lpd = np.column_stack([np.full(10, 2.0), np.full(10, -np.inf)])
    assert stack_densities(lpd) == pytest.approx([1.0, 0.0], abs=1e-6)
    with pytest.raises(BayesScalingError, match="lpd"):
        stack_densities(np.zeros((0, 2)))


def _skill(weights, loo):
    return LawSkill(
        weights=weights,
        loo_weights=loo,
        cuts=[1e19],
        cut_on="compute",
        held_out={1e19: 5},
        mean_lpd={k: 1.0 for k in weights},
        converged={k: {1e19: True} for k in weights},
        pointwise=pd.DataFrame(),
    )


def test_disagreement_is_total_variation_above_the_threshold():
    agree = _skill({"a": 0.6, "b": 0.4}, {"a": 0.7, "b": 0.3})
    assert agree.distance == pytest.approx(0.1) and agree.disagree is False
    assert agree.default_weights == {"a": 0.7, "b": 0.3} and agree.weights_from == "PSIS-LOO"
    apart = _skill({"a": 0.1, "b": 0.9}, {"a": 0.9, "b": 0.1})
    assert apart.distance == pytest.approx(0.8) and apart.distance > DISAGREE_TV
    assert apart.disagree
    assert apart.default_weights == {"a": 0.1, "b": 0.9}
    assert apart.weights_from == "backtest skill" and "disagree" in apart.sentence()
    alone = _skill({"a": 1.0, "b": 0.0}, None)
    assert alone.disagree is None and alone.default_weights == {"a": 1.0, "b": 0.0}


@pytest.fixture(scope="module")
def fits():
    runs = datasets.demo()
    options = dict(seed=3, draws=300, tune=300, chains=2, discrepancy=False, progress=False)
    return {law: fit(runs, law=law, **options) for law in ("chinchilla", "power:compute")}


def test_skill_weights_rest_on_the_same_held_out_runs_for_every_law(fits):
    skill = law_skill(fits, draws=300, tune=300, chains=2)
    table = skill.table()
    print(table.to_string(), skill.sentence(), sep="\n")
    assert sum(skill.weights.values()) == pytest.approx(1.0)
    assert len(skill.cuts) == 2 and skill.cut_on == "compute"
    runs = fits["chinchilla"].runs
    for c in skill.cuts:  # held out: the runs at or above each cut, for every law alike
        assert skill.held_out[c] == int((runs["compute"] >= c).sum())
    assert len(skill.pointwise) == sum(skill.held_out.values())
    assert skill.pointwise[list(fits)].notna().all().all()
    # the table is simulated from the Chinchilla law: a power law in compute alone, which
    # cannot follow the off-optimum runs of each budget, extrapolates worse
    assert skill.mean_lpd["chinchilla"] > skill.mean_lpd["power:compute"]
    assert skill.weights["chinchilla"] > 0.5
    assert set(skill.loo_weights) == set(fits) and skill.disagree is not None
    assert list(table.index) == list(fits)
    bands = skill_bands(fits, skill, compute=[1e21, 1e22], prob=0.9)
    assert bands.attrs["weights_from"] in {"backtest skill", "PSIS-LOO"}
    assert bands.attrs["weights"] == pytest.approx(skill.default_weights)


def test_bad_arguments_stop_before_any_refit(fits, no_sampling):
    with pytest.raises(BayesScalingError, match="fractions"):
        law_skill(fits, fractions=[0.05])
    with pytest.raises(BayesScalingError, match="cut"):  # a given cut outside the runs
        law_skill(fits, cuts=[1e30])
    with pytest.raises(BayesScalingError, match="cut_on"):
        law_skill(fits, cut_on="width")
    with pytest.raises(BayesScalingError, match="fits"):
        law_skill({"chinchilla": fits["chinchilla"]})
    with pytest.raises(BayesScalingError, match="skill"):
        skill_bands(fits, {"chinchilla": 1.0}, compute=[1e21])


def test_report_shows_skill_weights_beside_loo_and_the_stacked_default(fits):
    from bayes_scaling.report.build import build_report

    loo = {"chinchilla": 1.0, "power:compute": 0.0}
    skill = _skill({"chinchilla": 0.3, "power:compute": 0.7}, loo)  # made to disagree
    page = build_report(
        fits["chinchilla"], 1e21, laws={"power:compute": fits["power:compute"]}, skill=skill
    )
    assert "skill weight (backtests)" in page.html and "stacking weight" in page.html
    assert "disagree with the PSIS-LOO" in page.markdown
    assert "stacked one, the laws mixed by their backtest skill" in page.markdown
    plain = build_report(fits["chinchilla"], 1e21, laws={"power:compute": fits["power:compute"]})
    assert "skill weight" not in plain.html  # without skill the page is as before


def test_cli_skill_needs_compared_laws(tmp_path, capsys, no_sampling):
    from bayes_scaling.cli.entry import main

    code = main(["report", str(tmp_path / "fit.nc"), "--compute", "1e21", "--skill"])
    assert code == 2
    assert "--skill" in capsys.readouterr().err


def test_refits_below_a_cut_make_the_fits_prior_choice_again():
    # never the fit's resolved priors (scaled to every run, held-out ones too)
    from types import SimpleNamespace

    from bayes_scaling.priors import Prior
    from bayes_scaling.priors.learned import prior_label
    from bayes_scaling.trust.law_skill import refit_priors

    beta = Prior("Normal", {"mu": 0.3, "sigma": 0.05})
    resolved = {"beta": beta, "E": Prior("Uniform", {"lower": 0.0, "upper": 2.1})}

    def made_with(priors):
        return SimpleNamespace(settings={"priors": prior_label(priors)}, priors=resolved)

    assert refit_priors(made_with(None)) is None
    assert refit_priors(made_with("learned")) == "learned"
    assert refit_priors(made_with({"beta": beta})) == {"beta": beta}  # only the override
