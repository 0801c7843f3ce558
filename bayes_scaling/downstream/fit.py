"""``fit_downstream``: (N, D) → intermediate loss → metric, both steps by NUTS, checked and saved.

Step 1 is :func:`bayes_scaling.fit` on the intermediate loss (``via``; any registered law, with
its extrapolation discrepancy and its own rescue ladder). Step 2 is the link model of
:mod:`bayes_scaling.downstream.model` on the runs' (via, metric) points, sampled with the gate
and a ladder of its own (:mod:`bayes_scaling.downstream.link_fit`). The direct one-step
alternative (the same link on −log10 C) is fitted beside, and the two are compared by PSIS-LOO
on each run's metric (:mod:`bayes_scaling.downstream.direct`).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from bayes_scaling import _validate as check
from bayes_scaling.data.read import read_table
from bayes_scaling.data.runs import load_runs
from bayes_scaling.downstream.data import check_downstream_runs, checkpoint_noise
from bayes_scaling.downstream.direct import chain_loglik, compare, fit_direct
from bayes_scaling.downstream.link_fit import fit_link, learn_link_discrepancy, link_priors
from bayes_scaling.downstream.links import Link, get_link
from bayes_scaling.downstream.result import (
    DownstreamFit,
    make_downstream_tree,
    merge_diagnostics,
)
from bayes_scaling.errors import ArgumentError, RunsWarning
from bayes_scaling.inference.rungs import Attempt, derived_seed
from bayes_scaling.inference.sampling import fit
from bayes_scaling.laws import get_law
from bayes_scaling.results import diagnostics
from bayes_scaling.results.scaling import ScalingFit

STEP2_POINTS = ("final", "checkpoints")
#: Fewest draws and tuning steps per chain of step 2 and the direct law.
STEP2_MIN = 1000
#: Sd of the zero-loss anchor by default, and the sd that turns it off (same compiled model).
ANCHOR_SD, ANCHOR_OFF = 0.05, 1e3


def fit_downstream(
    runs,
    metric: str,
    via: str,
    *,
    link: str | Link = "sigmoid",
    chance: float | None = None,
    ceiling: float = 1.0,
    law="chinchilla",
    seed: int | None = None,
    draws: int = 1000,
    chains: int = 4,
    tune: int = 1000,
    target_accept: float = 0.95,
    checkpoints: pd.DataFrame | None = None,
    noise_floor: float | None = None,
    anchor_sd: float | None = None,
    step2_points: str = "final",
    direct: bool = True,
    discrepancy: bool | str = True,
    step1: ScalingFit | None = None,
    priors: Mapping | None = None,
    step1_priors: Mapping | None = None,
    progress: bool | None = None,
    rescue: bool = True,
) -> DownstreamFit:
    """Fit the two-step chain (N, D) → ``via`` → ``metric`` and its direct alternative.

    Parameters
    ----------
    runs : DataFrame or path
        One row per model: sizes (params and tokens, or compute; any names
        :func:`bayes_scaling.load_runs` recognises), the ``via`` column and the ``metric`` column.
    metric : str
        The downstream metric (an accuracy in [0, ``ceiling``], or an error for
        ``link="exponential"``).
    via : str
        The intermediate loss: the task's answer loss (bits per byte) or a validation loss.
    link : {"sigmoid", "exponential"} or Link
        Step 2's link (:mod:`bayes_scaling.downstream.links`).
    chance : float, optional
        The metric of a model that knows nothing (0.25 for four options; for an error metric,
        the chance error). None: learned, with a Uniform prior below the lowest accuracy (above
        the highest error).
    ceiling : float
        The metric's bound (1 for an accuracy); ``chance`` must lie below it.
    law : str or Law
        Step 1's law (``"chinchilla"`` by default, any registered law).
    seed : int, optional
        Seeds both steps (drawn and stored when None).
    draws, chains, tune, target_accept : sampler settings of both steps.
    checkpoints : DataFrame, optional
        Every evaluated checkpoint of the runs (columns ``via``, ``metric``, ``group`` or ``run``,
        and ``step``), e.g. ``olmo_downstream(checkpoints="all")``: the checkpoint-to-checkpoint
        noise of the metric near the end of training becomes step 2's noise floor
        (:func:`bayes_scaling.downstream.data.checkpoint_noise`).
    noise_floor : float, optional
        The floor given directly (overrides ``checkpoints``); 0 when neither is given.
    anchor_sd : float, optional
        Sd of the zero-loss anchor m(0) = ceiling (0 for an error): a model that gives the right
        answer all its probability solves the task (the OLMo ladder paper's helper point, as a
        soft prior; :mod:`bayes_scaling.downstream.model`). Default: :data:`ANCHOR_SD` for links
        that anchor (the sigmoid), :data:`ANCHOR_OFF` (no anchor) for the others.
    step2_points : {"final", "checkpoints"}
        Fit step 2 on the runs' final points (default) or on every checkpoint given.
    direct : bool
        Also fit the direct one-step law (the link on −log10 C) and compare by PSIS-LOO.
    discrepancy : bool or str
        Step 1's extrapolation discrepancy (see :func:`bayes_scaling.fit`), and step 2's: the
        link's own error beyond the ladder, learned from its backtests
        (:mod:`bayes_scaling.discrepancy.link`). False: neither.
    step1 : ScalingFit, optional
        An existing fit of the law to the ``via`` loss of these runs, used as step 1.
    priors : dict, optional
        Step 2 prior overrides by name (link parameters, ``sigma_extra``, ``chance``).
    step1_priors : dict, optional
        Step 1 prior overrides by name (the law's parameters, ``sigma``, ``nu``), as for
        :func:`bayes_scaling.fit`.
    progress : bool, optional
        Progress bars (default: when stderr is a terminal).
    rescue : bool
        Escalate when a gate fails (both steps).

    Returns
    -------
    DownstreamFit
        With ``.bands(...)``, ``.target(...)``, ``.chance_threshold(...)`` and ``.report(...)``.

    Raises
    ------
    RunsError
        An accuracy outside [0, ceiling], a constant metric, a missing ``via`` value, fewer runs
        than parameters: every problem named by its row and column.
    ArgumentError
        ``chance`` ≥ ``ceiling``, an unknown ``step2_points``, ...

    Examples
    --------
    >>> from bayes_scaling.downstream.data import olmo_downstream
    >>> runs = olmo_downstream()                                    # doctest: +SKIP
    >>> d = fit_downstream(runs, metric="acc_hellaswag_val", via="bpb_hellaswag_val",
    ...                    chance=0.25, seed=1)                     # doctest: +SKIP
    >>> d.bands(params=13.2e9, tokens=5e12, prob=[0.5, 0.9])        # doctest: +SKIP
    """
    link = get_link(link)
    law = get_law(law)
    ceiling = check.positive(ceiling, "ceiling")
    if chance is not None:
        chance = check.non_negative(chance, "chance")
        if chance >= ceiling:
            raise ArgumentError(
                "chance",
                f"the chance level {chance:g} is not below the ceiling {ceiling:g}; give the "
                "metric of a random guess (e.g. 0.25 for four options) below the ceiling",
            )
    seed = check.seed(seed)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    draws, chains, tune = check.count(draws, "draws"), check.count(chains, "chains"), tune
    tune = check.count(tune, "tune")  # ≥ 1: nutpie panics without tuning steps
    target_accept = check.probability(target_accept, "target_accept")
    step2_points = check.one_of(step2_points, "step2_points", STEP2_POINTS)
    direct, progress = (
        check.flag(direct, "direct"),
        sys.stderr.isatty() if progress is None else progress,
    )
    if step1 is not None and not isinstance(step1, ScalingFit):
        raise ArgumentError("step1", f"must be a ScalingFit of the via loss, got {type(step1)}")

    raw = read_table(runs).reset_index(drop=True)
    n_link = len(link.params) + 1 + (chance is None)
    check_downstream_runs(raw, metric, via, upper=ceiling, n_params=max(len(law.params), n_link))
    # canonical names the table already has are taken as they are (an OLMo table also has
    # training_flops and run, which would look like compute and run_id)
    mapping = {c: c for c in ("run_id", "n_params", "n_tokens", "compute") if c in raw}
    source = raw.drop(columns=["loss"], errors="ignore") if via != "loss" else raw
    table = load_runs(source, **mapping, **({} if via == "loss" else {"loss": via}))
    table[via] = pd.to_numeric(raw[via]).to_numpy(float)
    table[metric] = pd.to_numeric(raw[metric]).to_numpy(float)

    floor, source = _noise_floor(noise_floor, checkpoints, metric)
    if step1 is not None:
        _check_step1(step1, table, via)
    if chance is not None:
        _warn_beyond_chance(link, table[metric].to_numpy(float), chance, floor, metric)
    loss_pts, metric_pts = _step2_points(step2_points, table, checkpoints, via, metric)
    constants = {
        "chance": chance,
        "ceiling": ceiling,
        "ref": float(np.mean(loss_pts)),
        "noise_floor": floor,
        "anchor_sd": (ANCHOR_SD if link.zero_loss_anchor else ANCHOR_OFF)
        if anchor_sd is None
        else check.positive(anchor_sd, "anchor_sd"),
        "noise_floor_source": source,
    }
    step2_priors = link_priors(link, loss_pts, metric_pts, chance, ceiling, priors)
    sampler = dict(draws=draws, chains=chains, tune=tune, target_accept=target_accept)

    if step1 is None:
        step1 = fit(
            table,
            law=law,
            priors=step1_priors,
            seed=seed,
            likelihood="student_t",
            progress=progress,
            discrepancy=discrepancy,
            rescue=rescue,
            **sampler,
        )
    # step 2 is a few parameters on a few points (0.1-0.5 s a fit): never fewer than 1000 draws
    s2_draws, s2_tune = max(draws, STEP2_MIN), max(tune, STEP2_MIN)
    first = Attempt("as asked", s2_draws, s2_tune, target_accept, derived_seed(seed, 101))
    step2 = fit_link(
        loss_pts, metric_pts, link, step2_priors, constants, first, chains, progress, rescue
    )
    diagnostics.warn_if_failed(step2["diagnostics"], stacklevel=2, tried=step2["tried"])

    link_disc = None
    if discrepancy:  # the link's own error beyond the ladder (learned from its backtests)
        link_disc = learn_link_discrepancy(
            table, law, via, metric, link, chance, ceiling, priors, constants, first, chains
        )
    direct_part = chain_ll = comparison = None
    if direct:
        direct_part = fit_direct(
            table, metric, link, chance, ceiling, priors, constants, first, seed,
            chains=chains, progress=progress, rescue=rescue,
        )  # fmt: skip
        chain_ll = chain_loglik(step1, step2["posterior"], link, constants, table, metric, seed)
        comparison = compare(step1, step2["posterior"], chain_ll, direct_part, table, seed)
        diagnostics.warn_if_failed(
            direct_part["diagnostics"], stacklevel=2, tried=direct_part["tried"]
        )
    # the gate over every part whose draws the answers use: the direct law's bands and the
    # comparison with it are shown beside the chain's, so its failure is the fit's too
    parts = {"step 1": step1.diagnostics, "step 2": step2["diagnostics"]}
    if direct_part is not None:
        parts["direct law"] = direct_part["diagnostics"]
    diag = merge_diagnostics(parts)

    settings = {
        "metric": metric,
        "via": via,
        "link": link.name,
        "law": law.name,
        "sampler": "nutpie",
        "seed": seed,
        "chains": chains,
        "draws": step2["attempt"].draws,
        "tune": step2["attempt"].tune,
        "target_accept": step2["attempt"].target_accept,
        "step2_points": step2_points,
        "n_step2_points": len(loss_pts),
        "rescue_enabled": bool(rescue),
        "rescue": step2["record"],
        "sampling_seconds": step2["seconds"],
        "flops_per_param_token": step1.settings.get("flops_per_param_token", 6.0),
    }
    if direct_part is not None:
        settings["direct"] = {
            "ref": direct_part["constants"]["ref"],
            "priors": direct_part["priors"],
            "rescue": direct_part["record"],
        }
    tree = make_downstream_tree(
        step1=step1,
        step2=step2,
        runs=table,
        link=link,
        priors=step2_priors,
        constants=constants,
        diagnostics=diag,
        settings=settings,
        direct=direct_part,
        chain_loglik=chain_ll,
        comparison=comparison,
        link_discrepancy=link_disc,
    )
    return DownstreamFit(tree, step1, link, step2_priors, constants, diag, table, settings)


def _check_step1(step1: ScalingFit, table: pd.DataFrame, via: str) -> None:
    """A given step 1 must have been fitted to these runs' ``via`` loss: every run here is among
    its runs (same N and D, and one of its losses there to 1e-9 relative: replicates are runs
    too); it may hold more runs."""
    keys = ["n_params", "n_tokens"]
    seen = step1.runs.groupby(keys)["loss"].apply(list).to_dict()
    for row, (n, d, y) in enumerate(table[[*keys, via]].itertuples(index=False)):
        losses = seen.get((n, d))
        if losses is None or not np.isclose(losses, y, rtol=1e-9, atol=0.0).any():
            what = (
                "has no run"
                if losses is None
                else f"has loss {', '.join(f'{x:.6g}' for x in losses)} there, not {y:.6g}"
            )
            raise ArgumentError(
                "step1",
                f"was not fitted to these runs' {via!r}: row {row} (N={n:.4g}, D={d:.4g}) "
                f"has {via} {y:.6g} but step1 {what}; fit step 1 to this table's {via!r} "
                "(or leave step1 out)",
            )


#: A run may lie beyond the chance level by noise: by this much, or 3 noise floors, before a
#: warning says the chance level looks wrong.
CHANCE_SLACK = 0.02


def _warn_beyond_chance(link: Link, values: np.ndarray, chance: float, floor, metric) -> None:
    """A :class:`RunsWarning` when a run's metric lies well beyond the given chance level, on the
    side the link never reaches (an error above the chance error; an accuracy below chance)."""
    beyond = (chance - values) if link.higher_is_better else (values - chance)
    slack = max(CHANCE_SLACK, 3.0 * float(floor or 0.0))
    worst = int(np.nanargmax(beyond))
    if beyond[worst] > slack:
        side = "below" if link.higher_is_better else "above"
        warnings.warn(
            f"row {worst}: {metric} {values[worst]:.4g} is {side} the chance level {chance:g} by "
            f"{beyond[worst]:.3g}, which the {link.name} link cannot reach; check chance (the "
            "metric of a random guess) or leave it out to learn it",
            RunsWarning,
            stacklevel=3,
        )


def _noise_floor(noise_floor, checkpoints, metric) -> tuple[float, str]:
    if noise_floor is not None:
        return check.non_negative(noise_floor, "noise_floor"), "given"
    if checkpoints is None:
        return 0.0, "none"
    run_col = "group" if "group" in checkpoints else "run"
    value = checkpoint_noise(checkpoints, metric, run_col=run_col)
    if not np.isfinite(value):
        return 0.0, "none (no run has 10 checkpoints with the metric)"
    return value, "checkpoints (last 10 of each run, detrended)"


def _step2_points(which, table, checkpoints, via, metric):
    if which == "final":
        return table[via].to_numpy(float), table[metric].to_numpy(float)
    if checkpoints is None:
        raise ArgumentError("checkpoints", "step2_points='checkpoints' needs the checkpoints table")
    for col in (via, metric):
        if col not in checkpoints:
            raise ArgumentError("checkpoints", f"the checkpoints table has no column {col!r}")
    x = pd.to_numeric(checkpoints[via], errors="coerce").to_numpy(float)
    y = pd.to_numeric(checkpoints[metric], errors="coerce").to_numpy(float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0)
    return x[ok], y[ok]
