"""SPEC section 6 — the streaming engine's invariants, one test each."""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mastering_service.chain import build_chain
from mastering_service.chain.encoding import (
    S16_SCALE,
    SILENCE_THRESHOLD,
    decode_pcm,
    tpdf_dither_lsb,
)
from mastering_service.engine import (
    PREROLL_S,
    RenderOptions,
    RenderStream,
    open_render,
    render_to_wav,
)
from mastering_service.lwrp import plan_mastering
from mastering_service.plan import Category, MasteringPlan
from shared.audio import AudioReader
from shared.errors import SeekOutOfRange, UnsupportedAudio
from shared.fingerprint import Fingerprint
from shared.loudness import LoudnessMeter
from tests.signals import ffmpeg_ebur128, music_like, sine, write_wav

RATE = 44_100
#: SPEC section 6: integrated loudness within ±0.5 LU of the effective target, true peak at
#: most 0.1 dB over the ceiling, as ffmpeg's ebur128 filter measures them.
LOUDNESS_TOLERANCE_LU = 0.5
TRUE_PEAK_TOLERANCE_DB = 0.1


def busy_fingerprint(**overrides: float) -> Fingerprint:
    """A fingerprint that switches on every stage: bass-heavy, dull, narrow but correlated."""
    values = {
        "sub_bass_share": 0.15, "bass_share": 0.55, "low_mid_share": 0.1, "mid_share": 0.12,
        "upper_mid_share": 0.05, "presence_share": 0.02, "air_share": 0.01, "lufs": -20.0,
        "crest_db": 16.0, "bass_mid_ratio_db": 12.0, "tempo_bpm": 120.0,
        "rhythm_stability": 0.7, "transient_density": 0.3, "silence_ratio": 0.0,
        "spectral_centroid_hz": 500.0, "spectral_rolloff_hz": 2000.0, "spectral_flatness": 0.1,
        "harmonic_ratio": 0.6, "pitch_stability": 0.5, "chroma_energy": 0.3,
        "dynamic_range_variation": 0.3, "loudness_variation_db": 2.0, "peak_consistency": 0.7,
        "stereo_width": 0.08, "phase_correlation": 0.9,
    }
    values.update(overrides)
    return Fingerprint(**values)


def quiet_plan(**kwargs: float) -> MasteringPlan:
    """QUIET, raised hard: EQ, width, compressor, static gain and limiter all active."""
    plan = plan_mastering(input_lufs=-26.0, input_crest_db=18.0, input_true_peak_dbtp=-8.0,
                          fingerprint=busy_fingerprint(), **kwargs)
    assert plan.category is Category.QUIET and plan.compression_amount > 0.0
    assert plan.low_shelf_gain_db != 0.0 and plan.side_gain_db != 0.0
    return plan


def loud_plan() -> MasteringPlan:
    """COMPRESSED_LOUD: the expander instead of the compressor."""
    plan = plan_mastering(input_lufs=-7.0, input_crest_db=7.0, input_true_peak_dbtp=0.5,
                          fingerprint=busy_fingerprint(lufs=-7.0, crest_db=7.0))
    assert plan.category is Category.COMPRESSED_LOUD and plan.expansion_amount > 0.0
    return plan


def render_bytes(source: Path, plan: MasteringPlan, **options: object) -> tuple[bytes, list[int]]:
    with open_render(source, plan, RenderOptions(**options)) as stream:  # type: ignore[arg-type]
        chunks = list(stream)
    assert [c.sequence for c in chunks] == list(range(len(chunks)))
    return b"".join(c.pcm for c in chunks), [c.frames for c in chunks]


def render_array(source: Path, plan: MasteringPlan, **options: object) -> np.ndarray:
    encoding = str(options.setdefault("encoding", "f32"))
    pcm, _ = render_bytes(source, plan, **options)
    channels = sf.info(str(source)).channels
    return decode_pcm(pcm, encoding, channels)


@pytest.fixture(scope="module")
def one_second(tmp_path_factory: pytest.TempPathFactory) -> Path:
    signal = music_like(1.0, RATE, level_dbfs=-8.0)
    return write_wav(tmp_path_factory.mktemp("engine") / "one.wav", signal, RATE)


