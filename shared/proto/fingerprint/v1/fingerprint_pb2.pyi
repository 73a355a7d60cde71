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

class ScanOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCAN_OUTCOME_UNSPECIFIED: _ClassVar[ScanOutcome]
    FILE_FINGERPRINTED: _ClassVar[ScanOutcome]
    FILE_UNCHANGED: _ClassVar[ScanOutcome]
    FILE_SKIPPED: _ClassVar[ScanOutcome]
    FILE_FAILED: _ClassVar[ScanOutcome]
    FILE_GONE: _ClassVar[ScanOutcome]
FINGERPRINT_SOURCE_UNSPECIFIED: FingerprintSource
DATABASE: FingerprintSource
SIDECAR: FingerprintSource
COMPUTED: FingerprintSource
SCAN_OUTCOME_UNSPECIFIED: ScanOutcome
FILE_FINGERPRINTED: ScanOutcome
FILE_UNCHANGED: ScanOutcome
FILE_SKIPPED: ScanOutcome
FILE_FAILED: ScanOutcome
FILE_GONE: ScanOutcome

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
    __slots__ = ("duration_s", "sample_rate", "channels", "frames", "content_sha256", "sample_peak_dbfs", "true_peak_dbtp", "loudness_range_lu", "codec", "bit_rate_bps", "limited_loudness_lufs", "limited_loudness_range_lu")
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
    LIMITED_LOUDNESS_RANGE_LU_FIELD_NUMBER: _ClassVar[int]
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
    limited_loudness_range_lu: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, duration_s: _Optional[float] = ..., sample_rate: _Optional[int] = ..., channels: _Optional[int] = ..., frames: _Optional[int] = ..., content_sha256: _Optional[str] = ..., sample_peak_dbfs: _Optional[float] = ..., true_peak_dbtp: _Optional[float] = ..., loudness_range_lu: _Optional[float] = ..., codec: _Optional[str] = ..., bit_rate_bps: _Optional[int] = ..., limited_loudness_lufs: _Optional[_Iterable[float]] = ..., limited_loudness_range_lu: _Optional[_Iterable[float]] = ...) -> None: ...

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

class ScanLibraryRequest(_message.Message):
    __slots__ = ("folder",)
    FOLDER_FIELD_NUMBER: _ClassVar[int]
    folder: str
    def __init__(self, folder: _Optional[str] = ...) -> None: ...

class ScanProgress(_message.Message):
    __slots__ = ("files_found", "files_fingerprinted", "files_unchanged", "files_skipped", "files_failed", "files_gone", "bytes_done", "bytes_to_do", "bytes_per_s", "eta_s", "elapsed_s", "path", "outcome", "error")
    FILES_FOUND_FIELD_NUMBER: _ClassVar[int]
    FILES_FINGERPRINTED_FIELD_NUMBER: _ClassVar[int]
    FILES_UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    FILES_SKIPPED_FIELD_NUMBER: _ClassVar[int]
    FILES_FAILED_FIELD_NUMBER: _ClassVar[int]
    FILES_GONE_FIELD_NUMBER: _ClassVar[int]
    BYTES_DONE_FIELD_NUMBER: _ClassVar[int]
    BYTES_TO_DO_FIELD_NUMBER: _ClassVar[int]
    BYTES_PER_S_FIELD_NUMBER: _ClassVar[int]
    ETA_S_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_S_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    files_found: int
    files_fingerprinted: int
    files_unchanged: int
    files_skipped: int
    files_failed: int
    files_gone: int
    bytes_done: int
    bytes_to_do: int
    bytes_per_s: float
    eta_s: float
    elapsed_s: float
    path: str
    outcome: ScanOutcome
    error: str
    def __init__(self, files_found: _Optional[int] = ..., files_fingerprinted: _Optional[int] = ..., files_unchanged: _Optional[int] = ..., files_skipped: _Optional[int] = ..., files_failed: _Optional[int] = ..., files_gone: _Optional[int] = ..., bytes_done: _Optional[int] = ..., bytes_to_do: _Optional[int] = ..., bytes_per_s: _Optional[float] = ..., eta_s: _Optional[float] = ..., elapsed_s: _Optional[float] = ..., path: _Optional[str] = ..., outcome: _Optional[_Union[ScanOutcome, str]] = ..., error: _Optional[str] = ...) -> None: ...

class ScanLibraryResponse(_message.Message):
    __slots__ = ("progress", "summary")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    progress: ScanProgress
    summary: ScanProgress
    def __init__(self, progress: _Optional[_Union[ScanProgress, _Mapping]] = ..., summary: _Optional[_Union[ScanProgress, _Mapping]] = ...) -> None: ...

class GetAlbumRequest(_message.Message):
    __slots__ = ("album_id", "track_path")
    ALBUM_ID_FIELD_NUMBER: _ClassVar[int]
    TRACK_PATH_FIELD_NUMBER: _ClassVar[int]
    album_id: str
    track_path: str
    def __init__(self, album_id: _Optional[str] = ..., track_path: _Optional[str] = ...) -> None: ...

