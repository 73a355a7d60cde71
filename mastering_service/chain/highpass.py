"""DC and subsonic high-pass: the first stage of the chain.

A 2nd-order Butterworth. Order 2 already has a double zero at DC (offsets vanish) and gives
−12 dB at 10 Hz, while it costs only −0.26 dB at 40 Hz and rotates the phase of the bass far
less than order 4 would; the smaller phase shift keeps kick and bass transients where they were,
so the stage barely moves the crest factor that the LWRP decision was made on.
"""

from __future__ import annotations

from mastering_service.chain.stage import SosFilter, check_finite
from shared.sections import butterworth_highpass

#: Butterworth order (see the module docstring for why 2; the design is that order's section).
ORDER = 2
#: The −3 dB point: below the lowest note of any instrument (the sub-bass band starts here).
CUTOFF_HZ = 20.0
#: The cut-off may not come closer to Nyquist than this fraction of it (the stage is subsonic;
#: the clamp only keeps a mistaken value from producing an unstable design).
MAX_CUTOFF_FRACTION_OF_NYQUIST = 0.5


class HighPass(SosFilter):
    """Butterworth high-pass at ``cutoff_hz`` (−3 dB point), designed for ``sample_rate``."""

    def __init__(self, sample_rate: int, channels: int, cutoff_hz: float = CUTOFF_HZ) -> None:
        cutoff = check_finite("cutoff_hz", cutoff_hz)
        if sample_rate <= 0 or cutoff <= 0.0:
            raise ValueError("sample_rate and cutoff_hz must be positive")
        self.cutoff_hz = min(cutoff, MAX_CUTOFF_FRACTION_OF_NYQUIST * sample_rate / 2.0)
        super().__init__(butterworth_highpass(self.cutoff_hz, sample_rate), channels)
