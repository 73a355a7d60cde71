from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Encoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PCM_S16LE: _ClassVar[Encoding]
    PCM_S24LE: _ClassVar[Encoding]
    PCM_F32LE: _ClassVar[Encoding]

class Container(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RAW: _ClassVar[Container]
    WAV: _ClassVar[Container]
    FLAC: _ClassVar[Container]
    OGG_OPUS: _ClassVar[Container]
    MP3: _ClassVar[Container]
    MP4_AAC: _ClassVar[Container]
    ADTS_AAC: _ClassVar[Container]

class LoudnessMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRACK: _ClassVar[LoudnessMode]
    ALBUM: _ClassVar[LoudnessMode]

class Category(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CATEGORY_UNSPECIFIED: _ClassVar[Category]
    COMPRESSED_LOUD: _ClassVar[Category]
    DYNAMIC_LOUD: _ClassVar[Category]
    QUIET: _ClassVar[Category]

class FingerprintSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FINGERPRINT_SOURCE_UNSPECIFIED: _ClassVar[FingerprintSource]
    DATABASE: _ClassVar[FingerprintSource]
    SIDECAR: _ClassVar[FingerprintSource]
    COMPUTED: _ClassVar[FingerprintSource]
    FALLBACK: _ClassVar[FingerprintSource]

class FallbackReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NONE: _ClassVar[FallbackReason]
    UNAVAILABLE: _ClassVar[FallbackReason]
    DEADLINE_EXCEEDED: _ClassVar[FallbackReason]
    ERROR: _ClassVar[FallbackReason]
PCM_S16LE: Encoding
PCM_S24LE: Encoding
PCM_F32LE: Encoding
RAW: Container
WAV: Container
FLAC: Container
OGG_OPUS: Container
MP3: Container
MP4_AAC: Container
ADTS_AAC: Container
TRACK: LoudnessMode
ALBUM: LoudnessMode
CATEGORY_UNSPECIFIED: Category
COMPRESSED_LOUD: Category
DYNAMIC_LOUD: Category
QUIET: Category
FINGERPRINT_SOURCE_UNSPECIFIED: FingerprintSource
DATABASE: FingerprintSource
SIDECAR: FingerprintSource
COMPUTED: FingerprintSource
FALLBACK: FingerprintSource
NONE: FallbackReason
UNAVAILABLE: FallbackReason
DEADLINE_EXCEEDED: FallbackReason
ERROR: FallbackReason

class TrackRef(_message.Message):
    __slots__ = ("path", "content")
    PATH_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    path: str
    content: bytes
    def __init__(self, path: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

class MasterTrackRequest(_message.Message):
    __slots__ = ("track", "target_lufs", "true_peak_ceiling_dbtp", "intensity", "encoding", "container", "start_s", "chunk_frames", "fingerprint_timeout_ms", "bit_rate_kbps", "mp3_vbr", "reference", "tonal_amount", "width_amount", "dynamics_amount", "loudness_mode")
    TRACK_FIELD_NUMBER: _ClassVar[int]
    TARGET_LUFS_FIELD_NUMBER: _ClassVar[int]
    TRUE_PEAK_CEILING_DBTP_FIELD_NUMBER: _ClassVar[int]
    INTENSITY_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FRAMES_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    BIT_RATE_KBPS_FIELD_NUMBER: _ClassVar[int]
    MP3_VBR_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    TONAL_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    DYNAMICS_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    LOUDNESS_MODE_FIELD_NUMBER: _ClassVar[int]
    track: TrackRef
    target_lufs: float
    true_peak_ceiling_dbtp: float
    intensity: float
    encoding: Encoding
    container: Container
    start_s: float
    chunk_frames: int
    fingerprint_timeout_ms: int
    bit_rate_kbps: int
    mp3_vbr: bool
    reference: TrackRef
    tonal_amount: float
    width_amount: float
    dynamics_amount: float
    loudness_mode: LoudnessMode
    def __init__(self, track: _Optional[_Union[TrackRef, _Mapping]] = ..., target_lufs: _Optional[float] = ..., true_peak_ceiling_dbtp: _Optional[float] = ..., intensity: _Optional[float] = ..., encoding: _Optional[_Union[Encoding, str]] = ..., container: _Optional[_Union[Container, str]] = ..., start_s: _Optional[float] = ..., chunk_frames: _Optional[int] = ..., fingerprint_timeout_ms: _Optional[int] = ..., bit_rate_kbps: _Optional[int] = ..., mp3_vbr: _Optional[bool] = ..., reference: _Optional[_Union[TrackRef, _Mapping]] = ..., tonal_amount: _Optional[float] = ..., width_amount: _Optional[float] = ..., dynamics_amount: _Optional[float] = ..., loudness_mode: _Optional[_Union[LoudnessMode, str]] = ...) -> None: ...

class MasteringPlan(_message.Message):
    __slots__ = ("category", "fingerprint_source", "fallback_reason", "input_lufs", "input_crest_db", "input_true_peak_dbtp", "effective_target_lufs", "gain_db", "expansion_amount", "compression_amount", "low_shelf_gain_db", "high_shelf_gain_db", "side_gain_db", "true_peak_ceiling_dbtp", "limiter_release_ms", "target_lufs", "intensity", "reasons", "tonal_amount", "width_amount", "dynamics_amount", "reference_lufs", "album_lufs", "limiter_ceiling_dbtp", "highpass_cutoff_hz")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_SOURCE_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_REASON_FIELD_NUMBER: _ClassVar[int]
    INPUT_LUFS_FIELD_NUMBER: _ClassVar[int]
    INPUT_CREST_DB_FIELD_NUMBER: _ClassVar[int]
    INPUT_TRUE_PEAK_DBTP_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TARGET_LUFS_FIELD_NUMBER: _ClassVar[int]
    GAIN_DB_FIELD_NUMBER: _ClassVar[int]
    EXPANSION_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    LOW_SHELF_GAIN_DB_FIELD_NUMBER: _ClassVar[int]
    HIGH_SHELF_GAIN_DB_FIELD_NUMBER: _ClassVar[int]
    SIDE_GAIN_DB_FIELD_NUMBER: _ClassVar[int]
    TRUE_PEAK_CEILING_DBTP_FIELD_NUMBER: _ClassVar[int]
    LIMITER_RELEASE_MS_FIELD_NUMBER: _ClassVar[int]
    TARGET_LUFS_FIELD_NUMBER: _ClassVar[int]
    INTENSITY_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    TONAL_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    DYNAMICS_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_LUFS_FIELD_NUMBER: _ClassVar[int]
    ALBUM_LUFS_FIELD_NUMBER: _ClassVar[int]
    LIMITER_CEILING_DBTP_FIELD_NUMBER: _ClassVar[int]
    HIGHPASS_CUTOFF_HZ_FIELD_NUMBER: _ClassVar[int]
    category: Category
    fingerprint_source: FingerprintSource
    fallback_reason: FallbackReason
    input_lufs: float
    input_crest_db: float
    input_true_peak_dbtp: float
    effective_target_lufs: float
    gain_db: float
    expansion_amount: float
    compression_amount: float
    low_shelf_gain_db: float
    high_shelf_gain_db: float
    side_gain_db: float
    true_peak_ceiling_dbtp: float
    limiter_release_ms: float
    target_lufs: float
    intensity: float
    reasons: _containers.RepeatedScalarFieldContainer[str]
    tonal_amount: float
    width_amount: float
    dynamics_amount: float
    reference_lufs: float
    album_lufs: float
    limiter_ceiling_dbtp: float
    highpass_cutoff_hz: float
    def __init__(self, category: _Optional[_Union[Category, str]] = ..., fingerprint_source: _Optional[_Union[FingerprintSource, str]] = ..., fallback_reason: _Optional[_Union[FallbackReason, str]] = ..., input_lufs: _Optional[float] = ..., input_crest_db: _Optional[float] = ..., input_true_peak_dbtp: _Optional[float] = ..., effective_target_lufs: _Optional[float] = ..., gain_db: _Optional[float] = ..., expansion_amount: _Optional[float] = ..., compression_amount: _Optional[float] = ..., low_shelf_gain_db: _Optional[float] = ..., high_shelf_gain_db: _Optional[float] = ..., side_gain_db: _Optional[float] = ..., true_peak_ceiling_dbtp: _Optional[float] = ..., limiter_release_ms: _Optional[float] = ..., target_lufs: _Optional[float] = ..., intensity: _Optional[float] = ..., reasons: _Optional[_Iterable[str]] = ..., tonal_amount: _Optional[float] = ..., width_amount: _Optional[float] = ..., dynamics_amount: _Optional[float] = ..., reference_lufs: _Optional[float] = ..., album_lufs: _Optional[float] = ..., limiter_ceiling_dbtp: _Optional[float] = ..., highpass_cutoff_hz: _Optional[float] = ...) -> None: ...

class StreamHeader(_message.Message):
    __slots__ = ("sample_rate", "channels", "encoding", "container", "total_frames", "duration_s", "plan", "content_sha256", "codec", "bit_rate_kbps", "output_sample_rate", "encoder_delay_frames")
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FRAMES_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    CONTENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    BIT_RATE_KBPS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    ENCODER_DELAY_FRAMES_FIELD_NUMBER: _ClassVar[int]
    sample_rate: int
    channels: int
    encoding: Encoding
    container: Container
    total_frames: int
    duration_s: float
    plan: MasteringPlan
    content_sha256: str
    codec: str
    bit_rate_kbps: int
    output_sample_rate: int
    encoder_delay_frames: int
    def __init__(self, sample_rate: _Optional[int] = ..., channels: _Optional[int] = ..., encoding: _Optional[_Union[Encoding, str]] = ..., container: _Optional[_Union[Container, str]] = ..., total_frames: _Optional[int] = ..., duration_s: _Optional[float] = ..., plan: _Optional[_Union[MasteringPlan, _Mapping]] = ..., content_sha256: _Optional[str] = ..., codec: _Optional[str] = ..., bit_rate_kbps: _Optional[int] = ..., output_sample_rate: _Optional[int] = ..., encoder_delay_frames: _Optional[int] = ...) -> None: ...

class AudioChunk(_message.Message):
    __slots__ = ("sequence", "start_frame", "pcm")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    START_FRAME_FIELD_NUMBER: _ClassVar[int]
    PCM_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    start_frame: int
    pcm: bytes
    def __init__(self, sequence: _Optional[int] = ..., start_frame: _Optional[int] = ..., pcm: _Optional[bytes] = ...) -> None: ...

class StreamSummary(_message.Message):
    __slots__ = ("frames_sent", "output_lufs", "output_true_peak_dbtp", "processing_ms", "first_chunk_ms", "bytes_sent")
    FRAMES_SENT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_LUFS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TRUE_PEAK_DBTP_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_MS_FIELD_NUMBER: _ClassVar[int]
    FIRST_CHUNK_MS_FIELD_NUMBER: _ClassVar[int]
    BYTES_SENT_FIELD_NUMBER: _ClassVar[int]
    frames_sent: int
    output_lufs: float
    output_true_peak_dbtp: float
    processing_ms: float
    first_chunk_ms: float
    bytes_sent: int
    def __init__(self, frames_sent: _Optional[int] = ..., output_lufs: _Optional[float] = ..., output_true_peak_dbtp: _Optional[float] = ..., processing_ms: _Optional[float] = ..., first_chunk_ms: _Optional[float] = ..., bytes_sent: _Optional[int] = ...) -> None: ...

class MasterTrackResponse(_message.Message):
    __slots__ = ("header", "chunk", "summary")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    header: StreamHeader
    chunk: AudioChunk
    summary: StreamSummary
    def __init__(self, header: _Optional[_Union[StreamHeader, _Mapping]] = ..., chunk: _Optional[_Union[AudioChunk, _Mapping]] = ..., summary: _Optional[_Union[StreamSummary, _Mapping]] = ...) -> None: ...
