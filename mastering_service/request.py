"""What a caller may ask of a render (MasterTrack, or the ``render``/``plan`` CLI): the defaults,
the allowed ranges and the one place that checks them (SPEC section 3).

Every message names the wire field and its allowed range, so the same words reach a gRPC caller
(INVALID_ARGUMENT / OUT_OF_RANGE) and a CLI user.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mastering_service.chain.codecs import FORMATS, check_options, codec_options
from mastering_service.chain.encoding import ENCODINGS
from mastering_service.plan import LoudnessMode
from shared.errors import InvalidArgument, SeekOutOfRange


@dataclass(frozen=True, slots=True)
class Bounds:
    """An inclusive allowed range of one request field, in the unit its name carries."""

    low: float
    high: float
    unit: str = ""

    def check(self, name: str, value: float) -> float:
        number = float(value)
        if not (math.isfinite(number) and self.low <= number <= self.high):
            unit = f" {self.unit}" if self.unit else ""
            raise InvalidArgument(f"{name} must be between {self.low:g} and {self.high:g}{unit}, "
                                  f"not {value:g}")
        return number


DEFAULT_TARGET_LUFS = -14.0
DEFAULT_CEILING_DBTP = -1.0
DEFAULT_INTENSITY = 1.0
TARGET_LUFS = Bounds(-40.0, -5.0, "LUFS")
CEILING_DBTP = Bounds(-9.0, 0.0, "dBTP")
INTENSITY = Bounds(0.0, 1.0)
#: tonal_amount, width_amount, dynamics_amount: shares of their stage, like intensity.
ASPECT_AMOUNT = Bounds(0.0, 1.0)
ASPECT_AMOUNT_FIELDS = ("tonal_amount", "width_amount", "dynamics_amount")
#: PCM containers, then the encoded formats (``chain.codecs.FORMATS``).
CONTAINERS = ("raw", "wav", *FORMATS)
#: Largest chunk a caller may ask for: 256 Ki frames of stereo f32 is 2 MiB, well under the
#: 4 MiB default receive limit of gRPC clients.
MAX_CHUNK_FRAMES = 262_144
MAX_FINGERPRINT_TIMEOUT_MS = 60_000


@dataclass(frozen=True, slots=True)
class MasterRequest:
    path: str | None = None
    content: bytes | None = None
    #: None = DEFAULT_TARGET_LUFS, or with a reference track the reference's loudness.
    target_lufs: float | None = None
    true_peak_ceiling_dbtp: float = DEFAULT_CEILING_DBTP
    intensity: float = DEFAULT_INTENSITY
    encoding: str = "s16"
    container: str = "raw"
    start_s: float = 0.0
    chunk_frames: int = 0  # 0 = the server default
    fingerprint_timeout_ms: int | None = None  # None = the server default
    bit_rate_kbps: int | None = None  # lossy containers; None = the format's default
    mp3_vbr: bool = False
    #: A reference track, like the track: a path under the media root or the file's bytes.
    reference_path: str | None = None
    reference_content: bytes | None = None
    #: Per-aspect amounts, 0–1; None = ``intensity``.
    tonal_amount: float | None = None
    width_amount: float | None = None
    dynamics_amount: float | None = None
    #: TRACK or ALBUM loudness (``plan.LoudnessMode``).
    loudness_mode: LoudnessMode = LoudnessMode.TRACK

    @property
    def has_reference(self) -> bool:
        return self.reference_path is not None or self.reference_content is not None

    def aspect_amounts(self) -> dict[str, float | None]:
        """The per-aspect amounts by their plan keyword (``lwrp.plan_mastering``)."""
        return {name: getattr(self, name) for name in ASPECT_AMOUNT_FIELDS}


def validate(request: MasterRequest) -> None:
    """Every parameter against its allowed range. (Which track, and whether ``start_s`` lies
    inside it, is known only once the track is open: ``check_seek``.)"""
    if request.target_lufs is not None:
        TARGET_LUFS.check("target_lufs", request.target_lufs)
    CEILING_DBTP.check("true_peak_ceiling_dbtp", request.true_peak_ceiling_dbtp)
    INTENSITY.check("intensity", request.intensity)
    for name, amount in request.aspect_amounts().items():
        if amount is not None:
            ASPECT_AMOUNT.check(name, amount)
    if request.reference_path is not None and request.reference_content is not None:
        raise InvalidArgument("reference: set at most one of reference.path or "
                              "reference.content")
    if request.encoding not in ENCODINGS:
        raise InvalidArgument(f"encoding must be one of {', '.join(ENCODINGS)}")
    if request.container not in CONTAINERS:
        raise InvalidArgument(f"container must be one of {', '.join(CONTAINERS)}")
    _check_output_format(request)
    if not (math.isfinite(request.start_s) and request.start_s >= 0.0):
        raise InvalidArgument(f"start_s must be 0 or more seconds, not {request.start_s:g}")
    if not 0 <= request.chunk_frames <= MAX_CHUNK_FRAMES:
        raise InvalidArgument(f"chunk_frames must be between 0 (server default) and "
                              f"{MAX_CHUNK_FRAMES}, not {request.chunk_frames}")
    timeout = request.fingerprint_timeout_ms
    if timeout is not None and not 0 <= timeout <= MAX_FINGERPRINT_TIMEOUT_MS:
        raise InvalidArgument(f"fingerprint_timeout_ms must be between 0 and "
                              f"{MAX_FINGERPRINT_TIMEOUT_MS} ms, not {timeout}")


def _check_output_format(request: MasterRequest) -> None:
    """``encoding``, ``bit_rate_kbps`` and ``mp3_vbr`` against the container they go with."""
    codec = codec_options(request.container, request.encoding, request.bit_rate_kbps,
                          request.mp3_vbr)
    if codec is None:
        if request.bit_rate_kbps is not None or request.mp3_vbr:
            raise InvalidArgument("bit_rate_kbps and mp3_vbr apply to the lossy containers "
                                  "(OGG_OPUS, MP3, MP4_AAC, ADTS_AAC) only")
        return
    if codec.spec.lossy and request.encoding != "s16":
        raise InvalidArgument(f"encoding does not apply to {request.container}: leave it at "
                              "the default (PCM_S16LE)")
    if not codec.spec.lossy and request.encoding == "f32":
        raise InvalidArgument("encoding for FLAC must be PCM_S16LE (16-bit) or PCM_S24LE "
                              "(24-bit), not PCM_F32LE")
    try:
        check_options(codec)
    except ValueError as error:
        raise InvalidArgument(str(error)) from None


def check_seek(start_s: float, sample_rate: int, frames: int) -> int:
    """The frame ``start_s`` lands on; OUT_OF_RANGE (naming the duration) unless it lies inside
    the track (SPEC section 3)."""
    start_frame = round(start_s * sample_rate)
    if start_frame >= frames:
        raise SeekOutOfRange(f"start_s {start_s:g} s is at or beyond the end of the track "
                             f"(duration {frames / sample_rate:.3f} s)")
    return start_frame
