"""The input formats a music library holds, each made with ffmpeg from a lossless source, and
what ffmpeg itself decodes from a file (the reference the decoder is judged against)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class InputFormat:
    name: str
    suffix: str
    ffmpeg_args: tuple[str, ...]
    lossless: bool
    codec: str  # as FFmpeg names its decoder


#: Every format SPEC section 10 names. AAC is made without PNS so seeking can be compared bit for
#: bit (with PNS the decoder draws noise from a generator that runs across the whole stream).
FORMATS: tuple[InputFormat, ...] = (
    InputFormat("aac-m4a", ".m4a", ("-c:a", "aac", "-aac_pns", "0", "-b:a", "192k"), False, "aac"),
    InputFormat("alac-m4a", ".m4a", ("-c:a", "alac"), True, "alac"),
    InputFormat("opus", ".opus", ("-c:a", "libopus", "-b:a", "128k"), False, "opus"),
    InputFormat("vorbis", ".ogg", ("-c:a", "libvorbis", "-q:a", "5"), False, "vorbis"),
    InputFormat("mp3", ".mp3", ("-c:a", "libmp3lame", "-q:a", "2"), False, "mp3float"),
    InputFormat("flac", ".flac", ("-c:a", "flac"), True, "flac"),
    InputFormat("wma", ".wma", ("-c:a", "wmav2", "-b:a", "192k"), False, "wmav2"),
    InputFormat("aiff", ".aiff", ("-c:a", "pcm_s16be"), True, "pcm_s16be"),
    InputFormat("wav", ".wav", ("-c:a", "pcm_s16le"), True, "pcm_s16le"),
)

FORMAT_IDS = [f.name for f in FORMATS]


def encode(source: Path, out_dir: Path, fmt: InputFormat, *, seconds: float | None = None) -> Path:
    """``source`` encoded as ``fmt`` (optionally only its first ``seconds``)."""
    out = out_dir / f"{source.stem}-{fmt.name}{fmt.suffix}"
    limit = ("-t", str(seconds)) if seconds is not None else ()
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(source), *limit, "-vn",
         *fmt.ffmpeg_args, str(out)],
        check=True,
    )
    return out


def ffmpeg_decode(path: Path) -> NDArray[np.float64]:
    """What ``ffmpeg -i path -f f64le -`` decodes, shape ``(frames, channels)``."""
    channels = int(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
         "stream=channels", "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout.strip())
    raw = subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(path), "-map", "0:a:0", "-f", "f64le", "-"],
        check=True, capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.float64).reshape(-1, channels)


def ffmpeg_frame_count(path: Path) -> int:
    """How many frames ffmpeg decodes from ``path``."""
    return int(ffmpeg_decode(path).shape[0])
