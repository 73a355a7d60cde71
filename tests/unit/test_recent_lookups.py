"""The memory of recent path lookups (``fingerprint_service.recent``): a bounded LRU map, and
the warm path reading it before the database."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from fingerprint_service.recent import RecentLookups
from fingerprint_service.service import FingerprintResult, FingerprintService, TrackQuery
from fingerprint_service.store import FingerprintStore
from shared.fingerprint import FingerprintSource
from tests.servers import make_config
from tests.signals import music_like, write_wav

RATE = 44_100


def test_a_stored_entry_is_returned_for_its_key() -> None:
    recent: RecentLookups[str] = RecentLookups(4)
    recent.put(("a.flac", 10, 1), "a")
    assert recent.get(("a.flac", 10, 1)) == "a"
    assert recent.get(("a.flac", 10, 2)) is None
    assert recent.get(("a.flac", 11, 1)) is None


def test_the_least_recently_used_entry_leaves_first() -> None:
    recent: RecentLookups[str] = RecentLookups(2)
    recent.put(("a", 1, 1), "a")
    recent.put(("b", 1, 1), "b")
    assert recent.get(("a", 1, 1)) == "a"  # now b is the least recently used
    recent.put(("c", 1, 1), "c")
    assert len(recent) == 2
    assert recent.get(("b", 1, 1)) is None
    assert recent.get(("a", 1, 1)) == "a"
    assert recent.get(("c", 1, 1)) == "c"


def test_forget_drops_a_key_and_ignores_an_absent_one() -> None:
    recent: RecentLookups[str] = RecentLookups(2)
    recent.put(("a", 1, 1), "a")
    recent.forget(("a", 1, 1))
    recent.forget(("never", 1, 1))
    assert recent.get(("a", 1, 1)) is None
    assert len(recent) == 0


def test_capacity_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="capacity"):
        RecentLookups(0)


def test_concurrent_use_keeps_the_bound_and_never_fails() -> None:
    recent: RecentLookups[int] = RecentLookups(64)
    errors: list[BaseException] = []

    def hammer(offset: int) -> None:
        try:
            for i in range(5_000):
                key = (f"t{(i * 7 + offset) % 200}", 1, 1)
                recent.put(key, i)
                recent.get((f"t{(i + offset) % 200}", 1, 1))
                if i % 5 == 0:
                    recent.forget(key)
        except BaseException as exc:  # the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(recent) <= 64


# -- the warm path ------------------------------------------------------------------------------


class _CountingStore(FingerprintStore):
    """The real store, counting path-table reads."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.path_reads = 0

    def lookup_path(self, path: str, size: int, mtime_ns: int) -> Any:
        self.path_reads += 1
        return super().lookup_path(path, size, mtime_ns)


def _service(tmp_path: Path) -> tuple[FingerprintService, _CountingStore]:
    config = make_config(tmp_path, FINGERPRINT_WORKERS="1")
    config.data_dir.mkdir(parents=True, exist_ok=True)
    write_wav(config.media_root / "song.wav", music_like(3.0, RATE), RATE)
    store = _CountingStore(config.database_url)
    return FingerprintService(config, store, lambda: ThreadPoolExecutor(1)), store


def test_a_repeated_lookup_is_answered_without_reading_the_database(tmp_path: Path) -> None:
    service, store = _service(tmp_path)
    query = TrackQuery(path="song.wav")

    async def scenario() -> list[FingerprintResult]:
        try:
            return [await service.get(query) for _ in range(4)]
        finally:
            await service.close()

    computed, stored, *repeats = asyncio.run(scenario())
    assert computed.source is FingerprintSource.COMPUTED
    assert stored.source is FingerprintSource.DATABASE
    # The first call misses the path table, the second reads it; the rest come from memory.
    assert store.path_reads == 2
    assert all(r.source is FingerprintSource.DATABASE for r in repeats)
    assert all(r.fingerprint == stored.fingerprint and r.info == stored.info for r in repeats)


def test_a_forced_recomputation_replaces_the_remembered_answer(tmp_path: Path) -> None:
    service, store = _service(tmp_path)
    query = TrackQuery(path="song.wav")

    async def scenario() -> tuple[FingerprintResult, FingerprintResult, FingerprintResult]:
        try:
            await service.get(query)
            remembered = await service.get(query)
            forced = await service.get(query, force_recompute=True)
            return remembered, forced, await service.get(query)
        finally:
            await service.close()

    remembered, forced, after = asyncio.run(scenario())
    assert forced.source is FingerprintSource.COMPUTED
    assert forced.compute_ms != remembered.compute_ms
    # The row the forced computation wrote, read again from the database, not the old answer.
    assert after.source is FingerprintSource.DATABASE
    assert after.compute_ms == pytest.approx(forced.compute_ms, abs=1e-6)
    assert store.path_reads == 3


def _resolving_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, local: bool
                       ) -> list[str]:
    """The thread each of three repeated lookups resolved its path in."""
    import fingerprint_service.service as service_module

    monkeypatch.setattr(service_module, "media_root_is_local", lambda _root: local)
    threads: list[str] = []
    resolve = service_module.resolve_track

    def recording_resolve(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return resolve(*args, **kwargs)

    monkeypatch.setattr(service_module, "resolve_track", recording_resolve)
    service, _ = _service(tmp_path)
    query = TrackQuery(path="song.wav")

    async def scenario() -> None:
        try:
            await service.get(query)
            await service.get(query)
            threads.clear()
            for _ in range(3):
                assert (await service.get(query)).source is FingerprintSource.DATABASE
        finally:
            await service.close()

    asyncio.run(scenario())
    return threads


def test_on_a_local_media_root_a_recent_answer_never_leaves_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _resolving_threads(tmp_path, monkeypatch, local=True) == ["MainThread"] * 3


def test_on_a_network_media_root_every_path_resolves_in_a_worker_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stat on NFS or FUSE can hang with its server: it must not hang the event loop."""
    threads = _resolving_threads(tmp_path, monkeypatch, local=False)
    assert len(threads) == 3 and "MainThread" not in threads
