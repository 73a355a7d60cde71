"""Album loudness from per-track histograms: BS.1770-4 gating pooled over an album's tracks.

An album's integrated loudness gates the 400 ms blocks of all its tracks together (BS.1770-4
section 2.8, "the blocks of the programme"), so it is not the mean of the track loudnesses. To
compute it without decoding again, each track keeps ``TrackLoudness``: a histogram of its gating
blocks' loudness with, per bin, the block count and the exact sum of their powers. Pooling is
adding histograms; the absolute gate sits on a bin edge, so it is exact, and the relative gate's
threshold is the exact mean power of the absolutely gated blocks. Only blocks inside the one bin
that holds the relative threshold are approximated (taken as spread evenly over the bin): at
``HISTOGRAM_BIN_LU`` wide, that moves the result by a few hundredths of a LU at most.

The loudness range pools the short-term (3 s, 10 Hz) windows the same way (EBU Tech 3342 itself
describes a 0.1 LU histogram); windows that would straddle two tracks of the concatenated album
are not measured, which changes the range by a fraction of a LU at most.

ReplayGain 2.0 (the ReplayGain 2.0 specification, hydrogenaud.io wiki): gain = reference
(−18 LUFS) minus the BS.1770 loudness; peaks are linear amplitudes (1.0 = full scale), here true
peaks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shared.loudness import (
    ABSOLUTE_GATE_LUFS,
    LOUDNESS_OFFSET_DB,
    LRA_HIGH_PERCENTILE,
    LRA_LOW_PERCENTILE,
    LRA_RELATIVE_GATE_LU,
    RELATIVE_GATE_LU,
    LoudnessMeter,
)

#: Width of a histogram bin. The EBU's own histogram suggestion for the LRA; for the integrated
#: loudness only the bin holding the relative threshold is approximate (see the module docstring).
HISTOGRAM_BIN_LU = 0.1
#: Highest loudness a bin can hold: a full-scale square wave of 8 channels reads about +9 LUFS,
#: so nothing real lies above. Louder blocks land in the top bin (their power stays exact).
HISTOGRAM_TOP_LUFS = 10.0
#: Bins from the absolute gate (its lower edge) to the top.
HISTOGRAM_BINS = round((HISTOGRAM_TOP_LUFS - ABSOLUTE_GATE_LUFS) / HISTOGRAM_BIN_LU)
#: Short-term windows for the loudness range come every 100 ms (EBU Tech 3342: at least 10 Hz).
SHORT_TERM_HOP_S = 0.1
#: ReplayGain 2.0's reference loudness.
REPLAYGAIN_REFERENCE_LUFS = -18.0
#: dBTP reported for digital silence (as ``shared.loudness`` floors levels).
SILENCE_PEAK_DBTP = -200.0

FloatArray = NDArray[np.float64]


def _lufs(power: float) -> float:
    return LOUDNESS_OFFSET_DB + 10.0 * math.log10(power)


def _power(lufs: float) -> float:
    return float(10.0 ** ((lufs - LOUDNESS_OFFSET_DB) / 10.0))


@dataclass(frozen=True, slots=True)
class LoudnessHistogram:
    """Block loudness histogram over [−70, +10) LUFS: per bin, the count and the power sum.

    Only blocks above the absolute gate are kept: none below it ever counts, in a track or an
    album. Stored sparse (only occupied bins), so a 4-minute track costs a few hundred numbers.
    """

    counts: Mapping[int, int] = field(default_factory=dict)
    power_sums: Mapping[int, float] = field(default_factory=dict)

    @classmethod
    def of_powers(cls, powers: FloatArray) -> LoudnessHistogram:
        """Histogram of block mean-square powers (channel-weighted, K-filtered)."""
        values = np.asarray(powers, dtype=np.float64)
        values = values[values > _power(ABSOLUTE_GATE_LUFS)]
        if values.size == 0:
            return cls()
        lufs = LOUDNESS_OFFSET_DB + 10.0 * np.log10(values)
        bins = np.clip(
            np.floor((lufs - ABSOLUTE_GATE_LUFS) / HISTOGRAM_BIN_LU).astype(np.int64),
            0,
            HISTOGRAM_BINS - 1,
        )
        counts = np.bincount(bins, minlength=HISTOGRAM_BINS)
        sums = np.bincount(bins, weights=values, minlength=HISTOGRAM_BINS)
        occupied = np.flatnonzero(counts)
        return cls(
            counts={int(b): int(counts[b]) for b in occupied},
            power_sums={int(b): float(sums[b]) for b in occupied},
        )

    @classmethod
    def pooled(cls, histograms: Iterable[LoudnessHistogram]) -> LoudnessHistogram:
        counts: dict[int, int] = {}
        sums: dict[int, float] = {}
        for histogram in histograms:
            for b, n in histogram.counts.items():
                counts[b] = counts.get(b, 0) + n
                sums[b] = sums.get(b, 0.0) + histogram.power_sums[b]
        return cls(counts=counts, power_sums=sums)

    @property
    def blocks(self) -> int:
        return sum(self.counts.values())

    def _arrays(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(bin centre LUFS, count, power sum), ascending by loudness."""
        order = sorted(self.counts)
        centres = np.array(
            [ABSOLUTE_GATE_LUFS + (b + 0.5) * HISTOGRAM_BIN_LU for b in order], dtype=np.float64
        )
        counts = np.array([self.counts[b] for b in order], dtype=np.float64)
        sums = np.array([self.power_sums[b] for b in order], dtype=np.float64)
        return centres, counts, sums

    def _relative_gate(self, gate_lu: float) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The bins kept by a relative gate ``gate_lu`` below the mean power of all blocks.

        The bin holding the threshold keeps the share of its blocks that lies above it,
        taking its blocks as spread evenly over the bin (counts and powers alike).
        """
        centres, counts, sums = self._arrays()
        threshold_lufs = _lufs(float(sums.sum() / counts.sum())) + gate_lu
        lower = centres - HISTOGRAM_BIN_LU / 2.0
        share = np.clip((lower + HISTOGRAM_BIN_LU - threshold_lufs) / HISTOGRAM_BIN_LU, 0.0, 1.0)
        kept = share > 0.0
        return centres[kept], (counts * share)[kept], (sums * share)[kept]

    def integrated_lufs(self) -> float:
        """BS.1770-4 gated loudness of the blocks (−70 LUFS when none passes the gates)."""
        if not self.counts:
            return ABSOLUTE_GATE_LUFS
        _, counts, sums = self._relative_gate(RELATIVE_GATE_LU)
        if counts.sum() == 0:
            return ABSOLUTE_GATE_LUFS
        return max(ABSOLUTE_GATE_LUFS, _lufs(float(sums.sum() / counts.sum())))

    def loudness_range_lu(self) -> float:
        """EBU Tech 3342 loudness range of short-term windows: 95th − 10th percentile after the
        −70 LUFS and −20 LU gates; 0.0 when fewer than two windows survive."""
        if not self.counts:
            return 0.0
        centres, counts, _ = self._relative_gate(LRA_RELATIVE_GATE_LU)
        total = counts.sum()
        if total < 2:
            return 0.0
        cumulative = np.cumsum(counts) / total
        low = centres[np.searchsorted(cumulative, LRA_LOW_PERCENTILE / 100.0)]
        high = centres[np.searchsorted(cumulative, LRA_HIGH_PERCENTILE / 100.0)]
        return float(high - low)

    def to_json(self) -> dict[str, list[float]]:
        order = sorted(self.counts)
        return {
            "bins": [float(b) for b in order],
            "counts": [float(self.counts[b]) for b in order],
            "power_sums": [self.power_sums[b] for b in order],
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> LoudnessHistogram:
        bins = [int(b) for b in document["bins"]]
        counts = [int(n) for n in document["counts"]]
        sums = [float(s) for s in document["power_sums"]]
        if not len(bins) == len(counts) == len(sums):
            raise ValueError("histogram arrays differ in length")
        if any(not 0 <= b < HISTOGRAM_BINS for b in bins) or any(n <= 0 for n in counts):
            raise ValueError("histogram bin out of range")
        return cls(
            counts=dict(zip(bins, counts, strict=True)),
            power_sums=dict(zip(bins, sums, strict=True)),
        )


@dataclass(frozen=True, slots=True)
class TrackLoudness:
    """What an album needs of one track: its gating blocks, short-term windows and peaks."""

    blocks: LoudnessHistogram
    short_term: LoudnessHistogram
    true_peak_dbtp: float
    sample_peak_dbfs: float

    @classmethod
    def of_meter(cls, meter: LoudnessMeter) -> TrackLoudness:
        """What ``meter`` measured of a whole track (read once the track is fed)."""
        short_term_lufs = meter.short_term_lufs(SHORT_TERM_HOP_S)
        return cls(
            blocks=LoudnessHistogram.of_powers(meter.gating_block_powers()),
            short_term=LoudnessHistogram.of_powers(
                10.0 ** ((short_term_lufs - LOUDNESS_OFFSET_DB) / 10.0)
            ),
            true_peak_dbtp=meter.true_peak_dbtp(),
            sample_peak_dbfs=meter.sample_peak_dbfs(),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "blocks": self.blocks.to_json(),
            "short_term": self.short_term.to_json(),
            "true_peak_dbtp": self.true_peak_dbtp,
            "sample_peak_dbfs": self.sample_peak_dbfs,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> TrackLoudness:
        return cls(
            blocks=LoudnessHistogram.from_json(document["blocks"]),
            short_term=LoudnessHistogram.from_json(document["short_term"]),
            true_peak_dbtp=float(document["true_peak_dbtp"]),
            sample_peak_dbfs=float(document["sample_peak_dbfs"]),
        )


def replaygain_db(loudness_lufs: float) -> float:
    """ReplayGain 2.0 gain: what brings ``loudness_lufs`` to the −18 LUFS reference."""
    return REPLAYGAIN_REFERENCE_LUFS - loudness_lufs


def peak_amplitude(peak_db: float) -> float:
    """A peak in dB as the linear amplitude ReplayGain tags carry (1.0 = full scale)."""
    return 0.0 if peak_db <= SILENCE_PEAK_DBTP else float(10.0 ** (peak_db / 20.0))


@dataclass(frozen=True, slots=True)
class TrackGain:
    loudness_lufs: float
    true_peak_dbtp: float
    replaygain_track_gain_db: float
    replaygain_track_peak: float


@dataclass(frozen=True, slots=True)
class AlbumLoudness:
    """Pooled loudness facts of an album and the ReplayGain 2.0 values a server writes."""

    integrated_lufs: float
    loudness_range_lu: float
    true_peak_dbtp: float
    replaygain_album_gain_db: float
    replaygain_album_peak: float
    tracks: tuple[TrackGain, ...]


def track_gain(track: TrackLoudness) -> TrackGain:
    lufs = track.blocks.integrated_lufs()
    return TrackGain(
        loudness_lufs=lufs,
        true_peak_dbtp=track.true_peak_dbtp,
        replaygain_track_gain_db=replaygain_db(lufs),
        replaygain_track_peak=peak_amplitude(track.true_peak_dbtp),
    )


def album_loudness(tracks: Iterable[TrackLoudness]) -> AlbumLoudness:
    """Album loudness, range and peak of ``tracks`` (in album order), with ReplayGain values.

    Raises ValueError for an album without tracks.
    """
    members = tuple(tracks)
    if not members:
        raise ValueError("an album needs at least one track")
    integrated = LoudnessHistogram.pooled(t.blocks for t in members).integrated_lufs()
    peak_dbtp = max(t.true_peak_dbtp for t in members)
    return AlbumLoudness(
        integrated_lufs=integrated,
        loudness_range_lu=LoudnessHistogram.pooled(
            t.short_term for t in members
        ).loudness_range_lu(),
        true_peak_dbtp=peak_dbtp,
        replaygain_album_gain_db=replaygain_db(integrated),
        replaygain_album_peak=peak_amplitude(peak_dbtp),
        tracks=tuple(track_gain(t) for t in members),
    )
