"""The mastering plan as data: what was decided for one track, fixed before its first sample.

``lwrp`` decides a plan, ``chain`` builds the stages from it, the servicer and the CLI report it;
this module only says what a plan is, so it imports nothing of theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from shared.fingerprint import FingerprintSource

#: The slow compressor's deepest gain reduction, dB: ``compression_amount`` is its reduction as a
#: share of this (``lwrp`` gives it 0.5 dB per dB of the at most 2 dB of boost limiting).
COMPRESSOR_MAX_REDUCTION_DB = 1.0


class Category(StrEnum):
    """The LWRP label (SPEC section 5), from hard thresholds on loudness and crest factor."""

    COMPRESSED_LOUD = "COMPRESSED_LOUD"
    DYNAMIC_LOUD = "DYNAMIC_LOUD"
    QUIET = "QUIET"


class LoudnessMode(StrEnum):
    """TRACK: each track to the target. ALBUM: one static gain for every track of an album,
    from the album's loudness to the target, so the differences between its tracks are kept."""

    TRACK = "TRACK"
    ALBUM = "ALBUM"


class FallbackReason(StrEnum):
    """Why the plan came from the service's own analysis instead of a fingerprint."""

    NONE = "NONE"  # a fingerprint was used
    UNAVAILABLE = "UNAVAILABLE"  # the fingerprint service could not be reached
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"  # it did not answer in time
    ERROR = "ERROR"  # it answered with another error


@dataclass(frozen=True)
class MasteringPlan:
    """The decisions for one track (wire message ``MasteringPlan``, same field names).

    ``expansion_amount`` is the transient expander's amount (0 = off, 1 = full).
    ``compression_amount`` is the slow compressor's gain reduction as a fraction of
    ``COMPRESSOR_MAX_REDUCTION_DB``.
    """

    category: Category
    fingerprint_source: FingerprintSource
    fallback_reason: FallbackReason
    input_lufs: float
    input_crest_db: float
    input_true_peak_dbtp: float
    target_lufs: float
    effective_target_lufs: float
    gain_db: float
    expansion_amount: float
    compression_amount: float
    low_shelf_gain_db: float
    high_shelf_gain_db: float
    side_gain_db: float
    true_peak_ceiling_dbtp: float
    limiter_release_ms: float
    intensity: float
    reasons: tuple[str, ...]
    #: The per-aspect amounts (0–1) the plan was made with: tonal EQ, width, dynamics
    #: (expander and compressor); each defaults to ``intensity``.
    tonal_amount: float = 1.0
    width_amount: float = 1.0
    dynamics_amount: float = 1.0
    #: Integrated loudness of the reference track whose balance the plan moved toward, LUFS;
    #: None without one (or when it could not be fingerprinted: the reasons say so).
    reference_lufs: float | None = None
    #: ALBUM mode: the album's integrated loudness the static gain came from, LUFS; None in
    #: TRACK mode and when ALBUM mode fell back to TRACK (the reasons say why).
    album_lufs: float | None = None
    #: The ceiling the limiter holds, dBTP, when it is below ``true_peak_ceiling_dbtp``:
    #: DYNAMIC_LOUD material's peaks may not rise above the input's own (moved by the gain and
    #: the EQ), so a filter's phase shift cannot raise its crest. None: the true-peak ceiling.
    limiter_ceiling_dbtp: float | None = None
    #: The subsonic high-pass's −3 dB point, Hz: 20 Hz, down to 10 Hz for DYNAMIC_LOUD material
    #: (what it would take away between 10 and 20 Hz lowers the RMS and raises the crest).
    highpass_cutoff_hz: float = 20.0

    @property
    def limiter_target_dbtp(self) -> float:
        """The ceiling the chain's limiter is built for."""
        if self.limiter_ceiling_dbtp is None:
            return self.true_peak_ceiling_dbtp
        return min(self.limiter_ceiling_dbtp, self.true_peak_ceiling_dbtp)

    @property
    def compressor_reduction_db(self) -> float:
        """The compressor's largest gain reduction, dB."""
        return self.compression_amount * COMPRESSOR_MAX_REDUCTION_DB

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, with the wire field names (enums as their names, reasons as a list)."""
        out: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, StrEnum):
                value = value.value
            elif isinstance(value, tuple):
                value = list(value)
            out[field.name] = value
        return out
