"""The block helpers: fixed grids with the remainder carried, reductions across a short axis,
and the chunk invariance they give the five streamed computations built on them (meter frames,
control-rate groups, limiter gain groups, stereo chunks, STFT batches)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from fingerprint_service.features.frames import StftFramer
from fingerprint_service.features.stereo import StereoAccumulator
from mastering_service.chain.dynamics import ControlRate
from mastering_service.chain.limiter import TruePeakLimiter
from shared._kernels import pair_moments
from shared.blocks import (
    MAX_SAMPLE_RATE_HZ,
    MIN_SAMPLE_RATE_HZ,
    FrameAccumulator,
    Grid,
    GridBuffer,
    channel_abs_max,
    channel_mean,
    check_sample_rate,
    columnwise,
)

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Block sizes to cut a stream into: cycled until the stream is covered; [1] is 1-frame blocks.
SPLITS = st.one_of(
    st.just([1]),
    st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=8),
)


def pieces(x: NDArray[Any], sizes: list[int]) -> Iterator[NDArray[Any]]:
    """``x`` cut into consecutive blocks of ``sizes`` (cycled), with an empty block first."""
    yield x[:0]
    start, i = 0, 0
    while start < x.shape[0]:
        size = sizes[i % len(sizes)]
        yield x[start : start + size]
        start += size
        i += 1


def noise(frames: int, *shape: int, seed: int = 0) -> NDArray[np.float64]:
    return np.random.default_rng(seed).standard_normal((frames, *shape))


# --- Grid -----------------------------------------------------------------------------------------


@given(
    frames=st.integers(min_value=1, max_value=200_000),
    per=st.sampled_from([1, 10]),
    position=st.integers(min_value=0, max_value=10**7),
)
def test_grid_counts_the_cells_that_end_by_a_position(frames: int, per: int, position: int) -> None:
    grid = Grid(frames, per)
    completed = grid.completed(position)
    starts = grid.start(np.array([completed, completed + 1], dtype=np.int64))
    assert starts[0] <= position < starts[1]
    assert starts[0] == completed * frames // per


def test_the_100_ms_grid_is_exact_at_every_integer_rate() -> None:
    lengths = np.diff(Grid(11_025, 10).start(np.arange(11, dtype=np.int64)))
    assert set(lengths.tolist()) == {1102, 1103}
    assert lengths.sum() == 11_025


# --- GridBuffer -----------------------------------------------------------------------------------


def all_cells(buffer: GridBuffer, blocks: Iterator[NDArray[np.generic]]) -> NDArray[np.generic]:
    cells = [buffer.push(block).copy() for block in blocks]
    return np.concatenate(cells)


@PROPERTY
@given(
    cell=st.integers(min_value=1, max_value=300),
    overlap=st.integers(min_value=0, max_value=300),
    frames=st.integers(min_value=0, max_value=3_000),
    sizes=SPLITS,
)
def test_grid_buffer_hands_out_the_same_cells_for_any_split(
    cell: int, overlap: int, frames: int, sizes: list[int]
) -> None:
    x = noise(frames, 2)
    whole = all_cells(
        GridBuffer(cell, overlap_frames=overlap, trailing_shape=(2,)), pieces(x, [frames + 1])
    )
    split_buffer = GridBuffer(cell, overlap_frames=overlap, trailing_shape=(2,))
    split = all_cells(split_buffer, pieces(x, sizes))
    assert np.array_equal(whole, split)
    count = max(0, (frames - overlap) // cell)
    assert split.shape == (count, cell + overlap, 2)
    for k in range(count):
        assert np.array_equal(split[k], x[k * cell : k * cell + cell + overlap])
    assert np.array_equal(split_buffer.pending(), x[count * cell :])
    assert split_buffer.cells == count and split_buffer.frames == frames


@PROPERTY
@given(
    cell=st.integers(min_value=1, max_value=300),
    frames=st.integers(min_value=0, max_value=3_000),
    sizes=SPLITS,
)
def test_grid_buffer_in_place_hands_out_the_cells_of_push_for_any_split(
    cell: int, frames: int, sizes: list[int]
) -> None:
    x = noise(frames, 2)
    buffer = GridBuffer(cell, trailing_shape=(2,))
    cells = []
    for piece in pieces(x, sizes):
        first, body = buffer.push_in_place(piece)
        assert body.size == 0 or np.shares_memory(body, piece)  # whole cells are not copied
        if first is not None:
            cells.append(first[None].copy())
        cells.append(body.reshape(-1, cell, 2))
    count = frames // cell
    assert np.array_equal(np.concatenate(cells), x[: count * cell].reshape(count, cell, 2))
    assert np.array_equal(buffer.pending(), x[count * cell :])
    assert buffer.cells == count and buffer.frames == frames


def test_grid_buffer_in_place_refuses_an_overlapping_grid() -> None:
    with pytest.raises(ValueError, match="without overlap"):
        GridBuffer(4, overlap_frames=2).push_in_place(np.zeros(8))


def test_grid_buffer_casts_to_its_dtype_and_cells_stay_valid_until_the_next_push() -> None:
    buffer = GridBuffer(4, dtype=np.float32)
    cells = buffer.push(np.arange(10, dtype=np.float64))
    assert cells.dtype == np.float32
    assert cells.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert buffer.pending().tolist() == [8, 9]


# --- reductions across a short axis ---------------------------------------------------------------


@given(
    channels=st.integers(min_value=1, max_value=8), frames=st.integers(min_value=1, max_value=64)
)
def test_channel_reductions_match_numpy(channels: int, frames: int) -> None:
    x = noise(frames, channels, seed=channels)
    assert np.array_equal(channel_abs_max(x), np.abs(x).max(axis=1))
    assert np.array_equal(columnwise(np.maximum, x), x.max(axis=1))
    assert np.allclose(columnwise(np.add, x), x.sum(axis=1), rtol=1e-12, atol=1e-12)
    assert np.allclose(channel_mean(x), x.mean(axis=1), rtol=1e-12, atol=1e-12)


def test_columnwise_adds_left_to_right() -> None:
    # (1e16 + 1) + 1 = 1e16 in float64, while 1e16 + (1 + 1) is not: the order is fixed.
    rows = np.array([[1e16, 1.0, 1.0]])
    assert columnwise(np.add, rows)[0] == 1e16


def test_channel_mean_reduces_a_planar_array_through_its_transpose() -> None:
    planar = noise(3, 50).copy()
    assert np.array_equal(channel_abs_max(planar.T), np.abs(planar).max(axis=0))


@pytest.mark.parametrize("rate", [MIN_SAMPLE_RATE_HZ - 1, MAX_SAMPLE_RATE_HZ + 1])
def test_sample_rates_outside_8_to_192_khz_are_rejected(rate: int) -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        check_sample_rate(rate)
    assert check_sample_rate(MIN_SAMPLE_RATE_HZ) == MIN_SAMPLE_RATE_HZ


# --- the five users: any split gives the same output ----------------------------------------------


@PROPERTY
@given(
    rate=st.sampled_from([8_000, 11_025, 44_100]),
    frames=st.integers(min_value=0, max_value=6_000),
    sizes=SPLITS,
)
def test_frame_accumulator_gives_the_same_frames_for_any_split(
    rate: int, frames: int, sizes: list[int]
) -> None:
    # Small integers: every sum is exact in any order, so the frames must agree bit for bit.
    values = np.random.default_rng(frames).integers(-50, 50, size=(frames, 3)).astype(np.float64)
    results = []
    for split in ([frames + 1], sizes):
        acc = FrameAccumulator(rate, sum_columns=2, max_columns=1)
        for block in pieces(values, split):
            acc.add(block[:, :2], block[:, 2:])
        results.append(acc)
    whole, split_acc = results
    assert split_acc.complete == whole.complete == frames * 10 // rate
    assert np.array_equal(split_acc.sums, whole.sums)
    assert np.array_equal(split_acc.maxima, whole.maxima)
    assert np.array_equal(split_acc.partial_sums, whole.partial_sums)
    assert np.array_equal(split_acc.partial_maxima, whole.partial_maxima)
    starts = Grid(rate, 10).start(np.arange(split_acc.complete + 1, dtype=np.int64))
    expected = [values[a:b, :2].sum(axis=0) for a, b in itertools.pairwise(starts)]
    assert np.array_equal(split_acc.sums, np.reshape(expected, (-1, 2)))


@PROPERTY
@given(rate=st.sampled_from([8_000, 44_100, 192_000]), sizes=SPLITS)
def test_control_rate_groups_and_gains_are_the_same_for_any_split(
    rate: int, sizes: list[int]
) -> None:
    power = noise(1_500) ** 2

    def run(split: list[int]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        control = ControlRate(rate)
        means, gains = [], []
        for block in pieces(power, split):
            group_means = control.group_means(block)
            means.append(group_means)
            ones = np.ones((block.shape[0], 1))
            gains.append(control.apply(ones, 1.0 / (1.0 + group_means))[:, 0])
        return np.concatenate(means), np.concatenate(gains)

    whole_means, whole_gains = run([power.size + 1])
    split_means, split_gains = run(sizes)
    assert np.array_equal(whole_means, split_means)
    assert np.array_equal(whole_gains, split_gains)
    assert whole_gains.size == power.size


@PROPERTY
@given(rate=st.sampled_from([8_000, 44_100]), sizes=SPLITS)
def test_limiter_output_is_the_same_for_any_split(rate: int, sizes: list[int]) -> None:
    x = 2.0 * noise(2_000, 2, seed=rate)

    def run(split: list[int]) -> NDArray[np.float64]:
        limiter = TruePeakLimiter(rate, 2, ceiling_dbtp=-1.0, release_ms=50.0)
        return np.concatenate([limiter.process(block) for block in pieces(x, split)])

    whole = run([x.shape[0] + 1])
    assert np.abs(whole).max() < 1.0  # the limiter did reduce: the gain path ran
    assert np.array_equal(whole, run(sizes))


@PROPERTY
@given(frames=st.integers(min_value=1, max_value=12_000), sizes=SPLITS)
def test_stft_batches_are_the_same_for_any_split(frames: int, sizes: list[int]) -> None:
    mono = noise(frames)

    def run(split: list[int]) -> tuple[NDArray[np.float32], NDArray[np.float64], list[int]]:
        framer = StftFramer(8_000, frames_per_batch=3)
        batches = [b for block in pieces(mono, split) for b in framer.feed(block)]
        batches += framer.finish()
        power = np.concatenate([b.power for b in batches])
        return power, np.concatenate([b.rms for b in batches]), [b.first_index for b in batches]

    whole, split = run([frames + 1]), run(sizes)
    assert np.array_equal(whole[0], split[0])
    assert np.array_equal(whole[1], split[1])
    assert whole[2] == split[2] == list(range(0, len(whole[2]) * 3, 3))
    assert whole[1].size == StftFramer(8_000).config.frame_count(frames)


@PROPERTY
@given(
    frames=st.integers(min_value=0, max_value=8_000),
    sizes=st.one_of(SPLITS, st.lists(st.integers(min_value=1, max_value=3_000), min_size=1)),
)
@example(frames=8_000, sizes=[1_500])  # blocks that complete a carried chunk and hold more
def test_stereo_moments_are_the_same_bits_for_any_split(frames: int, sizes: list[int]) -> None:
    # Chunks of 800 frames at 8 kHz: each chunk's sums are the same bits wherever the blocks
    # cut, and the chunks are combined once, at the end.
    x = noise(frames, 3, seed=frames) + 0.5

    def run(split: list[int]) -> StereoAccumulator:
        stereo = StereoAccumulator(8_000, 3)
        for block in pieces(x, split):
            stereo.update(block)
        stereo.finish()
        return stereo

    whole, split = run([frames + 1]), run(sizes)
    assert split.moments.count == whole.moments.count == frames
    assert split.moments == whole.moments
    if frames:
        assert split.moments.mean_l == pytest.approx(x[:, 0].mean(), rel=1e-9)


def test_pair_moments_are_the_raw_sums_of_each_chunk() -> None:
    x = noise(3 * 700, 3, seed=7)[:, ::-1]  # strided, channels reversed: L is column 2
    out = np.empty((3, 5))
    pair_moments(x, 700, out)
    for k in range(3):
        left, right = x[700 * k : 700 * (k + 1), 0], x[700 * k : 700 * (k + 1), 1]
        expected = [left.sum(), right.sum(), (left * left).sum(), (right * right).sum(),
                    (left * right).sum()]
        assert out[k] == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    ("x", "length", "out_shape", "message"),
    [
        (np.zeros((10, 2), dtype=np.float32), 5, (2, 5), "x must be a 2-D array of 'd'"),
        (np.zeros((10, 1)), 5, (2, 5), "at least two channels"),
        (np.zeros((10, 2)), 3, (3, 5), "whole number of chunks"),
        (np.zeros((10, 2)), 0, (0, 5), "whole number of chunks"),
        (np.zeros((10, 2)), 5, (2, 4), "out must be"),
    ],
)
def test_pair_moments_refuse_buffers_of_the_wrong_type_or_shape(
    x: np.ndarray, length: int, out_shape: tuple[int, int], message: str
) -> None:
    out = np.zeros(out_shape)
    with pytest.raises((TypeError, ValueError), match=message):
        pair_moments(x, length, out)
    assert not out.any()