@pytest.fixture(scope="module")
def ten_seconds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    signal = music_like(10.0, RATE, level_dbfs=-8.0, seed=5)
    return write_wav(tmp_path_factory.mktemp("engine") / "ten.wav", signal, RATE)


@pytest.mark.parametrize("make_plan", [quiet_plan, loud_plan], ids=["quiet", "compressed_loud"])
def test_chunk_invariance_s16_byte_identical(one_second: Path, make_plan: object) -> None:
    plan = make_plan()  # type: ignore[operator]
    total = sf.info(str(one_second)).frames
    reference, _ = render_bytes(one_second, plan, encoding="s16", chunk_frames=total)
    for chunk_frames in (1, 512, 8192, 44_100):
        pcm, sizes = render_bytes(one_second, plan, encoding="s16", chunk_frames=chunk_frames)
        assert sum(sizes) == total
        assert all(size == chunk_frames for size in sizes[:-1])
        assert pcm == reference, f"chunk_frames={chunk_frames}"
    pcm, sizes = render_bytes(one_second, plan, encoding="s16", chunk_frames=4096,
                              first_chunk_frames=100)
    assert sizes[0] == 100 and pcm == reference


def test_chunk_invariance_f32_within_1e_6(one_second: Path) -> None:
    plan = quiet_plan()
    total = sf.info(str(one_second)).frames
    reference = render_array(one_second, plan, chunk_frames=total)
    for chunk_frames in (1, 512, 8192, 44_100):
        out = render_array(one_second, plan, chunk_frames=chunk_frames)
        assert np.max(np.abs(out - reference)) <= 1e-6


@pytest.mark.parametrize("make_plan", [quiet_plan, loud_plan], ids=["quiet", "compressed_loud"])
def test_chunk_invariance_every_stage_carries_its_state(make_plan: object) -> None:
    """The chain itself, cut into irregular blocks, gives the same floats as in one piece."""
    plan = make_plan()  # type: ignore[operator]
    signal = music_like(1.0, RATE, level_dbfs=-8.0)
    whole = build_chain(plan, RATE, 2).process(signal.copy())
    chain = build_chain(plan, RATE, 2)
    cuts = np.cumsum(np.random.default_rng(0).integers(0, 3000, size=40))
    pieces = np.split(signal, cuts[cuts < signal.shape[0]])
    pieced = np.concatenate([chain.process(piece) for piece in pieces])
    assert np.max(np.abs(pieced - whole)) <= 1e-9


@pytest.mark.parametrize("frames", [1, 17, 8192, 8193, 30_000])
@pytest.mark.parametrize("start_s", [0.0, 0.25])
def test_exact_length(tmp_path: Path, frames: int, start_s: float) -> None:
    rng = np.random.default_rng(frames)
    path = write_wav(tmp_path / "n.wav", 0.1 * rng.standard_normal((frames, 2)), RATE)
    plan = quiet_plan()
    start = round(start_s * RATE)
    if start >= frames:
        with pytest.raises(SeekOutOfRange):
            open_render(path, plan, RenderOptions(start_s=start_s))
        return
    with open_render(path, plan, RenderOptions(start_s=start_s, chunk_frames=1000)) as stream:
        assert stream.total_frames == frames - start
        sent = sum(chunk.frames for chunk in stream)
        assert sent == frames - start == stream.summary().frames_sent


def test_exact_length_limiter_lookahead_is_compensated(tmp_path: Path) -> None:
    """A click comes out at the frame it went in: the look-ahead delay is removed."""
    signal = np.zeros((RATE, 2))
    signal[20_000] = 0.5
    path = write_wav(tmp_path / "click.wav", signal, RATE, subtype="FLOAT")
    plan = plan_mastering(input_lufs=-40.0, input_crest_db=30.0, input_true_peak_dbtp=-6.0,
                          fingerprint=None, intensity=0.0)
    assert build_chain(plan, RATE, 2).latency_frames > 0
    out = render_array(path, plan)
    assert out.shape == signal.shape
    assert int(np.argmax(np.abs(out[:, 0]))) == 20_000


