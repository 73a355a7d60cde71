"""What a render did, drawn: ``render --report FILE.png`` (SPEC section 12).

Three panels over one pass of the track through the plan's chain (the same stages the engine
runs, built by ``chain.build_chain``): short-term loudness over time before and after, with the
effective target; the averaged spectrum before and after, with the tonal EQ's curve; the true-peak
limiter's gain reduction over time. The plan's reasons are the caption.

matplotlib is an optional extra (``pip install '.[report]'``); it is imported only here, only
when a report is drawn, and never by the services. Without it ``MissingReportDependency`` says
how to install it.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from mastering_service.chain import build_chain
from mastering_service.chain.limiter import TruePeakLimiter
from mastering_service.chain.tonal_eq import TonalEQ
from mastering_service.engine import MAX_CHANNELS
from mastering_service.plan import MasteringPlan
from shared.audio import open_audio
from shared.loudness import LoudnessMeter

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FloatArray = NDArray[np.float64]

#: Frames per block of the pass: 100 ms at 44.1 kHz, the gain-reduction trace's resolution.
BLOCK_FRAMES = 4410
#: FFT length of the averaged spectrum (about 10.8 Hz resolution at 44.1 kHz).
SPECTRUM_FFT_FRAMES = 8192
#: Short-term loudness is drawn every this many seconds (3 s windows, BS.1770 / EBU R128).
LOUDNESS_HOP_S = 0.5
#: Lowest frequency drawn, Hz (the high-pass removes what is below).
SPECTRUM_LOW_HZ = 20.0
#: Loudness values below this are silence and are not drawn.
LOUDNESS_FLOOR_LUFS = -70.0
#: Figure size, inches, and resolution: a readable PNG of about 1500 × 1400 pixels.
FIGURE_SIZE_IN = (10.0, 9.5)
FIGURE_DPI = 150
#: Caption line length, characters.
CAPTION_WIDTH = 130
#: Power floor before a logarithm (−200 dB).
POWER_FLOOR = 1e-20


class MissingReportDependency(RuntimeError):
    """matplotlib is not installed (it is the optional ``report`` extra)."""


@dataclass(frozen=True)
class ReportData:
    """Everything the figure shows, as plain arrays (seconds, LUFS, Hz, dB)."""

    plan: MasteringPlan
    loudness_times_s: FloatArray
    loudness_before_lufs: FloatArray
    loudness_after_lufs: FloatArray
    spectrum_hz: FloatArray
    spectrum_before_db: FloatArray
    spectrum_after_db: FloatArray
    eq_curve_db: FloatArray
    reduction_times_s: FloatArray
    gain_reduction_db: FloatArray


class _SpectrumAverage:
    """Welch average of the channel-mean signal: Hann-windowed, half-overlapping frames."""

    def __init__(self, fft_frames: int = SPECTRUM_FFT_FRAMES) -> None:
        self._size = fft_frames
        self._window = np.hanning(fft_frames)
        self._pending = np.zeros(0)
        self._power = np.zeros(fft_frames // 2 + 1)
        self._count = 0

    def feed(self, block: FloatArray) -> None:
        self._pending = np.concatenate([self._pending, block.mean(axis=1)])
        hop = self._size // 2
        while self._pending.size >= self._size:
            frame = self._pending[: self._size] * self._window
            self._power += np.abs(np.fft.rfft(frame)) ** 2
            self._count += 1
            self._pending = self._pending[hop:]

    def power_db(self) -> FloatArray:
        mean = self._power / max(self._count, 1)
        return np.asarray(10.0 * np.log10(np.maximum(mean, POWER_FLOOR)), dtype=np.float64)


def collect(source: Path | bytes, plan: MasteringPlan) -> ReportData:
    """Run ``source`` through ``plan``'s chain once, measuring before and after."""
    with open_audio(source, max_channels=MAX_CHANNELS) as reader:
        rate, channels = reader.info.sample_rate, reader.info.channels
        chain = build_chain(plan, rate, channels)
        limiter = next(stage for _, stage in chain.stages if isinstance(stage, TruePeakLimiter))
        meters = [LoudnessMeter(rate, channels) for _ in range(2)]
        spectra = [_SpectrumAverage(), _SpectrumAverage()]
        reductions: list[float] = []
        skip = chain.latency_frames  # the output lags the input by this much
        for block in reader.blocks(BLOCK_FRAMES):
            out = chain.process(block)
            reductions.append(limiter.last_reduction_db)
            meters[0].feed(block)
            spectra[0].feed(block)
            if skip:
                dropped = min(skip, out.shape[0])
                out, skip = out[dropped:], skip - dropped
            if out.shape[0]:
                meters[1].feed(out)
                spectra[1].feed(out)
    before, after = (meter.short_term_lufs(LOUDNESS_HOP_S) for meter in meters)
    count = min(before.size, after.size)
    freqs = np.fft.rfftfreq(SPECTRUM_FFT_FRAMES, 1.0 / rate)
    shown = freqs >= SPECTRUM_LOW_HZ
    eq = TonalEQ(rate, 1, plan.low_shelf_gain_db, plan.high_shelf_gain_db)
    return ReportData(
        plan=plan,
        loudness_times_s=np.arange(count, dtype=np.float64) * LOUDNESS_HOP_S,
        loudness_before_lufs=before[:count],
        loudness_after_lufs=after[:count],
        spectrum_hz=np.asarray(freqs[shown], dtype=np.float64),
        spectrum_before_db=spectra[0].power_db()[shown],
        spectrum_after_db=spectra[1].power_db()[shown],
        eq_curve_db=eq.response_db(freqs[shown]),
        reduction_times_s=np.arange(len(reductions), dtype=np.float64) * BLOCK_FRAMES / rate,
        gain_reduction_db=np.asarray(reductions, dtype=np.float64),
    )


