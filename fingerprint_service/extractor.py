"""One decode pass → the 25D fingerprint and the track facts (SPEC section 4).

The decoded blocks are fed to the project's meters (``shared.loudness``, ``shared.levels``) and
to the feature accumulators; each keeps a few numbers per analysis frame at most, so memory
does not grow with the duration beyond that. When the stream ends the pure functions of
``fingerprint_service.features`` turn what was collected into the numbers.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from fingerprint_service.features.dynamics import dynamics_features
from fingerprint_service.features.frames import SpectralFrames, StftFramer
from fingerprint_service.features.rhythm import OnsetAccumulator, RhythmFeatures, rhythm_features
from fingerprint_service.features.spectral import SpectralFeatures, SpectrumAccumulator
from fingerprint_service.features.stereo import StereoAccumulator
from fingerprint_service.features.tonal import ChromaAccumulator, HarmonicAccumulator
from shared.audio import DEFAULT_BLOCK_FRAMES, AudioInfo, AudioReader, open_audio
from shared.blocks import channel_mean
from shared.errors import UnsupportedAudio
from shared.fingerprint import ALGORITHM_VERSION, Fingerprint, TrackInfo
from shared.hashing import sha256_bytes, sha256_file
from shared.levels import LevelMeter
from shared.loudness import LoudnessMeter
from shared.peak_reduction import envelope_meter, limiter_release_ms, limiting_curves
from shared.process import fork_is_safe, ignore_interrupts

#: The fingerprint service accepts up to 7.1 (SPEC section 3).
MAX_CHANNELS = 8


@dataclass(frozen=True, slots=True)
class SpectralSummary:
    """What the STFT half of the analysis learns: plain numbers, so it can cross a process
    boundary."""

    #: Frames analysed: those of the meters' pass, unless the file changed in between.
    frames: int
    spectral: SpectralFeatures
    rhythm: RhythmFeatures
    harmonic_ratio: float
    pitch_stability: float
    chroma_energy: float


class SpectralAnalysis:
    """The STFT of the mono mix and the features read off it: spectrum, onsets, chroma and
    harmonics."""

    def __init__(self, sample_rate: int, expected_frames: int) -> None:
        self.frames = 0
        self.framer = StftFramer(sample_rate)
        config = self.framer.config
        self.spectrum = SpectrumAccumulator(config)
        self.onsets = OnsetAccumulator(config.freqs_hz.shape[0])
        self.chroma = ChromaAccumulator(config)
        self.harmonic = HarmonicAccumulator(config, config.frame_count(expected_frames))

    def feed(self, block: NDArray[np.float64]) -> None:
        """Add ``(n, channels)`` float64 samples."""
        self.frames += int(block.shape[0])
        for batch in self.framer.feed(channel_mean(block)):
            self._analyse(batch)

    def _analyse(self, batch: SpectralFrames) -> None:
        self.spectrum.update(batch)
        self.onsets.update(batch)
        self.chroma.update(batch)
        self.harmonic.update(batch)

    def finish(self, duration_s: float) -> SpectralSummary:
        for batch in self.framer.finish():
            self._analyse(batch)
        self.harmonic.finish()
        return SpectralSummary(
            frames=self.frames,
            spectral=self.spectrum.features(),
            rhythm=rhythm_features(
                self.onsets.envelope(), self.framer.config.frame_rate_hz, duration_s
            ),
            harmonic_ratio=self.harmonic.harmonic_ratio(),
            pitch_stability=self.chroma.pitch_stability(),
            chroma_energy=self.chroma.chroma_energy(),
        )


class FingerprintAnalyzer:
    """Streaming analysis of one track: ``feed`` decoded blocks, then ``finish`` once.

    The meters (loudness, levels, stereo image) run here; the STFT features run in
    ``spectral``, or, with ``spectral=False``, elsewhere on the same samples (``extract``'s
    second process), their summary then handed to ``finish``."""

    def __init__(self, sample_rate: int, channels: int, expected_frames: int, *,
                 spectral: bool = True) -> None:
        self.sample_rate = sample_rate
        self.channels = channels
        self.frames = 0
        self.loudness = envelope_meter(sample_rate, channels)
        self.levels = LevelMeter(sample_rate, channels)
        self.stereo = StereoAccumulator(sample_rate, channels)
        self.spectral = SpectralAnalysis(sample_rate, expected_frames) if spectral else None

    def feed(self, block: NDArray[np.float64]) -> None:
        """Add ``(n, channels)`` float64 samples."""
        if block.shape[0] == 0:
            return
        self.frames += int(block.shape[0])
        self.loudness.feed(block)
        self.levels.feed(block)
        self.stereo.update(block)
        if self.spectral is not None:
            self.spectral.feed(block)

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    def finish(self, spectral: SpectralSummary | None = None) -> Fingerprint:
        """Flush every accumulator and compute the 25 dimensions (``spectral``: the STFT
        features of the same samples, when they were not fed here)."""
        if spectral is None:
            if self.spectral is None:
                raise ValueError("the STFT features were analysed elsewhere: pass their summary")
            spectral = self.spectral.finish(self.duration_s)
        self.stereo.finish()
        dynamics = dynamics_features(
            crest_db=self.levels.crest_db(),
            silence_ratio=self.levels.silence_ratio(),
            frame_rms_db=np.asarray(self.levels.frame_channel_rms_db(), dtype=np.float64),
            frame_peak=np.asarray(self.levels.frame_peak(), dtype=np.float64),
            short_term_lufs=np.asarray(self.loudness.short_term_lufs(1.0), dtype=np.float64),
        )
        shares = spectral.spectral.band_shares
        rhythm = spectral.rhythm
        return Fingerprint(
            sub_bass_share=shares[0],
            bass_share=shares[1],
            low_mid_share=shares[2],
            mid_share=shares[3],
            upper_mid_share=shares[4],
            presence_share=shares[5],
            air_share=shares[6],
            lufs=float(self.loudness.integrated_lufs()),
            crest_db=dynamics.crest_db,
            bass_mid_ratio_db=spectral.spectral.bass_mid_ratio_db,
            tempo_bpm=rhythm.tempo_bpm,
            rhythm_stability=rhythm.rhythm_stability,
            transient_density=rhythm.transient_density,
            silence_ratio=dynamics.silence_ratio,
            spectral_centroid_hz=spectral.spectral.spectral_centroid_hz,
            spectral_rolloff_hz=spectral.spectral.spectral_rolloff_hz,
            spectral_flatness=spectral.spectral.spectral_flatness,
            harmonic_ratio=spectral.harmonic_ratio,
            pitch_stability=spectral.pitch_stability,
            chroma_energy=spectral.chroma_energy,
            dynamic_range_variation=dynamics.dynamic_range_variation,
            loudness_variation_db=dynamics.loudness_variation_db,
            peak_consistency=dynamics.peak_consistency,
            stereo_width=self.stereo.stereo_width(),
            phase_correlation=self.stereo.phase_correlation(),
        )


def _spectral_pass(source: Path | bytes, frames: int, block_frames: int, *, digest: bool
                   ) -> tuple[SpectralSummary, str | None]:
    """The STFT half of a fingerprint, on a decode pass of its own (``extract``'s second
    process), and, with ``digest``, the file's SHA-256."""
    content_sha256 = _digest(source) if digest else None
    with open_audio(source, max_channels=MAX_CHANNELS, known_frames=frames) as reader:
        analysis = SpectralAnalysis(reader.info.sample_rate, frames)
        for block in reader.blocks(block_frames):
            analysis.feed(block)
    return analysis.finish(analysis.frames / reader.info.sample_rate), content_sha256


