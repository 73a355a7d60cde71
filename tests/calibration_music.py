"""The calibration music: 18 real tracks from three Debian game-data packages, fetched on first
use by ``scripts/fetch-calibration`` into a cache outside the repository (never committed).
With the 21 corpus tracks they are what the tonal reference was measured on
(``mastering_service.balance``)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import REPO_ROOT

CALIBRATION_DIR = Path(
    os.environ.get("CALIBRATION_DIR",
                   Path.home() / ".cache" / "audio-mastering" / "calibration")
)
CALIBRATION_TRACK_COUNT = 18


def calibration_tracks() -> list[Path]:
    """The calibration files, fetched on first use (cached Debian packages)."""
    tracks = sorted(CALIBRATION_DIR.glob("*.ogg"))
    if len(tracks) < CALIBRATION_TRACK_COUNT:
        subprocess.run([str(REPO_ROOT / "scripts" / "fetch-calibration"), str(CALIBRATION_DIR)],
                       check=True)
        tracks = sorted(CALIBRATION_DIR.glob("*.ogg"))
    assert len(tracks) == CALIBRATION_TRACK_COUNT, (
        f"expected {CALIBRATION_TRACK_COUNT} calibration tracks in {CALIBRATION_DIR}")
    return tracks
