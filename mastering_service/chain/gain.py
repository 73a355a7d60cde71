"""Static gain: the level move the plan decided on, applied to every channel alike."""

from __future__ import annotations

import numpy as np

from mastering_service.chain.stage import Block, check_finite, db_to_gain


class StaticGain:
    """Multiply by ``10 ** (gain_db / 20)``; any channel count."""

    def __init__(self, gain_db: float) -> None:
        self.gain_db = check_finite("gain_db", gain_db)
        self.gain = db_to_gain(self.gain_db)
        self.latency_frames = 0

    def process(self, block: Block) -> Block:
        x = np.asarray(block, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"expected a (frames, channels) block, got shape {x.shape}")
        return x * self.gain
