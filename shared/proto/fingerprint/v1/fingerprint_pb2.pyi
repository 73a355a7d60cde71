from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FingerprintSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FINGERPRINT_SOURCE_UNSPECIFIED: _ClassVar[FingerprintSource]
    DATABASE: _ClassVar[FingerprintSource]
    SIDECAR: _ClassVar[FingerprintSource]
    COMPUTED: _ClassVar[FingerprintSource]
FINGERPRINT_SOURCE_UNSPECIFIED: FingerprintSource
DATABASE: FingerprintSource
SIDECAR: FingerprintSource
COMPUTED: FingerprintSource

class TrackRef(_message.Message):
    __slots__ = ("path", "content", "content_sha256")
    PATH_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    path: str
    content: bytes
    content_sha256: str
    def __init__(self, path: _Optional[str] = ..., content: _Optional[bytes] = ..., content_sha256: _Optional[str] = ...) -> None: ...

class GetFingerprintRequest(_message.Message):
    __slots__ = ("track", "cached_only", "force_recompute")
    TRACK_FIELD_NUMBER: _ClassVar[int]
    CACHED_ONLY_FIELD_NUMBER: _ClassVar[int]
    FORCE_RECOMPUTE_FIELD_NUMBER: _ClassVar[int]
    track: TrackRef
    cached_only: bool
    force_recompute: bool
    def __init__(self, track: _Optional[_Union[TrackRef, _Mapping]] = ..., cached_only: _Optional[bool] = ..., force_recompute: _Optional[bool] = ...) -> None: ...

class Fingerprint(_message.Message):
    __slots__ = ("sub_bass_share", "bass_share", "low_mid_share", "mid_share", "upper_mid_share", "presence_share", "air_share", "lufs", "crest_db", "bass_mid_ratio_db", "tempo_bpm", "rhythm_stability", "transient_density", "silence_ratio", "spectral_centroid_hz", "spectral_rolloff_hz", "spectral_flatness", "harmonic_ratio", "pitch_stability", "chroma_energy", "dynamic_range_variation", "loudness_variation_db", "peak_consistency", "stereo_width", "phase_correlation")
    SUB_BASS_SHARE_FIELD_NUMBER: _ClassVar[int]
    BASS_SHARE_FIELD_NUMBER: _ClassVar[int]
    LOW_MID_SHARE_FIELD_NUMBER: _ClassVar[int]
    MID_SHARE_FIELD_NUMBER: _ClassVar[int]
    UPPER_MID_SHARE_FIELD_NUMBER: _ClassVar[int]
    PRESENCE_SHARE_FIELD_NUMBER: _ClassVar[int]
    AIR_SHARE_FIELD_NUMBER: _ClassVar[int]
    LUFS_FIELD_NUMBER: _ClassVar[int]
    CREST_DB_FIELD_NUMBER: _ClassVar[int]
    BASS_MID_RATIO_DB_FIELD_NUMBER: _ClassVar[int]
    TEMPO_BPM_FIELD_NUMBER: _ClassVar[int]
    RHYTHM_STABILITY_FIELD_NUMBER: _ClassVar[int]
    TRANSIENT_DENSITY_FIELD_NUMBER: _ClassVar[int]
    SILENCE_RATIO_FIELD_NUMBER: _ClassVar[int]
    SPECTRAL_CENTROID_HZ_FIELD_NUMBER: _ClassVar[int]
    SPECTRAL_ROLLOFF_HZ_FIELD_NUMBER: _ClassVar[int]
    SPECTRAL_FLATNESS_FIELD_NUMBER: _ClassVar[int]
    HARMONIC_RATIO_FIELD_NUMBER: _ClassVar[int]
    PITCH_STABILITY_FIELD_NUMBER: _ClassVar[int]
    CHROMA_ENERGY_FIELD_NUMBER: _ClassVar[int]
    DYNAMIC_RANGE_VARIATION_FIELD_NUMBER: _ClassVar[int]
    LOUDNESS_VARIATION_DB_FIELD_NUMBER: _ClassVar[int]
    PEAK_CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    STEREO_WIDTH_FIELD_NUMBER: _ClassVar[int]
    PHASE_CORRELATION_FIELD_NUMBER: _ClassVar[int]
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
    def __init__(self, sub_bass_share: _Optional[float] = ..., bass_share: _Optional[float] = ..., low_mid_share: _Optional[float] = ..., mid_share: _Optional[float] = ..., upper_mid_share: _Optional[float] = ..., presence_share: _Optional[float] = ..., air_share: _Optional[float] = ..., lufs: _Optional[float] = ..., crest_db: _Optional[float] = ..., bass_mid_ratio_db: _Optional[float] = ..., tempo_bpm: _Optional[float] = ..., rhythm_stability: _Optional[float] = ..., transient_density: _Optional[float] = ..., silence_ratio: _Optional[float] = ..., spectral_centroid_hz: _Optional[float] = ..., spectral_rolloff_hz: _Optional[float] = ..., spectral_flatness: _Optional[float] = ..., harmonic_ratio: _Optional[float] = ..., pitch_stability: _Optional[float] = ..., chroma_energy: _Optional[float] = ..., dynamic_range_variation: _Optional[float] = ..., loudness_variation_db: _Optional[float] = ..., peak_consistency: _Optional[float] = ..., stereo_width: _Optional[float] = ..., phase_correlation: _Optional[float] = ...) -> None: ...

class TrackInfo(_message.Message):
    __slots__ = ("duration_s", "sample_rate", "channels", "frames", "content_sha256", "sample_peak_dbfs", "true_peak_dbtp", "loudness_range_lu", "codec", "bit_rate_bps", "limited_loudness_lufs")
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    CONTENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_PEAK_DBFS_FIELD_NUMBER: _ClassVar[int]
    TRUE_PEAK_DBTP_FIELD_NUMBER: _ClassVar[int]
    LOUDNESS_RANGE_LU_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    BIT_RATE_BPS_FIELD_NUMBER: _ClassVar[int]
    LIMITED_LOUDNESS_LUFS_FIELD_NUMBER: _ClassVar[int]
    duration_s: float
    sample_rate: int
    channels: int
    frames: int
    content_sha256: str
    sample_peak_dbfs: float
    true_peak_dbtp: float
    loudness_range_lu: float
    codec: str
    bit_rate_bps: int
    limited_loudness_lufs: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, duration_s: _Optional[float] = ..., sample_rate: _Optional[int] = ..., channels: _Optional[int] = ..., frames: _Optional[int] = ..., content_sha256: _Optional[str] = ..., sample_peak_dbfs: _Optional[float] = ..., true_peak_dbtp: _Optional[float] = ..., loudness_range_lu: _Optional[float] = ..., codec: _Optional[str] = ..., bit_rate_bps: _Optional[int] = ..., limited_loudness_lufs: _Optional[_Iterable[float]] = ...) -> None: ...

class GetFingerprintResponse(_message.Message):
    __slots__ = ("fingerprint", "track_info", "algorithm_version", "source", "compute_ms")
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    TRACK_INFO_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_VERSION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_MS_FIELD_NUMBER: _ClassVar[int]
    fingerprint: Fingerprint
    track_info: TrackInfo
    algorithm_version: int
    source: FingerprintSource
    compute_ms: float
    def __init__(self, fingerprint: _Optional[_Union[Fingerprint, _Mapping]] = ..., track_info: _Optional[_Union[TrackInfo, _Mapping]] = ..., algorithm_version: _Optional[int] = ..., source: _Optional[_Union[FingerprintSource, str]] = ..., compute_ms: _Optional[float] = ...) -> None: ...