def extract(
    source: Path | bytes,
    *,
    content_sha256: str | None = None,
    block_frames: int = DEFAULT_BLOCK_FRAMES,
    on_loudness: Callable[[LoudnessMeter], None] | None = None,
    two_processes: bool = False,
) -> tuple[Fingerprint, TrackInfo]:
    """Fingerprint a file path or an in-memory encoded file in one streamed decode pass.

    Raises ``shared.errors.UnsupportedAudio`` for anything the decoder refuses, more than
    ``MAX_CHANNELS`` channels, or a sample rate outside 8–192 kHz. ``block_frames`` is the
    decode block size; it does not change the result. ``on_loudness``, when given, is handed
    the track's loudness meter once the whole track is fed (the library keeps what an album's
    loudness needs from it, without a second decode).

    ``two_processes``: the STFT features are computed in a forked child, on a decode pass of
    its own, while this process meters: the same fingerprint in about half the time on two
    idle cores. For a single-threaded caller with the cores to itself (the render CLI); where
    other threads run (a server), the work stays in this process.
    """
    with open_audio(source, max_channels=MAX_CHANNELS) as reader:
        info = reader.info
        if two_processes and fork_is_safe():
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"),
                                     initializer=ignore_interrupts) as pool:
                # The child also hashes the file: the meters here are the longer half.
                pending = pool.submit(_spectral_pass, source, info.frames, block_frames,
                                      digest=content_sha256 is None)
                analyzer = _metered(reader, info, block_frames, spectral=False)
                spectral, digest = pending.result()
                content_sha256 = content_sha256 or digest
            if spectral is not None and spectral.frames != analyzer.frames:
                raise UnsupportedAudio("cannot decode audio: the file changed while it was read")
        else:
            if content_sha256 is None:
                content_sha256 = _digest(source)
            analyzer = _metered(reader, info, block_frames, spectral=True)
            spectral = None
    assert content_sha256 is not None
    if analyzer.frames == 0:
        raise UnsupportedAudio("cannot decode audio: the file has zero audio frames")
    if on_loudness is not None:
        on_loudness(analyzer.loudness)
    fingerprint = analyzer.finish(spectral)
    curves = limiting_curves(analyzer.loudness, limiter_release_ms(fingerprint.tempo_bpm))
    track = TrackInfo(
        duration_s=analyzer.duration_s,
        sample_rate=info.sample_rate,
        channels=info.channels,
        frames=analyzer.frames,
        content_sha256=content_sha256,
        sample_peak_dbfs=float(analyzer.loudness.sample_peak_dbfs()),
        true_peak_dbtp=float(analyzer.loudness.true_peak_dbtp()),
        loudness_range_lu=float(analyzer.loudness.loudness_range_lu()),
        codec=info.codec,
        bit_rate_bps=info.bit_rate_bps,
        limited_loudness_lufs=curves.loudness_lufs,
        limited_loudness_range_lu=curves.loudness_range_lu,
    )
    return fingerprint, track


def _digest(source: Path | bytes) -> str:
    return sha256_bytes(source) if isinstance(source, bytes) else sha256_file(Path(source))


def _metered(reader: AudioReader, info: AudioInfo, block_frames: int, *,
             spectral: bool) -> FingerprintAnalyzer:
    analyzer = FingerprintAnalyzer(info.sample_rate, info.channels, info.frames,
                                   spectral=spectral)
    for block in reader.blocks(block_frames):
        analyzer.feed(block)
    return analyzer


def fingerprint_to_json(fingerprint: Fingerprint, info: TrackInfo) -> str:
    """The fingerprint and track facts as one JSON document (the ``analyze`` command's output)."""
    document = {
        "algorithm_version": ALGORITHM_VERSION,
        "fingerprint": fingerprint.to_dict(),
        "track_info": info.to_dict(),
    }
    return json.dumps(document, indent=2, allow_nan=False)
