"""Each command imports only what it runs: answering from a saved fit no PyMC, PyTensor, nutpie or
numba; a fit no plotting library, no ArviZ statistics or plots; neither dask.

Each check runs in a fresh interpreter (this test process has long imported the sampler)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

SAMPLER = ("pymc", "pytensor", "nutpie", "numba")
#: Not on a fit's path: ArviZ's statistics (SciPy's stats, LOO) and plots (matplotlib), dask,
#: and SciPy's interpolate and optimize (0.2 s and 18 MiB to import beside what PyMC loads).
NOT_FOR_A_FIT = (
    "arviz_base",
    "arviz_stats",
    "arviz_plots",
    "matplotlib",
    "dask",
    "distributed",
    "scipy.interpolate",
    "scipy.optimize",
)

#: Prints the loaded packages among ``modules`` (top-level names, or dotted ones as given);
#: ``arviz`` only when really imported (nutpie's module-level ``import arviz`` leaves a deferred
#: placeholder: bayes_scaling._lazy).
LOADED = """
import bayes_scaling._lazy as lazy
def loaded(modules):
    out = {m.split(".")[0] for m in sys.modules if m.split(".")[0] in modules}
    out |= {m for m in modules if "." in m and m in sys.modules}
    if isinstance(sys.modules.get("arviz"), lazy._Deferred):
        out.discard("arviz")
    return sorted(out)
"""

ANSWER_FROM_FILE = (
    """
import json, sys
import bayes_scaling as bs
"""
    + LOADED
    + """
fit = bs.load(sys.argv[1])
fit.summary(); fit.bands(compute=[1e21, 1e22]); fit.allocate(1e22)
from bayes_scaling.answers.targets import target_answer; target_answer(fit, 3.0)
print(json.dumps(loaded({modules})))
"""
)

FIT_AND_SAVE = (
    """
import json, sys, warnings
warnings.simplefilter("ignore")
import bayes_scaling as bs
"""
    + LOADED
    + """
fit = bs.fit(bs.datasets.demo(), seed=3, draws=300, tune=300, rescue=False)
fit.summary(); fit.save(sys.argv[1])
print(json.dumps(loaded({modules})))
"""
)


def _with(code: str, modules: set) -> str:
    return code.replace("{modules}", repr(sorted(modules)))


def _fresh(code: str, *args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_alone_loads_no_sampler_and_no_arviz():
    code = "import json, sys, bayes_scaling\n" + LOADED
    code += f"print(json.dumps(loaded({sorted({*SAMPLER, *NOT_FOR_A_FIT, 'arviz'})!r})))"
    assert _fresh(code) == []


def test_answers_from_a_saved_fit_load_no_sampler_and_no_dask(demo_fit, tmp_path):
    path = demo_fit.save(tmp_path / "fit.nc")
    code = _with(ANSWER_FROM_FILE, {*SAMPLER, *NOT_FOR_A_FIT, "arviz"})
    assert _fresh(code, str(path)) == []


def test_report_from_a_saved_fit_loads_no_sampler(demo_fit, tmp_path):
    path = demo_fit.save(tmp_path / "fit.nc")
    report = "fit.report(1e22, target=3.0).save(sys.argv[2])\nprint(json"
    code = _with(ANSWER_FROM_FILE.replace("print(json", report), set(SAMPLER))
    assert _fresh(code, str(path), str(tmp_path / "report.html")) == []


@pytest.mark.slow
def test_a_fit_imports_no_plotting_no_arviz_statistics_no_dask_and_no_scipy_optimize(tmp_path):
    code = _with(FIT_AND_SAVE, {*NOT_FOR_A_FIT, "arviz"})
    assert _fresh(code, str(tmp_path / "fit.nc")) == []


def test_arviz_deferred_by_nutpie_is_the_real_one_on_first_use():
    code = """
import json, sys
import bayes_scaling.inference, nutpie
deferred = type(sys.modules["arviz"]).__name__
import arviz as az
summary = az.summary  # first use: the real ArviZ
print(json.dumps([deferred, type(sys.modules["arviz"]).__name__, callable(summary),
                  "arviz_stats" in sys.modules]))
