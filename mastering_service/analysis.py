"""The mastering service's own quick analysis, for the fallback plan (SPEC section 5).

One streamed decode pass: integrated loudness and true peak from the project's loudness meter,
crest factor from the level meter (the same definition as the fingerprint's ``crest_db``), so
the fallback plan is decided on the same axes as the fingerprint plan.

Under a burst of fallbacks a pass over every track is more than the machine has time for before
their first chunks are due, so ``analyze_excerpts`` measures evenly spread excerpts of a long
track instead: a bounded cost whatever its length. The loudness is gated over the excerpts'
400 ms blocks pooled (each excerpt on a meter of its own, so no seam enters the K-filter or the
true-peak interpolator); a peak the excerpts miss is still caught by the true-peak limiter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mastering_service.engine import MAX_CHANNELS
from shared.audio import DEFAULT_BLOCK_FRAMES, AudioReader, open_audio
from shared.blocks import FloatArray
from shared.levels import LevelMeter
from shared.loudness import gated_loudness
from shared.peak_reduction import (
    LimitingCurves,
    curves_from_envelope,
    envelope_meter,
    limiter_release_ms,
    limiting_curves,
)

#: Audio an excerpt analysis measures in all: a tenth of a typical 4–5 minute track, enough for
#: an integrated-loudness estimate within about 1 LU on music.
EXCERPTS_TOTAL_S = 30.0
#: Excerpts it is spread over (3 s each, ~26 gating blocks apiece): verse, chorus and bridge
#: all get a say.
EXCERPT_COUNT = 10


@dataclass(frozen=True, slots=True)
class LocalAnalysis:
    lufs: float
    crest_db: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    sample_rate: int
    channels: int
    frames: int
    #: Loudness after x dB of true-peak limiting (``shared.peak_reduction``), at the release the
    #: fallback plan uses (no tempo: the default).
    limited_loudness_lufs: tuple[float, ...]
    limited_loudness_range_lu: tuple[float, ...]


def _curves(curves: LimitingCurves) -> dict[str, tuple[float, ...]]:
    return {"limited_loudness_lufs": curves.loudness_lufs,
            "limited_loudness_range_lu": curves.loudness_range_lu}


def analyze_reader(reader: AudioReader, block_frames: int = DEFAULT_BLOCK_FRAMES) -> LocalAnalysis:
    """Measure an open track from its first frame to its last (the reader stays open)."""
    info = reader.info
    loudness = envelope_meter(info.sample_rate, info.channels)
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
        **_curves(limiting_curves(loudness, limiter_release_ms(None))),
    )


def analyze(source: Path | bytes, block_frames: int = DEFAULT_BLOCK_FRAMES) -> LocalAnalysis:
    """Decode ``source`` once and measure it. Raises UnsupportedAudio for undecodable input or
    more than two channels."""
    with open_audio(source, max_channels=MAX_CHANNELS) as reader:
        return analyze_reader(reader, block_frames)


def analyze_excerpts(source: Path | bytes, total_s: float = EXCERPTS_TOTAL_S,
                     count: int = EXCERPT_COUNT) -> LocalAnalysis:
    """``analyze_excerpts_reader`` of ``source``, opened and closed here."""
    with open_audio(source, max_channels=MAX_CHANNELS) as reader:
        return analyze_excerpts_reader(reader, total_s, count)


def analyze_excerpts_reader(reader: AudioReader, total_s: float = EXCERPTS_TOTAL_S,
                            count: int = EXCERPT_COUNT,
                            block_frames: int = DEFAULT_BLOCK_FRAMES) -> LocalAnalysis:
    """Measure ``count`` evenly spread excerpts of ``total_s`` seconds in all; a track no longer
    than ``total_s`` is measured whole. ``frames`` reports the whole track's length."""
    info = reader.info
    excerpt_frames = max(1, round(total_s * info.sample_rate / count))
    if excerpt_frames * count >= info.frames:
        return analyze_reader(reader, block_frames)
    stride = (info.frames - excerpt_frames) / (count - 1) if count > 1 else 0.0
    levels = LevelMeter(info.sample_rate, info.channels)
    block_powers = []
    envelopes: list[tuple[FloatArray, FloatArray, FloatArray]] = []
    true_peak_dbtp = sample_peak_dbfs = -200.0
    for index in range(count):
        start = round(index * stride)
        loudness = envelope_meter(info.sample_rate, info.channels)
        for block in reader.blocks(block_frames, start_frame=start,
                                   stop_frame=start + excerpt_frames):
            loudness.feed(block)
            levels.feed(block)
        block_powers.append(loudness.gating_block_powers())
        envelopes.append(loudness.envelope())
        true_peak_dbtp = max(true_peak_dbtp, loudness.true_peak_dbtp())
        sample_peak_dbfs = max(sample_peak_dbfs, loudness.sample_peak_dbfs())
    lufs = gated_loudness(np.concatenate(block_powers))
    energy, samples, peaks = (np.concatenate(parts) for parts in zip(*envelopes, strict=True))
    return LocalAnalysis(
        lufs=lufs,
        crest_db=levels.crest_db(),
        true_peak_dbtp=true_peak_dbtp,
        sample_peak_dbfs=sample_peak_dbfs,
        sample_rate=info.sample_rate,
        channels=info.channels,
        frames=info.frames,
        **_curves(curves_from_envelope(energy, samples, peaks, lufs, None,
                                       limiter_release_ms(None))),
    )
