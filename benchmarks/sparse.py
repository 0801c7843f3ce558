"""Sparse tables: coverage and width of the bands from 6, 10 and 20 runs of each corpus ladder.

Usage: .venv/bin/python benchmarks/sparse.py [--data DIR] [--sizes 6:3 10:3 20:3]
       [--huber-sizes 6 10 20 full] [--peer-sizes 6 10 20 full] [--ladders NAME ...]
       [--no-full] [--partial RAW.csv] [--out benchmarks/sparse.csv]

For every ladder of the calibration corpus (:func:`bayes_scaling.data.corpus.corpus`, the Step
Law ladder included when present), the protocol's fit part is subsampled at random to each size
(``--sizes SIZE:DRAWS``, seeded; seed = (ladder, size, draw)), and the protocol's held-out runs
are predicted from each subsample by

- ``default``: ``bs.fit(priors="default")``, the weak data-scaled priors (what every fit got
  before the learned prior);
- ``learned``: ``bs.fit(priors=...)`` with the population prior on the law's parameters learned
  WITHOUT the ladder's family (leave-one-family-out, from the shipped ladder summaries:
  :func:`bayes_scaling.priors.learned_prior`);
- ``huber``: the Huber fit + bootstrap (Hoffmann et al. Approach 3 / Besiroglu et al.; the
  coarse grid and 200 resamples, see :data:`HUBER`), at ``--huber-sizes``;
- ``peer``: the peer simple-scaling-laws 0.2.0 (its separable power law with its default
  1000-draw bootstrap, new-run intervals; ``benchmarks/peer.py``, in its own virtual
  environment), at ``--peer-sizes``;

and the same for the whole fit part ("full"). Scores per held-out run, averaged over the
ladder's held-out runs, then over draws: coverage of the central 50% and 90% predictive bands,
the median relative width (upper − lower)/loss of the 90% band, and the 90% interval score
(Gneiting & Raftery 2007) divided by the observed loss (so ladders of different loss scales
average). The averages weight families equally (the six loss-to-loss corpora are one family).
Both Bayesian methods are the full default fit (4 chains × 1000 draws, rescue, discrepancy).
``seconds``: per table and method; the default's includes the Huber baseline where it ran.

Writes one row per (ladder, size, method) to ``--out`` and prints the family-weighted averages.
``sparse_10runs.csv``: ``--sizes 10:3 --huber-sizes 10 --peer-sizes 10 --no-full --out
benchmarks/sparse_10runs.csv`` (524 s). ``sparse.csv``: those rows and ``--sizes 6:2 20:2
--huber-sizes 6 20 full --peer-sizes 6 20 full`` (819 s), their raw rows (``--partial``) joined
and summarised with ``--from-raw``. Families weighted equally, 90% coverage / median width of
the 90% band over the loss / its interval score over the loss:

======  =====================  =====================  =====================
size    learned prior          peer                   Huber + bootstrap
======  =====================  =====================  =====================
6       0.890 / 0.092 / 0.165  0.822 / 0.204 / 0.299  0.701 / 0.142 / 0.325
10      0.951 / 0.083 / 0.146  0.827 / 0.167 / 0.186  0.824 / 0.128 / 0.186
20      0.890 / 0.087 / 0.154  0.653 / 0.172 / 0.223  0.593 / 0.078 / 0.172
full    0.912 / 0.065 / 0.095  0.537 / 0.085 / 0.163  0.310 / 0.036 / 0.223
======  =====================  =====================  =====================

The weak default prior scores 0.172, 0.185, 0.151 and 0.093 there: the learned prior is better
below 15 runs (where it is the default) and not above.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

here = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(here))

from peer import peer_bands  # noqa: E402  (benchmarks/peer.py)

from bayes_scaling.data.corpus import corpus, split  # noqa: E402
from bayes_scaling.priors import learned_prior  # noqa: E402
from bayes_scaling.priors.learned import family_of  # noqa: E402
from bayes_scaling.trust.backtests import backtest, interval_score  # noqa: E402

PROBS = (0.5, 0.9)
#: The Huber + bootstrap baseline's options: the coarse grid of 108 starts and 200 resamples (the
#: Epoch grid's 4,500 starts took minutes a table on 6 runs, where the fit is degenerate).
HUBER = {"grid": "small", "n_boot": 200}


def size_plan(text: str) -> tuple[int, int]:
    """``"10:2"`` -> (10 runs, 2 draws); ``"10"`` -> (10, 3)."""
    size, _, draws = text.partition(":")
    return int(size), int(draws or 3)


def subsample(fit_part: pd.DataFrame, size: int, seed) -> pd.DataFrame:
    """``size`` runs of the fit part, drawn without replacement, in the table's order."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(fit_part), size=size, replace=False))
    out = fit_part.iloc[rows].reset_index(drop=True)
    out.attrs = {k: v for k, v in fit_part.attrs.items() if k != "replicates"}
    return out


