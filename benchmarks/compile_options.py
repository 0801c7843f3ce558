"""How a new process gets its compiled model: the options side by side, each in fresh processes.

Run by hand: ``.venv/bin/python benchmarks/compile_options.py [--data DIR] [--repeat N]``
(default data ../shared/data). For each option, a first process (cold: empty PyTensor and
package caches, in a temporary directory) and then a second process (the same caches) run the
default Chinchilla fit (240 runs, 4 x 1000 draws, discrepancy on, seed 1). Prints one table:
the seconds spent making the compiled model ready, the fit call (compile included), and the whole
process (the interpreter and imports included), plus a digest of the posterior draws of E, alpha
and beta (equal seeds must give equal draws whatever the option). The machine is shared and
noisy: compare within one run.

Options:

- ``a0``: nutpie's stock ``compile_pymc_model``, PyTensor's numba cache off.
- ``a/b``: nutpie's stock compiler with PyTensor's numba cache (on by default: this is
  "today", and "PyTensor's cache alone").
- ``f``: nutpie's stock compiler asked for numba's ``cache=True`` (its keyword arguments go to
  ``numba.cfunc``; numba refuses: "dynamic globals").
- ``c``: :mod:`bayes_scaling.inference.compile_cache` (our cacheable callbacks on disk).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parents[1] / "shared" / "data"
OPTIONS = {
    "a0": "stock nutpie, PyTensor numba cache off",
    "a/b": "stock nutpie + PyTensor numba cache (today)",
    "f": "stock nutpie, cfunc(cache=True)",
    "c": "our cacheable callbacks on disk",
}


def child(option: str, data: str) -> None:
    """One process: import, default fit, print a JSON line of timings."""
    import warnings

    warnings.simplefilter("ignore")
    start = time.perf_counter()
    import bayes_scaling as bs
    from bayes_scaling.inference import compiled

    imported = time.perf_counter() - start
    timer = {"compile": 0.0}
    make = compiled.compile_cache.compile_model
    if option != "c":
        import nutpie

        kwargs = {"cache": True} if option == "f" else {}

        def make(model, stats):  # noqa: ARG001
            return nutpie.compile_pymc_model(model, **kwargs)

    def timed(model, stats):
        t = time.perf_counter()
        try:
            return make(model, stats)
        finally:
            timer["compile"] += time.perf_counter() - t

    compiled.compile_cache.compile_model = timed
    runs = bs.datasets.chinchilla(data, drop_highest=5)
    t = time.perf_counter()
    result = bs.fit(runs, seed=1)
    fitted = time.perf_counter() - t
    posterior = result.posterior
    alpha = float(posterior["alpha"].mean())
    draws = hashlib.sha256(b"".join(posterior[v].values.tobytes() for v in ("E", "alpha", "beta")))
    out = {"import": imported, "fit": fitted, "compile": timer["compile"], "alpha": alpha}
    out["draws"] = draws.hexdigest()[:12]
    out["stats"] = {k: v for k, v in compiled.STATS.items() if v}
    print("RESULT " + json.dumps(out))


def run(option: str, data: Path, caches: Path) -> dict:
    env = dict(os.environ)
    flags = [f"base_compiledir={caches / 'pytensor'}"]
    if option == "a0":
        flags.append("numba__cache=False")
    env["PYTENSOR_FLAGS"] = ",".join(flags)
    env["BAYES_SCALING_CACHE"] = str(caches / "bayes_scaling")
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", option, "--data", str(data)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - start
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if not line:
        raise RuntimeError(f"option {option} failed:\n{proc.stderr[-3000:]}")
    return {"wall": wall, **json.loads(line[-1][len("RESULT ") :])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--options", nargs="+", default=list(OPTIONS), choices=list(OPTIONS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, str(args.data))
        return
    rows = []
    for repeat in range(args.repeat):
        for option in args.options:
            with tempfile.TemporaryDirectory(prefix="compile-options-") as tmp:
                for proc in ("first", "second"):
                    r = run(option, args.data, Path(tmp))
                    rows.append((repeat, option, proc, r))
                    print(
                        f"{option:>4} {proc:>6}: wall {r['wall']:5.1f} s  import {r['import']:4.1f}"
                        f"  compile {r['compile']:5.2f}  fit {r['fit']:5.1f}"
                        f"  alpha {r['alpha']:.5f}  draws {r['draws']}  {r['stats']}",
                        file=sys.stderr,
                        flush=True,
                    )
    print()
    print("| option | process | wall s (with imports) | import s | compile s | fit s | draws sha |")
    print("|---|---|---|---|---|---|---|")
    for _, option, proc, r in rows:
        print(
            f"| {option}: {OPTIONS[option]} | {proc} | {r['wall']:.1f} | {r['import']:.1f} | "
            f"{r['compile']:.2f} | {r['fit']:.1f} | {r['draws']} |"
        )


if __name__ == "__main__":
    main()
