"""The fingerprint cache (SPEC section 7): the same scenarios on SQLite and on PostgreSQL, then
the SQLite-only ways a database becomes unusable (the store must degrade, never crash, never
touch the user's file, and recover).

PostgreSQL cases need ``scripts/with-postgres``; without it they are skipped with the reason.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from fingerprint_service.store import SCHEMA_VERSION, FingerprintStore
from shared.fingerprint import ALGORITHM_VERSION, FINGERPRINT_FIELDS, Fingerprint, TrackInfo
from tests.postgres import fresh_postgres_url
from tests.unprivileged import rerun_unprivileged

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Short enough that a lock test waits a fraction of a second, not the production 5 s.
TEST_BUSY_TIMEOUT_S = 0.1

SHA_A = "a" * 64
SHA_B = "b" * 64


class FakeClock:
    """A monotonic clock the test moves by hand, so retry throttling is checked without waiting."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


def make_fingerprint(offset: float = 0.0) -> Fingerprint:
    # Values chosen so a lossy float path (REAL instead of DOUBLE, text rounding) would show.
    return Fingerprint(
        **{name: 0.1 * i + 1e-13 + offset for i, name in enumerate(FINGERPRINT_FIELDS)}
    )


def make_info(content_sha256: str = SHA_A, **changes: Any) -> TrackInfo:
    fields: dict[str, Any] = {
        "duration_s": 1.0 / 3.0,
        "sample_rate": 44100,
        "channels": 2,
        "frames": 14700,
        "content_sha256": content_sha256,
        "sample_peak_dbfs": -0.123456789,
        "true_peak_dbtp": 0.3,
        "loudness_range_lu": 7.25,
        "codec": "vorbis",
        "bit_rate_bps": 112_000,
        "limited_loudness_lufs": tuple(-9.5 - 0.1 * i - 1.0 / 3.0 for i in range(25)),
        "limited_loudness_range_lu": tuple(7.25 - 0.05 * i for i in range(25)),
    }
    fields.update(changes)
    return TrackInfo(**fields)


def sqlite_file(url: str) -> str:
    return url.removeprefix("sqlite:///")


def query_one(url: str, sql: str) -> Any:
    """First column of the first row, read with the driver directly (not through the store)."""
    connection = _raw_connection(url)
    try:
        cursor = connection.cursor()
        cursor.execute(sql)
        row = cursor.fetchone()
        return None if row is None else row[0]
    finally:
        connection.close()


def execute(url: str, sql: str) -> None:
    connection = _raw_connection(url)
    try:
        connection.cursor().execute(sql)
        connection.commit()
    finally:
        connection.close()


