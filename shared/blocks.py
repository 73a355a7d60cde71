"""Audio blocks and the two mechanisms every streamed computation here is built from.

A block is a float64 ``(frames, channels)`` array at 8–192 kHz; a stream is any sequence of
blocks, of any sizes. Two things recur wherever a stream is reduced:

- **a fixed grid, with the remainder carried**: values are grouped into cells aligned to
  absolute frame numbers (100 ms meter frames, limiter gain groups, control-rate groups,
  stereo chunks, STFT batches), and whatever a block leaves of an unfinished cell waits for the
  next block. Every cell is then reduced from the same values whatever the block sizes, which
  is what makes a result independent of how the stream was split. ``Grid`` is the arithmetic
  (where cell k starts, how many cells a position completes), ``GridBuffer`` carries the frames
  of the unfinished cell, and ``FrameAccumulator`` carries partial sums and maxima instead;
- **a reduction across a short axis** (the channels of a block, the frames of a group), done
  one column at a time in a fixed order: ``columnwise`` and the reductions built on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: The range of sample rates the meters and the analysis are designed for (the K-weighting
#: design is checked over it, and the services refuse anything outside it).
MIN_SAMPLE_RATE_HZ = 8_000
MAX_SAMPLE_RATE_HZ = 192_000


def check_sample_rate(sample_rate: int) -> int:
    """``sample_rate``, or ValueError when it lies outside 8–192 kHz."""
    if not MIN_SAMPLE_RATE_HZ <= sample_rate <= MAX_SAMPLE_RATE_HZ:
        raise ValueError(
            f"sample_rate must be {MIN_SAMPLE_RATE_HZ}…{MAX_SAMPLE_RATE_HZ} Hz, got {sample_rate}"
        )
    return sample_rate


def as_block(block: NDArray[np.float64], channels: int) -> FloatArray:
    """``block`` as a float64 ``(frames, channels)`` array (a 1-D array is a mono block)."""
    array = np.asarray(block, dtype=np.float64)
    if array.ndim == 1 and channels == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] != channels:
        raise ValueError(f"expected a (frames, {channels}) block, got shape {array.shape}")
    return array


# --- reductions across a short axis -------------------------------------------------------------


def columnwise(
    combine: np.ufunc,
    rows: NDArray[np.float64],
    each: Callable[[FloatArray], FloatArray] | None = None,
) -> FloatArray:
    """``combine`` (``np.add``, ``np.maximum``) across the columns of each row of a 2-D array,
    left to right, after ``each`` (which must return a new array) is applied to every column.

    One column at a time: numpy reduces a short last axis an order of magnitude slower, and a
    fixed order gives the same bits for the same row wherever it sits in memory. A channel-major
    ``(channels, frames)`` array is reduced across its channels as ``columnwise(f, planar.T)``.
    """
    out = rows[:, 0].copy() if each is None else each(rows[:, 0])
    for column in range(1, rows.shape[1]):
        value = rows[:, column] if each is None else each(rows[:, column])
        combine(out, value, out=out)
    return out


def channel_abs_max(x: NDArray[np.float64]) -> FloatArray:
    """max |x| over the channels of a ``(frames, channels)`` block, per frame."""
    return columnwise(np.maximum, x, np.abs)


def channel_mean(x: NDArray[np.float64]) -> FloatArray:
    """Mean over the channels of a ``(frames, channels)`` block, per frame (the mono mix):
    the channels summed in order, then scaled once."""
    mean = columnwise(np.add, x)
    if x.shape[1] > 1:
        mean *= 1.0 / x.shape[1]
    return mean


def weighted_power(channels: Sequence[FloatArray] | FloatArray, weights: FloatArray) -> FloatArray:
    """Σ_c weights[c] · channels[c]² per frame, from one 1-D array per channel (or a
    channel-major 2-D array); weight-0 channels are skipped, weight-1 channels not scaled."""
    power = np.zeros(channels[0].shape[0])
    for column, weight in zip(channels, weights.tolist(), strict=True):
        if weight == 0.0:
            continue
        power += column * column if weight == 1.0 else weight * (column * column)
    return power


# --- fixed grids ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Grid:
    """Cells over the frames of a stream: cell k starts at frame ``floor(k · frames / per)``.

    ``per = 1`` is a regular grid of ``frames``-frame cells; ``Grid(sample_rate, 10)`` is the
    100 ms grid, exact at every integer rate (cells of 1102 and 1103 frames at 11.025 kHz).
    """

    frames: int
    per: int = 1

    def __post_init__(self) -> None:
        if self.frames < 1 or self.per < 1:
            raise ValueError(f"grid cells must be positive, got {self.frames}/{self.per} frames")

    def start(self, cell: IntArray) -> IntArray:
        """First frame of each cell index."""
        return cell * self.frames // self.per

    def completed(self, position: int) -> int:
        """Cells that end at or before frame ``position`` (the largest m with start(m) ≤ it)."""
        return (self.per * position + self.per - 1) // self.frames


class GridBuffer:
    """Frames arriving in blocks of any size, handed out as whole cells of a regular grid.

    Cell k is frames ``[k · cell_frames, (k + 1) · cell_frames)`` of the stream, plus the
    ``overlap_frames`` after it (cells then overlap, as STFT batches do). ``push`` appends a
    block and returns every cell it completes; the frames of the unfinished cell are carried to
    the next push. Any split of a stream therefore yields the same cells with the same values:
    a reduction of each cell is independent of the block sizes bit for bit.

    Frames are kept in one reusable array of ``dtype`` (values are cast on the way in); what
    ``push`` and ``pending`` return are views of it, valid until the next ``push``.
    """

    def __init__(
        self,
        cell_frames: int,
        *,
        overlap_frames: int = 0,
        trailing_shape: tuple[int, ...] = (),
        dtype: DTypeLike = np.float64,
    ) -> None:
        if cell_frames < 1 or overlap_frames < 0:
            raise ValueError("cell_frames must be positive and overlap_frames non-negative")
        self.cell_frames = cell_frames
        self.overlap_frames = overlap_frames
        self.frames = 0  # frames pushed
        self.cells = 0  # cells handed out
        self._buffer = np.zeros((2 * (cell_frames + overlap_frames), *trailing_shape), dtype=dtype)
        self._start = 0  # first held frame (the frames before it are consumed)
        self._end = 0

    @property
    def held(self) -> int:
        """Frames carried: those of the unfinished cell (and the overlap after the last cell)."""
        return self._end - self._start

    def pending(self) -> NDArray[Any]:
        """The frames carried, oldest first (a view)."""
        return self._buffer[self._start : self._end]

    def push(self, values: NDArray[Any]) -> NDArray[Any]:
        """Append ``(n, *trailing_shape)`` values; return the cells they complete as a
        ``(cells, cell_frames + overlap_frames, *trailing_shape)`` view (often no cells)."""
        self._compact()
        self._store(values)
        self.frames += values.shape[0]
        cell, span = self.cell_frames, self.cell_frames + self.overlap_frames
        count = max(0, (self.held - self.overlap_frames) // cell)
        first = self._start
        self._start += count * cell
        self.cells += count
        if self.overlap_frames == 0:
            region = self._buffer[first : first + count * cell]
            return region.reshape(count, cell, *self._buffer.shape[1:])
        stride = self._buffer.strides[0]
        return np.lib.stride_tricks.as_strided(
            self._buffer[first:],
            shape=(count, span, *self._buffer.shape[1:]),
            strides=(cell * stride, *self._buffer.strides),
            writeable=False,
        )

    def push_in_place(self, values: NDArray[Any]) -> tuple[NDArray[Any] | None, NDArray[Any]]:
        """``push`` for a grid without overlap that copies only the frames it carries: returns
        the cell completed from the carried frames (a ``(cell_frames, *trailing_shape)`` view
        of the buffer, or None) and the frames of the whole cells after it, a view of
        ``values`` itself (``count · cell_frames`` frames, often none)."""
        if self.overlap_frames:
            raise ValueError("push_in_place needs a grid without overlap")
        self._compact()
        cell, n = self.cell_frames, values.shape[0]
        first = None
        used = 0
        if self.held:
            used = min(cell - self.held, n)
            self._store(values[:used])
            if self.held == cell:
                first = self._buffer[self._start : self._end]
                self._start = self._end
                self.cells += 1
        count = (n - used) // cell if self.held == 0 else 0
        body = values[used : used + count * cell]
        self._store(values[used + count * cell :])
        self.cells += count
        self.frames += n
        return first, body

    def _store(self, values: NDArray[Any]) -> None:
        """Append ``values`` after the held frames, growing the array when they do not fit."""
        end = self._end + values.shape[0]
        if end > self._buffer.shape[0]:
            capacity = max(end, 2 * self._buffer.shape[0])
            grown = np.zeros((capacity, *self._buffer.shape[1:]), dtype=self._buffer.dtype)
            grown[: self._end] = self._buffer[: self._end]
            self._buffer = grown
        self._buffer[self._end : end] = values
        self._end = end

    def _compact(self) -> None:
        """Move the carried frames to the start of the array (done lazily, so that the views
        handed out by the last push stay valid until this one)."""
        if self._start:
            held = self.held
            self._buffer[:held] = self._buffer[self._start : self._end]
            self._start, self._end = 0, held


# --- 100 ms framing -------------------------------------------------------------------------------

#: The meters' frame rate: 100 ms frames are BS.1770's gating step and SPEC's silence frame.
FRAMES_PER_S = 10
#: Initial capacity of the per-frame arrays (~100 s); they double as needed.
_INITIAL_FRAMES = 1024


class FrameAccumulator:
    """Per-sample values reduced over 100 ms frames (or ``1 / frames_per_s``), across any split
    of the stream.

    Frames are the cells of ``Grid(sample_rate, frames_per_s)``. Each ``add`` takes
    ``(n, sum_columns)`` values to sum and ``(n, max_columns)`` values to take the maximum of;
    complete frames land in compact growing arrays, and the frame in progress is carried to the
    next call as its partial sums and maxima (a few numbers, not its samples). Frame boundaries
    and maxima are therefore the same for any split, and sums the same up to rounding (the
    order in which a frame's samples are added follows the blocks).
    """

    def __init__(
        self,
        sample_rate: int,
        sum_columns: int = 1,
        max_columns: int = 0,
        frames_per_s: int = FRAMES_PER_S,
    ) -> None:
        self.sample_rate = sample_rate
        self.frames_per_s = frames_per_s
        self.grid = Grid(sample_rate, frames_per_s)
        self.frames = 0  # samples seen
        self.complete = 0  # complete frames
        self._sums = np.zeros((_INITIAL_FRAMES, sum_columns))
        self._maxima = np.zeros((_INITIAL_FRAMES, max_columns))
        self.partial_sums = np.zeros(sum_columns)
        self.partial_maxima = np.zeros(max_columns)

    def copy(self) -> FrameAccumulator:
        twin = FrameAccumulator(self.sample_rate, self._sums.shape[1], self._maxima.shape[1],
                                self.frames_per_s)
        twin.frames, twin.complete = self.frames, self.complete
        twin._sums, twin._maxima = self.sums.copy(), self.maxima.copy()
        twin.partial_sums, twin.partial_maxima = (
            self.partial_sums.copy(),
            self.partial_maxima.copy(),
        )
        return twin

    def frame_start(self, index: IntArray) -> IntArray:
        """First sample of each frame index: floor(k · fs / frames_per_s)."""
        return self.grid.start(index)

    @property
    def sums(self) -> FloatArray:
        """``(complete, sum_columns)`` sums of the complete frames (a view)."""
        return self._sums[: self.complete]

    @property
    def maxima(self) -> FloatArray:
        """``(complete, max_columns)`` maxima of the complete frames (a view)."""
        return self._maxima[: self.complete]

    @property
    def partial_frames(self) -> int:
        """Samples in the frame in progress."""
        return self.frames - int(self.grid.start(np.array(self.complete, dtype=np.int64)))

    def frame_lengths(self) -> IntArray:
        index = np.arange(self.complete + 1, dtype=np.int64)
        return np.diff(self.frame_start(index))

    def add(self, to_sum: FloatArray, to_max: FloatArray | None = None) -> None:
        n = to_sum.shape[0]
        if n == 0:
            return
        starts = self.segment_starts(n)
        sums = np.add.reduceat(to_sum, starts, axis=0)
        if to_max is not None and self.partial_maxima.size:
            maxima = np.maximum.reduceat(to_max, starts, axis=0)
        else:
            maxima = np.zeros((starts.size, self.partial_maxima.size))
        self.add_segments(n, sums, maxima)

    def segment_starts(self, n: int) -> IntArray:
        """Where the next ``n`` samples fall apart into frames: the offset of each piece, the
        first at 0 (the rest of the frame in progress), then one per frame that starts in them."""
        start, end = self.frames, self.frames + n
        ends = self.frame_start(
            np.arange(self.complete + 1, self.grid.completed(end) + 1, dtype=np.int64)
        )
        return np.concatenate([np.zeros(1, dtype=np.int64), ends[ends < end] - start])

    def add_segments(self, n: int, sums: FloatArray, maxima: FloatArray) -> None:
        """Add the next ``n`` samples as their pieces' ``(pieces, sum_columns)`` sums and
        ``(pieces, max_columns)`` maxima, pieces as ``segment_starts(n)`` cuts them (the
        arrays are used in place)."""
        if n == 0:
            return
        end = self.frames + n
        done = self.grid.completed(end) - self.complete
        sums[0] += self.partial_sums
        if self.partial_maxima.size:
            maxima[0] = np.maximum(maxima[0], self.partial_maxima)
        self.frames = end
        self._append(sums[:done], maxima[:done])
        carried = sums.shape[0] > done
        self.partial_sums = sums[done].copy() if carried else np.zeros_like(self.partial_sums)
        self.partial_maxima = maxima[done].copy() if carried else np.zeros_like(self.partial_maxima)

    def _append(self, sums: FloatArray, maxima: FloatArray) -> None:
        needed = self.complete + sums.shape[0]
        if needed > self._sums.shape[0]:
            capacity = max(needed, 2 * self._sums.shape[0])
            self._sums = _grown(self._sums, capacity, self.complete)
            self._maxima = _grown(self._maxima, capacity, self.complete)
        self._sums[self.complete : needed] = sums
        self._maxima[self.complete : needed] = maxima
        self.complete = needed


def _grown(array: FloatArray, capacity: int, used: int) -> FloatArray:
    grown = np.zeros((capacity, array.shape[1]))
    grown[:used] = array[:used]
    return grown
