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
from shared.blocks import GridBuffer

FloatArray = NDArray[np.float64]

CHUNK_S = 0.1
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


class StereoAccumulator:
    """Moments of the first two channels over non-silent 100 ms chunks; mono input is ignored.

    Chunks are aligned to the start of the track (``shared.blocks.GridBuffer``): a chunk split
    between two blocks is completed from the next block and merged on its own, then the
    block's whole chunks as one batch; a partial chunk (< 100 ms) is carried.
    """

    def __init__(self, sample_rate: int, channels: int) -> None:
        self.active = channels >= 2
        self.chunk = max(1, round(CHUNK_S * sample_rate))
        self.moments = PairMoments()
        self._chunks = GridBuffer(self.chunk, trailing_shape=(2,))

    def update(self, block: FloatArray) -> None:
        if not self.active or block.shape[0] == 0:
            return
        held = self._chunks.held
        pair = block[:, :2]
        chunks = self._chunks.push(pair)
        start, count = 0, chunks.shape[0]
        if held and count:
            self._add_chunks(chunks[:1])  # the chunk completed from the carried frames
            start, count = self.chunk - held, count - 1
        if count:
            # The block's own chunks are read where they are, not from the grid's copy: the
            # rounding of the products depends on the memory layout (views of a > 2-channel
            # block are strided), and reading them in place keeps the moments as they were.
            body = pair[start : start + count * self.chunk]
            self._add_chunks(body.reshape(count, self.chunk, 2))

    def finish(self) -> None:
        """Account for the last, partial chunk."""
        pending = self._chunks.pending()
        if pending.shape[0]:
            self._add_chunks(pending[None])
        self._chunks = GridBuffer(self.chunk, trailing_shape=(2,))

    def _add_chunks(self, chunks: FloatArray) -> None:
        """Merge the non-silent ones of ``(chunks, length, 2)`` samples into the moments."""
        length = chunks.shape[1]
        gram = np.matmul(chunks.transpose(0, 2, 1), chunks)  # Σ x·xᵀ per chunk: (chunks, 2, 2)
        loud = gram[:, 0, 0] + gram[:, 1, 1] >= SILENCE_RMS * SILENCE_RMS * 2 * length
        if not loud.any():
            return
        gram = gram[loud]
        means = (np.ones(length) @ chunks)[loud] / length
        # Centred moments of each chunk, then of the batch (Chan et al.'s pairwise combination
        # of equally long parts: the spread of the chunk means adds to the within-chunk sums).
        centred = gram - length * means[:, :, None] * means[:, None, :]
        batch_mean = means.mean(axis=0)
        offsets = means - batch_mean
        m2 = centred.sum(axis=0) + length * offsets.T @ offsets
        batch = PairMoments(
            count=length * int(loud.sum()),
            mean_l=float(batch_mean[0]),
            mean_r=float(batch_mean[1]),
            m2_ll=float(m2[0, 0]),
            m2_rr=float(m2[1, 1]),
            m2_lr=float(m2[0, 1]),
        )
        self.moments = self.moments.merge(batch)

    def stereo_width(self) -> float:
        return stereo_width(self.moments) if self.active else 0.0

    def phase_correlation(self) -> float:
        return phase_correlation(self.moments) if self.active else 1.0