def _raw_connection(url: str) -> Any:
    if url.startswith("sqlite:///"):
        return sqlite3.connect(sqlite_file(url))
    import psycopg2  # type: ignore[import-untyped]

    return psycopg2.connect(url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cache.sqlite3'}"
    else:
        with fresh_postgres_url() as url:
            yield url


@pytest.fixture
def open_store(store_url: str) -> Iterator[Callable[..., FingerprintStore]]:
    """Opens stores on ``store_url`` and closes them all before the database goes away."""
    stores: list[FingerprintStore] = []

    def open_(**options: Any) -> FingerprintStore:
        store = FingerprintStore(store_url, **options)
        stores.append(store)
        return store

    yield open_
    for store in stores:
        store.close()


@pytest.fixture
def sqlite_store_factory(tmp_path: Path) -> Iterator[Callable[..., FingerprintStore]]:
    stores: list[FingerprintStore] = []

    def open_(url: str, **options: Any) -> FingerprintStore:
        options.setdefault("busy_timeout_s", TEST_BUSY_TIMEOUT_S)
        store = FingerprintStore(url, **options)
        stores.append(store)
        return store

    yield open_
    for store in stores:
        store.close()


# -- both backends ---------------------------------------------------------------------------


def test_saved_fingerprint_is_found_by_hash_with_exact_values(
    open_store: Callable[..., FingerprintStore],
) -> None:
    store = open_store()
    assert store.healthy
    fingerprint, info = make_fingerprint(), make_info()

    store.save(fingerprint, info, compute_ms=1234.5)
    found = store.lookup_hash(SHA_A)

    assert found is not None
    assert found.fingerprint == fingerprint
    assert found.info == info
    assert found.algorithm_version == ALGORITHM_VERSION
    assert found.compute_ms == 1234.5
    assert store.lookup_hash(SHA_B) is None


def test_saved_fingerprint_is_found_by_path_with_same_size_and_mtime(
    open_store: Callable[..., FingerprintStore],
) -> None:
    store = open_store()
    store.save(make_fingerprint(), make_info(), compute_ms=10.0, path=("album/one.ogg", 4711, 17))

    found = store.lookup_path("album/one.ogg", 4711, 17)

    assert found is not None
    assert found.fingerprint == make_fingerprint()
    assert found.info.content_sha256 == SHA_A
    assert store.lookup_path("album/other.ogg", 4711, 17) is None


@pytest.mark.parametrize(("size", "mtime_ns"), [(4712, 17), (4711, 18)], ids=["size", "mtime"])
def test_path_lookup_misses_when_size_or_mtime_changed(
    open_store: Callable[..., FingerprintStore], size: int, mtime_ns: int
) -> None:
    store = open_store()
    store.save(make_fingerprint(), make_info(), compute_ms=10.0, path=("one.ogg", 4711, 17))

    assert store.lookup_path("one.ogg", size, mtime_ns) is None


def test_changed_file_maps_its_path_to_the_new_content(
    open_store: Callable[..., FingerprintStore],
) -> None:
    store = open_store()
    store.save(make_fingerprint(), make_info(SHA_A), compute_ms=1.0, path=("one.ogg", 100, 1))
    store.save(make_fingerprint(0.5), make_info(SHA_B), compute_ms=1.0, path=("one.ogg", 200, 2))

    found = store.lookup_path("one.ogg", 200, 2)

    assert found is not None and found.info.content_sha256 == SHA_B
    assert found.fingerprint == make_fingerprint(0.5)
    assert store.lookup_path("one.ogg", 100, 1) is None
    assert store.lookup_hash(SHA_A) is not None  # the old content's row is still valid by hash


def test_remember_path_links_a_path_to_an_already_stored_hash(
    open_store: Callable[..., FingerprintStore],
) -> None:
    store = open_store()
    store.save(make_fingerprint(), make_info(), compute_ms=1.0)
    assert store.lookup_path("copy.ogg", 10, 20) is None

    store.remember_path("copy.ogg", 10, 20, SHA_A)

    found = store.lookup_path("copy.ogg", 10, 20)
    assert found is not None and found.info.content_sha256 == SHA_A


def test_path_mapped_to_a_hash_without_a_row_misses(
    open_store: Callable[..., FingerprintStore],
) -> None:
    store = open_store()
    store.remember_path("new.ogg", 10, 20, SHA_B)

    assert store.lookup_path("new.ogg", 10, 20) is None


def test_algorithm_version_bump_makes_old_rows_count_as_missing(
    open_store: Callable[..., FingerprintStore],
) -> None:
    old = open_store(algorithm_version=ALGORITHM_VERSION)
    old.save(make_fingerprint(), make_info(), compute_ms=1.0, path=("one.ogg", 1, 2))
    new = open_store(algorithm_version=ALGORITHM_VERSION + 1)

    assert new.lookup_hash(SHA_A) is None
    assert new.lookup_path("one.ogg", 1, 2) is None

    new.save(make_fingerprint(0.25), make_info(), compute_ms=2.0, path=("one.ogg", 1, 2))

    assert new.count_rows() == 2  # one row per (content, algorithm version)
    from_new = new.lookup_path("one.ogg", 1, 2)
    assert from_new is not None and from_new.algorithm_version == ALGORITHM_VERSION + 1
    assert from_new.fingerprint == make_fingerprint(0.25)
    from_old = old.lookup_hash(SHA_A)
    assert from_old is not None and from_old.algorithm_version == ALGORITHM_VERSION
    assert from_old.fingerprint == make_fingerprint()


def test_upserting_the_same_key_twice_leaves_one_row_with_the_latest_values(
    open_store: Callable[..., FingerprintStore],
) -> None:
    store = open_store()
    store.save(make_fingerprint(), make_info(), compute_ms=1.0, path=("one.ogg", 1, 2))
    store.save(make_fingerprint(0.5), make_info(), compute_ms=2.0, path=("one.ogg", 1, 2))

    assert store.count_rows() == 1
    found = store.lookup_path("one.ogg", 1, 2)
    assert found is not None
    assert found.fingerprint == make_fingerprint(0.5)
    assert found.compute_ms == 2.0


def test_concurrent_saves_of_one_key_from_8_threads_leave_one_row(
    open_store: Callable[..., FingerprintStore],
) -> None:
    store = open_store()
    thread_count = 8
    start = threading.Barrier(thread_count)
    errors: list[BaseException] = []

    def save(index: int) -> None:
        try:
            start.wait()
            store.save(
                make_fingerprint(index),
                make_info(),
                compute_ms=float(index),
                path=("shared.ogg", 1, 2),
            )
        except BaseException as exc:  # collected and asserted on the main thread
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(thread_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert store.healthy, store.degraded_reason
    assert store.count_rows() == 1
    found = store.lookup_path("shared.ogg", 1, 2)
    assert found is not None
    assert found.fingerprint == make_fingerprint(found.compute_ms)  # one writer's whole row


_WRITER_SCRIPT = """
import sys
from fingerprint_service.store import FingerprintStore
from tests.unit.test_store import make_fingerprint, make_info

store = FingerprintStore(sys.argv[1], busy_timeout_s=10.0)
print("ready", flush=True)
sys.stdin.readline()
for index in range(int(sys.argv[2])):
    sha = f"{index:064x}"
    store.save(make_fingerprint(), make_info(sha), compute_ms=1.0, path=(f"{index}.ogg", 1, 2))
    store.remember_path("shared.ogg", 1, 2, sha)
sys.exit(0 if store.healthy else f"store degraded: {store.degraded_reason}")
"""


def test_two_processes_writing_the_same_keys_both_succeed(store_url: str) -> None:
    key_count = 50
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER_SCRIPT, store_url, str(key_count)],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for writer in writers:  # both are connected before either writes
        assert writer.stdout is not None
        for line in writer.stdout:  # skip the store's own log lines
            if line.strip() == "ready":
                break
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
    results = [writer.communicate(timeout=120) for writer in writers]

    assert [writer.returncode for writer in writers] == [0, 0], results
    store = FingerprintStore(store_url)
    try:
        assert store.count_rows() == key_count
        assert store.lookup_path("shared.ogg", 1, 2) is not None
    finally:
        store.close()


def test_schema_version_is_recorded(
    store_url: str, open_store: Callable[..., FingerprintStore]
) -> None:
    assert open_store().healthy

    assert query_one(store_url, "SELECT schema_version FROM schema_meta") == SCHEMA_VERSION
    assert query_one(store_url, "SELECT COUNT(*) FROM schema_meta") == 1


def test_reopening_an_existing_cache_keeps_its_rows(
    open_store: Callable[..., FingerprintStore],
) -> None:
    first = open_store()
    first.save(make_fingerprint(), make_info(), compute_ms=1.0)
    first.close()

    second = open_store()

    assert second.healthy
    assert second.lookup_hash(SHA_A) is not None


def test_fingerprints_table_without_the_bit_rate_column_gains_it_on_connect(
    store_url: str, open_store: Callable[..., FingerprintStore]
) -> None:
    first = open_store()
    first.save(make_fingerprint(), make_info(SHA_B), compute_ms=1.0)
    first.close()
    # The layout before the column existed.
    execute(store_url, "ALTER TABLE fingerprints DROP COLUMN bit_rate_bps")

    second = open_store()

    assert second.healthy
    second.save(make_fingerprint(), make_info(), compute_ms=1.0)
    found = second.lookup_hash(SHA_A)
    assert found is not None and found.info.bit_rate_bps == 112_000
    old = second.lookup_hash(SHA_B)
    assert old is not None and old.info.bit_rate_bps == 0  # unknown for rows written before


def test_newer_schema_version_degrades_and_changes_nothing(
    store_url: str, open_store: Callable[..., FingerprintStore]
) -> None:
    first = open_store()
    first.save(make_fingerprint(), make_info(), compute_ms=1.0)
    first.close()
    newer = SCHEMA_VERSION + 1
    execute(store_url, f"UPDATE schema_meta SET schema_version = {newer}")

    store = open_store(retry_interval_s=0.0)
    store.save(make_fingerprint(), make_info(SHA_B), compute_ms=1.0)

    assert not store.healthy
    assert "newer" in (store.degraded_reason or "")
    assert store.lookup_hash(SHA_A) is None
    assert query_one(store_url, "SELECT schema_version FROM schema_meta") == newer
    assert query_one(store_url, "SELECT COUNT(*) FROM fingerprints") == 1


def test_silence_with_infinite_sample_peak_round_trips(
    open_store: Callable[..., FingerprintStore],
) -> None:
    store = open_store()
    info = make_info(sample_peak_dbfs=float("-inf"), true_peak_dbtp=float("-inf"))

    store.save(make_fingerprint(), info, compute_ms=1.0)

    found = store.lookup_hash(SHA_A)
    assert found is not None and found.info == info


def test_non_finite_fingerprint_is_refused(open_store: Callable[..., FingerprintStore]) -> None:
    store = open_store()
    values = make_fingerprint().to_dict() | {"lufs": float("nan")}

    with pytest.raises(ValueError):
        store.save(Fingerprint(**values), make_info(), compute_ms=1.0)
    assert store.count_rows() == 0


# -- PostgreSQL: a lock held elsewhere ---------------------------------------------------------


@pytest.fixture
def postgres_only_url() -> Iterator[str]:
    with fresh_postgres_url() as url:
        yield url


@pytest.mark.postgres
def test_postgres_table_locked_elsewhere_degrades_after_statement_timeout_and_recovers(
    postgres_only_url: str,
) -> None:
    import psycopg2

    clock = FakeClock()
    store = FingerprintStore(
        postgres_only_url, busy_timeout_s=TEST_BUSY_TIMEOUT_S, retry_interval_s=5.0, clock=clock
    )
    try:
        store.save(make_fingerprint(), make_info(), compute_ms=1.0)
        holder = psycopg2.connect(postgres_only_url)
        try:
            holder.cursor().execute("LOCK TABLE fingerprints IN ACCESS EXCLUSIVE MODE")

            assert store.lookup_hash(SHA_A) is None  # cancelled by statement_timeout, not hung
            assert not store.healthy
            assert "timeout" in (store.degraded_reason or "")
        finally:
            holder.rollback()
            holder.close()

        clock.advance(5.0)
        assert store.lookup_hash(SHA_A) is not None
        assert store.healthy
    finally:
        store.close()


# -- SQLite: unusable databases ----------------------------------------------------------------


def assert_behaves_as_empty_cache(store: FingerprintStore) -> None:
    """Degraded: nothing found, saves skipped silently, no exception from any method."""
    store.save(make_fingerprint(), make_info(), compute_ms=1.0, path=("one.ogg", 1, 2))
    store.remember_path("one.ogg", 1, 2, SHA_A)
    assert store.lookup_hash(SHA_A) is None
    assert store.lookup_path("one.ogg", 1, 2) is None
    assert store.count_rows() == 0
    assert not store.healthy


def test_database_under_a_regular_file_starts_degraded(
    tmp_path: Path, sqlite_store_factory: Callable[..., FingerprintStore]
) -> None:
    # Fails for root too (root ignores permission bits): no directory can exist under a file.
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"user data")

    store = sqlite_store_factory(f"sqlite:///{blocker / 'cache.sqlite3'}", retry_interval_s=0.0)

    assert not store.healthy
    assert store.degraded_reason
    assert_behaves_as_empty_cache(store)
    assert blocker.read_bytes() == b"user data"


