"""Sample-level statistics per 100 ms frame: silence, peaks, RMS and crest factor, streamed.

Used by the fingerprint (crest_db, silence_ratio, per-second statistics) and by the mastering
service's own quick analysis. Frames are the same 100 ms grid as the loudness meter's
(``floor(k · fs / 10)``) and may straddle ``feed`` calls; the results never depend on the block
sizes. Levels are plain ``20 · log10(amplitude)`` dBFS: a full-scale sine has an RMS of −3.01 dBFS.

Two RMS figures are kept per frame, for two different questions:

- **mono-mix RMS** (mean of the channels) decides silence, as SPEC section 4 defines it;
- **channel RMS** (the power mean over all channels) is the level in the crest factor. Speakers
  playing uncorrelated channels add in power at the listener, so this is the level actually
  heard; the mono mix would read 3 dB low for independent L/R noise (and nothing at all for
  L = −R) while the peaks, which the limiter acts on, are per channel.

So ``crest_db`` = 20·log10(sample peak over all channels / channel RMS over the frames whose
channel RMS is at least −60 dBFS). A 1 kHz stereo sine reads 3.01 dB; a full-scale square 0 dB.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from shared._kernels import level_segments
from shared.blocks import FloatArray, FrameAccumulator, as_block
from shared.loudness import LEVEL_FLOOR_DB

#: A 100 ms frame whose RMS is below this is silent (SPEC section 4).
SILENCE_DBFS = -60.0
#: A trailing partial frame counts as a frame when it is at least this long (half a frame).
MIN_PARTIAL_FRAME_S = 0.05

# Columns of the frame accumulator.
_MONO_SQUARES, _CHANNEL_SQUARES = 0, 1


def _to_db(power: FloatArray) -> FloatArray:
    """Mean square → dBFS, floored at LEVEL_FLOOR_DB (finite for digital silence)."""
    floor = 10.0 ** (LEVEL_FLOOR_DB / 10.0)
    return np.asarray(10.0 * np.log10(np.maximum(power, floor)), dtype=np.float64)


class LevelMeter:
    """Streaming per-100 ms level statistics of a ``(frames, channels)`` float stream."""

    def __init__(self, sample_rate: int, channels: int) -> None:
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        if channels < 1:
            raise ValueError(f"channels must be at least 1, got {channels}")
        self.sample_rate = sample_rate
        self.channels = channels
        self._frames = FrameAccumulator(sample_rate, sum_columns=2, max_columns=1)

    def feed(self, block: NDArray[np.float64]) -> None:
        x = as_block(block, self.channels)
        n = x.shape[0]
        if n == 0:
            return
        # One pass per block: the squared mono mix (each channel scaled by 1/channels before
        # the sum) and the channel power (Σ x_c² / channels) summed per piece of a frame, and
        # the largest |x| of each piece.
        starts = self._frames.segment_starts(n)
        sums = np.empty((starts.size, 2))
        maxima = np.empty((starts.size, 1))
        level_segments(x, starts, sums, maxima[:, 0])
        self._frames.add_segments(n, sums, maxima)

    # per-frame arrays ---------------------------------------------------------------------------

    def _counted(self) -> tuple[FloatArray, FloatArray, NDArray[np.int64]]:
        """Sums, maxima and lengths of the frames that count: every complete frame, plus the
        one in progress if it is at least 50 ms long (or if it is all there is)."""
        acc = self._frames
        sums, maxima, lengths = acc.sums, acc.maxima, acc.frame_lengths()
        partial = acc.partial_frames
        if partial and (partial >= MIN_PARTIAL_FRAME_S * self.sample_rate or acc.complete == 0):
            sums = np.vstack([sums, acc.partial_sums])
            maxima = np.vstack([maxima, acc.partial_maxima])
            lengths = np.append(lengths, partial)
        return sums, maxima, lengths

    def frame_rms_db(self) -> FloatArray:
        """RMS of the mono mix per 100 ms frame, dBFS (floor −200)."""
        sums, _, lengths = self._counted()
        return _to_db(sums[:, _MONO_SQUARES] / np.maximum(lengths, 1))

    def frame_channel_rms_db(self) -> FloatArray:
        """RMS over all channels (power mean) per 100 ms frame, dBFS (floor −200)."""
        sums, _, lengths = self._counted()
        return _to_db(sums[:, _CHANNEL_SQUARES] / np.maximum(lengths, 1))

    def frame_peak(self) -> FloatArray:
        """Sample peak (max |x| over all channels) per 100 ms frame, linear."""
        _, maxima, _ = self._counted()
        return np.asarray(maxima[:, 0], dtype=np.float64)

    # summaries -------------------------------------------------------------------------------

    def sample_peak(self) -> float:
        """Largest |x| over all channels so far, linear."""
        acc = self._frames
        peaks = [float(acc.maxima.max(initial=0.0)), float(acc.partial_maxima.max(initial=0.0))]
        return max(peaks)

    def silence_ratio(self) -> float:
        """Share of 100 ms frames whose mono-mix RMS is below −60 dBFS (0.0 for no audio)."""
        rms_db = self.frame_rms_db()
        if rms_db.size == 0:
            return 0.0
        return float(np.count_nonzero(rms_db < SILENCE_DBFS) / rms_db.size)

    def crest_db(self) -> float:
        """20·log10(sample peak / channel RMS of the non-silent frames); 0.0 when all is silent.

        Always ≥ 0: the peak covers every sample, so no RMS of any subset can exceed it.
        """
        sums, _, lengths = self._counted()
        audible = _to_db(sums[:, _CHANNEL_SQUARES] / np.maximum(lengths, 1)) >= SILENCE_DBFS
        if not audible.any():
            return 0.0
        power = float(sums[audible, _CHANNEL_SQUARES].sum() / lengths[audible].sum())
        peak = self.sample_peak()
        return max(0.0, 20.0 * math.log10(peak) - 10.0 * math.log10(power))
