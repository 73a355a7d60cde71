"""Mid/side width: scale the side signal of the first two channels.

M = (L + R)/2, S = (L − R)/2, then L' = M + g·S and R' = M − g·S with g = 10^(side_gain_db/20).
Mono (one channel) passes unchanged. With more than two channels only the first two (front
left/right in WAV order) are treated as a stereo pair; the others pass unchanged, since there is
no single "side" of a surround layout.
"""

from __future__ import annotations

import math

import numpy as np

from mastering_service.chain.stage import Block, check_channels, check_finite, db_to_gain
from shared._kernels import mid_side
from shared.blocks import as_block


class MidSideWidth:
    """Side gain ``side_gain_db`` (negative narrows, positive widens, 0 is exact passthrough)."""

    def __init__(self, channels: int, side_gain_db: float) -> None:
        self.channels = check_channels(channels)
        self.side_gain_db = check_finite("side_gain_db", side_gain_db)
        self.side_gain = db_to_gain(self.side_gain_db)
        self.latency_frames = 0

    @property
    def is_neutral(self) -> bool:
        return self.channels < 2 or self.side_gain_db == 0.0

    def process(self, block: Block) -> Block:
        x = as_block(block, self.channels)
        if self.is_neutral:
            return x.copy()
        out = np.empty(x.shape)
        mid_side(x, self.side_gain, out)  # one compiled pass, the arithmetic above
        return out

    @staticmethod
    def power_change_db(stereo_width: float, side_gain_db: float) -> float:
        """Change of the L/R signal power, in dB, for a track whose fingerprint ``stereo_width``
        (SPEC dim 24: w = rms(S) / (rms(M) + rms(S))) is given.

        L² + R² = 2·(M² + S²) sample by sample, so with ρ = rms(S)/rms(M) = w/(1 − w) the power
        ratio is exactly (1 + g²ρ²)/(1 + ρ²). Loudness weighting (K filter) makes the loudness
        change differ slightly when mid and side have different spectra.
        """
        width = min(max(check_finite("stereo_width", stereo_width), 0.0), 1.0)
        gain = db_to_gain(check_finite("side_gain_db", side_gain_db))
        if width >= 1.0:
            return 20.0 * math.log10(gain)
        ratio_sq = (width / (1.0 - width)) ** 2
        return 10.0 * math.log10((1.0 + gain * gain * ratio_sq) / (1.0 + ratio_sq))
