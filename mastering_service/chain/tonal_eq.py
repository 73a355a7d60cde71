"""Tonal correction: a low shelf and a high shelf, designed for the actual sample rate.

Shelves from R. Bristow-Johnson's "Cookbook formulae for audio EQ biquad filter coefficients"
with shelf slope S = 1 (the steepest slope without overshoot). The response at the shelf
frequency is exactly half the shelf gain in dB, at every sample rate, and the full gain is
reached at DC (low shelf) or at Nyquist (high shelf).

Near Nyquist a bilinear shelf squeezes its whole transition into the last few hundred hertz, so
shelf frequencies are clamped to at most ``MAX_SHELF_FRACTION_OF_NYQUIST`` of Nyquist: the 8 kHz
high shelf becomes 5.5 kHz at 22.05 kHz and 2 kHz at 8 kHz (where it still tilts the top of the
band, which is what the plan asked for). ``shelf_hz`` attributes report the frequencies used, and
``response_db`` is the response of the filters actually applied.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mastering_service.chain.stage import SosFilter, check_finite
from shared.sections import sos_response

#: Highest shelf frequency, as a fraction of Nyquist (see the module docstring).
MAX_SHELF_FRACTION_OF_NYQUIST = 0.5


def _clamped_shelf_hz(name: str, shelf_hz: float, sample_rate: int) -> float:
    frequency = check_finite(name, shelf_hz)
    if frequency <= 0.0:
        raise ValueError(f"{name} must be positive, got {shelf_hz}")
    return min(frequency, MAX_SHELF_FRACTION_OF_NYQUIST * sample_rate / 2.0)


def shelf_section(kind: str, gain_db: float, shelf_hz: float, sample_rate: int) -> list[float]:
    """One RBJ shelf (S = 1) as a normalised second-order section ``[b0, b1, b2, 1, a1, a2]``."""
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * math.pi * shelf_hz / sample_rate
    cos_w0 = math.cos(w0)
    # alpha = sin(w0)/2 · sqrt((A + 1/A)(1/S − 1) + 2) with S = 1.
    two_sqrt_a_alpha = 2.0 * math.sqrt(a) * math.sin(w0) / math.sqrt(2.0)
    if kind == "low":
        b = [
            a * ((a + 1) - (a - 1) * cos_w0 + two_sqrt_a_alpha),
            2 * a * ((a - 1) - (a + 1) * cos_w0),
            a * ((a + 1) - (a - 1) * cos_w0 - two_sqrt_a_alpha),
        ]
        den = [
            (a + 1) + (a - 1) * cos_w0 + two_sqrt_a_alpha,
            -2 * ((a - 1) + (a + 1) * cos_w0),
            (a + 1) + (a - 1) * cos_w0 - two_sqrt_a_alpha,
        ]
    elif kind == "high":
        b = [
            a * ((a + 1) + (a - 1) * cos_w0 + two_sqrt_a_alpha),
            -2 * a * ((a - 1) + (a + 1) * cos_w0),
            a * ((a + 1) + (a - 1) * cos_w0 - two_sqrt_a_alpha),
        ]
        den = [
            (a + 1) - (a - 1) * cos_w0 + two_sqrt_a_alpha,
            2 * ((a - 1) - (a + 1) * cos_w0),
            (a + 1) - (a - 1) * cos_w0 - two_sqrt_a_alpha,
        ]
    else:
        raise ValueError(f"kind must be 'low' or 'high', got {kind!r}")
    a0 = den[0]
    return [b[0] / a0, b[1] / a0, b[2] / a0, 1.0, den[1] / a0, den[2] / a0]


class TonalEQ(SosFilter):
    """Low shelf at ``low_shelf_hz`` and high shelf at ``high_shelf_hz``, gains in dB.

    A shelf whose gain is 0 dB is not run at all, so 0/0 dB is an exact passthrough.
    """

    def __init__(
        self,
        sample_rate: int,
        channels: int,
        low_shelf_gain_db: float,
        high_shelf_gain_db: float,
        low_shelf_hz: float = 120.0,
        high_shelf_hz: float = 8000.0,
    ) -> None:
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self.sample_rate = sample_rate
        self.low_shelf_gain_db = check_finite("low_shelf_gain_db", low_shelf_gain_db)
        self.high_shelf_gain_db = check_finite("high_shelf_gain_db", high_shelf_gain_db)
        self.low_shelf_hz = _clamped_shelf_hz("low_shelf_hz", low_shelf_hz, sample_rate)
        self.high_shelf_hz = _clamped_shelf_hz("high_shelf_hz", high_shelf_hz, sample_rate)
        sections = []
        if self.low_shelf_gain_db != 0.0:
            sections.append(
                shelf_section("low", self.low_shelf_gain_db, self.low_shelf_hz, sample_rate)
            )
        if self.high_shelf_gain_db != 0.0:
            sections.append(
                shelf_section("high", self.high_shelf_gain_db, self.high_shelf_hz, sample_rate)
            )
        super().__init__(np.array(sections, dtype=np.float64), channels)

    @property
    def is_neutral(self) -> bool:
        return self._filter.sos.shape[0] == 0

    def response_db(self, freqs_hz: ArrayLike) -> NDArray[np.float64]:
        """Magnitude response in dB at ``freqs_hz`` (0…Nyquist), same shape as the input."""
        freqs = np.asarray(freqs_hz, dtype=np.float64)
        if self.is_neutral or freqs.size == 0:
            return np.zeros(freqs.shape)
        h = sos_response(self._filter.sos, freqs.ravel(), self.sample_rate)
        magnitude = np.maximum(np.abs(h), np.finfo(np.float64).tiny)
        return np.asarray(20.0 * np.log10(magnitude), dtype=np.float64).reshape(freqs.shape)
