"""Encoded output benchmark (SPEC section 10): a generated 2-min 44.1 kHz stereo track streamed
through the engine in every output format, the 16-bit WAV stream beside them as the reference.

Rows per format: stream throughput (× real time: decode, chain, encoder and muxer, and the
summary's decode of the packets) and bytes sent per minute of audio.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from mastering_service.analysis import analyze
from mastering_service.engine import RenderOptions, open_render
from mastering_service.lwrp import fallback_plan
from mastering_service.plan import FallbackReason
from tests.signals import music_like, write_wav

TRACK_S = 120.0
RATE = 44_100
#: Best of this many runs (the machine is shared).
REPEATS = 2
#: (label, options): the PCM reference, then every encoded format at its default settings.
OUTPUTS = [
    ("wav s16 (reference)", RenderOptions(container="wav")),
    ("flac 16-bit", RenderOptions(container="flac")),
    ("flac 24-bit", RenderOptions(container="flac", encoding="s24")),
    ("ogg_opus 160 kbit/s", RenderOptions(container="ogg_opus")),
    ("mp3 256 kbit/s CBR", RenderOptions(container="mp3")),
    ("mp3 256 kbit/s VBR (ABR)", RenderOptions(container="mp3", mp3_vbr=True)),
    ("mp4_aac 192 kbit/s", RenderOptions(container="mp4_aac")),
    ("adts_aac 192 kbit/s", RenderOptions(container="adts_aac")),
]


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        source = write_wav(Path(folder) / "track.wav",
                           music_like(TRACK_S, RATE, level_dbfs=-8.0, crest_shape=1.5), RATE,
                           subtype="PCM_16")
        plan = fallback_plan(analyze(source), target_lufs=-14.0, true_peak_ceiling_dbtp=-1.0,
                             intensity=1.0, reason=FallbackReason.UNAVAILABLE)
        for label, options in OUTPUTS:
            best_s, sent = float("inf"), 0
            for _ in range(REPEATS):
                started = time.perf_counter()
                with open_render(source, plan, options) as stream:
                    for _chunk in stream:
                        pass
                    sent = stream.summary().bytes_sent
                best_s = min(best_s, time.perf_counter() - started)
            rows.append({"metric": f"stream throughput, {label}", "value": TRACK_S / best_s,
                         "unit": "× real time", "target": "", "ok": None})
            rows.append({"metric": f"bytes per minute of audio, {label}",
                         "value": sent / (TRACK_S / 60.0) / 1e6, "unit": "MB/min",
                         "target": "", "ok": None})
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
