"""Helpers for the MasterTrack tests: tracks, requests and a stream split into its parts."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shared.proto.mastering.v1 import mastering_pb2 as pb
from tests.signals import music_like, write_wav

RATE_HZ = 44_100
TRACK_S = 4.0


def write_track(media: Path, name: str, *, duration_s: float = TRACK_S, rate_hz: int = RATE_HZ,
                channels: int = 2) -> str:
    """A music-like 16-bit WAV under ``media``; seeded by ``name``, so every track has content
    (and a content hash, and a cache entry) of its own. Returns the path relative to ``media``."""
    stereo = music_like(duration_s, rate_hz, seed=zlib.crc32(name.encode()))
    signal = (stereo.mean(axis=1, keepdims=True) if channels == 1
              else stereo[:, np.arange(channels) % 2])
    write_wav(media / name, signal, rate_hz, subtype="PCM_16")
    return name


def by_path(path: str, **fields: Any) -> pb.MasterTrackRequest:
    return pb.MasterTrackRequest(track=pb.TrackRef(path=path), **fields)


@dataclass
class MasteredStream:
    """One MasterTrack response stream, split into its parts (``kinds`` keeps the order)."""

    kinds: list[str] = field(default_factory=list)
    headers: list[pb.StreamHeader] = field(default_factory=list)
    chunks: list[pb.AudioChunk] = field(default_factory=list)
    summaries: list[pb.StreamSummary] = field(default_factory=list)

    @property
    def header(self) -> pb.StreamHeader:
        assert len(self.headers) == 1, f"expected exactly one header, got {self.kinds[:3]}…"
        return self.headers[0]

    @property
    def summary(self) -> pb.StreamSummary:
        assert len(self.summaries) == 1, f"expected exactly one summary, got {len(self.summaries)}"
        return self.summaries[0]

    @property
    def pcm(self) -> bytes:
        return b"".join(chunk.pcm for chunk in self.chunks)


def split_stream(responses: Iterable[pb.MasterTrackResponse]) -> MasteredStream:
    stream = MasteredStream()
    parts: dict[str, list[Any]] = {"header": stream.headers, "chunk": stream.chunks,
                                   "summary": stream.summaries}
    for response in responses:
        kind = str(response.WhichOneof("event"))
        stream.kinds.append(kind)
        parts[kind].append(getattr(response, kind))
    return stream
