"""Issue 10, item 4: a client that opens a stream and stops reading does not hold its slot
forever. After ``MASTERING_STREAM_IDLE_TIMEOUT_S`` without a read the stream ends with
DEADLINE_EXCEEDED, its slot is freed, and the next caller is served."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.integration.fingerprint_harness import wait_until
from tests.integration.mastering_harness import by_path, split_stream, write_track
from tests.servers import Stack, mastering_stack

IDLE_TIMEOUT_S = 1.0
#: Long enough that flow control holds an unread stream long before its end.
LONG_TRACK_S = 30.0
SMALL_CHUNK_FRAMES = 1024
CALL_TIMEOUT_S = 120.0
#: The slot must be free within the idle timeout plus this (a bound, not a speed claim).
FREED_WITHIN_S = IDLE_TIMEOUT_S + 5.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with mastering_stack(tmp_path_factory.mktemp("idle"), fingerprint=False,
                         mastering_env={"MASTERING_MAX_STREAMS": "1",
                                        "MASTERING_STREAM_IDLE_TIMEOUT_S": str(IDLE_TIMEOUT_S)},
                         ) as servers:
        write_track(servers.media, "long.wav", duration_s=LONG_TRACK_S)
        write_track(servers.media, "short.wav", duration_s=1.0)
        yield servers


def test_item4_a_stream_nobody_reads_frees_its_slot_after_the_idle_timeout(
        stack: Stack, tmp_path: Path) -> None:
    service = stack.mastering.service
    stalled = stack.mastering_stub(slow_reader=True).MasterTrack(
        by_path("long.wav", chunk_frames=SMALL_CHUNK_FRAMES), timeout=CALL_TIMEOUT_S)
    assert next(stalled).WhichOneof("event") == "header"
    assert next(stalled).WhichOneof("event") == "chunk"
    assert service.active_streams == 1
    # While it holds the only slot, the next caller is refused.
    with pytest.raises(grpc.RpcError) as refused:
        list(stack.mastering_stub().MasterTrack(by_path("short.wav"), timeout=CALL_TIMEOUT_S))
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    stalled_at = time.monotonic()
    wait_until(lambda: service.active_streams == 0, "the stalled stream's slot to be freed")
    assert time.monotonic() - stalled_at < FREED_WITHIN_S
    served = split_stream(stack.mastering_stub().MasterTrack(by_path("short.wav"),
                                                             timeout=CALL_TIMEOUT_S))
    assert served.summary.frames_sent == served.header.total_frames
    # The stalled client, reading again, gets what was buffered, then the reason.
    with pytest.raises(grpc.RpcError) as ended:
        for _ in stalled:
            pass
    assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "read nothing for 1 s" in ended.value.details()
