"""MasterTrack against real servers on 127.0.0.1:0: the five scenarios of the integration
(cold cache, warm cache, fingerprint service down, hung, database unavailable, concurrent plays)
and the shape of what is streamed — byte-identical to the offline render, valid WAV, gap-free
sequence, seek, every encoding, mono and 96 kHz (SPEC sections 3, 5, 6 and 7)."""

from __future__ import annotations

import hashlib
import io
import math
import threading
import time
import wave
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import soundfile as sf

from mastering_service.chain.encoding import decode_pcm
from mastering_service.engine import RenderOptions, open_render
from mastering_service.fp_client import DEADLINE_MARGIN_S
from mastering_service.lwrp import fingerprint_plan
from mastering_service.plan import Category, MasteringPlan
from shared.fingerprint import FINGERPRINT_FIELDS, TRACK_INFO_FIELDS, Fingerprint, TrackInfo
from shared.proto.fingerprint.v1 import fingerprint_pb2 as fp_pb
from shared.proto.fingerprint.v1 import fingerprint_pb2_grpc as fp_pb_grpc
from shared.proto.mastering.v1 import mastering_pb2 as pb
from tests.integration.fingerprint_harness import GatedPool, poll_cached, wait_until
from tests.integration.mastering_harness import (
    RATE_HZ,
    TRACK_S,
    MasteredStream,
    by_path,
    split_stream,
    write_track,
)
from tests.servers import SilentListener, Stack, free_port, mastering_stack
from tests.signals import ffmpeg_ebur128

#: Long enough that a cold fingerprint never runs into it on a busy machine: these tests are
#: about where the fingerprint comes from, not about how fast.
PATIENT_TIMEOUT_MS = 60_000
CALL_TIMEOUT_S = 120.0
CHUNK_FRAMES = 4096
FIRST_CHUNK_FRAMES = 1024
BYTES_PER_SAMPLE = {pb.PCM_S16LE: 2, pb.PCM_S24LE: 3, pb.PCM_F32LE: 4}
ENCODING_NAMES = {pb.PCM_S16LE: "s16", pb.PCM_S24LE: "s24", pb.PCM_F32LE: "f32"}
#: SPEC section 6: integrated loudness within ±0.5 LU of the effective target, true peak at
#: most 0.1 dB over the ceiling.
LOUDNESS_TOLERANCE_LU = 0.5
TRUE_PEAK_TOLERANCE_DB = 0.1
#: How closely the summary's own loudness must agree with ffmpeg's reading of the same bytes.
SUMMARY_VS_FFMPEG_LU = 0.2
CONCURRENT_PLAYS = 8
#: How far a server-side duration may exceed the client's view of the same span (clock reads
#: on either side of a loopback hop).
CLOCK_SLACK_S = 0.05
#: A short caller deadline still leaves the fingerprint call at least this long (a third of
#: the 3 s deadline used below), whatever the service keeps back for its fallback analysis.
MIN_WAIT_ON_HUNG_S = 1.0


def request(path: str, **fields: Any) -> pb.MasterTrackRequest:
    fields.setdefault("fingerprint_timeout_ms", PATIENT_TIMEOUT_MS)
    fields.setdefault("chunk_frames", CHUNK_FRAMES)
    return by_path(path, **fields)


def master(stub: Any, req: pb.MasterTrackRequest) -> MasteredStream:
    stream = split_stream(stub.MasterTrack(req, timeout=CALL_TIMEOUT_S))
    assert stream.kinds[0] == "header" and stream.kinds[-1] == "summary", stream.kinds[:3]
    return stream


def source_of(stream: MasteredStream) -> str:
    return str(pb.FingerprintSource.Name(stream.header.plan.fingerprint_source))


def reason_of(stream: MasteredStream) -> str:
    return str(pb.FallbackReason.Name(stream.header.plan.fallback_reason))


def cached_source(stack: Stack, path: str) -> str:
    response = stack.fingerprint_stub().GetFingerprint(
        fp_pb.GetFingerprintRequest(track=fp_pb.TrackRef(path=path), cached_only=True),
        timeout=CALL_TIMEOUT_S)
    return str(fp_pb.FingerprintSource.Name(response.source))