def require_matplotlib() -> None:
    """Raise MissingReportDependency now, before any work, when matplotlib is missing."""
    _figure_class()


def _figure_class() -> type[Figure]:
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise MissingReportDependency(
            "the report needs matplotlib, the optional 'report' extra: "
            "pip install 'audio-mastering-services[report]' (or pip install matplotlib)"
        ) from error
    return Figure


def build_figure(data: ReportData) -> Figure:
    """The three panels and the caption (a figure object; nothing is drawn on screen)."""
    figure_class = _figure_class()
    figure = figure_class(figsize=FIGURE_SIZE_IN, dpi=FIGURE_DPI, layout="constrained")
    loudness, spectrum, reduction = figure.subplots(3, 1)
    plan = data.plan

    def audible(values: FloatArray) -> FloatArray:
        return np.where(values > LOUDNESS_FLOOR_LUFS, values, np.nan)

    loudness.plot(data.loudness_times_s, audible(data.loudness_before_lufs), label="before")
    loudness.plot(data.loudness_times_s, audible(data.loudness_after_lufs), label="after")
    loudness.axhline(plan.effective_target_lufs, color="black", linestyle="--",
                     label=f"effective target {plan.effective_target_lufs:.1f} LUFS")
    loudness.set(title="Short-term loudness (3 s windows)", xlabel="time (s)",
                 ylabel="LUFS")
    loudness.legend(loc="lower right")

    spectrum.semilogx(data.spectrum_hz, data.spectrum_before_db, label="before")
    spectrum.semilogx(data.spectrum_hz, data.spectrum_after_db, label="after")
    spectrum.set(title="Average spectrum", xlabel="frequency (Hz)", ylabel="power (dB)")
    spectrum.legend(loc="lower left")
    eq_axis = spectrum.twinx()
    eq_axis.semilogx(data.spectrum_hz, data.eq_curve_db, color="black", linestyle=":",
                     label="tonal EQ")
    eq_axis.set(ylabel="EQ gain (dB)", ylim=(-4.0, 4.0))
    eq_axis.legend(loc="upper right")

    reduction.plot(data.reduction_times_s, -data.gain_reduction_db, color="tab:red")
    reduction.set(title=f"True-peak limiter gain reduction (ceiling "
                        f"{plan.true_peak_ceiling_dbtp:.1f} dBTP)",
                  xlabel="time (s)", ylabel="gain (dB)")
    caption = "\n".join(textwrap.fill(reason, CAPTION_WIDTH) for reason in plan.reasons)
    figure.supxlabel(caption, fontsize="small", horizontalalignment="left", x=0.01)
    return figure


def write_report(source: Path | bytes, plan: MasteringPlan, out_path: Path) -> Path:
    """Measure ``source`` under ``plan`` and write the figure as a PNG."""
    require_matplotlib()  # fail before the pass
    figure = build_figure(collect(source, plan))
    figure.savefig(out_path, format="png")
    return out_path
