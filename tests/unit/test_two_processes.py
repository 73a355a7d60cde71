"""The render CLI's two-process mode: the fingerprint's STFT half and the render's decoding and
chain run in forked children, and every result is the one a single process computes; errors
arrive where they happened, a stopped render leaves no child behind, and where other threads
run nothing forks."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import fingerprint_service.extractor as extractor
import mastering_service.engine as engine
from fingerprint_service.extractor import extract
from mastering_service.engine import RenderOptions, open_render, render_to_file
from mastering_service.lwrp import fingerprint_plan
from mastering_service.plan import MasteringPlan
from shared.errors import UnsupportedAudio
from tests.signals import music_like, write_wav

RATE = 44_100
TRACK_S = 12.0


@pytest.fixture(scope="module")
def track(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("two")
    return write_wav(folder / "track.wav", music_like(TRACK_S, RATE, level_dbfs=-16.0, seed=5),
                     RATE, subtype="PCM_16")


@pytest.fixture(scope="module")
def plan(track: Path) -> MasteringPlan:
    fingerprint, info = extract(track)
    return fingerprint_plan(fingerprint, info, target_lufs=-14.0, true_peak_ceiling_dbtp=-1.0,
                            intensity=1.0)


def _render_children() -> list[multiprocessing.process.BaseProcess]:
    """Live children of this process that run a render's chain (other tests' pools aside)."""
    return [child for child in multiprocessing.active_children()
            if child.name == "render-chain"]


@pytest.fixture
def forking(monkeypatch: pytest.MonkeyPatch) -> None:
    """The two-process mode forks only from a single-threaded process, as the CLI is. Tests run
    earlier in this process leave idle threads behind (event-loop executors waiting on their
    queues, gRPC's poller): they hold no lock the children take, since the children only
    decode and compute with modules already imported, so here the check is waived and the
    fork paths run. (``test_with_another_thread_running_nothing_forks`` keeps the check.)"""
    monkeypatch.setattr(extractor, "fork_is_safe", lambda: True)
    monkeypatch.setattr(engine, "fork_is_safe", lambda: True)


@pytest.mark.usefixtures("forking")
def test_two_process_fingerprint_equals_the_one_process_fingerprint(track: Path,
                                                                    tmp_path: Path) -> None:
    mono = write_wav(tmp_path / "mono.wav", music_like(TRACK_S, RATE, seed=8)[:, :1], RATE,
                     subtype="PCM_24")
    for path in (track, mono):
        assert extract(path, two_processes=True) == extract(path)


@pytest.mark.usefixtures("forking")
@pytest.mark.parametrize("container", ["wav", "flac", "mp3"])
def test_two_process_render_writes_the_same_bytes(track: Path, plan: MasteringPlan,
                                                  tmp_path: Path, container: str) -> None:
    options = RenderOptions(container=container, start_s=2.5)
    one, two = tmp_path / f"one.{container}", tmp_path / f"two.{container}"
    first = render_to_file(track, one, plan, options)
    second = render_to_file(track, two, plan, options, two_processes=True)
    assert two.read_bytes() == one.read_bytes()
    assert second == first


@pytest.mark.usefixtures("forking")
def test_two_process_render_raises_the_decoders_error_where_the_stream_breaks(
    track: Path, plan: MasteringPlan, tmp_path: Path
) -> None:
    vorbis = tmp_path / "track.ogg"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(track), "-c:a", "libvorbis",
                    str(vorbis)], check=True)
    data = bytearray(vorbis.read_bytes())
    middle = len(data) // 2  # pages flipped mid-stream: frames go missing there
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    damaged = tmp_path / "damaged.ogg"
    damaged.write_bytes(bytes(data))
    seen: dict[bool, tuple[int, str]] = {}
    for two in (False, True):
        sent = 0
        with pytest.raises(UnsupportedAudio) as raised, \
                open_render(damaged, plan, RenderOptions(), two_processes=two) as stream:
            for chunk in stream:
                sent += chunk.frames
        seen[two] = (sent, str(raised.value))
    assert seen[True] == seen[False]
    assert "data is missing" in seen[True][1] and seen[True][0] > 0


@pytest.mark.usefixtures("forking")
def test_a_render_stopped_early_leaves_no_child_process(track: Path,
                                                        plan: MasteringPlan) -> None:
    with open_render(track, plan, RenderOptions(chunk_frames=4096), two_processes=True) as stream:
        chunks = iter(stream)
        next(chunks)
        assert _render_children(), "the chain runs in a child"
    assert not _render_children()


@pytest.mark.usefixtures("forking")
def test_a_killed_child_is_an_error_not_a_short_file(track: Path, plan: MasteringPlan) -> None:
    with open_render(track, plan, RenderOptions(chunk_frames=4096), two_processes=True) as stream:
        chunks = iter(stream)
        next(chunks)
        for child in _render_children():
            os.kill(child.pid, signal.SIGKILL)
        with pytest.raises(ChildProcessError, match="ended unexpectedly"):
            for _ in chunks:
                pass


def test_with_another_thread_running_nothing_forks(track: Path, plan: MasteringPlan,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> Iterator[np.ndarray]:
        raise AssertionError("forked while another thread ran")

    monkeypatch.setattr(extractor, "ProcessPoolExecutor", refuse)
    monkeypatch.setattr(engine, "ForkedChain", refuse)
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert extract(track, two_processes=True) == extract(track)
        with open_render(track, plan, RenderOptions(), two_processes=True) as stream:
            assert sum(chunk.frames for chunk in stream) == stream.total_frames
    finally:
        release.set()
        other.join()
