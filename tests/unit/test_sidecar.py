"""The ``.25d`` sidecar tier (SPEC section 7): valid only for the exact file state and algorithm
version it was written for; anything else reads as "no sidecar"; writes are atomic and never
touch the audio file."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fingerprint_service.sidecar import (
    MAX_SIDECAR_BYTES,
    read_sidecar,
    sidecar_path,
    write_sidecar,
)
from shared.fingerprint import FIELD_RANGES, FINGERPRINT_FIELDS, Fingerprint, TrackInfo
from tests.unprivileged import rerun_unprivileged

SIZE = 4711
MTIME_NS = 1_700_000_000_123_456_789
VERSION = 3
AUDIO_BYTES = b"OggS not really audio, but the sidecar code must never open it"

# In range everywhere (the reader rejects out-of-range values), with digits JSON must keep.
FINGERPRINT = Fingerprint(
    **{name: (low if low is not None else 0.0) + 0.1 / 3 for name, (low, _) in FIELD_RANGES.items()}
    | {"tempo_bpm": 123.456789012345, "phase_correlation": -1.0 / 3.0}
)
INFO = TrackInfo(
    duration_s=12.5,
    sample_rate=48000,
    channels=2,
    frames=600000,
    content_sha256="c" * 64,
    sample_peak_dbfs=-0.5,
    true_peak_dbtp=-0.25,
    loudness_range_lu=6.5,
    codec="vorbis",
    bit_rate_bps=112_000,
    limited_loudness_lufs=tuple(-12.0 - 0.1 * i for i in range(25)),
    limited_loudness_range_lu=tuple(6.5 - 0.05 * i for i in range(25)),
)


@pytest.fixture
def track(tmp_path: Path) -> Path:
    path = tmp_path / "album" / "track.ogg"
    path.parent.mkdir()
    path.write_bytes(AUDIO_BYTES)
    return path


def write(track: Path) -> bool:
    return write_sidecar(track, FINGERPRINT, INFO, SIZE, MTIME_NS, VERSION)


def read(track: Path) -> tuple[Fingerprint, TrackInfo] | None:
    return read_sidecar(track, SIZE, MTIME_NS, VERSION)


def stray_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_sidecar_sits_next_to_the_track_with_25d_appended_to_the_full_name() -> None:
    assert sidecar_path(Path("music/a/track.ogg")) == Path("music/a/track.ogg.25d")
    assert sidecar_path(Path("track.flac")) != sidecar_path(Path("track.ogg"))


def test_written_sidecar_reads_back_identically(track: Path) -> None:
    assert write(track)

    assert read(track) == (FINGERPRINT, INFO)


def test_sidecar_document_names_the_version_and_file_state(track: Path) -> None:
    write(track)

    document = json.loads(sidecar_path(track).read_text())

    assert document["algorithm_version"] == VERSION
    assert document["size"] == SIZE
    assert document["mtime_ns"] == MTIME_NS
    assert set(document["fingerprint"]) == set(FINGERPRINT_FIELDS)
    assert document["track_info"]["content_sha256"] == INFO.content_sha256


@pytest.mark.parametrize(
    ("size", "mtime_ns", "version"),
    [(SIZE + 1, MTIME_NS, VERSION), (SIZE, MTIME_NS + 1, VERSION), (SIZE, MTIME_NS, VERSION + 1)],
    ids=["size", "mtime", "algorithm-version"],
)
def test_sidecar_for_another_size_mtime_or_version_reads_as_none(
    track: Path, size: int, mtime_ns: int, version: int
) -> None:
    write(track)

    assert read_sidecar(track, size, mtime_ns, version) is None


def test_missing_sidecar_reads_as_none(track: Path) -> None:
    assert read(track) is None


def test_malformed_json_reads_as_none(track: Path) -> None:
    sidecar_path(track).write_text('{"algorithm_version": 3, "size": ')

    assert read(track) is None


def _set(path: list[str], value: Any) -> Callable[[dict[str, Any]], Any]:
    def edit(document: dict[str, Any]) -> Any:
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return document

    return edit


def _drop(path: list[str]) -> Callable[[dict[str, Any]], Any]:
    def edit(document: dict[str, Any]) -> Any:
        target = document
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
        return document

    return edit


@pytest.mark.parametrize(
    "edit",
    [
        lambda document: [document],
        _drop(["fingerprint", "lufs"]),
        _drop(["track_info"]),
        _drop(["sidecar_version"]),
        _set(["sidecar_version"], 99),
        _set(["algorithm_version"], str(VERSION)),
        _set(["size"], float(SIZE)),
        _set(["fingerprint", "lufs"], "-14.0"),
        _set(["fingerprint", "lufs"], True),
        _set(["fingerprint", "lufs"], float("nan")),
        _set(["fingerprint", "stereo_width"], 5.0),
        _set(["track_info", "sample_rate"], "many"),
        _set(["track_info"], None),
    ],
    ids=[
        "not-an-object",
        "missing-dimension",
        "missing-track-info",
        "missing-sidecar-version",
        "unknown-sidecar-version",
        "version-as-string",
        "size-as-float",
        "dimension-as-string",
        "dimension-as-bool",
        "dimension-nan",
        "dimension-out-of-range",
        "track-info-wrong-type",
        "track-info-null",
    ],
)
def test_sidecar_with_wrong_content_reads_as_none(
    track: Path, edit: Callable[[dict[str, Any]], Any]
) -> None:
    write(track)
    document = json.loads(sidecar_path(track).read_text())
    sidecar_path(track).write_text(json.dumps(edit(document)))

    assert read(track) is None


def test_oversized_sidecar_reads_as_none(track: Path) -> None:
    write(track)
    document = json.loads(sidecar_path(track).read_text())
    document["padding"] = "x" * MAX_SIDECAR_BYTES
    sidecar_path(track).write_text(json.dumps(document))

    assert read(track) is None


def test_deeply_nested_json_reads_as_none(track: Path) -> None:
    sidecar_path(track).write_text("[" * 50_000 + "]" * 50_000)

    assert read(track) is None


def test_sidecar_that_is_a_directory_reads_as_none(track: Path) -> None:
    sidecar_path(track).mkdir()

    assert read(track) is None


def test_write_never_touches_the_audio_file(track: Path) -> None:
    before = track.stat()

    write(track)
    write(track)

    after = track.stat()
    assert track.read_bytes() == AUDIO_BYTES
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )


def test_rewriting_replaces_the_sidecar_and_leaves_no_temp_files(track: Path) -> None:
    write(track)
    assert write_sidecar(track, FINGERPRINT, INFO, SIZE + 10, MTIME_NS, VERSION)

    assert read(track) is None
    assert read_sidecar(track, SIZE + 10, MTIME_NS, VERSION) == (FINGERPRINT, INFO)
    assert stray_files(track.parent) == []


def test_sidecar_is_readable_by_other_users(track: Path) -> None:
    write(track)

    mode = stat.S_IMODE(sidecar_path(track).stat().st_mode)
    assert mode & stat.S_IROTH


def test_write_into_read_only_directory_returns_false(
    request: pytest.FixtureRequest, track: Path
) -> None:
    if rerun_unprivileged(request):
        return  # root ignores permission bits: it ran as an unprivileged user instead
    track.parent.chmod(0o555)
    try:
        assert write(track) is False
        assert not sidecar_path(track).exists()
    finally:
        track.parent.chmod(0o755)


def test_write_that_cannot_land_returns_false_and_cleans_up(track: Path) -> None:
    # Fails for root too: a directory occupies the sidecar's name, so the rename cannot happen.
    sidecar_path(track).mkdir()

    assert write(track) is False
    assert sidecar_path(track).is_dir()
    assert stray_files(track.parent) == []
    assert track.read_bytes() == AUDIO_BYTES


def test_write_into_missing_directory_returns_false(tmp_path: Path) -> None:
    assert write(tmp_path / "gone" / "track.ogg") is False


def _in_range(name: str) -> st.SearchStrategy[float]:
    low, high = FIELD_RANGES[name]
    if name == "tempo_bpm":
        return st.just(0.0) | st.floats(60.0, 200.0)
    return st.floats(
        min_value=low if low is not None else -1e6,
        max_value=high if high is not None else 1e6,
        allow_nan=False,
        allow_infinity=False,
    )


# tmp_path is shared by the examples on purpose: each one overwrites the same sidecar.
@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.fixed_dictionaries({name: _in_range(name) for name in FINGERPRINT_FIELDS}))
def test_any_valid_fingerprint_round_trips_exactly(
    tmp_path: Path, values: dict[str, float]
) -> None:
    track = tmp_path / "property.ogg"
    fingerprint = Fingerprint(**values)

    assert write_sidecar(track, fingerprint, INFO, SIZE, MTIME_NS, VERSION)
    assert read_sidecar(track, SIZE, MTIME_NS, VERSION) == (fingerprint, INFO)