@pytest.mark.parametrize(
    ("make_plan", "start_s"), [(quiet_plan, 6.0), (loud_plan, 14.0)],
    ids=["quiet_compressor", "compressed_loud_expander"],
)
def test_seek_matches_the_same_slice_of_an_unseeked_render(
    tmp_path: Path, make_plan: object, start_s: float
) -> None:
    """Both starts lie beyond the pre-roll (3 s; 12 s for the expander's slow make-up), so the
    seeked render really starts decoding mid-track."""
    path = write_wav(tmp_path / "long.wav", music_like(18.0, RATE, level_dbfs=-4.0, seed=5), RATE)
    plan = make_plan()  # type: ignore[operator]
    assert start_s - max(PREROLL_S, build_chain(plan, RATE, 2).settle_s) >= 1.0
    whole = render_array(path, plan)
    seeked = render_array(path, plan, start_s=start_s)
    reference = whole[round(start_s * RATE):]
    assert seeked.shape == reference.shape
    difference_db = 20 * np.log10(
        np.sqrt(np.mean((seeked - reference) ** 2)) / np.sqrt(np.mean(reference**2))
    )
    assert difference_db <= -60.0


@pytest.mark.parametrize("encoding", ["s16", "s24", "f32"])
def test_silence_stays_silence(tmp_path: Path, encoding: str) -> None:
    path = write_wav(tmp_path / "silence.wav", np.zeros((2 * RATE, 2)), RATE)
    plan = plan_mastering(input_lufs=-70.0, input_crest_db=0.0,
                          input_true_peak_dbtp=float("-inf"), fingerprint=None)
    out = render_array(path, plan, encoding=encoding)
    assert out.shape == (2 * RATE, 2)
    assert np.all(out == 0.0)


