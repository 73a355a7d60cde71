"""The suite's own rule: a skip for a missing tool fails under CI (tests/conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

CHILD_TIMEOUT_S = 120.0
EXAMPLE = '''
import pytest
from conftest import skip_for_missing_tool


def test_needs_a_tool() -> None:
    skip_for_missing_tool("frobnicator", "to frobnicate")


def test_skips_for_another_reason() -> None:
    pytest.skip("not applicable here")
'''


def _run_example(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    shutil.copy(REPO_ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_example.py").write_text(EXAMPLE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S,
        check=False,
    )


def test_missing_tool_skips_outside_ci(tmp_path: Path) -> None:
    proc = _run_example(tmp_path, ci=None)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 skipped" in proc.stdout
    assert "MISSING TOOL: frobnicator" in proc.stdout


@pytest.mark.parametrize("ci", ["true", "TRUE"])
def test_missing_tool_fails_under_ci_and_other_skips_stay_skips(tmp_path: Path, ci: str) -> None:
    proc = _run_example(tmp_path, ci=ci)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 failed, 1 skipped" in proc.stdout
    assert "FAILED" in proc.stdout and "test_needs_a_tool" in proc.stdout
    assert "a missing tool fails instead of skipping" in proc.stdout