class AlbumTrack(_message.Message):
    __slots__ = ("path", "title", "artist", "disc_number", "track_number", "duration_s", "loudness_lufs", "true_peak_dbtp", "replaygain_track_gain_db", "replaygain_track_peak", "content_sha256")
    PATH_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    ARTIST_FIELD_NUMBER: _ClassVar[int]
    DISC_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TRACK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    LOUDNESS_LUFS_FIELD_NUMBER: _ClassVar[int]
    TRUE_PEAK_DBTP_FIELD_NUMBER: _ClassVar[int]
    REPLAYGAIN_TRACK_GAIN_DB_FIELD_NUMBER: _ClassVar[int]
    REPLAYGAIN_TRACK_PEAK_FIELD_NUMBER: _ClassVar[int]
    CONTENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    path: str
    title: str
    artist: str
    disc_number: int
    track_number: int
    duration_s: float
    loudness_lufs: float
    true_peak_dbtp: float
    replaygain_track_gain_db: float
    replaygain_track_peak: float
    content_sha256: str
    def __init__(self, path: _Optional[str] = ..., title: _Optional[str] = ..., artist: _Optional[str] = ..., disc_number: _Optional[int] = ..., track_number: _Optional[int] = ..., duration_s: _Optional[float] = ..., loudness_lufs: _Optional[float] = ..., true_peak_dbtp: _Optional[float] = ..., replaygain_track_gain_db: _Optional[float] = ..., replaygain_track_peak: _Optional[float] = ..., content_sha256: _Optional[str] = ...) -> None: ...

class GetAlbumResponse(_message.Message):
    __slots__ = ("album_id", "album_artist", "album_title", "grouped_by_folder", "integrated_lufs", "loudness_range_lu", "true_peak_dbtp", "replaygain_album_gain_db", "replaygain_album_peak", "replaygain_reference_lufs", "tracks")
    ALBUM_ID_FIELD_NUMBER: _ClassVar[int]
    ALBUM_ARTIST_FIELD_NUMBER: _ClassVar[int]
    ALBUM_TITLE_FIELD_NUMBER: _ClassVar[int]
    GROUPED_BY_FOLDER_FIELD_NUMBER: _ClassVar[int]
    INTEGRATED_LUFS_FIELD_NUMBER: _ClassVar[int]
    LOUDNESS_RANGE_LU_FIELD_NUMBER: _ClassVar[int]
    TRUE_PEAK_DBTP_FIELD_NUMBER: _ClassVar[int]
    REPLAYGAIN_ALBUM_GAIN_DB_FIELD_NUMBER: _ClassVar[int]
    REPLAYGAIN_ALBUM_PEAK_FIELD_NUMBER: _ClassVar[int]
    REPLAYGAIN_REFERENCE_LUFS_FIELD_NUMBER: _ClassVar[int]
    TRACKS_FIELD_NUMBER: _ClassVar[int]
    album_id: str
    album_artist: str
    album_title: str
    grouped_by_folder: bool
    integrated_lufs: float
    loudness_range_lu: float
    true_peak_dbtp: float
    replaygain_album_gain_db: float
    replaygain_album_peak: float
    replaygain_reference_lufs: float
    tracks: _containers.RepeatedCompositeFieldContainer[AlbumTrack]
    def __init__(self, album_id: _Optional[str] = ..., album_artist: _Optional[str] = ..., album_title: _Optional[str] = ..., grouped_by_folder: _Optional[bool] = ..., integrated_lufs: _Optional[float] = ..., loudness_range_lu: _Optional[float] = ..., true_peak_dbtp: _Optional[float] = ..., replaygain_album_gain_db: _Optional[float] = ..., replaygain_album_peak: _Optional[float] = ..., replaygain_reference_lufs: _Optional[float] = ..., tracks: _Optional[_Iterable[_Union[AlbumTrack, _Mapping]]] = ...) -> None: ...

class SimilarTracksRequest(_message.Message):
    __slots__ = ("track_path", "count", "exclude_same_album", "max_per_artist", "distinct")
    TRACK_PATH_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_SAME_ALBUM_FIELD_NUMBER: _ClassVar[int]
    MAX_PER_ARTIST_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_FIELD_NUMBER: _ClassVar[int]
    track_path: str
    count: int
    exclude_same_album: bool
    max_per_artist: int
    distinct: bool
    def __init__(self, track_path: _Optional[str] = ..., count: _Optional[int] = ..., exclude_same_album: _Optional[bool] = ..., max_per_artist: _Optional[int] = ..., distinct: _Optional[bool] = ...) -> None: ...

class SimilarTrack(_message.Message):
    __slots__ = ("path", "distance", "similarity", "artist", "title", "album_id")
    PATH_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    ARTIST_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    ALBUM_ID_FIELD_NUMBER: _ClassVar[int]
    path: str
    distance: float
    similarity: float
    artist: str
    title: str
    album_id: str
    def __init__(self, path: _Optional[str] = ..., distance: _Optional[float] = ..., similarity: _Optional[float] = ..., artist: _Optional[str] = ..., title: _Optional[str] = ..., album_id: _Optional[str] = ...) -> None: ...

class SimilarTracksResponse(_message.Message):
    __slots__ = ("tracks",)
    TRACKS_FIELD_NUMBER: _ClassVar[int]
    tracks: _containers.RepeatedCompositeFieldContainer[SimilarTrack]
    def __init__(self, tracks: _Optional[_Iterable[_Union[SimilarTrack, _Mapping]]] = ...) -> None: ...

class SonicPathRequest(_message.Message):
    __slots__ = ("start_path", "end_path", "count")
    START_PATH_FIELD_NUMBER: _ClassVar[int]
    END_PATH_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    start_path: str
    end_path: str
    count: int
    def __init__(self, start_path: _Optional[str] = ..., end_path: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class SonicPathResponse(_message.Message):
    __slots__ = ("tracks",)
    TRACKS_FIELD_NUMBER: _ClassVar[int]
    tracks: _containers.RepeatedCompositeFieldContainer[SimilarTrack]
    def __init__(self, tracks: _Optional[_Iterable[_Union[SimilarTrack, _Mapping]]] = ...) -> None: ...