def frames_in(stream: MasteredStream) -> int:
    header = stream.header
    return len(stream.pcm) // (BYTES_PER_SAMPLE[header.encoding] * header.channels)


def plan_from_header(header: pb.StreamHeader) -> MasteringPlan:
    """The plan the stream announced, as the engine takes it."""
    p = header.plan
    return MasteringPlan(
        category=Category(pb.Category.Name(p.category)),
        fingerprint_source=pb.FingerprintSource.Name(p.fingerprint_source),
        fallback_reason=pb.FallbackReason.Name(p.fallback_reason),
        input_lufs=p.input_lufs, input_crest_db=p.input_crest_db,
        input_true_peak_dbtp=p.input_true_peak_dbtp, target_lufs=p.target_lufs,
        effective_target_lufs=p.effective_target_lufs, gain_db=p.gain_db,
        expansion_amount=p.expansion_amount, compression_amount=p.compression_amount,
        low_shelf_gain_db=p.low_shelf_gain_db, high_shelf_gain_db=p.high_shelf_gain_db,
        side_gain_db=p.side_gain_db, true_peak_ceiling_dbtp=p.true_peak_ceiling_dbtp,
        limiter_release_ms=p.limiter_release_ms, intensity=p.intensity,
        reasons=tuple(p.reasons),
    )


def header_then_rest(stub: Any, req: pb.MasterTrackRequest) -> tuple[float, float, MasteredStream]:
    """Seconds from the call to the header and to the first chunk, and the whole stream."""
    started = time.monotonic()
    to_header = to_first_chunk = math.inf
    responses = []
    for response in stub.MasterTrack(req, timeout=CALL_TIMEOUT_S):
        kind = response.WhichOneof("event")
        if kind == "header":
            to_header = time.monotonic() - started
        elif kind == "chunk" and math.isinf(to_first_chunk):
            to_first_chunk = time.monotonic() - started
        responses.append(response)
    return to_header, to_first_chunk, split_stream(responses)


def assert_complete(stream: MasteredStream) -> None:
    assert stream.summary.frames_sent == stream.header.total_frames
    assert frames_in(stream) == stream.header.total_frames


# -- servers -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pool() -> Iterator[GatedPool]:
    """The fingerprint server's workers; a test closes the gate to make computations slow."""
    gated = GatedPool(workers=1)
    yield gated
    gated.gate.set()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, pool: GatedPool) -> Iterator[Stack]:
    with mastering_stack(tmp_path_factory.mktemp("master-track"),
                         pool_factory=lambda: pool,
                         mastering_env={"MASTERING_FIRST_CHUNK_FRAMES":
                                        str(FIRST_CHUNK_FRAMES)}) as servers:
        yield servers


@pytest.fixture(scope="module")
def stub(stack: Stack) -> Any:
    return stack.mastering_stub()


# -- the five scenarios --------------------------------------------------------------------------


def test_scenario_a_cold_cache_computes_then_stores(stack: Stack, stub: Any) -> None:
    track = write_track(stack.media, "scenario-a.wav")
    stream = master(stub, request(track))
    assert source_of(stream) == "COMPUTED"
    assert reason_of(stream) == "NONE"
    assert_complete(stream)
    assert cached_source(stack, track) == "DATABASE"


def test_scenario_b_warm_cache_reads_database_and_plays_the_same(stack: Stack, stub: Any) -> None:
    track = write_track(stack.media, "scenario-b.wav")
    cold = master(stub, request(track))
    warm = master(stub, request(track))
    assert source_of(cold) == "COMPUTED"
    assert source_of(warm) == "DATABASE"
    assert reason_of(warm) == "NONE"
    assert_complete(warm)
    assert warm.pcm == cold.pcm


def test_scenario_b_content_request_is_answered_from_the_cache(stack: Stack, stub: Any) -> None:
    track = write_track(stack.media, "scenario-b-content.wav")
    assert source_of(master(stub, request(track))) == "COMPUTED"
    content = (stack.media / track).read_bytes()
    by_content = master(stub, pb.MasterTrackRequest(
        track=pb.TrackRef(content=content), fingerprint_timeout_ms=PATIENT_TIMEOUT_MS))
    assert source_of(by_content) == "DATABASE"
    assert by_content.header.content_sha256 == hashlib.sha256(content).hexdigest()
    assert_complete(by_content)


