"""Tonal balance and stereo width: where a track sits, the reference it moves toward, and the
shelf and side gains that move it there (SPEC sections 5 and 12).

A track's balance is read from its fingerprint: ``bass_mid_ratio_db`` (SPEC dim 10) and the
treble/mid ratio of its band shares, 10·log10((presence + air) / (low-mid + mid + upper-mid)),
and ``stereo_width``. The built-in reference is the balance of real music, measured; a reference
track's fingerprint replaces it when the caller gives one (Matchering's idea, bounded the same).
Everything here is at full amount; ``lwrp`` scales the gains by the per-aspect amounts.

Calibration (``scripts/fetch-calibration``): 39 real tracks, the 21 corpus tracks
(colobot-common-sounds) and 18 calibration tracks (extremetuxracer-data, xmoto-data,
lincity-ng-data: orchestral, electronic, jazz and rock game music, −27 to −8 LUFS), each
fingerprinted by the fingerprint service's extractor. Quantiles below are over those 39.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mastering_service.blend import clamp, smoothstep
from shared.fingerprint import Fingerprint

# --- Built-in tonal reference (measured) ---------------------------------------------------------

#: Median bass/mid ratio of the 39 tracks (+3.35 dB; 1/6 and 5/6 quantiles −2.0 and +6.5 dB,
#: extremes −16.8 and +13.4 dB). The earlier guess, +3 dB, happened to sit close to it.
REFERENCE_BASS_MID_RATIO_DB = 3.35
#: Median treble/mid ratio of the 39 tracks (−15.7 dB; 1/6 and 5/6 quantiles −24.9 and −8.7 dB,
#: extremes −38.1 and −1.8 dB). The earlier guess, −6 dB (between pink noise and a −4.5 dB/octave
#: tilt), was brighter than 35 of the 39: it put the high shelf at its +3 dB bound on nearly all.
REFERENCE_TREBLE_MID_RATIO_DB = -15.7
#: No bass correction within this distance of the reference: half the spread of the central two
#: thirds (−2.0 … +6.5 dB), so two thirds of real music (26 of the 39) gets none.
BASS_DEAD_ZONE_DB = 4.25
#: The same for the treble: half of −24.9 … −8.7 dB; 25 of the 39 get no high shelf.
TREBLE_DEAD_ZONE_DB = 8.1
#: Share of the distance beyond the dead zone that the built-in correction takes back: gentle.
#: Real outliers lie up to 14 dB beyond the zone (dark orchestral recordings); a quarter of
#: that puts a shelf at its bound on 3 of the 39 (two dark orchestral tracks, one with almost
#: no bass), and 16 of the 23 corrections stay under 1 dB.
TONAL_CORRECTION_RATIO = 0.25
#: Bound of either shelf (SPEC section 5).
TONAL_MAX_DB = 3.0

# --- Reference track -----------------------------------------------------------------------------

#: Balance differences from a reference track below this are left alone: two fingerprints of the
#: same music (another encoding, a few seconds trimmed) differ by up to a few tenths of a dB.
REFERENCE_TRACK_DEAD_ZONE_DB = 0.5
#: A reference track is what the caller asked to sound like: the correction takes back most of
#: the distance, still within TONAL_MAX_DB and WIDTH_MAX_DB.
REFERENCE_TRACK_CORRECTION_RATIO = 0.75

# --- Width ---------------------------------------------------------------------------------------

#: Healthy stereo_width band: S about 15 dB under M (0.15) up to S about 3.5 dB under M (0.40).
#: The 39 calibration tracks: median 0.30, 1/6 and 5/6 quantiles 0.24 and 0.40.
HEALTHY_WIDTH_LOW = 0.15
HEALTHY_WIDTH_HIGH = 0.40
#: Material narrower than this is near-mono and is never widened (fade over the next step).
NEAR_MONO_WIDTH = 0.03
NEAR_MONO_FADE = 0.03
#: Never widen when L/R correlate less than this (widening would expose phase problems).
WIDEN_MIN_CORRELATION = 0.3
WIDEN_CORRELATION_FADE = 0.1
#: Anti-phase material (correlation below 0) is narrowed, fully at this correlation, whatever
#: the reference: a safety rule, not a matter of taste.
ANTI_PHASE_FULL_CORRELATION = -0.5
#: Share of the distance outside the healthy band the built-in width correction takes back.
WIDTH_CORRECTION_RATIO = 0.5
WIDTH_MAX_DB = 3.0
#: stereo_width is clamped below 1 before conversion to a side/mid ratio (finite for L = −R).
MAX_WIDTH = 0.999
#: Side/mid ratios are floored here before a logarithm (exact mono has none).
MIN_SIDE_MID_RATIO = 1e-9


@dataclass(frozen=True, slots=True)
class Balance:
    """Where a track sits: bass/mid and treble/mid power ratios (dB) and stereo width (0–1).
    ``treble_mid_ratio_db`` is None when the track has no mids or no treble at all."""

    bass_mid_ratio_db: float
    treble_mid_ratio_db: float | None
    stereo_width: float


@dataclass(frozen=True, slots=True)
class Reference:
    """What the corrections aim at, and how hard: the balance, each ratio's dead zone (dB) and
    the share of the distance beyond it that is corrected. ``width`` None = the healthy band."""

    name: str
    bass_mid_ratio_db: float
    treble_mid_ratio_db: float | None
    bass_dead_zone_db: float
    treble_dead_zone_db: float
    correction_ratio: float
    width: float | None


#: The built-in reference: the measured centre of real music (see the constants above).
BUILT_IN_REFERENCE = Reference(
    name="built-in reference",
    bass_mid_ratio_db=REFERENCE_BASS_MID_RATIO_DB,
    treble_mid_ratio_db=REFERENCE_TREBLE_MID_RATIO_DB,
    bass_dead_zone_db=BASS_DEAD_ZONE_DB,
    treble_dead_zone_db=TREBLE_DEAD_ZONE_DB,
    correction_ratio=TONAL_CORRECTION_RATIO,
    width=None,
)


def _beyond_dead_zone(deviation: float, dead_zone: float) -> float:
    """Signed distance outside ``±dead_zone`` (0 inside): continuous at the edges."""
    return math.copysign(max(0.0, abs(deviation) - dead_zone), deviation)


def treble_mid_ratio_db(fp: Fingerprint) -> float | None:
    """10·log10((presence + air) / (low-mid + mid + upper-mid)), None without mids or treble."""
    mids = fp.low_mid_share + fp.mid_share + fp.upper_mid_share
    treble = fp.presence_share + fp.air_share
    if mids <= 0.0 or treble <= 0.0:
        return None
    return 10.0 * math.log10(treble / mids)


def balance_of(fp: Fingerprint) -> Balance:
    return Balance(fp.bass_mid_ratio_db, treble_mid_ratio_db(fp), fp.stereo_width)


def track_reference(fp: Fingerprint) -> Reference:
    """A reference track's balance as the target: small dead zone, most of the distance."""
    return Reference(
        name="reference track",
        bass_mid_ratio_db=fp.bass_mid_ratio_db,
        treble_mid_ratio_db=treble_mid_ratio_db(fp),
        bass_dead_zone_db=REFERENCE_TRACK_DEAD_ZONE_DB,
        treble_dead_zone_db=REFERENCE_TRACK_DEAD_ZONE_DB,
        correction_ratio=REFERENCE_TRACK_CORRECTION_RATIO,
        width=fp.stereo_width,
    )


