"""The 25-dimensional fingerprint and track facts as plain domain objects (SPEC section 4).

These dataclasses are what the feature code produces, what the store persists and what the
mastering plan reads; protobuf messages are converted to and from them only in the servicers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from shared.loudness import ABSOLUTE_GATE_LUFS

#: Bump whenever any definition in SPEC section 4 (or its implementation) changes: stored rows
#: with an older version count as missing.
#: 2: decoded by FFmpeg (exact gapless frame counts; codec named as FFmpeg names it) and the
#: bit rate in the track info.
ALGORITHM_VERSION = 4

#: Lower edges of the seven spectral bands, Hz (sub-bass … air); the air band ends at
#: min(BAND_TOP_HZ, Nyquist).
BAND_EDGES_HZ = (20.0, 60.0, 250.0, 500.0, 2_000.0, 4_000.0, 8_000.0)
BAND_TOP_HZ = 20_000.0
#: Tempo estimates lie in this range; exactly 0 means no tempo (silence).
TEMPO_RANGE_BPM = (60.0, 200.0)


class FingerprintSource(StrEnum):
    """Where a fingerprint came from (wire enum ``FingerprintSource``): the fingerprint service's
    tiers, in lookup order, and FALLBACK, which only the mastering service reports — its plan then
    came from its own quick analysis, not from a fingerprint."""

    DATABASE = "DATABASE"
    SIDECAR = "SIDECAR"
    COMPUTED = "COMPUTED"
    FALLBACK = "FALLBACK"


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The 25 acoustic dimensions; units are in the names or documented in SPEC section 4."""

    sub_bass_share: float
    bass_share: float
    low_mid_share: float
    mid_share: float
    upper_mid_share: float
    presence_share: float
    air_share: float
    lufs: float
    crest_db: float
    bass_mid_ratio_db: float
    tempo_bpm: float
    rhythm_stability: float
    transient_density: float
    silence_ratio: float
    spectral_centroid_hz: float
    spectral_rolloff_hz: float
    spectral_flatness: float
    harmonic_ratio: float
    pitch_stability: float
    chroma_energy: float
    dynamic_range_variation: float
    loudness_variation_db: float
    peak_consistency: float
    stereo_width: float
    phase_correlation: float

    def to_dict(self) -> dict[str, float]:
        # Field by field: every value is immutable, so ``asdict``'s deep copy is only cost.
        return {name: getattr(self, name) for name in FINGERPRINT_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fingerprint:
        return cls(**{name: float(data[name]) for name in FINGERPRINT_FIELDS})


@dataclass(frozen=True, slots=True)
class TrackInfo:
    """Facts about the decoded track that are not part of the 25D vector."""

    duration_s: float
    sample_rate: int
    channels: int
    frames: int
    content_sha256: str
    sample_peak_dbfs: float
    true_peak_dbtp: float
    loudness_range_lu: float
    codec: str  # as FFmpeg names the decoder: "pcm_s16le", "vorbis", "aac", …
    bit_rate_bps: int  # the stream's bit rate as the file declares it, bit/s (0: unknown)
    #: Integrated loudness after x dB of true-peak limiting, x = 0, 0.5, … 12 dB
    #: (``shared.peak_reduction``; element 0 is the unlimited loudness).
    limited_loudness_lufs: tuple[float, ...]
    #: Loudness range after the same limiting, LU (element 0 is the track's own range).
    limited_loudness_range_lu: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in TRACK_INFO_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrackInfo:
        return cls(**{name: convert(data[name]) for name, convert in _TRACK_INFO_TYPES})


#: How a stored or received value becomes each TrackInfo field's type (annotations are strings).
_FIELD_TYPES: dict[str, Any] = {
    "float": float, "int": int, "str": str,
    "tuple[float, ...]": lambda values: tuple(float(v) for v in values),
}

FINGERPRINT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Fingerprint))
TRACK_INFO_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(TrackInfo))
_TRACK_INFO_TYPES: tuple[tuple[str, Any], ...] = tuple(
    (f.name, _FIELD_TYPES[str(f.type)]) for f in fields(TrackInfo))

#: Inclusive value range of every dimension (None = unbounded on that side). The property and
#: corpus tests check every computed fingerprint against this table.
FIELD_RANGES: dict[str, tuple[float | None, float | None]] = {
    "sub_bass_share": (0.0, 1.0),
    "bass_share": (0.0, 1.0),
    "low_mid_share": (0.0, 1.0),
    "mid_share": (0.0, 1.0),
    "upper_mid_share": (0.0, 1.0),
    "presence_share": (0.0, 1.0),
    "air_share": (0.0, 1.0),
    "lufs": (ABSOLUTE_GATE_LUFS, None),
    "crest_db": (0.0, None),
    "bass_mid_ratio_db": (-60.0, 60.0),
    "tempo_bpm": (0.0, TEMPO_RANGE_BPM[1]),  # TEMPO_RANGE_BPM, or exactly 0 for silence
    "rhythm_stability": (0.0, 1.0),
    "transient_density": (0.0, 1.0),
    "silence_ratio": (0.0, 1.0),
    "spectral_centroid_hz": (0.0, 96_000.0),
    "spectral_rolloff_hz": (0.0, 96_000.0),
    "spectral_flatness": (0.0, 1.0),
    "harmonic_ratio": (0.0, 1.0),
    "pitch_stability": (0.0, 1.0),
    "chroma_energy": (0.0, 1.0),
    "dynamic_range_variation": (0.0, 1.0),
    "loudness_variation_db": (0.0, None),
    "peak_consistency": (0.0, 1.0),
    "stereo_width": (0.0, 1.0),
    "phase_correlation": (-1.0, 1.0),
}


def out_of_range_fields(fp: Fingerprint) -> list[str]:
    """Names of the dimensions that are not finite or lie outside ``FIELD_RANGES``."""
    bad: list[str] = []
    for name in FINGERPRINT_FIELDS:
        value = getattr(fp, name)
        low, high = FIELD_RANGES[name]
        below = low is not None and value < low
        above = high is not None and value > high
        if not math.isfinite(value) or below or above:
            bad.append(name)
    if fp.tempo_bpm != 0.0 and not TEMPO_RANGE_BPM[0] <= fp.tempo_bpm <= TEMPO_RANGE_BPM[1]:
        bad.append("tempo_bpm")
    return bad