def test_read_only_directory_starts_degraded(
    request: pytest.FixtureRequest, tmp_path: Path,
    sqlite_store_factory: Callable[..., FingerprintStore],
) -> None:
    if rerun_unprivileged(request):
        return  # root ignores permission bits: it ran as an unprivileged user instead
    directory = tmp_path / "read-only"
    directory.mkdir()
    directory.chmod(0o555)
    try:
        store = sqlite_store_factory(f"sqlite:///{directory / 'cache.sqlite3'}")

        assert not store.healthy
        assert_behaves_as_empty_cache(store)
        assert list(directory.iterdir()) == []
    finally:
        directory.chmod(0o755)


def test_corrupt_database_file_degrades_and_is_left_byte_for_byte(
    tmp_path: Path, sqlite_store_factory: Callable[..., FingerprintStore]
) -> None:
    database = tmp_path / "cache.sqlite3"
    garbage = b"this is not an SQLite database \x00\xff" * 200
    database.write_bytes(garbage)

    store = sqlite_store_factory(f"sqlite:///{database}", retry_interval_s=0.0)

    assert not store.healthy
    assert_behaves_as_empty_cache(store)  # retries on every call: still degraded, no repair
    store.close()
    assert database.read_bytes() == garbage


def test_write_lock_held_elsewhere_degrades_after_busy_timeout_and_recovers(
    tmp_path: Path, sqlite_store_factory: Callable[..., FingerprintStore]
) -> None:
    database = tmp_path / "cache.sqlite3"
    clock = FakeClock()
    store = sqlite_store_factory(f"sqlite:///{database}", retry_interval_s=5.0, clock=clock)
    store.save(make_fingerprint(), make_info(SHA_A), compute_ms=1.0)
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        store.save(make_fingerprint(), make_info(SHA_B), compute_ms=1.0)

        assert not store.healthy
        assert "locked" in (store.degraded_reason or "")
        assert store.lookup_hash(SHA_A) is None  # degraded: answers without waiting on the DB
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    clock.advance(5.0)
    store.save(make_fingerprint(), make_info(SHA_B), compute_ms=1.0)

    assert store.healthy
    assert store.lookup_hash(SHA_A) is not None
    assert store.lookup_hash(SHA_B) is not None