def scores(table: pd.DataFrame) -> pd.DataFrame:
    """Per method: coverage at 50% and 90%, median relative width and relative interval score
    of the 90% band, over the held-out runs."""
    rows = []
    for method, part in table.groupby("method", sort=False):
        at = {p: part[np.isclose(part["prob"], p)] for p in PROBS}
        b90 = at[0.9]
        rows.append(
            {
                "method": method,
                "cover_50": float(at[0.5]["covered"].mean()),
                "cover_90": float(b90["covered"].mean()),
                "width_90": float(np.median((b90["upper"] - b90["lower"]) / b90["loss"])),
                "interval_score_90": float(np.mean(b90["interval_score"] / b90["loss"])),
            }
        )
    return pd.DataFrame(rows)


def peer(fit_part, held, seed) -> pd.DataFrame:
    """The peer's bands at the held-out runs, scored as :func:`scores` reads them; its time in
    ``attrs["seconds"]``."""
    start = time.perf_counter()
    got = peer_bands(fit_part, held, seed, PROBS)
    got["covered"] = (got["lower"] <= got["loss"]) & (got["loss"] <= got["upper"])
    got["interval_score"] = interval_score(got["lower"], got["upper"], got["loss"], got["prob"])
    got["method"] = "peer"
    got.attrs["seconds"] = time.perf_counter() - start
    return got


def one(ladder, fit_part, held, prior, seed, huber=True, with_peer=False) -> pd.DataFrame:
    """Backtest one table (a subsample or the whole fit part) by the methods: the ladder's
    protocol with this fit part (the cut between its largest fitted and smallest held-out
    value, as :func:`bayes_scaling.trust.calibration.protocol_backtest` puts it). A peer that
    cannot fit the table is reported and left out of the table's rows."""
    table = pd.concat([fit_part, held], ignore_index=True)
    table.attrs = dict(fit_part.attrs)
    axis = ladder.cut_on
    cut = [float(np.sqrt(fit_part[axis].max() * held[axis].min()))]
    options = dict(cut=cut, cut_on=axis, seed=seed, prob=PROBS)
    frames = []
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        methods = ["bayes", *(["huber"] if huber else [])]
        base = backtest(table, method=methods, baseline=HUBER, priors="default", **options)
        base["method"] = base["method"].map({"bayes": "default", "huber": "huber"})
        frames.append(base)
        mid = time.perf_counter()
        ours = backtest(table, method=["bayes"], priors=prior, **options)
        ours["method"] = "learned"
        frames.append(ours)
    seconds = {"default": mid - start, "huber": np.nan, "learned": time.perf_counter() - mid}
    if with_peer:
        try:
            theirs = peer(fit_part, held, seed)
        except RuntimeError as err:
            print(f"  peer: {err}", flush=True)
        else:
            frames.append(theirs)
            seconds["peer"] = theirs.attrs["seconds"]
    converged = {
        "default": all(base.attrs["converged"].values()),
        "huber": np.nan,
        "learned": all(ours.attrs["converged"].values()),
        "peer": np.nan,
    }
    out = scores(pd.concat(frames, ignore_index=True))
    out["converged"] = out["method"].map(converged)
    out["seconds"] = out["method"].map(seconds)
    return out


#: One ladder of each family first, so that a run cut short still weighs every family.
FIRST = (
    "chinchilla-epoch",
    "gemstones",
    "datablations",
    "olmo-ladder",
    "loss-to-loss/fineweb-100b",
    "llama3-isoflops",
    "step-law",
)


