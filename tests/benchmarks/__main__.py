"""``make bench``: run every benchmark module and print one table, target beside each figure.

Each module under tests/benchmarks named ``bench_*.py`` has ``run() -> list[dict]`` whose rows
carry ``metric``, ``value``, ``unit``, ``target`` (text) and ``ok`` (bool, or None when the row
is informational). Benchmarks are never part of ``make test``: this machine is shared and noisy.

After every row the run ends with one summary: each goal of SPEC section 9 (and issue 14) with
its figure, the peer measured in the same run beside it, and whether the goal held. The goals
are judged here, from the SPEC, not from a module's own target; a goal whose benchmark did not
run (or failed) says so.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Goal:
    """One SPEC section 9 goal: which row holds its figure and which its peer."""

    figure: str
    module: str  # the bench_* module that measures it
    metric: str  # start of the figure's row metric
    goal: str
    met: Callable[[float], bool]
    peer: str | None = None  # start of the peer's row metric, when one is measured
    unit: str | None = None  # when several rows share the metric's start
    peer_text: str = ""  # what the peer is, when no row measures it


GOALS = (
    Goal("render CLI end to end vs ffmpeg loudnorm", "bench_render", "CLI render vs ffmpeg",
         "≥ 5× faster", lambda v: v >= 5.0, peer="ffmpeg loudnorm, same file"),
    Goal("offline master, plan given, 4-min WAV", "bench_render", "offline master 4 min",
         "≤ 0.8 s", lambda v: v <= 0.8, peer="ffmpeg loudnorm, same file",
         peer_text="Matchering 6.5 s (not installed)"),
    Goal("cold fingerprint vs ffmpeg bare decode", "bench_fingerprint",
         "fingerprint / ffmpeg decode", "≤ 3×", lambda v: v <= 3.0, peer="ffmpeg bare decode"),
    Goal("cold fingerprint vs librosa pipeline", "bench_fingerprint", "fingerprint / librosa",
         "≤ 0.33×", lambda v: v <= 0.33, peer="librosa pipeline"),
    Goal("warm first chunk p50 (loopback)", "bench_services", "warm first chunk p50",
         "≤ 50 ms", lambda v: v <= 50.0),
    Goal("cold first chunk p50", "bench_services", "cold first chunk p50", "≤ 1500 ms",
         lambda v: v <= 1500.0),
    Goal("one warm MasterTrack stream, s16", "bench_services", "single stream", "≥ 150×",
         lambda v: v >= 150.0, peer="gRPC loopback, 64 KiB"),
    Goal("16 concurrent streams: errors", "bench_services", "16 concurrent streams: errors",
         "0", lambda v: v == 0),
    Goal("16 concurrent streams: slowest", "bench_services", "16 concurrent streams: slowest",
         "≥ 8× each", lambda v: v >= 8.0),
    Goal("warm GetFingerprint p50", "bench_services", "warm GetFingerprint p50", "≤ 1 ms",
         lambda v: v <= 1.0, peer="bare gRPC unary call"),
    Goal("library scan, 2 cores, 4-min tracks", "bench_library",
         "library scan, 2 workers, in 4-min tracks", "≥ 2.5 tracks/s", lambda v: v >= 2.5,
         unit="tracks/s", peer_text="bliss-rs ≈ 3 tracks/s (not run)"),
    Goal("SimilarTracks p95 at 100 000 tracks", "bench_library", "SimilarTracks p95, 100000",
         "≤ 10 ms", lambda v: v <= 10.0),
    Goal("fingerprint a 60-min track: peak RSS", "bench_fingerprint", "fingerprint peak RSS",
         "< 400 MB", lambda v: v < 400.0),
    Goal("mastering memory per concurrent stream", "bench_services",
         "memory per concurrent stream", "≤ 30 MB", lambda v: v <= 30.0),
)


def _find(rows: list[dict[str, Any]], metric: str, unit: str | None) -> dict[str, Any] | None:
    for row in rows:
        if str(row["metric"]).startswith(metric) and unit in (None, row.get("unit")):
            return row
    return None


def _figure(row: dict[str, Any]) -> str:
    return f"{_format(row['value'])} {row.get('unit', '')}".strip()


def summary_table(rows: list[dict[str, Any]], ran: set[str]) -> list[tuple[str, ...]]:
    """(goal, figure, goal, peer in the same run, met) per SPEC goal; a goal whose module did
    not run, or whose row is missing, says so instead of a figure."""
    table: list[tuple[str, ...]] = []
    for goal in GOALS:
        row = _find(rows, goal.metric, goal.unit)
        peer_row = _find(rows, goal.peer, None) if goal.peer is not None else None
        measured = _figure(peer_row) + f" ({peer_row['metric']})" if peer_row else ""
        peer = "; ".join(part for part in (measured, goal.peer_text) if part)
        if row is None:
            why = "not run" if goal.module not in ran else "no figure (failed)"
            table.append((goal.figure, why, goal.goal, peer or "-", "-"))
            continue
        value = float(row["value"])
        met = value == value and goal.met(value)  # NaN (not measurable) never meets a goal
        table.append((goal.figure, _figure(row), goal.goal, peer or "-", "yes" if met else "NO"))
    return table


def _print_table(table: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(line[i])) for line in table) for i in range(len(table[0]))]
    for i, line in enumerate(table):
        print(" | ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)))
        if i == 0:
            print("-|-".join("-" * width for width in widths))


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def main(argv: list[str]) -> int:
    only = set(argv)
    package = Path(__file__).parent
    rows: list[dict[str, Any]] = []
    ran: set[str] = set()
    failures = 0
    for module_info in sorted(pkgutil.iter_modules([str(package)]), key=lambda m: m.name):
        if not module_info.name.startswith("bench_"):
            continue
        if only and module_info.name not in only:
            continue
        print(f"running {module_info.name} …", file=sys.stderr, flush=True)
        ran.add(module_info.name)
        try:
            module = importlib.import_module(f"tests.benchmarks.{module_info.name}")
            module_rows = module.run()
            rows.extend(module_rows)
            for row in module_rows:  # as they come, so a later failure loses nothing
                print(f"  {row['metric']}: {_format(row['value'])} {row.get('unit', '')}",
                      file=sys.stderr, flush=True)
        except Exception:  # a broken benchmark is reported, the others still run
            failures += 1
            traceback.print_exc()
    header = ("metric", "value", "unit", "target", "ok")
    table = [header] + [(row["metric"], _format(row["value"]), row.get("unit", ""),
                         row.get("target", ""),
                         {True: "yes", False: "NO", None: "-"}[row.get("ok")])
                        for row in rows]
    _print_table(table)
    print()
    print("Summary: SPEC section 9 goals, each beside its peer measured in this run")
    _print_table([("goal", "figure", "target", "peer (same run)", "met"),
                  *summary_table(rows, ran)])
    Path("bench-results.json").write_text(json.dumps(rows, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
