"""The real-music corpus: every fingerprint field finite and in range, and the loudness facts
agree with the independent judge (ffmpeg ``ebur128=peak=true``) on the same decoded file."""

from __future__ import annotations

import pytest

from fingerprint_service.extractor import extract
from shared.fingerprint import out_of_range_fields
from tests.conftest import CORPUS_DIR, CORPUS_TRACK_COUNT, corpus_tracks
from tests.signals import ffmpeg_ebur128

#: ffmpeg prints both figures to 0.1, so the tolerances include its rounding.
LUFS_TOLERANCE_LU = 0.2
TRUE_PEAK_TOLERANCE_DB = 0.3


def _track_ids() -> list[str]:
    """Track names when the corpus is already fetched (collection never downloads)."""
    present = sorted(CORPUS_DIR.glob("*.ogg"))
    if len(present) == CORPUS_TRACK_COUNT:
        return [path.stem for path in present]
    return [f"track{index:02d}" for index in range(CORPUS_TRACK_COUNT)]


@pytest.mark.corpus
@pytest.mark.parametrize("index", range(CORPUS_TRACK_COUNT), ids=_track_ids())
def test_corpus_track_fingerprint(index: int, ffmpeg: str) -> None:
    track = corpus_tracks()[index]
    fingerprint, info = extract(track)
    judge = ffmpeg_ebur128(track)

    assert out_of_range_fields(fingerprint) == []
    assert info.codec == "vorbis"
    assert fingerprint.lufs == pytest.approx(judge.integrated_lufs, abs=LUFS_TOLERANCE_LU)
    assert info.true_peak_dbtp == pytest.approx(judge.true_peak_dbtp, abs=TRUE_PEAK_TOLERANCE_DB)
