"""shared.sections: the compiled cascade is exactly ``scipy.signal.sosfilt`` on every channel, and
the kernel behind it refuses what it cannot run."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import signal

from shared._kernels import sos_filter
from shared.blocks import weighted_power
from shared.loudness import k_weighting_sos
from shared.sections import SectionFilter, butterworth_highpass, sos_response

RATE = 44_100
FRAMES = 20_000


def _reference(sos: np.ndarray, block: np.ndarray) -> np.ndarray:
    """One real ``sosfilt`` pass per channel, from rest."""
    return np.asarray(signal.sosfilt(sos, block, axis=0), dtype=np.float64)


def _noise(channels: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((FRAMES, channels))


def _sections(count: int) -> np.ndarray:
    """``count`` sections: the K-weighting pair, repeated as far as needed."""
    return np.concatenate([k_weighting_sos(RATE)] * count)[:count]


# The kernel holds 1–4 sections over 1–2 channels in registers and runs any other shape through
# the state array: both paths are the same arithmetic.
@pytest.mark.parametrize(("sections", "channels"), [(1, 1), (2, 1), (2, 2), (4, 2), (5, 2), (2, 3),
                                                    (3, 6)])
def test_each_channel_gets_exactly_its_own_real_pass(sections: int, channels: int) -> None:
    sos = _sections(sections)
    block = _noise(channels)
    assert np.array_equal(SectionFilter(sos, channels).process(block), _reference(sos, block))


def test_unnormalised_sections_are_refused() -> None:
    sos = k_weighting_sos(RATE) * 2.0
    with pytest.raises(ValueError, match="a0 = 1"):
        SectionFilter(sos, 2)


@pytest.mark.parametrize(
    ("state_shape", "x", "message"),
    [
        ((2, 2, 2), np.zeros((10, 2), dtype=np.float32), "x must be a 2-D array of 'd'"),
        ((2, 2, 2), np.zeros(10), "x must be a 2-D array"),
        ((2, 3, 2), np.zeros((10, 2)), "state must be"),
        ((1, 2, 2), np.zeros((10, 2)), "state must be"),
    ],
)
def test_the_kernel_refuses_buffers_of_the_wrong_type_or_shape(
    state_shape: tuple[int, int, int], x: np.ndarray, message: str
) -> None:
    sos = k_weighting_sos(RATE)
    state = np.zeros(state_shape)
    y = np.zeros((10, 2))
    with pytest.raises((TypeError, ValueError), match=message):
        sos_filter(sos, state, x, y)
    assert not state.any() and not y.any()


def test_the_kernel_refuses_an_output_of_another_shape_or_read_only() -> None:
    sos = k_weighting_sos(RATE)
    state = np.zeros((2, 2, 2))
    x = np.ones((10, 2))
    with pytest.raises(ValueError, match="shape of x"):
        sos_filter(sos, state, x, np.zeros((9, 2)))
    read_only = np.zeros((10, 2))
    read_only.flags.writeable = False
    with pytest.raises((TypeError, ValueError, BufferError)):
        sos_filter(sos, state, x, read_only)
    assert not state.any()


@pytest.mark.parametrize("channels", [1, 2, 3, 6])
def test_channel_major_input_gives_the_same_rows(channels: int) -> None:
    sos = k_weighting_sos(RATE)
    block = _noise(channels)
    rows = SectionFilter(sos, channels).process_planar(np.ascontiguousarray(block.T))
    assert len(rows) == channels
    assert np.array_equal(np.stack(rows, axis=1), _reference(sos, block))


def test_channels_never_leak_into_each_other() -> None:
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


@pytest.mark.parametrize(
    ("channels", "weights"),
    [(1, [1.0]), (2, [1.0, 1.0]), (3, [1.0, 1.0, 1.41]), (6, [1.0, 1.0, 1.0, 0.0, 1.41, 1.41])],
)
def test_weighted_power_is_that_of_the_filtered_channels(
    channels: int, weights: list[float]
) -> None:
    """The meter's fused path: the same values as filtering, then ``weighted_power`` (a weight
    of 0, BS.1770's LFE, skips its channel even where it is not finite)."""
    sos = k_weighting_sos(RATE)
    block = _noise(channels)
    if weights[-3:-2] == [0.0]:
        block[5, channels - 3] = np.inf
    w = np.array(weights)
    expected = weighted_power(_reference(sos, block).T, w)
    fused = SectionFilter(sos, channels)
    got = np.concatenate([fused.weighted_power(np.ascontiguousarray(part.T), w)
                          for part in (block[:777], block[777:])])
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("rate", [8_000, 44_100, 96_000, 192_000])
@pytest.mark.parametrize("cutoff_hz", [20.0, 250.0, 2000.0])
def test_the_highpass_design_is_scipys_butterworth(rate: int, cutoff_hz: float) -> None:
    expected = signal.butter(2, cutoff_hz, btype="highpass", fs=rate, output="sos")
    np.testing.assert_allclose(butterworth_highpass(cutoff_hz, rate), expected, rtol=0.0,
                               atol=1e-12)


def test_the_frequency_response_is_scipys() -> None:
    sos = np.concatenate([k_weighting_sos(RATE), butterworth_highpass(40.0, RATE)])
    freqs = np.geomspace(5.0, 22_000.0, 200)
    _, expected = signal.sosfreqz(sos, worN=freqs, fs=RATE)
    np.testing.assert_allclose(sos_response(sos, freqs, RATE), expected, rtol=1e-12, atol=1e-14)


def test_settle_is_the_steady_state_of_a_constant_input() -> None:
    """After ``settle(v)``, feeding ``v`` gives the DC gain times ``v`` from the first sample on,
    as scipy's ``sosfilt_zi`` state would."""
    sos = np.concatenate([k_weighting_sos(RATE)[:1], [[0.1, 0.0, 0.0, 1.0, -0.9, 0.0]]])
    settled = SectionFilter(sos, 2)
    settled.settle(0.3)
    out = settled.process(np.full((500, 2), 0.3))
    dc_gain = abs(complex(sos_response(sos, np.zeros(1), RATE)[0]))
    np.testing.assert_allclose(out, 0.3 * dc_gain, rtol=1e-12)
    expected = signal.sosfilt(sos, np.full(500, 0.3), zi=signal.sosfilt_zi(sos) * 0.3)[0]
    np.testing.assert_allclose(out[:, 0], expected, rtol=1e-12)
