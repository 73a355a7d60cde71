"""Stereo image: width and phase correlation of the first two channels (dims 24–25 of SPEC
section 4).

Both are computed over the non-silent samples: the track is cut into 100 ms chunks (aligned to
the start of the track) and a chunk counts when the RMS of its two channels together reaches
−60 dBFS. What is kept is the count, the means and the centred second moments of L and R,
merged chunk batch by chunk batch with the pairwise update of Chan, Golub & LeVeque (1979), so
a DC offset or an hour of audio costs no precision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from fingerprint_service.features.frames import SILENCE_RMS

FloatArray = NDArray[np.float64]

CHUNK_S = 0.1
#: Chunks are evaluated this many at a time, whatever the decode block size.
CHUNKS_PER_BATCH = 64
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

    @classmethod
    def of(cls, pair: FloatArray) -> PairMoments:
        """Moments of ``(n, 2)`` samples (two-pass)."""
        n = int(pair.shape[0])
        if n == 0:
            return cls()
        means = pair.mean(axis=0)
        centred = pair - means
        return cls(
            count=n,
            mean_l=float(means[0]),
            mean_r=float(means[1]),
            m2_ll=float(np.dot(centred[:, 0], centred[:, 0])),
            m2_rr=float(np.dot(centred[:, 1], centred[:, 1])),
            m2_lr=float(np.dot(centred[:, 0], centred[:, 1])),
        )

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
    """Moments of the first two channels over non-silent 100 ms chunks; mono input is ignored."""

    def __init__(self, sample_rate: int, channels: int) -> None:
        self.active = channels >= 2
        self.chunk = max(1, round(CHUNK_S * sample_rate))
        self.moments = PairMoments()
        self._pending = np.zeros((0, 2))

    def update(self, block: FloatArray) -> None:
        if not self.active or block.shape[0] == 0:
            return
        self._pending = np.concatenate([self._pending, block[:, :2]])
        batch = self.chunk * CHUNKS_PER_BATCH
        while self._pending.shape[0] >= batch:
            self._add_chunks(self._pending[:batch], CHUNKS_PER_BATCH)
            self._pending = self._pending[batch:]

    def finish(self) -> None:
        """Account for the remaining samples: whole chunks, then a last short chunk."""
        whole = self._pending.shape[0] // self.chunk
        if whole:
            self._add_chunks(self._pending[: whole * self.chunk], whole)
        rest = self._pending[whole * self.chunk :]
        if rest.shape[0]:
            self._add_chunks(rest, 1)
        self._pending = np.zeros((0, 2))

    def _add_chunks(self, samples: FloatArray, chunks: int) -> None:
        shaped = samples.reshape(chunks, -1, 2)
        mean_square = np.einsum("ijk,ijk->i", shaped, shaped) / (2 * shaped.shape[1])
        loud = mean_square >= SILENCE_RMS * SILENCE_RMS
        if loud.any():
            self.moments = self.moments.merge(PairMoments.of(shaped[loud].reshape(-1, 2)))

    def stereo_width(self) -> float:
        return stereo_width(self.moments) if self.active else 0.0

    def phase_correlation(self) -> float:
        return phase_correlation(self.moments) if self.active else 1.0
