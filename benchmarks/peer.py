"""The peer, simple-scaling-laws, for the benchmarks that compare with it (speed, calibration,
sparse tables).

It lives in its own virtual environment, ``benchmarks/.peer-venv`` (git-ignored), made on first
use with this interpreter's ``venv`` and pip, so that its dependencies (polars, its own NumPy and
SciPy pins) never meet ours. :func:`peer_bands` runs its whole job on one table in a fresh
process: fit the separable power law L = E + A·N^−α + B·D^−β with its default 1000-draw
bootstrap, then predict a new run's loss (``kind="new-run"``: the fitted curve's uncertainty
plus run-to-run noise) at the held-out points, as central intervals.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
#: The peer, pinned.
PEER = "simple-scaling-laws==0.2.0"
PEER_VENV = HERE / ".peer-venv"

#: The peer's job on one table: argv = runs CSV, points CSV, seed, quantiles (JSON); prints the
#: quantiles of a new run's loss at each point, one JSON list a point, in the points' order.
PEER_PREDICT = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import polars as pl
from simple_scaling_laws import fit
runs, points = pl.read_csv(sys.argv[1]), pl.read_csv(sys.argv[2])
seed, quantiles = int(sys.argv[3]), json.loads(sys.argv[4])
frame = pl.DataFrame({
    "training_run_id": [str(i) for i in range(len(runs))],
    "model_size__n_params": runs["n_params"].cast(pl.Float64),
    "dataset_size__n_tokens": runs["n_tokens"].cast(pl.Float64),
    "test_loss__loss": runs["loss"].cast(pl.Float64),
})
model = fit(frame, law="separable-power", seed=seed)
at = pl.DataFrame({
    "point_id": [str(i) for i in range(len(points))],
    "model_size__n_params": points["n_params"].cast(pl.Float64),
    "dataset_size__n_tokens": points["n_tokens"].cast(pl.Float64),
})
out = model.predict(at, kind="new-run", quantiles=quantiles).sort(
    pl.col("point_id").cast(pl.Int64)
)
columns = [c for c in out.columns if c.startswith("test_loss__loss__")]
print(json.dumps(out.select(columns).rows()))
"""


def peer_python() -> Path:
    """The peer's interpreter, making its virtual environment on first use (this interpreter's
    ``venv`` module, then pip from the package index)."""
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", PEER], check=True, capture_output=True
        )
    return python


#: Seconds one table may take the peer (its bootstrap on a degenerate 6-run fit takes ~25 s).
TIMEOUT = 600


def peer_bands(fit_part: pd.DataFrame, held: pd.DataFrame, seed: int, probs) -> pd.DataFrame:
    """The peer's central new-run intervals at the held-out runs: one row per (held-out run,
    prob), in the held-out order, with ``prob, lower, upper, loss`` (the observed loss).

    Raises ``RuntimeError`` saying why when the peer cannot answer: it cannot fit the table,
    its environment cannot be made (no network for pip), it takes longer than :data:`TIMEOUT`
    or prints something else than its answer.
    """
    probs = [float(p) for p in probs]
    quantiles = sorted({q for p in probs for q in ((1 - p) / 2, (1 + p) / 2)})
    try:
        python = peer_python()
        with tempfile.TemporaryDirectory() as tmp:
            runs_csv, points_csv = Path(tmp) / "runs.csv", Path(tmp) / "points.csv"
            fit_part[["n_params", "n_tokens", "loss"]].to_csv(runs_csv, index=False)
            held[["n_params", "n_tokens"]].to_csv(points_csv, index=False)
            done = subprocess.run(
                [str(python), "-c", PEER_PREDICT, str(runs_csv), str(points_csv), str(seed),
                 json.dumps(quantiles)],
                capture_output=True, text=True, check=False, timeout=TIMEOUT,
            )  # fmt: skip
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"the peer failed: {last}")
        values = np.array(json.loads(done.stdout.strip().splitlines()[-1]), dtype=float)
        if values.shape != (len(held), len(quantiles)):
            raise ValueError(f"{values.shape} values for {len(held)} points")
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as err:
        raise RuntimeError(f"the peer could not answer: {type(err).__name__}: {err}") from err
    column = {q: i for i, q in enumerate(quantiles)}
    loss = held["loss"].to_numpy(float)
    frames = [
        pd.DataFrame(
            {
                "prob": p,
                "lower": values[:, column[(1 - p) / 2]],
                "upper": values[:, column[(1 + p) / 2]],
                "loss": loss,
            }
        )
        for p in probs
    ]
    return pd.concat(frames, ignore_index=True)
