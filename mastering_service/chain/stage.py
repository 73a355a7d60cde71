"""The contract every stage of the mastering chain keeps, and the few helpers they share.

A stage turns a ``(frames, channels)`` float64 block into a block of the same shape. Its state
lives in plain fields and is carried from one call to the next, so the output never depends on
how the track was cut into blocks (a block may even be empty). Only the limiter delays its
output; it says by how much in ``latency_frames`` so the engine can compensate exactly.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from shared.blocks import as_block
from shared.sections import SectionFilter

Block = NDArray[np.float64]


class Stage(Protocol):
    #: Frames by which the output lags the input (0 for every stage but the limiter).
    latency_frames: int

    def process(self, block: Block) -> Block:
        """``(n, channels)`` → ``(n, channels)``; ``n`` may be 0."""
        ...


def db_to_gain(gain_db: float) -> float:
    """Decibels (20·log10) to a linear amplitude factor."""
    return float(10.0 ** (gain_db / 20.0))


def check_finite(name: str, value: float) -> float:
    """``value`` as a float, or ValueError naming ``name`` when it is NaN or infinite."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def check_channels(channels: int) -> int:
    if channels < 1:
        raise ValueError(f"channels must be at least 1, got {channels}")
    return channels


class SosFilter:
    """A linear filter stage: second-order sections (``shared.sections``) with the filter state
    carried from block to block. The high-pass and the tonal EQ are both this."""

    def __init__(self, sos: NDArray[np.float64], channels: int) -> None:
        self.channels = check_channels(channels)
        self.latency_frames = 0
        self._filter = SectionFilter(sos, channels)

    @property
    def sos(self) -> NDArray[np.float64]:
        """The sections, ``(n_sections, 6)`` in ``sosfilt`` layout (none: a passthrough)."""
        return self._filter.sos.copy()

    @classmethod
    def cascade(cls, *filters: SosFilter) -> SosFilter:
        """One stage running the sections of ``filters`` in order, from a fresh state.

        The output is bit-identical to running the filters one after another, but costs a
        single filter pass, whose price per sample barely depends on the number of sections.
        """
        channels = {f.channels for f in filters}
        if len(channels) != 1:
            raise ValueError("filters to cascade must have one channel count")
        return cls(np.concatenate([f.sos for f in filters]), channels.pop())

    def process(self, block: Block) -> Block:
        return self._filter.process(as_block(block, self.channels))