"""
    assert _fresh(code) == ["_Deferred", "module", True, True]


def test_xarray_still_knows_dask_arrays_once_dask_is_imported():
    """The dask questions xarray asks are answered "no" only while dask is not imported."""
    import bayes_scaling  # noqa: F401  (installs the answers)

    da = pytest.importorskip("dask.array")
    lazy_array = xr.DataArray(da.ones((4, 3), chunks=2), dims=("a", "b"))
    assert lazy_array.chunks == ((2, 2), (2, 1))
    assert float((lazy_array * 2).sum().compute()) == 24.0
    assert isinstance(xr.DataArray(np.ones(3)).variable._data, np.ndarray)


@pytest.mark.parametrize("name", ["fit", "fit_groups", "fit_many", "prior_predictive"])
def test_lazy_names_resolve_to_the_sampler(name):
    import bayes_scaling as bs

    assert callable(getattr(bs, name)) and name in dir(bs)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        bs.nope  # noqa: B018


CAPABILITIES = ("bayes_scaling.downstream", "bayes_scaling.passk")

CAPABILITY_PROBE = """
import json, sys
import bayes_scaling as bs
from bayes_scaling.cli.registry import COMMANDS, load_deferred
caps = {caps!r}
seen = {{}}
fit = bs.load(sys.argv[1]); fit.summary(); fit.bands(compute=[1e21])
seen["scaling fit"] = [c for c in caps if c in sys.modules]
load_deferred(["summary", sys.argv[1]])
seen["core command"] = [c for c in caps if c in sys.modules]
load_deferred(["passk", "fit", "--help"])
seen["passk command"] = [c for c in caps if c in sys.modules] + ["passk" in COMMANDS]
load_deferred(["--help"])
seen["help"] = [c for c in caps if c in sys.modules] + ["downstream" in COMMANDS]
seen["by name"] = bs.PassKFit.FORMAT.split("/")[0]
print(json.dumps(seen))
"""


def test_a_scaling_fit_and_core_commands_never_import_the_capabilities(demo_fit, tmp_path):
    path = demo_fit.save(tmp_path / "fit.nc")
    seen = _fresh(CAPABILITY_PROBE.format(caps=CAPABILITIES), str(path))
    assert seen["scaling fit"] == [] and seen["core command"] == []
    assert seen["passk command"] == ["bayes_scaling.passk", True]  # only the one asked for
    assert seen["help"] == [*CAPABILITIES, True]  # --help lists every command
    assert seen["by name"] == "bayes_scaling.passk"


#: Off the path of a saved fit's summary, bands and allocate: SciPy's optimizer (the Bayes-optimal
#: N is searched in numpy), h5netcdf (the file is read with h5py), the commands and capabilities
#: the command line does not name, and what only they import.
NOT_FOR_AN_ANSWER = (
    "scipy.optimize",
    "h5netcdf",
    "bayes_scaling.design",
    "bayes_scaling.downstream",
    "bayes_scaling.passk",
    "bayes_scaling.trust",
    "bayes_scaling.inference.batch",
    "bayes_scaling.cli.backtest",
    "bayes_scaling.cli.compare",
    "bayes_scaling.cli.many",
    "bayes_scaling.cli.demo",
)

COMMAND_PROBE = """
import contextlib, io, json, sys
from bayes_scaling.cli import main
from bayes_scaling.results import io as results_io
rebuilt, rebuilders = [], results_io.LOG_LIKELIHOOD_REBUILDERS
rebuild = rebuilders["bayes_scaling.fit/1"]
rebuilders["bayes_scaling.fit/1"] = lambda node: rebuilt.append(1) or rebuild(node)
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
unwanted = {unwanted!r}
print(json.dumps([code, sorted(m for m in unwanted if m in sys.modules), len(rebuilt)]))
"""


@pytest.mark.parametrize(
    "argv",
    [["summary"], ["bands", "--compute", "1e22", "1e23"], ["allocate", "--compute", "1e23"]],
    ids=["summary", "bands", "allocate"],
)
def test_answer_commands_on_a_saved_fit_import_only_what_they_run(demo_fit, tmp_path, argv):
    path = demo_fit.save(tmp_path / "fit.nc")
    code = COMMAND_PROBE.format(unwanted=NOT_FOR_AN_ANSWER)
    command = [argv[0], str(path), *argv[1:]]
    # exit 0, none of the unwanted modules, and the log-likelihood never rebuilt (only LOO reads it)
    assert _fresh(code, *command) == [0, [], 0]