def test_scenario_c_service_down_falls_back_without_waiting(tmp_path: Path) -> None:
    timeout_ms = 20_000
    with mastering_stack(tmp_path, fingerprint=False,
                         fingerprint_target=f"127.0.0.1:{free_port()}") as servers:
        track = write_track(servers.media, "scenario-c.wav")
        to_header, to_first_chunk, stream = header_then_rest(
            servers.mastering_stub(), request(track, fingerprint_timeout_ms=timeout_ms))
    assert source_of(stream) == "FALLBACK"
    assert reason_of(stream) == "UNAVAILABLE"
    # Connection refused is known at once: nothing waits for the 20 s timeout.
    assert to_header < 5.0
    assert to_first_chunk < 5.0
    assert_complete(stream)


def test_scenario_c_prime_hung_service_falls_back_within_timeout(tmp_path: Path) -> None:
    timeout_ms = 2_000
    with SilentListener() as hung, mastering_stack(
            tmp_path, fingerprint=False, fingerprint_target=f"127.0.0.1:{hung.port}") as servers:
        track = write_track(servers.media, "scenario-c-prime.wav")
        to_header, _, stream = header_then_rest(
            servers.mastering_stub(), request(track, fingerprint_timeout_ms=timeout_ms))
        assert hung.accepted, "the mastering service never connected to the hung listener"
    assert source_of(stream) == "FALLBACK"
    assert reason_of(stream) == "DEADLINE_EXCEEDED"
    assert to_header <= timeout_ms / 1000.0 + 0.5
    assert_complete(stream)


class HungFingerprintService(fp_pb_grpc.FingerprintServiceServicer):
    """A fingerprint service that accepts the call, notes the deadline it was given, and never
    answers (the call ends when that deadline does)."""

    def __init__(self) -> None:
        self.deadlines_s: list[float] = []

    def GetFingerprint(self, request: fp_pb.GetFingerprintRequest,
                       context: grpc.ServicerContext) -> fp_pb.GetFingerprintResponse:
        remaining = context.time_remaining()
        self.deadlines_s.append(math.inf if remaining is None else remaining)
        ended = threading.Event()
        context.add_callback(ended.set)
        ended.wait(CALL_TIMEOUT_S)
        context.abort(grpc.StatusCode.UNAVAILABLE, "hung until the caller gave up")
        raise AssertionError("abort returns only by raising")


@contextmanager
def hung_fingerprint_service() -> Iterator[tuple[str, HungFingerprintService]]:
    service = HungFingerprintService()
    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    fp_pb_grpc.add_FingerprintServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", service
    finally:
        server.stop(None)


def test_scenario_c_prime_short_caller_deadline_bounds_the_fingerprint_wait(
        tmp_path: Path) -> None:
    """SPEC section 5: the fingerprint call's timeout is min(fingerprint_timeout_ms, the caller's
    remaining time − margin), so a short caller deadline is kept even with a patient timeout."""
    caller_deadline_s = 3.0
    with hung_fingerprint_service() as (target, hung), mastering_stack(
            tmp_path, fingerprint=False, fingerprint_target=target) as servers:
        track = write_track(servers.media, "scenario-c-prime-deadline.wav", duration_s=1.0)
        started = time.monotonic()
        call = servers.mastering_stub().MasterTrack(
            request(track, fingerprint_timeout_ms=PATIENT_TIMEOUT_MS), timeout=caller_deadline_s)
        to_header = math.inf
        responses = []
        try:
            for response in call:
                if response.WhichOneof("event") == "header":
                    to_header = time.monotonic() - started
                responses.append(response)
        except grpc.RpcError as error:
            # The caller's deadline covers the whole stream: it may end the stream after the
            # header, never before it.
            assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED, error
    # The deadline the fingerprint service was given: the caller's, less the margin, not the
    # patient fingerprint_timeout_ms (however loaded the machine, it can only be shorter).
    (given_s,) = hung.deadlines_s
    assert MIN_WAIT_ON_HUNG_S <= given_s <= caller_deadline_s - DEADLINE_MARGIN_S + CLOCK_SLACK_S
    stream = split_stream(responses)
    assert to_header < caller_deadline_s, "the header must arrive within the caller's deadline"
    assert source_of(stream) == "FALLBACK"
    assert reason_of(stream) == "DEADLINE_EXCEEDED"
    if stream.summaries:
        assert_complete(stream)


