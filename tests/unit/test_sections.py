"""shared.sections: two channels per filter pass, and still exactly the filter of each channel."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import signal

from shared.loudness import k_weighting_sos
from shared.sections import SectionFilter

RATE = 44_100
FRAMES = 20_000


def _reference(sos: np.ndarray, block: np.ndarray) -> np.ndarray:
    """One real ``sosfilt`` pass per channel, from rest."""
    return np.asarray(signal.sosfilt(sos, block, axis=0), dtype=np.float64)


def _noise(channels: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((FRAMES, channels))


@pytest.mark.parametrize("channels", [1, 2, 3, 6])
def test_each_channel_gets_exactly_its_own_real_pass(channels: int) -> None:
    sos = k_weighting_sos(RATE)
    block = _noise(channels)
    assert np.array_equal(SectionFilter(sos, channels).process(block), _reference(sos, block))


@pytest.mark.parametrize("channels", [1, 2, 3, 6])
def test_channel_major_input_gives_the_same_rows(channels: int) -> None:
    sos = k_weighting_sos(RATE)
    block = _noise(channels)
    rows = SectionFilter(sos, channels).process_planar(np.ascontiguousarray(block.T))
    assert len(rows) == channels
    assert np.array_equal(np.stack(rows, axis=1), _reference(sos, block))


def test_paired_channels_never_leak_into_each_other() -> None:
    block = np.zeros((FRAMES, 2))
    block[:, 1] = _noise(1)[:, 0]
    out = SectionFilter(k_weighting_sos(RATE), 2).process(block)
    assert not out[:, 0].any()


@pytest.mark.parametrize("splits", [[1, 19_999], [4096, 4096, 11_808], [7] * 2000 + [6000]])
def test_state_is_carried_so_any_split_gives_the_same_output(splits: list[int]) -> None:
    sos = k_weighting_sos(RATE)
    block = _noise(2)
    whole = SectionFilter(sos, 2).process(block)
    split = SectionFilter(sos, 2)
    edges = np.cumsum([0, *splits])
    parts = [split.process(block[a:b]) for a, b in itertools.pairwise(edges)]
    assert np.array_equal(np.concatenate(parts), whole)


def test_a_copy_carries_on_without_disturbing_the_original() -> None:
    sos = k_weighting_sos(RATE)
    block = _noise(2)
    original = SectionFilter(sos, 2)
    original.process(block[:10_000])
    original.copy().process(np.zeros((5000, 2)))
    assert np.array_equal(original.process(block[10_000:]), _reference(sos, block)[10_000:])


def test_no_sections_pass_the_block_through_as_a_copy() -> None:
    block = _noise(2)
    out = SectionFilter(np.zeros((0, 6)), 2).process(block)
    assert np.array_equal(out, block) and out is not block
