"""The one decoder: streamed block reads of any format libsndfile knows.

WAV, FLAC, OGG/Vorbis, Opus and MP3 are decoded by libsndfile (bundled with ``soundfile``).
Nothing here reads a whole file into memory: callers iterate ``AudioReader.blocks``. Samples come
out as float64 in [-1, 1], shape ``(frames, channels)``, with any non-finite sample replaced by 0
so NaN/Inf from a broken float file can never reach the DSP.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from shared.errors import UnsupportedAudio

#: Default analysis/render block: ~1.5 s at 44.1 kHz, large enough to amortise Python overhead,
#: small enough that a block of 8 float64 channels stays under 5 MB.
DEFAULT_BLOCK_FRAMES = 65_536

AudioBlock = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class AudioInfo:
    sample_rate: int
    channels: int
    frames: int
    codec: str  # libsndfile "FORMAT/SUBTYPE", e.g. "OGG/VORBIS", "WAV/PCM_16"

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def _decoder_reason(exc: Exception) -> str:
    """The decoder's own reason, without the file name (which may be a server path)."""
    reason = getattr(exc, "error_string", None) or str(exc)
    return f"cannot decode audio: {reason.strip().rstrip('.')}"


class AudioReader:
    """An open track. Use as a context manager; iterate ``blocks()`` for samples."""

    def __init__(self, source: Path | bytes, *, max_channels: int | None = None) -> None:
        self._file: Any
        try:
            target: Any = io.BytesIO(source) if isinstance(source, bytes) else str(source)
            self._file = sf.SoundFile(target, mode="r")
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
            raise UnsupportedAudio(_decoder_reason(exc)) from None
        self.info = AudioInfo(
            sample_rate=int(self._file.samplerate),
            channels=int(self._file.channels),
            frames=int(self._file.frames),
            codec=f"{self._file.format}/{self._file.subtype}",
        )
        if self.info.frames <= 0:
            self.close()
            raise UnsupportedAudio("cannot decode audio: the file has zero audio frames")
        if max_channels is not None and self.info.channels > max_channels:
            self.close()
            raise UnsupportedAudio(
                f"too many channels: {self.info.channels} (at most {max_channels} supported)"
            )

    def blocks(
        self,
        block_frames: int = DEFAULT_BLOCK_FRAMES,
        start_frame: int = 0,
        stop_frame: int | None = None,
    ) -> Iterator[AudioBlock]:
        """Yield float64 blocks of shape ``(n, channels)`` from ``start_frame`` to ``stop_frame``.

        The last block may be shorter. A stream that ends early (a truncated file) simply stops;
        a decode error mid-stream raises ``UnsupportedAudio``.
        """
        if block_frames <= 0:
            raise ValueError("block_frames must be positive")
        stop = self.info.frames if stop_frame is None else min(stop_frame, self.info.frames)
        position = max(0, start_frame)
        try:
            self._file.seek(position)
            while position < stop:
                want = min(block_frames, stop - position)
                block = self._file.read(want, dtype="float64", always_2d=True)
                if block.shape[0] == 0:
                    return
                if not np.isfinite(block).all():
                    np.nan_to_num(block, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
                position += block.shape[0]
                yield block
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise UnsupportedAudio(_decoder_reason(exc)) from None

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_audio(source: Path | bytes, *, max_channels: int | None = None) -> AudioReader:
    """Open a file path or an in-memory encoded file for streamed decoding."""
    return AudioReader(source, max_channels=max_channels)


def probe(source: Path | bytes, *, max_channels: int | None = None) -> AudioInfo:
    """Decode only the header: sample rate, channels, frames, codec."""
    with open_audio(source, max_channels=max_channels) as reader:
        return reader.info