def test_scenario_c_prime_slow_computation_falls_back_then_is_cached(
        stack: Stack, stub: Any, pool: GatedPool) -> None:
    track = write_track(stack.media, "scenario-c-prime-slow.wav")
    computations = stack.fingerprint.service.computations
    pool.gate.clear()
    try:
        slow = master(stub, request(track, fingerprint_timeout_ms=1_000))
        assert source_of(slow) == "FALLBACK"
        assert reason_of(slow) == "DEADLINE_EXCEEDED"
        assert_complete(slow)
    finally:
        pool.gate.set()
    # The computation the mastering call gave up on finishes and is cached.
    cached = poll_cached(stack.fingerprint_stub(), track)
    assert fp_pb.FingerprintSource.Name(cached.source) == "DATABASE"
    assert stack.fingerprint.service.computations == computations + 1
    assert source_of(master(stub, request(track))) == "DATABASE"


def test_scenario_d_database_unavailable_still_computes_and_streams(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "plain-file"
    not_a_directory.write_text("a regular file where the database folder should be\n")
    unusable = f"sqlite:///{not_a_directory}/cache/fingerprints.sqlite3"
    with mastering_stack(tmp_path, fingerprint_env={"DATABASE_URL": unusable}) as servers:
        track = write_track(servers.media, "scenario-d.wav")
        stream = master(servers.mastering_stub(), request(track))
    assert source_of(stream) == "COMPUTED"
    assert reason_of(stream) == "NONE"
    assert_complete(stream)


def test_scenario_e_concurrent_plays_share_one_computation(
        stack: Stack, stub: Any, pool: GatedPool) -> None:
    track = write_track(stack.media, "scenario-e.wav")
    computations = stack.fingerprint.service.computations
    streams = stack.mastering.service
    pool.gate.clear()
    try:
        with ThreadPoolExecutor(max_workers=CONCURRENT_PLAYS) as players:
            plays = [players.submit(master, stub, request(track))
                     for _ in range(CONCURRENT_PLAYS)]
            # Every play is in progress (waiting for the one held computation) before it ends.
            wait_until(lambda: streams.active_streams == CONCURRENT_PLAYS,
                       "all plays to be in progress")
            pool.gate.set()
            results = [play.result(CALL_TIMEOUT_S) for play in plays]
    finally:
        pool.gate.set()
    assert stack.fingerprint.service.computations == computations + 1
    assert {source_of(s) for s in results} <= {"COMPUTED", "DATABASE"}
    for stream in results:
        assert_complete(stream)
    assert len({s.pcm for s in results}) == 1


# -- what is streamed ----------------------------------------------------------------------------


def test_streamed_s16_equals_the_offline_render_of_the_announced_plan(
        stack: Stack, stub: Any) -> None:
    track = write_track(stack.media, "offline.wav")
    stream = master(stub, request(track, target_lufs=-16.0, true_peak_ceiling_dbtp=-1.5,
                                  intensity=0.8))
    sha = hashlib.sha256((stack.media / track).read_bytes()).hexdigest()
    assert stream.header.content_sha256 == sha
    options = RenderOptions(encoding="s16", start_s=0.0, chunk_frames=CHUNK_FRAMES,
                            first_chunk_frames=FIRST_CHUNK_FRAMES,
                            dither_seed=int(sha[:16], 16))
    with open_render(stack.media / track, plan_from_header(stream.header), options) as render:
        offline = b"".join(chunk.pcm for chunk in render)
    assert len(stream.pcm) == len(offline)
    assert stream.pcm == offline


def test_announced_plan_is_the_lwrp_plan_of_the_cached_fingerprint(
        stack: Stack, stub: Any) -> None:
    track = write_track(stack.media, "plan.wav")
    stream = master(stub, request(track, target_lufs=-18.0, true_peak_ceiling_dbtp=-2.0,
                                  intensity=0.6))
    cached = stack.fingerprint_stub().GetFingerprint(
        fp_pb.GetFingerprintRequest(track=fp_pb.TrackRef(path=track), cached_only=True),
        timeout=CALL_TIMEOUT_S)
    fingerprint = Fingerprint(**{name: getattr(cached.fingerprint, name)
                                 for name in FINGERPRINT_FIELDS})
    info = TrackInfo.from_dict({name: getattr(cached.track_info, name)
                                for name in TRACK_INFO_FIELDS})
    expected = fingerprint_plan(fingerprint, info, target_lufs=-18.0,
                                true_peak_ceiling_dbtp=-2.0, intensity=0.6)
    announced = plan_from_header(stream.header)
    assert announced.category == expected.category
    for name in ("input_lufs", "input_crest_db", "input_true_peak_dbtp", "target_lufs",
                 "effective_target_lufs", "gain_db", "expansion_amount", "compression_amount",
                 "low_shelf_gain_db", "high_shelf_gain_db", "side_gain_db",
                 "true_peak_ceiling_dbtp", "limiter_release_ms", "intensity"):
        assert getattr(announced, name) == pytest.approx(getattr(expected, name), abs=1e-9), name


def test_stream_is_one_header_gapless_chunks_one_summary(stack: Stack, stub: Any) -> None:
    track = write_track(stack.media, "shape.wav")
    started = time.monotonic()
    _, to_first_chunk_s, stream = header_then_rest(stub, request(track))
    call_s = time.monotonic() - started
    assert stream.kinds[0] == "header"
    assert stream.kinds[-1] == "summary"
    assert set(stream.kinds[1:-1]) == {"chunk"}
    assert len(stream.headers) == 1 and len(stream.summaries) == 1
    header = stream.header
    file_frames = sf.info(str(stack.media / track)).frames
    assert header.total_frames == file_frames
    assert header.sample_rate == RATE_HZ and header.channels == 2
    assert header.encoding == pb.PCM_S16LE and header.container == pb.RAW
    assert header.duration_s == pytest.approx(file_frames / RATE_HZ, abs=1e-6)
    frame_bytes = 2 * header.channels
    expected_start = 0
    for index, chunk in enumerate(stream.chunks):
        assert chunk.sequence == index
        assert chunk.start_frame == expected_start
        assert len(chunk.pcm) % frame_bytes == 0
        frames = len(chunk.pcm) // frame_bytes
        assert 0 < frames <= CHUNK_FRAMES
        if 0 < index < len(stream.chunks) - 1:
            assert frames == CHUNK_FRAMES
        expected_start += frames
    assert len(stream.chunks[0].pcm) // frame_bytes <= FIRST_CHUNK_FRAMES
    assert expected_start == header.total_frames
    assert stream.summary.frames_sent == header.total_frames
    # The server's own timings: the first chunk is part of the processing, and neither can
    # exceed what the client saw from its call to that chunk and to the end of the stream.
    summary = stream.summary
    assert 0.0 < summary.first_chunk_ms <= summary.processing_ms
    assert summary.first_chunk_ms / 1000.0 <= to_first_chunk_s + CLOCK_SLACK_S
    assert summary.processing_ms / 1000.0 <= call_s + CLOCK_SLACK_S


def test_summary_loudness_and_true_peak_keep_to_the_plan(
        stack: Stack, stub: Any, tmp_path: Path) -> None:
    track = write_track(stack.media, "levels.wav", duration_s=6.0)
    stream = master(stub, request(track, target_lufs=-16.0, true_peak_ceiling_dbtp=-2.0,
                                  container=pb.WAV))
    plan, summary = stream.header.plan, stream.summary
    assert math.isfinite(summary.output_lufs) and math.isfinite(summary.output_true_peak_dbtp)
    assert plan.true_peak_ceiling_dbtp == -2.0
    assert abs(summary.output_lufs - plan.effective_target_lufs) <= LOUDNESS_TOLERANCE_LU
    assert summary.output_true_peak_dbtp <= plan.true_peak_ceiling_dbtp + TRUE_PEAK_TOLERANCE_DB
    written = tmp_path / "streamed.wav"
    written.write_bytes(stream.pcm)
    judged = ffmpeg_ebur128(written)
    assert abs(judged.integrated_lufs - summary.output_lufs) <= SUMMARY_VS_FFMPEG_LU
    assert judged.true_peak_dbtp <= plan.true_peak_ceiling_dbtp + TRUE_PEAK_TOLERANCE_DB


@pytest.mark.parametrize("encoding", [pb.PCM_S16LE, pb.PCM_S24LE, pb.PCM_F32LE],
                         ids=["s16", "s24", "f32"])
def test_wav_container_concatenates_to_a_valid_wav_of_total_frames(
        stack: Stack, stub: Any, encoding: int) -> None:
    track = write_track(stack.media, f"container-{ENCODING_NAMES[encoding]}.wav")
    as_wav = master(stub, request(track, encoding=encoding, container=pb.WAV))
    as_raw = master(stub, request(track, encoding=encoding))
    header = as_wav.header
    assert header.container == pb.WAV
    data, rate = sf.read(io.BytesIO(as_wav.pcm), always_2d=True)
    assert rate == header.sample_rate
    assert data.shape == (header.total_frames, header.channels)
    info = sf.info(io.BytesIO(as_wav.pcm))
    assert info.subtype == {"s16": "PCM_16", "s24": "PCM_24", "f32": "FLOAT"}[
        ENCODING_NAMES[encoding]]
    # The WAV carries the same audio as the RAW stream, after its header.
    assert as_wav.pcm.endswith(as_raw.pcm)
    assert len(as_wav.pcm) - len(as_raw.pcm) < 128
    if encoding == pb.PCM_S16LE:
        with wave.open(io.BytesIO(as_wav.pcm)) as parsed:
            assert parsed.getnframes() == header.total_frames
            assert parsed.getnchannels() == header.channels
            assert parsed.getframerate() == header.sample_rate
            assert parsed.getsampwidth() == 2
            assert parsed.readframes(parsed.getnframes()) == as_raw.pcm


@pytest.mark.parametrize("encoding", [pb.PCM_S16LE, pb.PCM_S24LE, pb.PCM_F32LE],
                         ids=["s16", "s24", "f32"])
def test_every_encoding_has_the_right_bytes_per_frame(
        stack: Stack, stub: Any, encoding: int) -> None:
    track = write_track(stack.media, f"encoding-{ENCODING_NAMES[encoding]}.wav")
    stream = master(stub, request(track, encoding=encoding))
    header = stream.header
    assert header.encoding == encoding
    frame_bytes = BYTES_PER_SAMPLE[encoding] * header.channels
    assert len(stream.pcm) == header.total_frames * frame_bytes
    for chunk in stream.chunks:
        assert len(chunk.pcm) % frame_bytes == 0
    values = decode_pcm(stream.pcm, ENCODING_NAMES[encoding], header.channels)
    assert np.isfinite(values).all()
    # Audio, not silence, and no sample above the true-peak ceiling (sample peak ≤ true peak).
    peak_dbfs = 20 * math.log10(float(np.abs(values).max()))
    assert -30.0 < peak_dbfs <= header.plan.true_peak_ceiling_dbtp + TRUE_PEAK_TOLERANCE_DB
    if encoding == pb.PCM_S24LE:
        # Full 24-bit words, not 16-bit samples padded with a zero byte.
        low_bytes = np.frombuffer(stream.pcm, dtype=np.uint8)[0::3]
        assert np.count_nonzero(low_bytes) > low_bytes.size // 2
    if encoding == pb.PCM_F32LE:
        raw = np.frombuffer(stream.pcm, dtype="<f4")
        assert np.isfinite(raw).all() and raw.min() >= -1.0 and raw.max() <= 1.0


def test_every_encoding_carries_the_same_audio(stack: Stack, stub: Any) -> None:
    track = write_track(stack.media, "encodings-agree.wav")
    decoded = {}
    for encoding, name in ENCODING_NAMES.items():
        stream = master(stub, request(track, encoding=encoding))
        decoded[name] = decode_pcm(stream.pcm, name, stream.header.channels)
    # Quantisation plus TPDF dither stays within a couple of steps of each format.
    assert np.abs(decoded["s16"] - decoded["f32"]).max() <= 3.0 / 32768
    assert np.abs(decoded["s24"] - decoded["f32"]).max() <= 3.0 / 8388608


def test_seek_streams_from_start_s_in_the_output_timeline(stack: Stack, stub: Any) -> None:
    track = write_track(stack.media, "seek.wav", duration_s=8.0)
    start_s = 5.0
    full = master(stub, request(track, encoding=pb.PCM_F32LE))
    seeked = master(stub, request(track, encoding=pb.PCM_F32LE, start_s=start_s))
    skipped = round(start_s * RATE_HZ)
    header = seeked.header
    assert header.total_frames == full.header.total_frames - skipped
    assert header.duration_s == pytest.approx(header.total_frames / RATE_HZ, abs=1e-6)
    assert seeked.summary.frames_sent == header.total_frames
    # start_frame counts frames of what is sent: the first chunk starts at 0.
    assert seeked.chunks[0].start_frame == 0
    position = 0
    for index, chunk in enumerate(seeked.chunks):
        assert chunk.sequence == index
        assert chunk.start_frame == position
        position += len(chunk.pcm) // (4 * header.channels)
    assert position == header.total_frames
    # The pre-roll settles every stage: the slice matches the unseeked render (SPEC section 6).
    tail = decode_pcm(full.pcm, "f32", 2)[skipped:]
    part = decode_pcm(seeked.pcm, "f32", 2)
    assert part.shape == tail.shape
    difference_dbfs = 20 * math.log10(max(float(np.sqrt(np.mean((part - tail) ** 2))), 1e-12))
    assert difference_dbfs <= -60.0


def test_mono_input_streams_one_channel(stack: Stack, stub: Any) -> None:
    track = write_track(stack.media, "mono.wav", channels=1)
    stream = master(stub, request(track))
    assert stream.header.channels == 1
    assert stream.header.total_frames == round(TRACK_S * RATE_HZ)
    assert len(stream.pcm) == stream.header.total_frames * 2
    assert stream.summary.frames_sent == stream.header.total_frames


def test_96khz_track_streams_at_its_own_rate(
        stack: Stack, stub: Any, tmp_path: Path, ffmpeg: str) -> None:
    rate_hz = 96_000
    track = write_track(stack.media, "hires.wav", duration_s=3.0, rate_hz=rate_hz)
    stream = master(stub, request(track, container=pb.WAV))
    assert stream.header.sample_rate == rate_hz
    assert stream.header.total_frames == 3 * rate_hz
    assert stream.header.duration_s == pytest.approx(3.0, abs=1e-6)
    assert stream.summary.frames_sent == stream.header.total_frames
    # Mastered at 96 kHz as at 44.1: ffmpeg reads the target loudness and the ceiling kept.
    written = tmp_path / "hires-streamed.wav"
    written.write_bytes(stream.pcm)
    judged = ffmpeg_ebur128(written)
    plan = stream.header.plan
    assert abs(judged.integrated_lufs - plan.effective_target_lufs) <= LOUDNESS_TOLERANCE_LU
    assert judged.true_peak_dbtp <= plan.true_peak_ceiling_dbtp + TRUE_PEAK_TOLERANCE_DB
    assert abs(judged.integrated_lufs - stream.summary.output_lufs) <= SUMMARY_VS_FFMPEG_LU


def test_request_id_metadata_comes_back_in_trailers(stack: Stack, stub: Any) -> None:
    track = write_track(stack.media, "request-id.wav", duration_s=1.0)
    call = stub.MasterTrack(request(track), timeout=CALL_TIMEOUT_S,
                            metadata=(("x-request-id", "master-track-test-1"),))
    split_stream(call)
    assert call.code() == grpc.StatusCode.OK
    assert ("x-request-id", "master-track-test-1") in tuple(call.trailing_metadata())