@pytest.mark.parametrize(
    "name",
    ["full_scale_square", "dc", "impulses", "clipped_noise", "non_finite_float_file"],
)
def test_no_nan_or_inf_on_pathological_input(tmp_path: Path, name: str) -> None:
    frames = RATE
    t = np.arange(frames)
    if name == "full_scale_square":
        mono = np.where((t // 50) % 2 == 0, 1.0, -1.0)
    elif name == "dc":
        mono = np.full(frames, 0.9)
    elif name == "impulses":
        mono = np.zeros(frames)
        mono[::4410] = 1.0
    else:
        mono = np.clip(3.0 * np.random.default_rng(1).standard_normal(frames), -1.0, 1.0)
    signal = np.stack([mono, -mono], axis=1)
    if name == "non_finite_float_file":
        signal[::1000] = np.nan
        signal[500::1000] = np.inf
    path = write_wav(tmp_path / f"{name}.wav", signal, RATE, subtype="FLOAT")
    ceiling = -1.0
    for lufs, crest in ((-30.0, 25.0), (-3.0, 0.0)):
        plan = plan_mastering(input_lufs=lufs, input_crest_db=crest, input_true_peak_dbtp=0.0,
                              fingerprint=busy_fingerprint(stereo_width=0.99,
                                                           phase_correlation=-1.0),
                              true_peak_ceiling_dbtp=ceiling)
        with open_render(path, plan, RenderOptions(encoding="f32")) as stream:
            out = decode_pcm(b"".join(c.pcm for c in stream), "f32", 2)
            summary = stream.summary()
        assert np.all(np.isfinite(out))
        assert np.max(np.abs(out)) <= 10 ** (ceiling / 20) + 1e-6
        assert np.isfinite(summary.output_lufs) and np.isfinite(summary.output_true_peak_dbtp)


def test_mono_stays_mono(tmp_path: Path) -> None:
    mono = music_like(2.0, RATE, level_dbfs=-12.0)[:, :1]
    path = write_wav(tmp_path / "mono.wav", mono, RATE)
    plan = quiet_plan()
    with open_render(path, plan, RenderOptions()) as stream:
        assert stream.channels == 1
        pcm = b"".join(c.pcm for c in stream)
    assert len(pcm) == mono.shape[0] * 2
    # Identical channels stay identical too: the width stage has no side signal to raise.
    dual = write_wav(tmp_path / "dual.wav", np.repeat(mono, 2, axis=1), RATE)
    out = render_array(dual, plan)
    assert np.array_equal(out[:, 0], out[:, 1])


@pytest.mark.parametrize("rate", [8_000, 44_100, 48_000, 96_000, 192_000])
def test_any_sample_rate_8_to_192_khz(tmp_path: Path, rate: int, ffmpeg: str) -> None:
    """Judged by ffmpeg's meter, as the 44.1 kHz compliance tests are (SPEC section 6)."""
    signal = music_like(4.0, rate, level_dbfs=-10.0) * 0.5
    path = write_wav(tmp_path / f"{rate}.wav", signal, rate)
    meter = LoudnessMeter(rate, 2)
    meter.feed(signal)
    plan = plan_mastering(input_lufs=meter.integrated_lufs(), input_crest_db=15.0,
                          input_true_peak_dbtp=meter.true_peak_dbtp(),
                          fingerprint=busy_fingerprint(), target_lufs=-16.0)
    with open_render(path, plan, RenderOptions(encoding="f32")) as stream:
        assert stream.sample_rate == rate
        out = decode_pcm(b"".join(c.pcm for c in stream), "f32", 2)
        summary = stream.summary()
    assert out.shape == signal.shape
    assert np.all(np.isfinite(out))
    rendered = write_wav(tmp_path / f"{rate}-mastered.wav", out, rate, subtype="FLOAT")
    judged = ffmpeg_ebur128(rendered)
    assert abs(judged.integrated_lufs - plan.effective_target_lufs) <= LOUDNESS_TOLERANCE_LU
    assert judged.true_peak_dbtp <= plan.true_peak_ceiling_dbtp + TRUE_PEAK_TOLERANCE_DB
    assert summary.output_true_peak_dbtp <= plan.true_peak_ceiling_dbtp + TRUE_PEAK_TOLERANCE_DB


def test_start_beyond_the_end_is_seek_out_of_range(one_second: Path) -> None:
    with pytest.raises(SeekOutOfRange, match=r"1\.000 s"):
        open_render(one_second, quiet_plan(), RenderOptions(start_s=1.5))
    with pytest.raises(SeekOutOfRange):
        open_render(one_second, quiet_plan(), RenderOptions(start_s=1.0))


def test_more_than_two_channels_is_unsupported_audio(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "three.wav", np.zeros((1000, 3)), RATE)
    with pytest.raises(UnsupportedAudio, match="channels"):
        open_render(path, quiet_plan(), RenderOptions())
    with pytest.raises(UnsupportedAudio, match="channels"):
        open_render(path.read_bytes(), quiet_plan(), RenderOptions())


def _metered(sent: list[bytes]) -> tuple[np.ndarray, LoudnessMeter]:
    """The stereo s16 chunks ``sent`` decoded, and an independent meter fed with them."""
    values = decode_pcm(b"".join(sent), "s16", 2)
    meter = LoudnessMeter(RATE, 2)
    meter.feed(values)
    return values, meter


def test_summary_measures_exactly_what_was_sent(ten_seconds: Path) -> None:
    plan = quiet_plan()
    stream = open_render(ten_seconds, plan, RenderOptions(encoding="s16", chunk_frames=3000))
    sent: list[bytes] = []
    for chunk in stream:
        sent.append(chunk.pcm)
        if len(sent) == 50:
            break  # a cancelled stream: stop at any chunk
    summary = stream.summary()
    stream.close()
    values, meter = _metered(sent)
    assert summary.frames_sent == values.shape[0] == 150_000
    assert summary.output_lufs == pytest.approx(meter.integrated_lufs(), abs=1e-9)
    assert summary.output_true_peak_dbtp == pytest.approx(meter.true_peak_dbtp(), abs=1e-9)


def test_dither_is_a_function_of_seed_and_frame(one_second: Path) -> None:
    plan = quiet_plan()
    first, _ = render_bytes(one_second, plan, encoding="s16", dither_seed=7)
    again, _ = render_bytes(one_second, plan, encoding="s16", dither_seed=7)
    other, _ = render_bytes(one_second, plan, encoding="s16", dither_seed=8)
    assert first == again and first != other


def test_seeked_s16_dither_is_indexed_by_absolute_frame(ten_seconds: Path) -> None:
    """A seeked s16 render is quantised with the dither of the absolute frame index, not of the
    output position. The f32 render of the same seek carries the same chain output (encoding
    never feeds back into the chain), so each s16 sample must be rint(32768·x + d) with d the
    dither of its absolute frame: exactly that wherever float32's rounding of x cannot move the
    result across a rounding boundary, and within half an LSB of 32768·x + d everywhere."""
    plan, seed, start_s = quiet_plan(), 12_345, 4.5
    start_frame = round(start_s * RATE)
    s16, _ = render_bytes(ten_seconds, plan, encoding="s16", start_s=start_s, dither_seed=seed)
    f32, _ = render_bytes(ten_seconds, plan, encoding="f32", start_s=start_s, dither_seed=seed)
    sent = np.frombuffer(s16, dtype="<i2").reshape(-1, 2).astype(np.float64)
    scaled = np.frombuffer(f32, dtype="<f4").reshape(-1, 2).astype(np.float64) * S16_SCALE
    assert np.abs(scaled).max() < S16_SCALE - 1.0, "no clipping: every sample can be predicted"
    frames = sent.shape[0]

    def dither(first_frame: int) -> np.ndarray:
        d = tpdf_dither_lsb(seed, first_frame, frames, 2)
        d[np.abs(scaled) < SILENCE_THRESHOLD * S16_SCALE] = 0.0
        return d

    # float32 keeps 24 bits: |x − float32(x)| ≤ 2⁻²⁴·|x|, i.e. this many LSB after scaling.
    float32_error_lsb = np.abs(scaled) * 2.0**-24 + 1e-9
    for first_frame, must_match in ((start_frame, True), (0, False)):
        target = scaled + dither(first_frame)
        unambiguous = np.abs(np.abs(target - np.floor(target)) - 0.5) > float32_error_lsb
        exact = sent[unambiguous] == np.rint(target[unambiguous])
        within_half_lsb = np.abs(sent - target) <= 0.5 + float32_error_lsb
        if must_match:
            assert unambiguous.mean() > 0.99
            assert exact.all(), f"{np.count_nonzero(~exact)} samples differ"
            assert within_half_lsb.all()
        else:
            # The output-position dither is a different sequence: the test can tell them apart.
            assert exact.mean() < 0.9 and not within_half_lsb.all()


def test_render_to_wav_writes_a_readable_file(tmp_path: Path, one_second: Path) -> None:
    out = tmp_path / "out.wav"
    progress: list[int] = []
    summary = render_to_wav(one_second, out, quiet_plan(), RenderOptions(chunk_frames=10_000),
                            progress=lambda done, total: progress.append(done))
    data, rate = sf.read(str(out))
    assert rate == RATE and data.shape == (sf.info(str(one_second)).frames, 2)
    assert summary.frames_sent == data.shape[0] and progress[-1] == data.shape[0]


def _damaged_vorbis(source: Path, folder: Path) -> Path:
    """``source`` as Ogg Vorbis with 64 bytes flipped mid-file: decoding fails part-way."""
    vorbis = folder / "source.ogg"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(source), "-c:a",
                    "libvorbis", str(vorbis)], check=True)
    data = bytearray(vorbis.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    damaged = folder / "damaged.ogg"
    damaged.write_bytes(bytes(data))
    return damaged


def test_a_failed_render_leaves_the_earlier_output_as_it_was(tmp_path: Path,
                                                             ten_seconds: Path) -> None:
    damaged = _damaged_vorbis(ten_seconds, tmp_path)
    out = tmp_path / "out.wav"
    out.write_bytes(b"an earlier render")
    with pytest.raises(UnsupportedAudio, match="data is missing"):
        render_to_wav(damaged, out, quiet_plan(), RenderOptions())
    assert out.read_bytes() == b"an earlier render"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.ogg", "out.wav",
                                                          "source.ogg"]


