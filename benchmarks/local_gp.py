"""A local residual GP on top of today's discrepancy, leave one family out (issue 21, item 1).

Measures whether a Kennedy-O'Hagan Gaussian process on the fitted runs' residuals over
(log10 N, log10 D) (:mod:`bayes_scaling.discrepancy.local`), added to today's discrepancy
δ = m·c^γ + τ·η·d^γ, makes the held-out predictions of the 36 corpus protocols (12 ladders × 3
directions, :func:`bayes_scaling.data.corpus.direction_split`) better calibrated and sharper, and
what it does on the chinchilla-epoch table fitted below 1e21 FLOPs (23 held-out runs).

Run by hand:

    .venv/bin/python benchmarks/local_gp.py [--data ../shared/data] [--variants today iso_full ...]

Steps:

1. the cache ``benchmarks/.cache/positions_gp/`` (git-ignored; reused when present): one
   parameter-only chinchilla fit per protocol (seed 0, 200 thinned draws) with the fitted and the
   held-out runs' log losses and posterior law predictions; ``extra/`` the chinchilla-epoch cut at
   1e21 (``bayes_scaling.datasets.chinchilla(drop_highest=5)``). Needs the reference data
   (``--data``, else ``$BAYES_SCALING_DATA``, else ``../shared/data``); skips with a message when
   the cache is incomplete and the data are absent. A few minutes for the 37 fits (5-20 s each
   once the model is compiled; the files are bit-identical when rebuilt on the same machine);
2. GP hyper-parameters per protocol and variant (type-II maximum likelihood on the posterior-median
   residuals), cached as JSON (``gp_hyper.json``); ~2.5 min for ``iso_full`` the first time;
3. scoring (``benchmarks/local_gp_scores.py``): the population prior of (m, τ, γ) is learned
   without the protocol's family, relearned with the GP in place unless the variant ends in
   ``_norelearn`` (then today's population is kept); NO per-fit internal backtest (the population
   prior alone). ~1 min a variant.

Measured on the shared 2-core machine with the cache present: 351 s the first time, 169 s with
``gp_hyper.json`` (default variants). The numbers equal the offline study's table (issue 21).

Variants (``--variants``; default the four below marked *):

- ``today`` *: today's discrepancy, no GP;
- ``iso_full`` *: (s, ℓ, σ_n ≥ the fit's σ) by ML per fit, isotropic in (log10 N, log10 D);
- ``ard_full``: (s, ℓ_N, ℓ_R, σ_n) by ML per fit (``local.fit_hyper``; its starts differ from the
  study's, so its numbers may differ a little from the study's ``ard_full``);
- ``sh_s<s>_l<ℓ>`` (s = 0.005/0.01/0.02, ℓ_N = ℓ_R = 0.25/0.5 decades; ``sh_s005_l1_03``: ℓ_N = 1,
  ℓ_R = 0.3): shared (s, ℓ_N, ℓ_R), σ_n by ML per fit (``local.noise_by_ml``);
  ``sh_s01_l05`` * and ``sh_s01_l05_norelearn`` *;
- any GP variant + ``_norelearn``.

The GP's mean is computed per posterior draw (per-draw residuals), its covariance is shared.
Prints coverage (50/80/90/95%), the 90% interval score on log loss, log density per run, PIT
distance (KS) and the joint log density per run: averaged over families (weighted equally), per
family, per multiple bin and on the chinchilla-epoch 1e21 case; writes ``benchmarks/local_gp.csv``
and the per-run rows to the cache folder (``local_gp_runs.csv``, not committed).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import local_gp_scores as sc  # the script's own helpers, beside it (run as a script)
import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import minimize

import bayes_scaling as bs
from bayes_scaling.data.corpus import DIRECTIONS, MULTIPLE_BINS, corpus, direction_split
from bayes_scaling.discrepancy import local

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "positions_gp"
CUT = 1e21  # the chinchilla-epoch case: fit below, predict at and above
N_KEEP = 200  # posterior draws kept per fit
SHARED = {  # name -> (s, ℓ_N, ℓ_R)
    "sh_s005_l05": (0.005, 0.5, 0.5),
    "sh_s005_l1_03": (0.005, 1.0, 0.3),
    "sh_s01_l05": (0.01, 0.5, 0.5),
    "sh_s02_l05": (0.02, 0.5, 0.5),
    "sh_s01_l025": (0.01, 0.25, 0.25),
}
BASE = ["today", "iso_full", "ard_full", *SHARED]
KNOWN = BASE + [f"{v}_norelearn" for v in BASE[1:]]
DEFAULT = ["today", "iso_full", "sh_s01_l05_norelearn", "sh_s01_l05"]
#: (log N, log D) → (log N, log N + log D): with ℓ_N = ℓ_R the kernel of ``local`` is then
#: isotropic in (log N, log D) (local.kernel measures distances in (log N, log D − log N)).
TO_ISO = np.linalg.inv(local.TO_RATIO).T


# ---------------------------------------------------------------- 1. the cache
def data_folder(arg: str | None) -> Path:
    return Path(arg or os.environ.get("BAYES_SCALING_DATA") or HERE.parents[1] / "shared" / "data")


def cache_unit(res, fit_runs: pd.DataFrame, held: pd.DataFrame, attrs: dict) -> xr.Dataset:
    """One parameter-only fit as a unit: log losses and law predictions of both sets."""
    post = res.posterior.stack(sample=("chain", "draw"))
    post = post.isel(sample=slice(None, None, max(1, post.sizes["sample"] // N_KEEP)))
    n_s = post.sizes["sample"]

    def log_mu(frame):
        x = {c: frame[c].to_numpy(float) for c in res.law.inputs}
        mu = np.log(np.asarray(res.law.evaluate(post, x)))
        return mu if mu.shape == (n_s, len(frame)) else mu.T

    data = {
        "mu": (("sample", "run"), log_mu(held)),
        "f_mu": (("sample", "fitrun"), log_mu(fit_runs)),
    }
    data |= {k: ("sample", post[k].values) for k in ("sigma", "nu", "E")}
    for p, frame, dim in (("h", held, "run"), ("f", fit_runs, "fitrun")):
        for k, col in (("n", "n_params"), ("d", "n_tokens"), ("c", "compute")):
            data[f"{p}_{k}"] = (dim, frame[col].to_numpy(float))
    data["y"] = ("run", np.log(held["loss"].to_numpy(float)))
    data["f_y"] = ("fitrun", np.log(fit_runs["loss"].to_numpy(float)))
    attrs = attrs | {"converged": int(res.converged), "law": "chinchilla", "seed": 0}
    return xr.Dataset(data, attrs=attrs | {"script": "benchmarks/local_gp.py"})


def fit_and_save(fit_runs, held, path: Path, attrs: dict) -> None:
    start = time.perf_counter()
    res = bs.fit(fit_runs, "chinchilla", seed=0, discrepancy=False, progress=False)
    cache_unit(res, fit_runs, held, attrs).to_netcdf(path, engine="h5netcdf")
    print(
        f"cached {path.name}: fit {len(fit_runs)} held {len(held)} converged {res.converged} "
        f"{time.perf_counter() - start:.0f} s",
        flush=True,
    )


def build_cache(data: Path, cache: Path) -> bool:
    """Fit whatever the cache lacks; False when that needs the data and they are absent."""
    (cache / "extra").mkdir(parents=True, exist_ok=True)
    chin = cache / "extra" / "chinchilla-epoch-1e21__compute.nc"
    todo = [
        (name, ladder)
        for name, ladder in corpus(data).items()
        if not all((cache / f"{name.replace('/', '__')}__{d}.nc").exists() for d in DIRECTIONS)
    ]
    if not (todo or not chin.exists()):
        return True
    if not (data / "chinchilla-epoch").is_dir():
        print(
            f"skipped: the cache {cache} is incomplete and the reference data are absent at "
            f"{data} (give --data or set BAYES_SCALING_DATA)"
        )
        return False
    warnings.simplefilter("ignore")  # sampler chatter; convergence is recorded per unit
    for name, ladder in todo:
        runs = ladder.load()
        for d in DIRECTIONS:
            path = cache / f"{name.replace('/', '__')}__{d}.nc"
            parts = None if path.exists() else direction_split(ladder, runs, d)
            if parts is not None:
                fit_and_save(*parts, path, {"ladder": name, "direction": d})
    if not chin.exists():
        runs = bs.datasets.chinchilla(data, drop_highest=5)
        below = runs[runs["compute"] < CUT].reset_index(drop=True)
        above = runs[runs["compute"] >= CUT].reset_index(drop=True)
        fit_and_save(
            below, above, chin, {"ladder": "chinchilla-epoch-1e21", "direction": "compute"}
        )
    return True


# ---------------------------------------------------------------- 2. GP hyper-parameters
def iso_hyper(u: dict) -> local.ResidualGP:
    """(s, ℓ, σ_n ≥ the fit's σ) by type-II ML, isotropic in (log N, log D); starts s = 0.01,
    ℓ ∈ {0.1, 0.5}, σ_n = 1.2 σ. Length scales are for the TO_ISO coordinates."""
    r, x, lo = u["rbar"], u["Xf"] @ TO_ISO, u["sig_med"]

    def nll(v):
        s, ell, noise = np.exp(v)
        return local.neg_log_marginal(r, x, local.ResidualGP(s, ell, ell, noise))

    bounds = [np.log(local.S_BOUNDS), np.log(local.ELL_BOUNDS), np.log([lo, 0.3])]
    best = None
    for ell0 in (0.1, 0.5):
        try:
            res = minimize(nll, np.log([0.01, ell0, 1.2 * lo]), bounds=bounds, method="L-BFGS-B")
        except np.linalg.LinAlgError:
            continue
        if best is None or res.fun < best.fun:
            best = res
    s, ell, noise = (float(v) for v in np.exp(best.x))
    return local.ResidualGP(s, ell, ell, noise)


def hyper(u: dict, base: str, store: dict) -> local.ResidualGP:
    key = f"{u['ladder']}|{u['direction']}|{base}"
    if key not in store:
        if base == "iso_full":
            gp = iso_hyper(u)
        elif base == "ard_full":
            gp = local.fit_hyper(u["rbar"], u["Xf"], noise_floor=u["sig_med"])
        else:
            gp = local.noise_by_ml(u["rbar"], u["Xf"], *SHARED[base], noise_floor=u["sig_med"])
        store[key] = {"s": gp.s, "ell_n": gp.ell_n, "ell_r": gp.ell_r, "noise": gp.noise}
    return local.ResidualGP(**store[key])


def gp_terms(u: dict, base: str, store: dict):
    """The GP at the held-out runs: per-draw mean (S, m) and shared covariance (m, m)."""
    if base == "today":
        return None, None
    x_fit, x_new = (
        (u["Xf"] @ TO_ISO, u["Xh"] @ TO_ISO) if base == "iso_full" else (u["Xf"], u["Xh"])
    )
    return local.predict(u["R"], x_fit, x_new, hyper(u, base, store))


# ---------------------------------------------------------------- 3. scoring
def evaluate(name, units, chin, store, today_priors=None):
    """Per-run rows of every unit, the chinchilla 1e21 rows, and the priors used."""
    start = time.perf_counter()
    base = name.removesuffix("_norelearn")
    terms = [gp_terms(u, base, store) for u in units]
    grids = [sc.unit_grid(u, *tm) for u, tm in zip(units, terms, strict=True)]
    priors = today_priors if name.endswith("_norelearn") else sc.lofo_priors(grids, units)
    rows = []
    for i, (u, tm, grid) in enumerate(zip(units, terms, grids, strict=True)):
        prior = priors[u["fam"]][0]
        scores = sc.run_scores(u, *sc.sample_pred(u, prior, *tm, seed=i))
        rows.append(
            pd.DataFrame(
                dict(
                    ladder=u["ladder"],
                    fam=u["fam"],
                    direction=u["direction"],
                    bin=u["bin"],
                    joint_lpd=sc.joint_lpd(prior, grid, len(u["y"])),
                    **scores,
                )
            )
        )
    prior = priors["chinchilla-epoch"][0]  # learned without chinchilla-epoch
    tm = gp_terms(chin, base, store)
    scores = sc.run_scores(chin, *sc.sample_pred(chin, prior, *tm, seed=99))
    chin_row = {c: float(np.mean(scores[c])) for c in sc.COLUMNS[:6]}
    chin_row |= {"pit_ks": sc.pit_distance(scores["pit"]), "runs": len(chin["y"])}
    chin_row["joint_lpd"] = sc.joint_lpd(prior, sc.unit_grid(chin, *tm), len(chin["y"]))
    pop = {f: (round(h["mu"], 3), round(h["s"], 3)) for f, (_, h) in priors.items()}
    print(
        f"{name}: {time.perf_counter() - start:.0f} s; τ population (mu, s) without each family "
        f"{pop}",
        flush=True,
    )
    return pd.concat(rows, ignore_index=True).assign(variant=name), chin_row, priors


TABLES = ("average", "family", "multiple bin", "chinchilla-epoch cut at 1e21")
CHIN_GROUP = "held-out runs >= 1e21 FLOPs"


def sort_key(column: str, names: list[str], units: list[dict]) -> dict:
    """Row order of the table: kind, then group (families as in the corpus, bins by size), then
    the variants as asked."""
    groups = ["all families", *dict.fromkeys(u["fam"] for u in units), *MULTIPLE_BINS, CHIN_GROUP]
    order = {"table": TABLES, "group": groups, "variant": names}[column]
    return {v: i for i, v in enumerate(order)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="reference data folder (for the cache)")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--out", type=Path, default=HERE / "local_gp.csv")
    parser.add_argument(
        "--variants",
        nargs="+",
        default=DEFAULT,
        choices=KNOWN,
        metavar="VARIANT",
        help=f"any of {', '.join(KNOWN)} (default: {' '.join(DEFAULT)})",
    )
    args = parser.parse_args()
    start = time.perf_counter()
    if not build_cache(data_folder(args.data), args.cache):
        return
    units, chin = sc.load_units(args.cache), sc.load_units(args.cache / "extra")[0]
    print(f"{len(units)} protocols, {sum(len(u['y']) for u in units)} held-out runs", flush=True)
    hyper_file = args.cache / "gp_hyper.json"
    store = json.loads(hyper_file.read_text()) if hyper_file.exists() else {}
    names = list(dict.fromkeys(args.variants))
    needs_today = any(n.endswith("_norelearn") for n in names) and "today" not in names
    frames, chins, today_priors = [], [], None
    for name in (["today"] if needs_today else []) + sorted(names, key=lambda n: n != "today"):
        df, chin_row, priors = evaluate(name, units, chin, store, today_priors)
        hyper_file.write_text(json.dumps(store, indent=1, sort_keys=True))
        today_priors = priors if name == "today" else today_priors
        if name in names:
            frames.append(df)
            chins.append(chin_row | {"variant": name})
    runs = pd.concat(frames, ignore_index=True)
    runs.to_csv(args.cache / "local_gp_runs.csv", index=False)
    summary = sc.summarise(runs)
    chin_table = pd.DataFrame(chins).assign(table=TABLES[-1], group=CHIN_GROUP)
    table = pd.concat([summary, chin_table[summary.columns]], ignore_index=True)
    table["runs"] = table["runs"].astype(int)
    table = table.sort_values(
        ["table", "group", "variant"], key=lambda col: col.map(sort_key(col.name, names, units))
    )
    table.to_csv(args.out, index=False, float_format="%.4f")
    with pd.option_context(
        "display.width", 200, "display.max_rows", 500, "display.float_format", "{:.3f}".format
    ):
        for kind in TABLES:
            note = "" if kind == TABLES[-1] else " (families weighted equally)"
            print(f"\n{kind}{note}")
            print(table[table["table"] == kind].drop(columns="table").to_string(index=False))
    print(f"\n{time.perf_counter() - start:.0f} s; written to {args.out}")


if __name__ == "__main__":
    main()
