"""Answering from a saved fit costs only what it uses: no PyMC, PyTensor, nutpie or numba.

Each check runs in a fresh interpreter (this test process has long imported the sampler)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SAMPLER = ("pymc", "pytensor", "nutpie", "numba")

ANSWER_FROM_FILE = """
import json, sys
import bayes_scaling as bs
fit = bs.load(sys.argv[1])
fit.summary(); fit.bands(compute=[1e21, 1e22]); fit.allocate(1e22)
from bayes_scaling.answers.targets import target_answer; target_answer(fit, 3.0)
fit.report(1e22, target=3.0).save(sys.argv[2])
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {modules})))
"""


def _fresh(code: str, *args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_alone_loads_no_sampler_and_no_arviz():
    code = "import json, sys, bayes_scaling\n"
    code += "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in %r)))"
    assert _fresh(code % ((*SAMPLER, "arviz", "matplotlib"),)) == []


def test_answers_from_a_saved_fit_load_no_sampler(demo_fit, tmp_path):
    path = demo_fit.save(tmp_path / "fit.nc")
    code = ANSWER_FROM_FILE.format(modules=set(SAMPLER))
    assert _fresh(code, str(path), str(tmp_path / "report.html")) == []


@pytest.mark.parametrize("name", ["fit", "fit_groups", "fit_many", "prior_predictive"])
def test_lazy_names_resolve_to_the_sampler(name):
    import bayes_scaling as bs

    assert callable(getattr(bs, name)) and name in dir(bs)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        bs.nope  # noqa: B018
