"""The mastering chain (SPEC section 6): the plan turned into an ordered list of named stages.

DC/subsonic high-pass → tonal EQ (the two run as one filter cascade) → LWRP dynamics (expander,
compressor or none) → mid/side width → static gain → true-peak limiter. Encoding (and dither) is
the engine's last step, not a stage: it turns floats into bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from mastering_service.chain.dynamics import (
    KNEE_WIDTH_DB,
    MAKEUP_TIME_CONSTANT_S,
    GentleCompressor,
    TransientExpander,
)
from mastering_service.chain.gain import StaticGain
from mastering_service.chain.highpass import HighPass
from mastering_service.chain.limiter import TruePeakLimiter
from mastering_service.chain.stage import Block, SosFilter, Stage
from mastering_service.chain.tonal_eq import TonalEQ
from mastering_service.chain.width import MidSideWidth
from mastering_service.plan import MasteringPlan

#: The compressor is gentle and slow (SPEC section 5): a low ratio, an attack slow enough to let
#: transients through (the limiter catches those), a release long enough not to pump.
COMPRESSOR_RATIO = 2.0
COMPRESSOR_ATTACK_MS = 30.0
COMPRESSOR_RELEASE_MS = 400.0

#: Amounts below this count as off (a stage doing nothing costs time and rounding).
NEGLIGIBLE = 1e-6
#: How long a stream must run before the chain's state no longer depends on where it started
#: (the engine's seek pre-roll; SPEC section 6 asks for at least 3 s). Filters, compressor and
#: limiter forget within a second; the expander's loudness make-up is a cascade of
#: MAKEUP_ORDER one-poles of MAKEUP_TIME_CONSTANT_S whose state needs 12 time constants to fall
#: under −60 dB relative (e^−12 · (1 + 12 + 12²/2) ≈ 5e-4).
SETTLE_S = 3.0
EXPANDER_SETTLE_TIME_CONSTANTS = 12.0


@dataclass(frozen=True)
class Chain:
    """Ordered named stages (those the plan needs); ``process`` runs a block through them."""

    stages: tuple[tuple[str, Stage], ...]
    #: Seconds of audio after which the output no longer depends on the starting point.
    settle_s: float = SETTLE_S

    @property
    def latency_frames(self) -> int:
        return sum(stage.latency_frames for _, stage in self.stages)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.stages)

    def process(self, block: Block) -> Block:
        for _, stage in self.stages:
            block = stage.process(block)
        return block


def _dynamics(plan: MasteringPlan, sample_rate: int, channels: int) -> Stage | None:
    """The expander for squashed loud material, else the slow compressor when the plan asks for
    one, else nothing.

    The compressor's threshold sits low enough under the track's RMS level (true peak − crest
    factor) that every passage at or above that level gets the plan's full reduction: at ratio r
    a level r/(r − 1)·R over the threshold (past the soft knee) is reduced by R. Quieter passages
    get less, down to none 2·R + knee under the RMS level.
    """
    if plan.expansion_amount > NEGLIGIBLE:
        return TransientExpander(sample_rate, channels, plan.expansion_amount)
    reduction_db = plan.compressor_reduction_db
    if reduction_db > NEGLIGIBLE:
        return GentleCompressor(
            sample_rate,
            channels,
            threshold_dbfs=(plan.input_true_peak_dbtp - plan.input_crest_db
                            - COMPRESSOR_RATIO / (COMPRESSOR_RATIO - 1.0) * reduction_db
                            - KNEE_WIDTH_DB / 2.0),
            ratio=COMPRESSOR_RATIO,
            attack_ms=COMPRESSOR_ATTACK_MS,
            release_ms=COMPRESSOR_RELEASE_MS,
            max_reduction_db=reduction_db,
        )
    return None


def build_chain(plan: MasteringPlan, sample_rate: int, channels: int) -> Chain:
    """The stages for ``plan`` at the track's own rate and channel count. Stages the plan leaves
    neutral (flat EQ, no dynamics, unchanged width) are left out: they would only copy blocks."""
    tonal_eq = TonalEQ(sample_rate, channels, plan.low_shelf_gain_db, plan.high_shelf_gain_db)
    dynamics = _dynamics(plan, sample_rate, channels)
    width = MidSideWidth(channels, plan.side_gain_db)
    highpass = HighPass(sample_rate, channels, plan.highpass_cutoff_hz)
    # The two linear filters run as one cascade of sections: bit-identical to running them one
    # after the other, at the price of one filter pass (sosfilt's cost per sample barely depends
    # on the number of sections).
    filters: tuple[str, Stage] = (
        ("highpass", highpass) if tonal_eq.is_neutral
        else ("highpass+tonal_eq", SosFilter.cascade(highpass, tonal_eq))
    )
    stages: list[tuple[str, Stage | None]] = [
        filters,
        ("dynamics", dynamics),
        ("width", None if width.is_neutral else width),
        ("gain", StaticGain(plan.gain_db)),
        ("limiter", TruePeakLimiter(sample_rate, channels, plan.limiter_target_dbtp,
                                    plan.limiter_release_ms)),
    ]
    settle_s = SETTLE_S
    if isinstance(dynamics, TransientExpander):
        settle_s = max(settle_s, EXPANDER_SETTLE_TIME_CONSTANTS * MAKEUP_TIME_CONSTANT_S)
    return Chain(tuple((name, stage) for name, stage in stages if stage is not None), settle_s)
