"""The mastering service's own quick analysis, for the fallback plan (SPEC section 5).

One streamed decode pass: integrated loudness and true peak from the project's loudness meter,
crest factor from the level meter (the same definition as the fingerprint's ``crest_db``), so
the fallback plan is decided on the same axes as the fingerprint plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mastering_service.engine import MAX_CHANNELS
from shared.audio import DEFAULT_BLOCK_FRAMES, AudioReader, open_audio
from shared.levels import LevelMeter
from shared.loudness import LoudnessMeter


@dataclass(frozen=True, slots=True)
class LocalAnalysis:
    lufs: float
    crest_db: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    sample_rate: int
    channels: int
    frames: int


def analyze_reader(reader: AudioReader, block_frames: int = DEFAULT_BLOCK_FRAMES) -> LocalAnalysis:
    """Measure an open track from its first frame to its last (the reader stays open)."""
    info = reader.info
    loudness = LoudnessMeter(info.sample_rate, info.channels, measure_true_peak=True)
    levels = LevelMeter(info.sample_rate, info.channels)
    frames = 0
    for block in reader.blocks(block_frames):
        loudness.feed(block)
        levels.feed(block)
        frames += block.shape[0]
    return LocalAnalysis(
        lufs=loudness.integrated_lufs(),
        crest_db=levels.crest_db(),
        true_peak_dbtp=loudness.true_peak_dbtp(),
        sample_peak_dbfs=loudness.sample_peak_dbfs(),
        sample_rate=info.sample_rate,
        channels=info.channels,
        frames=frames,
    )


def analyze(source: Path | bytes, block_frames: int = DEFAULT_BLOCK_FRAMES) -> LocalAnalysis:
    """Decode ``source`` once and measure it. Raises UnsupportedAudio for undecodable input or
    more than two channels."""
    with open_audio(source, max_channels=MAX_CHANNELS) as reader:
        return analyze_reader(reader, block_frames)
