"""The one decoder: formats, exact frame counts, block reads, seeking, cleaning, typed errors."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from shared.audio import SAMPLE_LIMIT, open_audio, probe
from shared.errors import UnsupportedAudio
from tests.input_formats import FORMAT_IDS, FORMATS, InputFormat, encode, ffmpeg_decode
from tests.signals import music_like, sine

RATE = 44_100


@pytest.fixture(scope="module")
def source_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("src") / "source.wav"
    sf.write(str(path), music_like(4.0, RATE, seed=3), RATE, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def encoded(source_wav: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("enc")
    return {fmt.name: encode(source_wav, out, fmt) for fmt in FORMATS}


def _decode(path: Path | bytes, **blocks: int) -> np.ndarray:
    with open_audio(path) as reader:
        return np.concatenate(list(reader.blocks(**blocks)))


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_each_format_decodes_what_ffmpeg_decodes(
    encoded: dict[str, Path], fmt: InputFormat
) -> None:
    path = encoded[fmt.name]
    reference = ffmpeg_decode(path)
    with open_audio(path) as reader:
        assert reader.info.codec == fmt.codec
        assert reader.info.frames == reference.shape[0]
        assert reader.info.channels == 2
        assert reader.info.bit_rate_bps > 0
        blocks = list(reader.blocks(block_frames=4096))
    assert all(b.shape == (4096, 2) for b in blocks[:-1])
    decoded = np.concatenate(blocks)
    assert decoded.dtype == np.float64
    assert decoded.shape == reference.shape
    np.testing.assert_allclose(decoded, reference, atol=1e-6)


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_seek_yields_what_decoding_from_zero_and_dropping_yields(
    encoded: dict[str, Path], fmt: InputFormat
) -> None:
    path = encoded[fmt.name]
    with open_audio(path) as reader:
        whole = np.concatenate(list(reader.blocks()))
        for start in (1, 40_000, 100_003, reader.info.frames - 1_000):
            part = np.concatenate(list(reader.blocks(8192, start_frame=start,
                                                     stop_frame=start + 30_000)))
            np.testing.assert_array_equal(part, whole[start : start + 30_000])


def test_mono_stays_mono(tmp_path: Path) -> None:
    path = tmp_path / "mono.flac"
    sf.write(str(path), sine(440.0, -6.0, 0.5, RATE, 1), RATE)
    with open_audio(path) as reader:
        assert reader.info.channels == 1
        assert np.concatenate(list(reader.blocks())).shape == (RATE // 2, 1)


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_every_sample_format_maps_to_full_scale(tmp_path: Path, subtype: str) -> None:
    signal = np.array([[0.0, -1.0], [0.5, -0.5], [-0.25, 0.75]])
    path = tmp_path / "formats.wav"
    sf.write(str(path), signal, RATE, subtype=subtype)
    np.testing.assert_allclose(_decode(path), signal, atol=1.0 / 128)
    if subtype != "PCM_U8":
        np.testing.assert_allclose(_decode(path), signal, atol=1.0 / 32768)


def test_in_memory_content_decodes_like_the_file(encoded: dict[str, Path]) -> None:
    path = encoded["opus"]
    np.testing.assert_array_equal(_decode(path), _decode(path.read_bytes()))


def test_start_and_stop_frames_select_a_slice(tmp_path: Path) -> None:
    signal = sine(100.0, -6.0, 1.0, RATE, 2)
    path = tmp_path / "a.wav"
    sf.write(str(path), signal, RATE, subtype="FLOAT")
    part = _decode(path, block_frames=1000, start_frame=12_345, stop_frame=20_000)
    np.testing.assert_array_equal(part, signal[12_345:20_000].astype(np.float32))


def test_non_finite_samples_are_replaced_by_zero(tmp_path: Path) -> None:
    signal = np.full((100, 1), 0.25)
    signal[10], signal[20], signal[30] = np.nan, np.inf, -np.inf
    path = tmp_path / "bad.wav"
    sf.write(str(path), signal, RATE, subtype="FLOAT")
    expected = signal.copy()
    expected[[10, 20, 30]] = 0.0
    np.testing.assert_array_equal(_decode(path), expected)


def test_huge_finite_samples_are_clamped_to_the_sample_limit(tmp_path: Path) -> None:
    signal = np.array([[3e38], [-3e38], [0.5], [SAMPLE_LIMIT * 2]])
    path = tmp_path / "huge.wav"
    sf.write(str(path), signal, RATE, subtype="FLOAT")
    np.testing.assert_array_equal(
        _decode(path), [[SAMPLE_LIMIT], [-SAMPLE_LIMIT], [0.5], [SAMPLE_LIMIT]]
    )


def test_truncated_file_counts_what_decodes(encoded: dict[str, Path], tmp_path: Path) -> None:
    data = encoded["mp3"].read_bytes()
    path = tmp_path / "truncated.mp3"
    path.write_bytes(data[: len(data) // 2])
    expected = ffmpeg_decode(path).shape[0]
    with open_audio(path) as reader:
        assert reader.info.frames == expected
        assert sum(b.shape[0] for b in reader.blocks()) == expected


def test_known_frames_is_taken_as_the_count(encoded: dict[str, Path]) -> None:
    with open_audio(encoded["vorbis"], known_frames=1234) as reader:
        assert reader.info.frames == 1234
        assert sum(b.shape[0] for b in reader.blocks()) == 1234


def test_damaged_stream_is_unsupported_not_short(encoded: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(encoded["vorbis"].read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    path = tmp_path / "damaged.ogg"
    path.write_bytes(bytes(data))
    with pytest.raises(UnsupportedAudio, match="data is missing"), open_audio(path) as reader:
        for _ in reader.blocks():
            pass


def test_text_file_is_unsupported_with_the_decoders_reason(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 50)
    with pytest.raises(UnsupportedAudio, match=r"cannot decode audio: .+") as caught:
        probe(path)
    assert str(tmp_path) not in str(caught.value)


def test_zero_frame_file_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    sf.write(str(path), np.zeros((0, 2)), RATE)
    with pytest.raises(UnsupportedAudio, match="zero audio frames"):
        probe(path)


def test_too_many_channels_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "three.wav"
    sf.write(str(path), np.zeros((100, 3)), RATE)
    with pytest.raises(UnsupportedAudio, match="too many channels: 3"):
        probe(path, max_channels=2)
    assert probe(path, max_channels=8).channels == 3


#: Every PCM layout libsndfile reads for the decoder: integers are read as integers and scaled
#: by a power of two, floats straight as float64.
PCM_LAYOUTS = [("WAV", "PCM_U8"), ("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "PCM_32"),
               ("WAV", "FLOAT"), ("WAV", "DOUBLE"), ("AIFF", "PCM_S8"), ("AIFF", "PCM_16"),
               ("AIFF", "PCM_24"), ("AIFF", "PCM_32")]


@pytest.mark.parametrize(("container", "subtype"), PCM_LAYOUTS,
                         ids=[f"{c.lower()}-{s.lower()}" for c, s in PCM_LAYOUTS])
def test_pcm_decodes_to_libsndfiles_own_float64_values(
    tmp_path: Path, container: str, subtype: str
) -> None:
    samples = np.clip(np.random.default_rng(9).standard_normal((30_011, 2)) * 0.4, -1.0, 1.0)
    path = tmp_path / f"track.{container.lower()}"
    sf.write(str(path), samples, RATE, subtype=subtype, format=container)
    expected = sf.read(str(path), dtype="float64", always_2d=True)[0]
    np.testing.assert_array_equal(_decode(path, block_frames=7_000), expected)


#: Containers whose header alone describes the stream (opened without FFmpeg's packet probe),
#: with codecs and layouts beyond plain 16-bit PCM: each must decode as ffmpeg decodes it.
HEADER_DESCRIBED = {
    "wav-adpcm-ms": ("-c:a", "adpcm_ms", "-f", "wav"),
    "wav-mp3": ("-c:a", "libmp3lame", "-f", "wav"),
    "rf64-s24": ("-c:a", "pcm_s24le", "-rf64", "always", "-f", "wav"),
    "wav-f32-extensible": ("-c:a", "pcm_f32le", "-ac", "2", "-f", "wav"),
    "aifc-f32": ("-c:a", "pcm_f32be", "-f", "aiff"),
}


@pytest.mark.parametrize("args", HEADER_DESCRIBED.values(), ids=HEADER_DESCRIBED.keys())
def test_header_described_containers_decode_like_ffmpeg(
    source_wav: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    path = tmp_path / "track.bin"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(source_wav), *args,
                    str(path)], check=True)
    expected = ffmpeg_decode(path)
    info = probe(path)
    assert (info.frames, info.channels, info.sample_rate) == (expected.shape[0], 2, RATE)
    assert np.abs(_decode(path) - expected).max() < 1e-6


def test_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(UnsupportedAudio, match="not a regular file"):
        probe(fifo)
    assert time.monotonic() - started < 1.0


def test_a_file_being_appended_to_is_read_up_to_its_size_at_open(tmp_path: Path) -> None:
    # A WAV written to a pipe has no length: only the bound ends the read.
    path = tmp_path / "growing.wav"
    with path.open("wb") as out:
        subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=d=1",
                        "-ac", "1", "-f", "wav", "-"], check=True, stdout=out)
    stop = threading.Event()
    counted: list[int] = []

    def append() -> None:
        with path.open("ab") as out:
            while not stop.is_set():
                out.write(b"\x01\x02" * 2048)
                out.flush()

    def read() -> None:
        with open_audio(path) as reader:
            counted.append(reader.info.frames)
            counted.append(sum(b.shape[0] for b in reader.blocks()))

    writer = threading.Thread(target=append, daemon=True)
    writer.start()
    try:
        time.sleep(0.05)
        reading = threading.Thread(target=read, daemon=True)
        reading.start()
        reading.join(timeout=30)
        assert not reading.is_alive(), "the read follows the writer instead of ending"
    finally:
        stop.set()
        writer.join()
    assert counted[0] == counted[1] > 0


def test_a_path_longer_than_1024_characters_opens(tmp_path: Path) -> None:
    directory = tmp_path
    while len(str(directory)) < 1100:
        directory = directory / ("d" * 200)
    directory.mkdir(parents=True)
    path = directory / "long.flac"
    with path.open("wb") as out:  # libsndfile itself refuses such a path
        sf.write(out, sine(440.0, -6.0, 0.25, RATE, 2), RATE, format="FLAC")
    assert probe(path).frames == RATE // 4
