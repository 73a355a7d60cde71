"""Issue 10, item 11 and the circuit breaker: the fallback fits the caller's deadline, and a
hung fingerprint service stops costing every stream its full timeout.

- Item 11: with the fingerprint service hung and a 2 s caller deadline on a long track, the
  stream still starts with audio: the fingerprint wait is budgeted from the deadline minus what
  the fallback analysis of this track needs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from shared.proto.mastering.v1 import mastering_pb2 as pb
from tests.integration.mastering_harness import by_path, write_track
from tests.servers import SilentListener, Stack, mastering_stack

#: A long track, so its fallback analysis takes a good part of the caller's deadline.
LONG_TRACK_S = 60.0
CALLER_DEADLINE_S = 2.0


@pytest.fixture(scope="module")
def hung_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with SilentListener() as hung, mastering_stack(
            tmp_path_factory.mktemp("hung"), fingerprint=False,
            fingerprint_target=f"127.0.0.1:{hung.port}") as servers:
        write_track(servers.media, "long.wav", duration_s=LONG_TRACK_S)
        yield servers


@pytest.mark.slow
def test_item11_a_short_caller_deadline_on_a_long_track_still_gets_audio(
        hung_stack: Stack) -> None:
    started = time.monotonic()
    call = hung_stack.mastering_stub().MasterTrack(by_path("long.wav"),
                                                   timeout=CALLER_DEADLINE_S)
    header = next(call)
    first = next(call)
    assert time.monotonic() - started < CALLER_DEADLINE_S
    assert header.WhichOneof("event") == "header"
    assert header.header.plan.fingerprint_source == pb.FALLBACK
    assert first.WhichOneof("event") == "chunk" and first.chunk.pcm
    call.cancel()
