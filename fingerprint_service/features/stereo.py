"""Stereo image: width and phase correlation of the first two channels (dims 24–25 of SPEC
section 4).

Both are computed over the non-silent samples: the track is cut into 100 ms chunks (aligned to
the start of the track) and a chunk counts when the RMS of its two channels together reaches
−60 dBFS. What is kept is the count, the means and the centred second moments of L and R: each
chunk's come from its raw sums, and chunks are merged with the pairwise update of Chan, Golub &
LeVeque (1979), so an hour of audio or a DC offset between passages costs no precision. (A
signal whose variance is lost in rounding against its DC is treated as constant.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from fingerprint_service.features.frames import SILENCE_RMS
from shared._kernels import pair_moments
from shared.blocks import GridBuffer

FloatArray = NDArray[np.float64]

CHUNK_S = 0.1
#: Rows of per-chunk sums allotted at first (100 s); the array doubles as needed.
_INITIAL_CHUNKS = 1024
#: A channel whose variance is below this share of its mean square is constant (DC): Pearson's
#: r is undefined there, so the uncentred correlation is used instead.
CONSTANT_VARIANCE_SHARE = 1e-10


@dataclass(frozen=True, slots=True)
class PairMoments:
    """Count, means and centred second moments (sums, not averages) of a channel pair."""

    count: int = 0
    mean_l: float = 0.0
    mean_r: float = 0.0
    m2_ll: float = 0.0
    m2_rr: float = 0.0
    m2_lr: float = 0.0

    def merge(self, other: PairMoments) -> PairMoments:
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        n = self.count + other.count
        d_l = other.mean_l - self.mean_l
        d_r = other.mean_r - self.mean_r
        weight = self.count * other.count / n
        return PairMoments(
            count=n,
            mean_l=self.mean_l + d_l * other.count / n,
            mean_r=self.mean_r + d_r * other.count / n,
            m2_ll=self.m2_ll + other.m2_ll + d_l * d_l * weight,
            m2_rr=self.m2_rr + other.m2_rr + d_r * d_r * weight,
            m2_lr=self.m2_lr + other.m2_lr + d_l * d_r * weight,
        )

    def mean_squares(self) -> tuple[float, float, float]:
        """Uncentred E[L²], E[R²], E[L·R]."""
        n = self.count
        return (
            self.m2_ll / n + self.mean_l * self.mean_l,
            self.m2_rr / n + self.mean_r * self.mean_r,
            self.m2_lr / n + self.mean_l * self.mean_r,
        )


def stereo_width(moments: PairMoments) -> float:
    """rms(S) / (rms(M) + rms(S)), M = (L+R)/2, S = (L−R)/2; 0 without signal."""
    if moments.count == 0:
        return 0.0
    ll, rr, lr = moments.mean_squares()
    rms_mid = 0.5 * float(np.sqrt(max(ll + 2.0 * lr + rr, 0.0)))
    rms_side = 0.5 * float(np.sqrt(max(ll - 2.0 * lr + rr, 0.0)))
    if not rms_mid + rms_side > 0.0:
        return 0.0
    return float(np.clip(rms_side / (rms_mid + rms_side), 0.0, 1.0))


def phase_correlation(moments: PairMoments) -> float:
    """Pearson correlation of L and R, −1…1.

    Constant (DC) channels use the uncentred correlation; digital silence reads 1 (the two
    channels are identical), one silent channel against a live one reads 0.
    """
    if moments.count == 0:
        return 1.0
    ll, rr, lr = moments.mean_squares()
    var_l = moments.m2_ll / moments.count
    var_r = moments.m2_rr / moments.count
    if var_l > CONSTANT_VARIANCE_SHARE * ll and var_r > CONSTANT_VARIANCE_SHARE * rr:
        r = moments.m2_lr / float(np.sqrt(moments.m2_ll * moments.m2_rr))
    elif ll > 0.0 and rr > 0.0:
        r = lr / float(np.sqrt(ll * rr))
    elif ll == 0.0 and rr == 0.0:
        r = 1.0
    else:
        r = 0.0
    return float(np.clip(r, -1.0, 1.0))


def _moments(sums: FloatArray, length: int) -> PairMoments:
    """The moments of the non-silent ones of chunks of ``length`` frames, from their raw sums
    (rows of Σl, Σr, Σl², Σr², Σl·r): each chunk centred on its own mean, then the chunks
    combined by Chan et al.'s rule for equally long parts (the spread of the chunk means adds
    to the within-chunk sums)."""
    loud = sums[:, 2] + sums[:, 3] >= SILENCE_RMS * SILENCE_RMS * 2 * length
    if not loud.any():
        return PairMoments()
    sums = sums[loud]
    means = sums[:, :2] / length
    centred = sums[:, 2:] - length * means[:, [0, 1, 0]] * means[:, [0, 1, 1]]
    batch_mean = means.mean(axis=0)
    offsets = means - batch_mean
    spread = length * offsets.T @ offsets
    within = centred.sum(axis=0)
    return PairMoments(
        count=length * int(loud.sum()),
        mean_l=float(batch_mean[0]),
        mean_r=float(batch_mean[1]),
        m2_ll=float(within[0] + spread[0, 0]),
        m2_rr=float(within[1] + spread[1, 1]),
        m2_lr=float(within[2] + spread[0, 1]),
    )


class StereoAccumulator:
    """Moments of the first two channels over non-silent 100 ms chunks; mono input is ignored.

    Chunks are aligned to the start of the track (``shared.blocks.GridBuffer``). Each block
    adds the raw sums of the chunks it completes (``shared._kernels.pair_moments``: five numbers
    a chunk, read where the chunk lies; only a chunk straddling two blocks is completed in the
    grid's copy); ``finish`` combines them, with the last, partial chunk, into ``moments``.
    """

    def __init__(self, sample_rate: int, channels: int) -> None:
        self.active = channels >= 2
        self.chunk = max(1, round(CHUNK_S * sample_rate))
        self.moments = PairMoments()
        self._chunks = GridBuffer(self.chunk, trailing_shape=(2,))
        self._sums = np.empty((_INITIAL_CHUNKS, 5))  # Σl, Σr, Σl², Σr², Σl·r per chunk
        self._count = 0

    def update(self, block: FloatArray) -> None:
        if not self.active or block.shape[0] == 0:
            return
        first, body = self._chunks.push_in_place(block[:, :2])
        if first is not None:
            pair_moments(first, self.chunk, self._rows(1))
        if body.shape[0]:
            pair_moments(body, self.chunk, self._rows(body.shape[0] // self.chunk))

    def finish(self) -> None:
        """Combine the chunks into ``moments``, the last, partial one included."""
        self.moments = _moments(self._sums[: self._count], self.chunk)
        pending = self._chunks.pending()
        if pending.shape[0]:
            sums = np.empty((1, 5))
            pair_moments(pending, pending.shape[0], sums)
            self.moments = self.moments.merge(_moments(sums, pending.shape[0]))
        self._chunks = GridBuffer(self.chunk, trailing_shape=(2,))
        self._count = 0

    def _rows(self, count: int) -> FloatArray:
        """The next ``count`` rows of the per-chunk sums (the array grows as needed)."""
        end = self._count + count
        if end > self._sums.shape[0]:
            grown = np.empty((max(end, 2 * self._sums.shape[0]), 5))
            grown[: self._count] = self._sums[: self._count]
            self._sums = grown
        rows = self._sums[self._count : end]
        self._count = end
        return rows

    def stereo_width(self) -> float:
        return stereo_width(self.moments) if self.active else 0.0

    def phase_correlation(self) -> float:
        return phase_correlation(self.moments) if self.active else 1.0
