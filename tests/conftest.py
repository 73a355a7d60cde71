"""Fixtures shared by every suite: the real-music corpus and ffmpeg, both installed by the
project's own scripts (``make test`` runs them first)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from shared.process import apply_runtime_environment

apply_runtime_environment()  # before any test module imports numpy: tests share two cores

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = Path(
    os.environ.get("CORPUS_DIR", Path.home() / ".cache" / "audio-mastering" / "corpus")
)
CORPUS_TRACK_COUNT = 21


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
