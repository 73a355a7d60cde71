"""``make bench``'s summary (SPEC section 9): every goal listed once, judged against the SPEC's
figure, its peer from the same run beside it, and a goal whose benchmark did not run says so."""

from __future__ import annotations

from typing import Any

from tests.benchmarks.__main__ import GOALS, summary_table


def _row(metric: str, value: float, unit: str = "") -> dict[str, Any]:
    return {"metric": metric, "value": value, "unit": unit, "target": "", "ok": None}


def test_every_goal_is_a_row_and_unrun_benchmarks_say_so() -> None:
    table = summary_table([], ran=set())
    assert len(table) == len(GOALS)
    assert {line[1] for line in table} == {"not run"}


def test_goal_is_judged_against_the_spec_not_the_module_target() -> None:
    rows = [_row("16 concurrent streams: slowest (2 cores)", 6.0, "x real time"),
            _row("single stream (s16, 44.1k stereo)", 151.0, "x real time"),
            _row("gRPC loopback, 64 KiB chunks", 600.0, "MB/s")]
    table = {line[0]: line for line in summary_table(rows, ran={"bench_services"})}
    assert table["16 concurrent streams: slowest"][4] == "NO"  # module's own target was 5x
    single = table["one warm MasterTrack stream, s16"]
    assert single[4] == "yes"
    assert single[3].startswith("600 MB/s")
    assert table["warm GetFingerprint p50"][1] == "no figure (failed)"


def test_the_scan_goal_reads_the_rate_in_four_minute_tracks() -> None:
    rows = [_row("library scan, corpus (21 tracks, mean 3.1 min), 2 workers", 2.6, "tracks/s"),
            _row("library scan, 2 workers, in 4-min tracks", 2.0, "tracks/s"),
            _row("library scan, corpus, 2 workers", 480.0, "× real time")]
    table = {line[0]: line for line in summary_table(rows, ran={"bench_library"})}
    assert table["library scan, 2 cores, 4-min tracks"][1:] == (
        "2 tracks/s", "≥ 2.5 tracks/s", "bliss-rs ≈ 3 tracks/s (not run)", "NO")


def test_rows_sharing_a_name_are_told_apart_by_unit() -> None:
    rows = [_row("library scan, 2 workers, in 4-min tracks", 600.0, "× real time"),
            _row("library scan, 2 workers, in 4-min tracks", 2.6, "tracks/s")]
    table = {line[0]: line for line in summary_table(rows, ran={"bench_library"})}
    assert table["library scan, 2 cores, 4-min tracks"][1] == "2.6 tracks/s"
    assert table["library scan, 2 cores, 4-min tracks"][4] == "yes"


def test_not_measurable_figure_never_meets_its_goal() -> None:
    rows = [_row("fingerprint / librosa corpus OGG x", float("nan"), "x")]
    table = {line[0]: line for line in summary_table(rows, ran={"bench_fingerprint"})}
    assert table["cold fingerprint vs librosa pipeline"][4] == "NO"
