"""Issue 10, item 8: an error message quotes the caller's input, but never so much of it that
the answer cannot be sent. A 100 000-character path gets the real status (NOT_FOUND) with a
short message naming it, from both services, instead of RESOURCE_EXHAUSTED "received metadata
size exceeds hard limit"."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from shared.errors import MAX_MESSAGE_CHARS, InvalidArgument, bounded_message
from shared.proto.fingerprint.v1 import fingerprint_pb2 as fp_pb
from shared.proto.mastering.v1 import mastering_pb2 as pb
from tests.integration.mastering_harness import by_path
from tests.servers import Stack, mastering_stack

HUGE_PATH = "a" * 100_000
CALL_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with mastering_stack(tmp_path_factory.mktemp("messages")) as servers:
        yield servers


def test_item8_get_fingerprint_huge_path_is_not_found_with_a_bounded_message(
        stack: Stack) -> None:
    request = fp_pb.GetFingerprintRequest(track=fp_pb.TrackRef(path=HUGE_PATH))
    with pytest.raises(grpc.RpcError) as caught:
        stack.fingerprint_stub().GetFingerprint(request, timeout=CALL_TIMEOUT_S)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    details = caught.value.details()
    assert details.startswith("track not found: aaaa")
    assert "characters omitted" in details
    assert len(details) <= MAX_MESSAGE_CHARS


def test_item8_master_track_huge_path_is_not_found_with_a_bounded_message(stack: Stack) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        list(stack.mastering_stub().MasterTrack(by_path(HUGE_PATH), timeout=CALL_TIMEOUT_S))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details().startswith("track not found: aaaa")
    assert len(caught.value.details()) <= MAX_MESSAGE_CHARS


def test_item8_bounded_message_keeps_start_and_end() -> None:
    message = "start " + "x" * 5000 + " end"
    bounded = bounded_message(message)
    assert len(bounded) <= MAX_MESSAGE_CHARS
    assert bounded.startswith("start x") and bounded.endswith("x end")
    assert str(InvalidArgument(message)) == bounded
    assert bounded_message("short") == "short"


def test_item8_short_message_is_sent_unchanged(stack: Stack) -> None:
    request = pb.MasterTrackRequest(track=pb.TrackRef(path="missing.wav"))
    with pytest.raises(grpc.RpcError) as caught:
        list(stack.mastering_stub().MasterTrack(request, timeout=CALL_TIMEOUT_S))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "track not found: missing.wav"