def test_database_locked_exclusively_at_start_degrades_and_recovers_after_release(
    tmp_path: Path, sqlite_store_factory: Callable[..., FingerprintStore]
) -> None:
    database = tmp_path / "cache.sqlite3"
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("PRAGMA journal_mode=wal")
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")  # keeps readers out as well
    holder.execute("CREATE TABLE other_tool (x INTEGER)")
    try:
        store = sqlite_store_factory(f"sqlite:///{database}", retry_interval_s=0.0)

        assert not store.healthy
        assert_behaves_as_empty_cache(store)
    finally:
        holder.close()

    store.save(make_fingerprint(), make_info(), compute_ms=1.0)

    assert store.healthy
    assert store.lookup_hash(SHA_A) is not None


def test_recovery_waits_for_the_retry_interval_then_succeeds(
    tmp_path: Path, sqlite_store_factory: Callable[..., FingerprintStore]
) -> None:
    blocker = tmp_path / "data"
    blocker.write_bytes(b"")
    clock = FakeClock()
    store = sqlite_store_factory(
        f"sqlite:///{blocker / 'cache.sqlite3'}", retry_interval_s=5.0, clock=clock
    )
    assert not store.healthy

    blocker.unlink()  # the operator fixes the volume
    clock.advance(4.9)
    assert store.lookup_hash(SHA_A) is None
    assert not store.healthy  # no attempt before the interval is over
    assert not blocker.exists()

    clock.advance(0.1)
    store.save(make_fingerprint(), make_info(), compute_ms=1.0)

    assert store.healthy
    assert store.degraded_reason is None
    assert store.lookup_hash(SHA_A) is not None


