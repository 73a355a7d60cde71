"""Streaming short-time Fourier analysis of the mono mix (SPEC section 4, "Spectra").

A Hann window of about 46 ms, rounded up to the next power of two, with a 50 % hop, at the
track's native rate. Frame ``i`` covers samples ``[i·hop, i·hop + n_fft)``; the last frames are
completed with zeros, and even a track shorter than one window yields one frame. Frames
straddle decode blocks: the framer analyses frames in batches of the same size aligned to the
start of the track (the cells of a ``shared.blocks.GridBuffer``, which carries the unconsumed
samples), so every number it produces is independent of how the decoder split the audio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from shared._kernels import stft_power
from shared.blocks import GridBuffer
from shared.fingerprint import BAND_EDGES_HZ, BAND_TOP_HZ
from shared.levels import SILENCE_DBFS

FloatArray = NDArray[np.float64]
Float32Array = NDArray[np.float32]

#: Analysis window length before rounding up to a power of two (2048 samples at 44.1 kHz).
WINDOW_S = 0.046
#: Frames are analysed this many at a time: large enough to amortise the FFT call, small
#: enough (a few MB at 192 kHz) to stay out of the memory budget.
FRAMES_PER_BATCH = 256
#: The analysis band (SPEC: shares, centroid and rolloff start at 20 Hz and end at 20 kHz, or
#: Nyquist if lower): the fingerprint's band edges.
ANALYSIS_LOW_HZ = BAND_EDGES_HZ[0]
ANALYSIS_HIGH_HZ = BAND_TOP_HZ
#: A frame whose RMS is below this is silent (SPEC section 4).
SILENCE_RMS = 10.0 ** (SILENCE_DBFS / 20.0)
#: Floor of the log power spectrum (−120 dB re a full-scale sine's bin): keeps log() finite on
#: exact zeros, far below anything a frame above the silence gate puts in a bin.
LOG_POWER_FLOOR = 1e-12


@dataclass(frozen=True, slots=True)
class StftConfig:
    """Frame geometry for one sample rate.

    ``band`` selects the rfft bins whose centre frequency lies in the analysis band
    ``[ANALYSIS_LOW_HZ, top_hz]``; ``freqs_hz`` are the centre frequencies of those bins.
    ``twiddles``: cos and sin of 2πk/n_fft for k < n_fft/2, the FFT's table.
    """

    sample_rate: int
    n_fft: int
    hop: int
    top_hz: float
    band: slice
    freqs_hz: FloatArray = field(repr=False)
    twiddles: Float32Array = field(repr=False)

    @property
    def frame_rate_hz(self) -> float:
        return self.sample_rate / self.hop

    @property
    def bin_hz(self) -> float:
        return self.sample_rate / self.n_fft

    def frame_count(self, total_samples: int) -> int:
        """Number of frames the framer yields for ``total_samples`` samples (at least one)."""
        if total_samples <= self.n_fft:
            return 1
        return math.ceil((total_samples - self.n_fft) / self.hop) + 1


def stft_config(sample_rate: int) -> StftConfig:
    """Frame geometry at ``sample_rate``: n_fft = next power of two ≥ 46 ms, hop = n_fft / 2."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    n_fft = 1 << max(1, math.ceil(math.log2(WINDOW_S * sample_rate)))
    top_hz = min(ANALYSIS_HIGH_HZ, sample_rate / 2.0)
    bin_hz = sample_rate / n_fft
    first = math.ceil(ANALYSIS_LOW_HZ / bin_hz)
    last = math.floor(top_hz / bin_hz)
    band = slice(first, last + 1)
    freqs = np.arange(first, last + 1, dtype=np.float64) * bin_hz
    angles = 2.0 * np.pi * np.arange(n_fft // 2) / n_fft
    twiddles = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    return StftConfig(sample_rate, n_fft, n_fft // 2, top_hz, band, freqs, twiddles)


@dataclass(frozen=True, slots=True)
class SpectralFrames:
    """A batch of analysed frames.

    ``power``: ``(frames, bins)`` float32 power spectrum over the analysis band, scaled so that
    a full-scale sine centred on a bin reads 1.0 in that bin. ``log_power``: its natural log,
    floored at ``LOG_POWER_FLOOR`` (the geometric mean of the flatness needs it).
    ``rms``: ``(frames,)`` RMS of the un-windowed frame samples. ``first_index``: index of the
    first frame in the track.
    """

    power: Float32Array
    log_power: Float32Array
    rms: FloatArray
    first_index: int

    @property
    def count(self) -> int:
        return int(self.rms.shape[0])

    @property
    def non_silent(self) -> NDArray[np.bool_]:
        return np.asarray(self.rms >= SILENCE_RMS, dtype=np.bool_)


def analyse_frames(
    samples: Float32Array, config: StftConfig, window: Float32Array, count: int
) -> tuple[Float32Array, FloatArray]:
    """Power spectra (analysis band) and RMS of ``count`` frames starting at ``samples[0]``.

    ``samples`` must hold at least ``(count − 1)·hop + n_fft`` values.
    """
    n_fft, hop = config.n_fft, config.hop
    # n_fft = 2·hop: a frame's energy is the sum of its two half-frames' energies.
    halves = samples[: (count + 1) * hop].reshape(count + 1, hop)
    half_energy = np.einsum("ij,ij->i", halves, halves, dtype=np.float64)
    rms = np.sqrt((half_energy[:-1] + half_energy[1:]) / n_fft)
    power = np.empty((count, config.band.stop - config.band.start), dtype=np.float32)
    scale = (2.0 / float(window.sum(dtype=np.float64))) ** 2
    stft_power(np.ascontiguousarray(samples[: (count - 1) * hop + n_fft]), window, hop,
               config.twiddles, config.band.start, scale, power)
    return power, rms


def log_power(power: Float32Array) -> Float32Array:
    """Natural log of a power spectrum, floored at ``LOG_POWER_FLOOR``."""
    floored = np.maximum(power, np.float32(LOG_POWER_FLOOR))
    return np.log(floored, out=floored)


class StftFramer:
    """Cuts a stream of mono samples into analysed frame batches; state carried across feeds.

    A batch of ``frames_per_batch`` frames advances ``frames_per_batch · hop`` samples and reads
    ``n_fft − hop`` more: batches are the overlapping cells of a float32 ``GridBuffer``.
    """

    def __init__(self, sample_rate: int, *, frames_per_batch: int = FRAMES_PER_BATCH) -> None:
        self.config = stft_config(sample_rate)
        self._batch = frames_per_batch
        self._window = np.hanning(self.config.n_fft + 1)[:-1].astype(np.float32)  # periodic Hann
        hop = self.config.hop
        self._samples = GridBuffer(
            frames_per_batch * hop, overlap_frames=self.config.n_fft - hop, dtype=np.float32
        )
        self._next_frame = 0

    @property
    def total_samples(self) -> int:
        """Samples fed so far."""
        return self._samples.frames

    def _span(self, count: int) -> int:
        return (count - 1) * self.config.hop + self.config.n_fft

    def feed(self, mono: FloatArray) -> list[SpectralFrames]:
        """Add mono samples; return every complete batch they finish (often none)."""
        return [self._take(samples, self._batch) for samples in self._samples.push(mono)]

    def finish(self) -> list[SpectralFrames]:
        """Analyse the remaining frames, zero-padding the end. Call once, after the last feed."""
        remaining = self.config.frame_count(self.total_samples) - self._next_frame
        held = self._samples.pending()
        tail = np.zeros(max(held.shape[0], self._span(remaining)), dtype=np.float32)
        tail[: held.shape[0]] = held
        batches: list[SpectralFrames] = []
        start = 0
        while remaining > 0:
            count = min(self._batch, remaining)
            batches.append(self._take(tail[start : start + self._span(count)], count))
            start += count * self.config.hop
            remaining -= count
        return batches

    def _take(self, samples: Float32Array, count: int) -> SpectralFrames:
        power, rms = analyse_frames(samples, self.config, self._window, count)
        batch = SpectralFrames(power, log_power(power), rms, self._next_frame)
        self._next_frame += count
        return batch
