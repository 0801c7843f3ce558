"""The layer rule: each stage imports only from the stages below it (import-linter contract in
pyproject.toml), no module outgrows ~400 lines, and the package root stays small."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bayes_scaling"


def lint_imports() -> str:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which(
        "lint-imports"
    )
    if exe is None:
        pytest.fail("lint-imports is missing; it is a dev dependency (scripts/setup installs it)")
    return exe


def test_import_layers_contract_is_kept():
    proc = subprocess.run(
        [lint_imports(), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "BROKEN" not in proc.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    """The contract can fail: a copy of the package with data importing report is refused."""
    copy = tmp_path / "bayes_scaling"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.csv"))
    (copy / "data" / "runs.py").write_text(
        (copy / "data" / "runs.py").read_text() + "\nimport bayes_scaling.report  # upward\n"
    )
    proc = subprocess.run(
        [lint_imports(), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(tmp_path), "PATH": str(Path(sys.executable).parent)},
    )
    assert proc.returncode != 0
    assert "BROKEN" in proc.stdout


def test_modules_stay_small_and_the_root_holds_a_dozen_at_most():
    sizes = {p: len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    too_big = {str(p.relative_to(ROOT)): n for p, n in sizes.items() if n > 420}
    assert not too_big, f"modules over ~400 lines: {too_big}"
    root_modules = [p.name for p in PACKAGE.glob("*.py")]
    assert len(root_modules) <= 12, root_modules
