"""Second-order sections over every channel of a stream, state carried.

The chain's high-pass and tonal EQ, the expander's detector and the loudness meter's K-weighting
are all cascades of biquads. Each output needs the one before it, so the recursion has no numpy
form; ``shared._kernels.sos_filter`` runs it in C with the layout and the arithmetic of
``scipy.signal.sosfilt`` (transposed direct form II, bit-identical outputs), every channel and
section of a frame in one loop. Measured on 4 min of 44.1 kHz stereo through the two K-weighting
sections in 32 768-frame blocks: 0.088 s, against 0.35 s for ``sosfilt`` over the same blocks.
Every output is the same arithmetic whatever the block sizes.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from shared._kernels import sos_filter, sos_power
from shared.blocks import FloatArray, weighted_power


class SectionFilter:
    """``sos`` (``(n_sections, 6)``, sosfilt layout) over ``channels`` channels, state kept.

    ``process`` takes and returns ``(frames, channels)`` blocks; ``process_planar`` takes
    channel-major ``(channels, frames)`` arrays and returns one 1-D array per channel;
    ``weighted_power`` returns only Σ_c weights[c] · y_c² per frame of the filtered channels.
    """

    def __init__(self, sos: NDArray[np.float64], channels: int) -> None:
        if channels < 1:
            raise ValueError(f"channels must be at least 1, got {channels}")
        self.channels = channels
        self.sos = np.array(sos, dtype=np.float64).reshape(-1, 6)
        if not np.all(self.sos[:, 3] == 1.0):
            raise ValueError("every section must be normalised (a0 = 1), as sosfilt needs")
        self._zi = np.zeros((self.sos.shape[0], channels, 2))

    def settle(self, value: float) -> None:
        """The state as if every channel had been fed ``value`` forever (the steady state of a
        constant input: each section's output is its DC gain times its input)."""
        level = float(value)
        for k, (b0, b1, b2, _, a1, a2) in enumerate(self.sos.tolist()):
            out = level * (b0 + b1 + b2) / (1.0 + a1 + a2)
            z1 = b2 * level - a2 * out
            self._zi[k, :, 0] = b1 * level - a1 * out + z1
            self._zi[k, :, 1] = z1
            level = out

    def copy(self) -> SectionFilter:
        """An independent filter in the same state (to flush a tail without disturbing this)."""
        twin = SectionFilter(self.sos, self.channels)
        twin._zi = self._zi.copy()
        return twin

    def process(self, block: FloatArray) -> FloatArray:
        """``(frames, channels)`` → ``(frames, channels)``, a new array."""
        x = np.asarray(block, dtype=np.float64)
        if self.sos.shape[0] == 0 or x.shape[0] == 0:
            return np.array(x, dtype=np.float64)
        out = np.empty(x.shape)
        sos_filter(self.sos, self._zi, x, out)
        return out

    def process_planar(self, planar: FloatArray) -> list[FloatArray]:
        """``(channels, frames)`` → one filtered 1-D array per channel."""
        x = np.asarray(planar, dtype=np.float64)
        if self.sos.shape[0] == 0 or x.shape[1] == 0:
            return [np.array(row, dtype=np.float64) for row in x]
        out = np.empty(x.shape)
        # The kernel takes (frames, channels) with any strides: the transposed views.
        sos_filter(self.sos, self._zi, x.T, out.T)
        return list(out)

    def weighted_power(self, planar: FloatArray, weights: FloatArray) -> FloatArray:
        """``(channels, frames)`` → ``weighted_power`` (``shared.blocks``) of the filtered rows,
        the same values, without the filtered channels ever reaching memory."""
        x = np.asarray(planar, dtype=np.float64)
        if self.sos.shape[0] == 0:
            return weighted_power(x, weights)
        power = np.empty(x.shape[1])
        sos_power(self.sos, self._zi, x.T, np.ascontiguousarray(weights, dtype=np.float64), power)
        return power


def sos_response(sos: NDArray[np.float64], freqs_hz: NDArray[np.float64], sample_rate: float
                 ) -> NDArray[np.complex128]:
    """Complex frequency response of the cascade ``sos`` at ``freqs_hz`` (any shape): the
    product over sections of (b0 + b1 z⁻¹ + b2 z⁻²) / (a0 + a1 z⁻¹ + a2 z⁻²), z = e^{jω}."""
    z = np.exp(-2j * np.pi * np.asarray(freqs_hz, dtype=np.float64) / sample_rate)
    response = np.ones(z.shape, dtype=np.complex128)
    for b0, b1, b2, a0, a1, a2 in np.asarray(sos, dtype=np.float64).reshape(-1, 6).tolist():
        response *= (b0 + z * (b1 + z * b2)) / (a0 + z * (a1 + z * a2))
    return response


def butterworth_highpass(cutoff_hz: float, sample_rate: float) -> NDArray[np.float64]:
    """Second-order Butterworth high-pass as one section: the analog prototype (Q = 1/√2) through
    the bilinear transform, pre-warped so the −3 dB point lands on ``cutoff_hz`` (the design of
    ``scipy.signal.butter(2, cutoff_hz, "highpass", fs=sample_rate)``)."""
    k = np.tan(np.pi * cutoff_hz / sample_rate)
    q = 1.0 / np.sqrt(2.0)
    norm = 1.0 / (1.0 + k / q + k * k)
    return np.array([[norm, -2.0 * norm, norm, 1.0, 2.0 * (k * k - 1.0) * norm,
                      (1.0 - k / q + k * k) * norm]])
