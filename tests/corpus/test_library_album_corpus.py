"""Album loudness on real music (SPEC section 11): the corpus grouped into albums, each album's
pooled loudness against ffmpeg ``ebur128`` on its tracks concatenated (ffmpeg's concat filter)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from fingerprint_service.library.album_loudness import (
    REPLAYGAIN_REFERENCE_LUFS,
    TrackLoudness,
    album_loudness,
)
from shared.audio import open_audio
from shared.loudness import LoudnessMeter
from tests.conftest import corpus_tracks

pytestmark = [pytest.mark.corpus, pytest.mark.slow]
#: The corpus (21 tracks) as albums of this many tracks, in file-name order.
ALBUM_TRACKS = 7


def _track_loudness(path: Path) -> TrackLoudness:
    with open_audio(path) as reader:
        meter = LoudnessMeter(reader.info.sample_rate, reader.info.channels)
        for block in reader.blocks():
            meter.feed(block)
    return TrackLoudness.of_meter(meter)


def _ffmpeg_concat_lufs(tracks: list[Path]) -> float:
    # The concat filter, not the concat demuxer: each Ogg Vorbis file has its own codec headers,
    # so the tracks must be decoded separately before they are joined.
    inputs = [arg for t in tracks for arg in ("-i", str(t))]
    joined = "".join(f"[{i}:a]" for i in range(len(tracks)))
    graph = f"{joined}concat=n={len(tracks)}:v=0:a=1,ebur128"
    proc = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", *inputs, "-filter_complex", graph, "-f", "null",
         "-"],
        capture_output=True, text=True, check=True,
    )
    summary = proc.stderr[proc.stderr.rfind("Summary:"):]
    found = re.search(r"I:\s+(-?[\d.]+) LUFS", summary)
    assert found, summary
    return float(found.group(1))


@pytest.mark.parametrize("album", range(3))
def test_album_loudness_equals_ffmpeg_on_the_concatenated_album(
    album: int, ffmpeg: str
) -> None:
    tracks = corpus_tracks()[album * ALBUM_TRACKS : (album + 1) * ALBUM_TRACKS]
    measured = album_loudness(_track_loudness(t) for t in tracks)
    judge = _ffmpeg_concat_lufs(tracks)
    assert measured.integrated_lufs == pytest.approx(judge, abs=0.1)
    # ReplayGain 2.0 album gain is the −18 LUFS reference minus that loudness.
    assert measured.replaygain_album_gain_db == pytest.approx(
        REPLAYGAIN_REFERENCE_LUFS - judge, abs=0.1
    )
