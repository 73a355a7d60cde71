"""Fixtures shared by every suite: the real-music corpus and ffmpeg, both installed by the
project's own scripts (``make test`` runs them first).

A test that cannot run because a tool is missing skips with ``skip_for_missing_tool``; under CI
(``CI=true``), where ``make test`` has installed every tool, such a skip is reported as a failure
instead, so a broken install step cannot hide behind a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Generator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from shared.process import apply_runtime_environment

apply_runtime_environment()  # before any test module imports numpy: tests share two cores

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = Path(
    os.environ.get("CORPUS_DIR", Path.home() / ".cache" / "audio-mastering" / "corpus")
)
CORPUS_TRACK_COUNT = 21
#: Opens the reason of every skip caused by a missing tool; the CI hook below looks for it.
MISSING_TOOL = "MISSING TOOL:"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def skip_for_missing_tool(tool: str, purpose: str) -> NoReturn:
    """Skip the calling test because ``tool`` is not installed (a failure under CI)."""
    pytest.skip(f"{MISSING_TOOL} {tool} is not installed ({purpose}); `make test` installs it")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                               ) -> Generator[None, Any, None]:
    """Under CI, a skip for a missing tool is a failure: the tool should have been installed."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not (report.skipped and in_ci() and isinstance(report.longrepr, tuple)):
        return
    reason = str(report.longrepr[2])
    if MISSING_TOOL in reason:
        report.outcome = "failed"
        report.longrepr = f"CI=true, so a missing tool fails instead of skipping: {reason}"


def corpus_tracks() -> list[Path]:
    """The corpus files, fetched on first use (the download is a cached Debian package)."""
    tracks = sorted(CORPUS_DIR.glob("*.ogg"))
    if len(tracks) < CORPUS_TRACK_COUNT:
        subprocess.run([str(REPO_ROOT / "scripts" / "fetch-corpus"), str(CORPUS_DIR)], check=True)
        tracks = sorted(CORPUS_DIR.glob("*.ogg"))
    assert len(tracks) == CORPUS_TRACK_COUNT, f"expected 21 corpus tracks in {CORPUS_DIR}"
    return tracks


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    assert path, "ffmpeg is required (make test installs it via scripts/install-system-deps)"
    return path