def test_an_output_keeps_its_permissions_and_a_link_its_target(tmp_path: Path,
                                                               one_second: Path) -> None:
    kept = tmp_path / "kept.wav"
    kept.write_bytes(b"old")
    kept.chmod(0o640)
    target = tmp_path / "target.wav"
    target.write_bytes(b"old")
    link = tmp_path / "link.wav"
    link.symlink_to(target)
    for out in (kept, link):
        render_to_wav(one_second, out, quiet_plan(), RenderOptions())
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640 and sf.info(str(kept)).frames > 0
    assert link.is_symlink() and sf.info(str(target)).frames == sf.info(str(kept)).frames
    fresh = tmp_path / "fresh.wav"
    render_to_wav(one_second, fresh, quiet_plan(), RenderOptions())
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask


def test_a_pipe_as_output_is_written_in_place(tmp_path: Path, one_second: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    summary = render_to_wav(one_second, fifo, quiet_plan(), RenderOptions())
    reader.join(timeout=30)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert len(received[0]) == summary.bytes_sent > 0


def test_a_stream_iterates_once_and_closes_its_reader(
    one_second: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[AudioReader] = []
    close_reader = AudioReader.close

    def recording_close(reader: AudioReader) -> None:
        closed.append(reader)
        close_reader(reader)

    monkeypatch.setattr(AudioReader, "close", recording_close)
    stream: RenderStream = open_render(one_second, quiet_plan(), RenderOptions())
    next(iter(stream))
    with pytest.raises(RuntimeError):
        iter(stream)
    assert not closed, "the reader is closed only when the stream is"
    stream.close()
    assert len(closed) == 1, "close() closes the stream's reader"
    stream.close()
    assert len(closed) == 1, "a second close() is a no-op"


def test_quiet_sine_input_reaches_its_target(tmp_path: Path) -> None:
    """A plain sanity check of gain and limiter together (the compliance suite uses ffmpeg)."""
    signal = sine(440.0, -30.0, 5.0, RATE)
    path = write_wav(tmp_path / "tone.wav", signal, RATE)
    meter = LoudnessMeter(RATE, 2)
    meter.feed(signal)
    plan = plan_mastering(input_lufs=meter.integrated_lufs(), input_crest_db=3.0,
                          input_true_peak_dbtp=meter.true_peak_dbtp(), fingerprint=None)
    with open_render(path, plan, RenderOptions()) as stream:
        for _ in stream:
            pass
        summary = stream.summary()
    assert abs(summary.output_lufs - plan.effective_target_lufs) <= 0.5


def test_batches_are_the_chunks_grouped_by_processing_step(ten_seconds: Path) -> None:
    options = RenderOptions(encoding="s16", chunk_frames=1000)
    with open_render(ten_seconds, quiet_plan(), options) as stream:
        one_by_one = list(stream)
    with open_render(ten_seconds, quiet_plan(), options) as stream:
        batches = list(stream.batches())
    chunks = [chunk for batch in batches for chunk in batch]
    assert chunks == one_by_one
    assert all(batch for batch in batches)
    # 10 s in 1000-frame chunks, but one hand-off per 32 768-frame step.
    assert len(batches) < len(chunks) / 10


def test_a_batch_counts_as_sent_when_it_is_handed_out(ten_seconds: Path) -> None:
    stream = open_render(ten_seconds, quiet_plan(), RenderOptions(encoding="s16",
                                                                   chunk_frames=3000))
    sent: list[bytes] = []
    for batch in stream.batches():
        sent += [chunk.pcm for chunk in batch]
        if len(sent) >= 50:
            break  # a cancelled stream: stop after any step
    summary = stream.summary()
    stream.close()
    values, meter = _metered(sent)
    assert summary.frames_sent == values.shape[0] == 3000 * len(sent)
    assert summary.output_lufs == pytest.approx(meter.integrated_lufs(), abs=1e-9)


def test_a_stream_is_iterated_once_whichever_way(ten_seconds: Path) -> None:
    with open_render(ten_seconds, quiet_plan(), RenderOptions()) as stream:
        iter(stream)
        with pytest.raises(RuntimeError, match="only once"):
            stream.batches()