def _shelf_db(deviation_db: float, dead_zone_db: float, ratio: float) -> float:
    return clamp(-ratio * _beyond_dead_zone(deviation_db, dead_zone_db),
                  -TONAL_MAX_DB, TONAL_MAX_DB)


def tonal_shelves_db(fp: Fingerprint, reference: Reference) -> tuple[float, float]:
    """(low shelf, high shelf) gains at full amount: toward ``reference``'s balance."""
    low = _shelf_db(fp.bass_mid_ratio_db - reference.bass_mid_ratio_db,
                    reference.bass_dead_zone_db, reference.correction_ratio)
    treble = treble_mid_ratio_db(fp)
    high = 0.0
    if treble is not None and reference.treble_mid_ratio_db is not None:
        high = _shelf_db(treble - reference.treble_mid_ratio_db,
                         reference.treble_dead_zone_db, reference.correction_ratio)
    return low, high


def _side_mid_ratio(width: float) -> float:
    """rms(S) / rms(M) from stereo_width = rms(S) / (rms(M) + rms(S))."""
    w = clamp(width, 0.0, MAX_WIDTH)
    return max(w / (1.0 - w), MIN_SIDE_MID_RATIO)


def _amplitude_db(ratio: float) -> float:
    return 20.0 * math.log10(ratio)


def side_gain_db(fp: Fingerprint, reference: Reference) -> float:
    """Side gain at full amount: toward the healthy width band (built-in) or the reference
    track's width; never widen near-mono material or when the correlation is low; always
    narrow anti-phase material."""
    ratio = _side_mid_ratio(fp.stereo_width)
    if reference.width is None:
        low_ratio = _side_mid_ratio(HEALTHY_WIDTH_LOW)
        high_ratio = _side_mid_ratio(HEALTHY_WIDTH_HIGH)
        correction = WIDTH_CORRECTION_RATIO
    else:
        low_ratio = high_ratio = _side_mid_ratio(reference.width)
        correction = reference.correction_ratio
    widen_allowed = smoothstep(
        NEAR_MONO_WIDTH, NEAR_MONO_WIDTH + NEAR_MONO_FADE, fp.stereo_width
    ) * smoothstep(
        WIDEN_MIN_CORRELATION, WIDEN_MIN_CORRELATION + WIDEN_CORRELATION_FADE, fp.phase_correlation
    )
    widen = widen_allowed * correction * max(0.0, _amplitude_db(low_ratio / ratio))
    narrow_wide = correction * max(0.0, _amplitude_db(ratio / high_ratio))
    narrow_anti_phase = WIDTH_MAX_DB * smoothstep(
        0.0, -ANTI_PHASE_FULL_CORRELATION, -fp.phase_correlation
    )
    narrow = max(narrow_wide, narrow_anti_phase)
    return clamp(min(widen, WIDTH_MAX_DB) - narrow, -WIDTH_MAX_DB, WIDTH_MAX_DB)
