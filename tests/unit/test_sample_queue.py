"""The decoder's sample queue: decoded frames in, exact float64 blocks out, whatever the frames'
sizes and sample formats."""

from __future__ import annotations

from typing import Any

import av
import numpy as np
import pytest

from shared.audio import _SampleQueue
from shared.errors import UnsupportedAudio

RATE = 44_100


def _frame(values: np.ndarray, fmt: str, layout: str = "stereo") -> Any:
    """An FFmpeg frame holding ``values`` (``(channels, samples)``) in ``fmt``."""
    frame = av.AudioFrame.from_ndarray(values, format=fmt, layout=layout)
    frame.sample_rate = RATE
    frame.pts = 12_345  # a decoder's timestamp: the queue counts positions itself
    return frame


def _s16(samples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-32768, 32767, (2, samples), dtype=np.int16)


def test_blocks_are_the_frames_samples_in_order_and_to_scale() -> None:
    pieces = [_s16(n, seed) for seed, n in enumerate([576, 1152, 1152, 300, 4000])]
    queue = _SampleQueue(2, RATE)
    for piece in pieces:
        queue.put(_frame(piece, "s16p"))
    expected = np.concatenate(pieces, axis=1).T / 32768.0
    blocks = [queue.take(1000) for _ in range(7)] + [queue.take(queue.frames)]
    assert [b.shape[0] for b in blocks] == [1000] * 7 + [180]
    assert np.array_equal(np.concatenate(blocks), expected)
    assert queue.frames == 0


def test_skip_drops_the_start_of_the_first_frame() -> None:
    piece = _s16(1152, 1)
    queue = _SampleQueue(2, RATE)
    queue.put(_frame(piece, "s16p"), skip=100)
    assert np.array_equal(queue.take(queue.frames), piece[:, 100:].T / 32768.0)


def test_a_sample_format_change_mid_stream_keeps_every_sample() -> None:
    first = _s16(700, 2)
    second = np.random.default_rng(3).uniform(-1, 1, (2, 900)).astype(np.float32)
    third = _s16(500, 4)
    queue = _SampleQueue(2, RATE)
    queue.put(_frame(first, "s16p"))
    queue.put(_frame(second, "fltp"))
    queue.put(_frame(_packed(third), "s16"))  # interleaved this time
    expected = np.concatenate([first.T / 32768.0, second.T.astype(np.float64)[:],
                               third.T / 32768.0])
    out = np.concatenate([queue.take(512) for _ in range(4)] + [queue.take(queue.frames)])
    assert np.array_equal(out, expected)


def _packed(values: np.ndarray) -> np.ndarray:
    """``(channels, samples)`` as the one interleaved row a packed frame holds."""
    return np.ascontiguousarray(values.T).reshape(1, -1)


def test_float_samples_are_cleaned_of_nan_and_overs() -> None:
    values = np.array([[0.5, np.nan, 1e9], [np.inf, -0.25, -1e9]], dtype=np.float32)
    queue = _SampleQueue(2, RATE)
    queue.put(_frame(values, "fltp"))
    block = queue.take(3)
    # NaN and infinities to 0, beyond ±2¹⁵ clamped, everything else as it was.
    assert np.array_equal(block, [[0.5, 0.0], [0.0, -0.25], [2.0**15, -(2.0**15)]])


def test_a_channel_count_change_mid_stream_is_unsupported_audio() -> None:
    queue = _SampleQueue(2, RATE)
    queue.put(_frame(_s16(100, 5), "s16p"))
    with pytest.raises(UnsupportedAudio, match="channel count changes mid-stream"):
        queue.put(_frame(_s16(100, 6)[:1], "s16p", layout="mono"))


def _at_rate(frame: Any, rate: int) -> Any:
    frame.sample_rate = rate
    return frame


@pytest.mark.parametrize("second_format", ["s16p", "fltp"])
def test_a_sample_rate_change_mid_stream_is_unsupported_audio(second_format: str) -> None:
    queue = _SampleQueue(2, RATE)
    queue.put(_frame(_s16(100, 7), "s16p"))
    values = _s16(100, 8) if second_format == "s16p" else np.zeros((2, 100), np.float32)
    with pytest.raises(UnsupportedAudio, match="sample rate changes mid-stream"):
        queue.put(_at_rate(_frame(values, second_format), 48_000))


def test_a_first_frame_at_another_rate_than_the_streams_is_unsupported_audio() -> None:
    queue = _SampleQueue(2, RATE)
    with pytest.raises(UnsupportedAudio, match="sample rate changes mid-stream"):
        queue.put(_at_rate(_frame(_s16(100, 9), "s16p"), 48_000))