def test_state_changes_are_logged_once_each(
    tmp_path: Path, sqlite_store_factory: Callable[..., FingerprintStore]
) -> None:
    blocker = tmp_path / "data"
    blocker.write_bytes(b"")
    with structlog.testing.capture_logs() as events:
        store = sqlite_store_factory(f"sqlite:///{blocker / 'x.sqlite3'}", retry_interval_s=0.0)
        for _ in range(5):  # every call retries and fails again: still one event
            store.lookup_hash(SHA_A)
        blocker.unlink()
        for _ in range(5):
            store.lookup_hash(SHA_A)

    names = [event["event"] for event in events]
    assert names == ["fingerprint_store.degraded", "fingerprint_store.healthy"]
    assert events[0]["reason"]
    assert events[0]["log_level"] == "warning"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("mysql://user@host/db", "sqlite"),
        ("postgresql://user@host:not-a-port/db", "malformed"),
        ("sqlite://host/cache.sqlite3", "no host"),
        ("sqlite:///", "name a database file"),
    ],
    ids=["other-scheme", "bad-port", "sqlite-with-host", "sqlite-without-file"],
)
def test_unusable_database_url_starts_degraded_without_raising(url: str, reason: str) -> None:
    store = FingerprintStore(url)

    assert not store.healthy
    assert reason in (store.degraded_reason or "")
    assert_behaves_as_empty_cache(store)


