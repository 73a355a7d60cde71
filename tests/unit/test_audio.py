"""The one decoder: formats, block reads, seeking and its typed errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from shared.audio import open_audio, probe
from shared.errors import UnsupportedAudio
from tests.signals import sine

RATE = 48_000

# (format, subtype, lossless): every format the SPEC names.
FORMATS = [
    ("WAV", "PCM_16", True),
    ("FLAC", "PCM_24", True),
    ("OGG", "VORBIS", False),
    ("OGG", "OPUS", False),
    ("MP3", "MPEG_LAYER_III", False),
]


def _write(path: Path, signal: np.ndarray, fmt: str, subtype: str) -> None:
    if fmt == "MP3":
        # MP3 as it is found in the wild: encoded by ffmpeg's LAME, not by libsndfile.
        wav = path.with_suffix(".wav")
        sf.write(str(wav), signal, RATE, subtype="PCM_16")
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), str(path)],
                       check=True)
        return
    sf.write(str(path), signal, RATE, format=fmt, subtype=subtype)


@pytest.mark.parametrize(("fmt", "subtype", "lossless"), FORMATS,
                         ids=[f"{f}-{s}" for f, s, _ in FORMATS])
def test_each_supported_format_decodes_in_blocks(
    tmp_path: Path, fmt: str, subtype: str, lossless: bool, ffmpeg: str
) -> None:
    signal = sine(440.0, -6.0, 2.0, RATE, 2)
    path = tmp_path / f"track.{fmt.lower()}"
    _write(path, signal, fmt, subtype)
    with open_audio(path) as reader:
        assert reader.info.channels == 2
        assert reader.info.sample_rate == RATE
        blocks = list(reader.blocks(block_frames=4096))
    assert all(b.shape[0] <= 4096 and b.shape[1] == 2 for b in blocks)
    decoded = np.concatenate(blocks)
    assert decoded.dtype == np.float64
    # Lossy codecs add encoder delay/padding of up to a couple of frames of 1152 samples.
    assert abs(decoded.shape[0] - signal.shape[0]) <= (0 if lossless else 4096)
    if lossless:
        np.testing.assert_allclose(decoded, signal, atol=2.0 / 32768)
    else:
        rms = np.sqrt(np.mean(decoded**2))
        assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.1)


def test_in_memory_content_decodes_like_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.flac"
    sf.write(str(path), sine(1000.0, -10.0, 0.5, RATE, 1), RATE, format="FLAC")
    with open_audio(path) as from_file, open_audio(path.read_bytes()) as from_bytes:
        a = np.concatenate(list(from_file.blocks()))
        b = np.concatenate(list(from_bytes.blocks()))
    np.testing.assert_array_equal(a, b)


def test_start_and_stop_frames_select_a_slice(tmp_path: Path) -> None:
    signal = sine(100.0, -6.0, 1.0, RATE, 2)
    path = tmp_path / "a.wav"
    sf.write(str(path), signal, RATE, subtype="FLOAT")
    with open_audio(path) as reader:
        part = np.concatenate(list(reader.blocks(1000, start_frame=12_345, stop_frame=20_000)))
    np.testing.assert_array_equal(part, signal[12_345:20_000].astype(np.float32))


def test_non_finite_samples_are_replaced_by_zero(tmp_path: Path) -> None:
    signal = np.zeros((100, 1))
    signal[10] = np.nan
    signal[20] = np.inf
    path = tmp_path / "bad.wav"
    sf.write(str(path), signal, RATE, subtype="FLOAT")
    with open_audio(path) as reader:
        decoded = np.concatenate(list(reader.blocks()))
    assert np.isfinite(decoded).all()


def test_text_file_is_unsupported_with_the_decoders_reason(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 50)
    with pytest.raises(UnsupportedAudio, match="cannot decode audio") as caught:
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