def run(args) -> pd.DataFrame:
    """Rounds over the ladders: the first size's first draw for every ladder, the full fit
    part, the other sizes' first draws, then the further draws; the other loss-to-loss corpora
    last."""
    ladders = corpus(args.data)
    names = args.ladders or [
        *(n for n in FIRST if n in ladders),
        *(n for n in ladders if n not in FIRST),
    ]
    parts = {}
    for name in names:
        fit_part, held = split(ladders[name], ladders[name].load())
        parts[name] = (fit_part, held, learned_prior(exclude={family_of(name)}))
    first = [(n, 0) for n, _ in args.sizes]
    rounds = [*first[:1], *([] if args.no_full else [("full", -1)]), *first[1:]]
    rounds += [(n, d) for n, k in args.sizes for d in range(1, k)]
    late = [n for n in names if n not in FIRST] if not args.ladders else []
    plan = [(r, n) for r in rounds for n in names if n not in late]
    plan += [(r, n) for n in late for r in rounds]
    rows = []
    for (size, draw), name in plan:
        index = list(ladders).index(name)
        ladder = ladders[name]
        fit_part, held, prior = parts[name]
        if draw >= 0 and size >= len(fit_part):
            continue
        seed = [index, len(fit_part) if draw < 0 else size, max(draw, 0)]
        part = fit_part if draw < 0 else subsample(fit_part, size, seed)
        fit_seed = int(np.random.SeedSequence(seed).generate_state(1)[0] % 2**31)
        label = "full" if draw < 0 else str(size)
        start = time.perf_counter()
        try:
            got = one(
                ladder, part, held, prior, fit_seed, label in args.huber_sizes,
                label in args.peer_sizes,
            )  # fmt: skip
        except Exception as err:  # a table a method cannot fit is reported, not fatal
            print(f"  {name} size {label} draw {draw}: {type(err).__name__}: {err}", flush=True)
            continue
        got = got.assign(
            ladder=name,
            family=family_of(name),
            size=label,
            runs=len(part),
            draw=draw,
            held_out=len(held),
        )
        rows.append(got)
        if args.partial:
            pd.concat(rows, ignore_index=True).to_csv(args.partial, index=False)
        line = "  ".join(f"{r.method} {r.cover_90:.2f}/{r.width_90:.3f}" for r in got.itertuples())
        print(
            f"{name:30s} {label:>4s} d{draw:2d}  {line}  {time.perf_counter() - start:5.1f} s",
            flush=True,
        )
    return pd.concat(rows, ignore_index=True)


def summarise(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per ladder, averaged over draws; family-weighted average over ladders) per size, method."""
    value = ["cover_50", "cover_90", "width_90", "interval_score_90", "converged", "seconds"]
    raw = raw.assign(converged=raw["converged"].astype(float))
    keys = ["ladder", "family", "size", "method"]
    per_ladder = raw.groupby(keys, sort=False)[value].mean()
    per_ladder["draws"] = raw.groupby(keys, sort=False).size()
    per_ladder["runs"] = raw.groupby(keys, sort=False)["runs"].first()
    per_ladder = per_ladder.reset_index()
    family = per_ladder.groupby(["family", "size", "method"], sort=False)[value].mean()
    average = family.groupby(["size", "method"], sort=False)[value].mean()
    average["families"] = family.groupby(["size", "method"], sort=False).size()
    return per_ladder, average.reset_index()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(here.parent / "shared" / "data"))
    parser.add_argument("--sizes", type=size_plan, nargs="+", default=["6:3", "10:3", "20:3"])
    parser.add_argument("--huber-sizes", nargs="*", default=["6", "10", "20", "full"])
    parser.add_argument("--peer-sizes", nargs="*", default=["6", "10", "20", "full"])
    parser.add_argument("--ladders", nargs="*")
    parser.add_argument("--no-full", action="store_true")
    parser.add_argument("--partial", help="raw rows written here after every table")
    parser.add_argument("--from-raw", help="summarise the raw rows of an earlier --partial")
    parser.add_argument("--out", default=str(here / "benchmarks" / "sparse.csv"))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    raw = pd.read_csv(args.from_raw, dtype={"size": str}) if args.from_raw else run(args)
    per_ladder, average = summarise(raw)
    table = pd.concat(
        [per_ladder, average.assign(ladder="(families weighted equally)", family="")],
        ignore_index=True,
    )
    table.to_csv(args.out, index=False, float_format="%.4g")
    pd.set_option("display.width", 160)
    print(average.round(3).to_string(index=False))
    print(f"{time.perf_counter() - start:.0f} s; per ladder -> {args.out}")


if __name__ == "__main__":
    main()