@pytest.mark.parametrize(
    "foreign_table",
    [
        "CREATE TABLE schema_meta (id INTEGER PRIMARY KEY, schema_version TEXT);"
        "INSERT INTO schema_meta VALUES (1, 'v2-beta');",
        "CREATE TABLE schema_meta (name TEXT, value TEXT);"
        "INSERT INTO schema_meta VALUES ('owner', 'someone else');",
    ],
    ids=["text-version", "other-columns"],
)
def test_another_programs_schema_meta_degrades_and_is_left_alone(
    tmp_path: Path, sqlite_store_factory: Callable[..., FingerprintStore], foreign_table: str
) -> None:
    database = tmp_path / "shared.sqlite3"
    with sqlite3.connect(database) as connection:
        connection.executescript(foreign_table)
    before = query_one(f"sqlite:///{database}", "SELECT sql FROM sqlite_master")

    store = sqlite_store_factory(f"sqlite:///{database}")

    assert not store.healthy
    assert_behaves_as_empty_cache(store)
    store.close()
    assert query_one(f"sqlite:///{database}", "SELECT COUNT(*) FROM sqlite_master") == 1
    assert query_one(f"sqlite:///{database}", "SELECT sql FROM sqlite_master") == before


def test_unreachable_postgres_server_starts_degraded_and_hides_the_password() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with structlog.testing.capture_logs() as events:
        store = FingerprintStore(f"postgresql://user:s3cret@127.0.0.1:{port}/cache")

    assert not store.healthy
    assert store.lookup_path("one.ogg", 1, 2) is None
    assert "s3cret" not in repr(events)
    store.close()
