"""The fingerprint cache: the DATABASE tier of SPEC section 7, on SQLite or PostgreSQL via peewee.

``DATABASE_URL`` picks the backend:

- ``sqlite:///cache.sqlite3`` (relative to the working directory at start-up) or
  ``sqlite:////var/lib/fingerprint/cache.sqlite3`` (absolute: the path follows ``sqlite:///``).
  Missing parent directories are created. A rollback journal (``TRUNCATE``), no memory
  mapping, synchronous=NORMAL, a busy timeout and foreign keys are set on every connection.
  Not WAL: its index is a memory-mapped ``-shm`` file, and when that file becomes unwritable or
  shorter underneath the process (``chattr +i``, a full disk, another program truncating it)
  the next access is a SIGBUS that kills the whole service, where every other fault of the
  database is an error the store can degrade on. A cache writes one small row per computed
  track and reads by primary key, so the rollback journal's coarser locking costs nothing
  measurable here.
  A database file deleted (or replaced) while the service runs is noticed on the next operation
  by its inode and reopened, so later rows are not written into an unlinked file and lost.
- ``postgresql://user:pass@host:port/db`` (or ``postgres://``; query parameters such as
  ``sslmode`` go to libpq) for a cache shared by several replicas. Needs psycopg2
  (``pip install '.[postgres]'``); it is only imported when such a URL is used.

Schema (version ``SCHEMA_VERSION``, recorded in ``schema_meta``):

- ``fingerprints``: primary key (content_sha256, algorithm_version), the 25 dimensions, the
  TrackInfo fields (``bit_rate_bps`` added to older tables on connect), computed_at (UTC)
  and compute_ms.
- ``paths``: primary key path (relative to the media root), size, mtime_ns, content_sha256, so a
  warm lookup needs a ``stat`` and one indexed join instead of re-hashing the file.
- ``library_files`` (schema 2, the library scan): primary key path, the size and mtime_ns it was
  scanned at, status (ok | failed | gone), the error of a failed file, content_sha256, album_id
  and the tags as JSON — every scanned file, committed as soon as it is done.
- ``track_loudness`` (schema 2): primary key (content_sha256, algorithm_version), what an album's
  loudness needs of the track (``fingerprint_service.library.album_loudness``) as JSON.

The 25 dimensions live in one JSON text column (``features_json``, an object keyed by field
name) rather than 25 float columns: what the dimensions are belongs to ``algorithm_version``,
which is already part of the key, so a future algorithm that adds or renames a dimension writes
rows of its own shape without a schema migration on every replica's database. Python floats
round-trip exactly through JSON, and both backends can still query it (``json_extract`` /
``->>``). TrackInfo facts are stable and stay typed columns.

Failure policy: the cache is an accelerator, never a dependency. When the database is unusable
(unwritable location, locked past the busy timeout, corrupt file, unreachable server, a schema
newer than this code) every method returns as if the cache were empty (lookups give None, saves
are skipped), ``healthy`` turns False, one event is logged per state change, and a (re)connect is
tried again at most every ``retry_interval_s``. The store never deletes, truncates or repairs a
database file; SQLite itself refuses to write into a file that is not a database.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import peewee
import structlog
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

from shared.errors import StoreUnavailable
from shared.fingerprint import ALGORITHM_VERSION, Fingerprint, TrackInfo

#: Version of the table layout below; bump it (and add a migration) whenever the layout changes.
#: 2 added the library tables (``library_files``, ``track_loudness``).
SCHEMA_VERSION = 2

#: Oldest recorded schema the store upgrades in place (by adding the tables it lacks).
_OLDEST_MIGRATABLE_SCHEMA = 1

#: How long one statement may wait for a lock held by another connection or process.
DEFAULT_BUSY_TIMEOUT_S = 5.0

#: How often a degraded store tries the database again ("at most every few seconds").
DEFAULT_RETRY_INTERVAL_S = 5.0

#: A PostgreSQL server that does not answer must not stall a request for the TCP timeout.
POSTGRES_CONNECT_TIMEOUT_S = 3

#: pg_advisory_xact_lock key serialising schema creation between replicas starting together
#: (concurrent CREATE TABLE IF NOT EXISTS can otherwise fail on PostgreSQL's catalog); any fixed
#: number works, this one is derived from a name so it reads as ours in pg_locks.
_SCHEMA_LOCK_KEY = zlib.crc32(b"fingerprint_service.store schema")

#: Errors that mean "the database is unusable right now", as opposed to a bug in the caller.
_DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    peewee.PeeweeException,
    sqlite3.Error,
    OSError,
    StoreUnavailable,
)

#: Errors from decoding one stored row whose content is not what this code wrote.
_ROW_ERRORS = (ValueError, TypeError, KeyError)

_T = TypeVar("_T")

#: playhouse.pool is untyped; a pooled peewee database (SQLite or PostgreSQL).
_PooledDatabase = Any

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class StoredFingerprint:
    """A cached fingerprint with the facts stored beside it."""

    fingerprint: Fingerprint
    info: TrackInfo
    algorithm_version: int
    compute_ms: float


@dataclass(frozen=True)
class LibraryEntry:
    """One file as the library scan last saw it (a ``library_files`` row)."""

    path: str
    size: int
    mtime_ns: int
    status: str  # "ok" | "failed" | "gone"
    error: str = ""
    content_sha256: str = ""
    album_id: str = ""
    tags_json: str = "{}"


@dataclass(frozen=True)
class LibraryTrack:
    """A scanned track with its current-version fingerprint and album data (JSON as stored)."""

    entry: LibraryEntry
    features_json: str
    loudness_json: str | None
    duration_s: float = 0.0


@dataclass(frozen=True)
class _Target:
    """A parsed ``DATABASE_URL``: enough to build the peewee database and to name it in logs."""

    backend: str  # "sqlite" | "postgresql"
    location: str  # SQLite file path, or the PostgreSQL URL as libpq takes it
    redacted: str  # for logs: never contains a password
    options: dict[str, str]


def _parse_database_url(url: str) -> _Target:
    try:
        return _parse_url_parts(url)
    except ValueError as exc:  # e.g. a port that is not a number
        raise StoreUnavailable(f"DATABASE_URL is malformed: {exc}") from exc


def _parse_url_parts(url: str) -> _Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        if parts.netloc:
            raise StoreUnavailable(
                f"DATABASE_URL {url!r}: a SQLite URL has no host; use sqlite:///relative/path "
                "or sqlite:////absolute/path"
            )
        if parts.query:
            raise StoreUnavailable(f"DATABASE_URL {url!r}: SQLite URLs take no query parameters")
        file = unquote(parts.path[1:])
        if not file or file == ":memory:":
            raise StoreUnavailable(f"DATABASE_URL {url!r}: name a database file")
        path = str(Path(file).absolute())
        return _Target("sqlite", path, f"sqlite:///{path}", {})
    if scheme in ("postgresql", "postgres"):
        location = urlunsplit(("postgresql", *parts[1:]))
        host = parts.hostname or ""
        user = f"{parts.username}@" if parts.username else ""
        port = f":{parts.port}" if parts.port else ""
        redacted = f"postgresql://{user}{host}{port}{parts.path}"
        return _Target("postgresql", location, redacted, _libpq_query(parts.query))
    raise StoreUnavailable(
        f"DATABASE_URL must start with sqlite:/// or postgresql://, got {scheme or 'no'} scheme"
    )


def _libpq_query(query: str) -> dict[str, str]:
    """URI query parameters decoded as libpq does: %XX only ('+' stays a plus, unlike forms)."""
    params: dict[str, str] = {}
    for item in query.split("&"):
        if item:
            key, _, value = item.partition("=")
            params[unquote(key)] = unquote(value)
    return params


def _open_database(target: _Target, busy_timeout_s: float) -> _PooledDatabase:
    """Build (without connecting) a pooled peewee database: each operation checks a connection
    out and back in, so any thread may run any operation and ``close`` reaches them all."""
    if target.backend == "sqlite":
        return PooledSqliteDatabase(
            target.location,
            # busy_timeout first, so switching the journal mode already waits no longer than
            # that. (It is a pragma because the pool takes peewee's `timeout` argument for
            # itself.) Nothing memory-mapped: see the module docstring.
            pragmas={
                "busy_timeout": round(busy_timeout_s * 1000),
                "journal_mode": "truncate",
                "mmap_size": 0,
                "synchronous": "normal",
                "foreign_keys": 1,
            },
            # Pooled connections move between threads; the pool never shares one at a time.
            check_same_thread=False,
            # Writers take the lock up front, so a WAL snapshot never has to be upgraded.
            lock_type="IMMEDIATE",
            max_connections=None,
            autoconnect=False,
        )
    if importlib.util.find_spec("psycopg2") is None:
        raise StoreUnavailable(
            "DATABASE_URL is a postgresql:// URL but psycopg2 is not installed "
            "(pip install '.[postgres]')"
        )
    options = target.options.get("options", "")
    if "statement_timeout" not in options:
        # Mirrors SQLite's busy timeout: no statement waits on a lock for longer. Passed as a
        # keyword, it replaces the URL's `options`, so those are kept in front of it.
        options = f"{options} -c statement_timeout={round(busy_timeout_s * 1000)}".strip()
    return PooledPostgresqlDatabase(
        target.location,
        connect_timeout=POSTGRES_CONNECT_TIMEOUT_S,
        options=options,
        max_connections=None,
        autoconnect=False,
    )


class _Tables:
    """The peewee models, bound to one database (a process may hold several stores)."""

    def __init__(self, db: _PooledDatabase) -> None:
        class Base(peewee.Model):
            class Meta:
                database = db

        class SchemaMeta(Base):
            id = peewee.IntegerField(primary_key=True)
            schema_version = peewee.IntegerField()

            class Meta:
                table_name = "schema_meta"

        class FingerprintRow(Base):
            content_sha256 = peewee.TextField()
            algorithm_version = peewee.IntegerField()
            features_json = peewee.TextField()
            duration_s = peewee.DoubleField()
            sample_rate = peewee.IntegerField()
            channels = peewee.IntegerField()
            frames = peewee.BigIntegerField()
            sample_peak_dbfs = peewee.DoubleField()
            true_peak_dbtp = peewee.DoubleField()
            loudness_range_lu = peewee.DoubleField()
            codec = peewee.TextField()
            bit_rate_bps = peewee.BigIntegerField(default=0)
            limited_loudness_lufs = peewee.TextField(default="[]")  # JSON list of LUFS
            limited_loudness_range_lu = peewee.TextField(default="[]")  # JSON list of LU
            computed_at = peewee.DateTimeField()
            compute_ms = peewee.DoubleField()

            class Meta:
                table_name = "fingerprints"
                primary_key = peewee.CompositeKey("content_sha256", "algorithm_version")

        class PathRow(Base):
            path = peewee.TextField(primary_key=True)
            size = peewee.BigIntegerField()
            mtime_ns = peewee.BigIntegerField()
            content_sha256 = peewee.TextField()

            class Meta:
                table_name = "paths"

        class LibraryFileRow(Base):
            path = peewee.TextField(primary_key=True)
            size = peewee.BigIntegerField()
            mtime_ns = peewee.BigIntegerField()
            status = peewee.TextField()
            error = peewee.TextField()
            content_sha256 = peewee.TextField()
            album_id = peewee.TextField(index=True)
            tags_json = peewee.TextField()
            # Indexed: replicas read the rows changed since their last look by it.
            scanned_at = peewee.DateTimeField(index=True)

            class Meta:
                table_name = "library_files"

        class TrackLoudnessRow(Base):
            content_sha256 = peewee.TextField()
            algorithm_version = peewee.IntegerField()
            loudness_json = peewee.TextField()

            class Meta:
                table_name = "track_loudness"
                primary_key = peewee.CompositeKey("content_sha256", "algorithm_version")

        self.db = db
        self.schema_meta: Any = SchemaMeta
        self.fingerprints: Any = FingerprintRow
        self.paths: Any = PathRow
        self.library_files: Any = LibraryFileRow
        self.track_loudness: Any = TrackLoudnessRow

        self._compiled: dict[str, _Compiled] = {}

    def all(self) -> list[Any]:
        return [self.schema_meta, self.fingerprints, self.paths, self.library_files,
                self.track_loudness]

    def compiled(self, name: str, build: Callable[[str, int, int], Any]) -> _Compiled:
        """The statement ``build(text, integer, integer)`` makes, compiled on first use."""
        statement = self._compiled.get(name)
        if statement is None:
            statement = self._compiled[name] = _Compiled.of(build)
        return statement


#: Stand-ins bound once, to find where each argument lands among a compiled statement's
#: parameters; no real path or file size or timestamp takes these values.
_MARKERS: tuple[str, int, int] = ("\x00marker\x00", -(2**62) + 1, -(2**62) + 2)


@dataclass(frozen=True)
class _Compiled:
    """A peewee query turned into SQL text once, run with new arguments in the same slots."""

    sql: str
    params: tuple[Any, ...]
    slots: tuple[int, ...]

    @classmethod
    def of(cls, build: Callable[[str, int, int], Any]) -> _Compiled:
        sql, params = build(*_MARKERS).sql()
        slots = tuple(params.index(marker) for marker in _MARKERS)
        return cls(sql, tuple(params), slots)

    def first_row(self, db: Any, args: tuple[str, int, int]) -> dict[str, Any] | None:
        params = list(self.params)
        for slot, value in zip(self.slots, args, strict=True):
            params[slot] = value
        cursor = db.execute_sql(self.sql, params)
        row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip((column[0] for column in cursor.description), row, strict=True))


class FingerprintStore:
    """Fingerprint rows keyed by (content SHA-256, algorithm version), plus the path → hash map.

    Thread-safe. The constructor never raises: an unusable database leaves the store degraded
    (``healthy`` False) and it keeps trying to recover, at most every ``retry_interval_s``.
    """

    def __init__(
        self,
        database_url: str,
        *,
        algorithm_version: int = ALGORITHM_VERSION,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        retry_interval_s: float = DEFAULT_RETRY_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._algorithm_version = algorithm_version
        self._busy_timeout_s = busy_timeout_s
        self._retry_interval_s = retry_interval_s
        self._clock = clock
        self._state_lock = threading.Lock()
        self._healthy = False
        self._reported: bool | None = None  # the state last logged; None before the first
        self._reason: str | None = None
        self._next_attempt_at = -math.inf
        self._closed = False
        self._db: _PooledDatabase | None = None
        self._tables: _Tables | None = None
        self._target: _Target | None = None
        #: (device, inode) of the SQLite file the open connections write to.
        self._file_identity: tuple[int, int] | None = None
        try:
            self._target = _parse_database_url(database_url)
        except StoreUnavailable as exc:
            self._mark_degraded(exc)
            return
        self._usable()

    # -- state -------------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """True while the database answers; False while degraded (no database access)."""
        return self._healthy

    @property
    def degraded_reason(self) -> str | None:
        """Why the store is degraded, or None while healthy."""
        return None if self._healthy else self._reason

    @property
    def backend(self) -> str | None:
        """The backend, "sqlite" or "postgresql"; None when ``DATABASE_URL`` is unparsable."""
        return self._target.backend if self._target else None

    @property
    def algorithm_version(self) -> int:
        return self._algorithm_version

    def _usable(self) -> bool:
        """Whether an operation may touch the database now; reconnects when a retry is due.

        Only one thread makes a recovery attempt; the others treat the store as degraded until
        it succeeds, so a locked or unreachable database costs one timeout per retry interval.
        """
        with self._state_lock:
            if self._closed or self._target is None:
                return False
            if self._healthy:
                return True
            now = self._clock()
            if now < self._next_attempt_at:
                return False
            self._next_attempt_at = now + self._retry_interval_s
        try:
            self._connect()
        except Exception as exc:
            # Whatever a database can be (another program's file, a foreign schema_meta, a
            # driver surprise), the service must start and answer; the reason is logged.
            self._mark_degraded(exc)
            return False
        self._mark_healthy()
        return True

    def _connect(self, *, fresh_pool: bool = False) -> None:
        assert self._target is not None
        if self._target.backend == "sqlite":
            # Every attempt: the data directory may have been removed and must come back.
            Path(self._target.location).parent.mkdir(parents=True, exist_ok=True)
        if self._db is None or fresh_pool:
            # A fresh pool: connections still in use on the old one finish there and are never
            # handed out again.
            stale, db = self._db, _open_database(self._target, self._busy_timeout_s)
            self._tables, self._db = _Tables(db), db
            if stale is not None:
                with contextlib.suppress(*_DATABASE_ERRORS):
                    stale.close_idle()
        else:
            # Connections pooled before the failure may be stale (e.g. a replaced file).
            self._db.close_idle()
        with self._db.connection_context():
            self._ensure_schema()
        if self._target.backend == "sqlite":
            self._file_identity = _identity(self._target.location)

    def _ensure_schema(self) -> None:
        """Create missing tables and record the schema version; refuse a newer schema."""
        assert self._db is not None and self._tables is not None
        db, tables = self._db, self._tables
        with db.atomic():
            if self.backend == "postgresql":
                db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
            found: int | None = None
            if db.table_exists("schema_meta"):
                row = tables.schema_meta.get_or_none(tables.schema_meta.id == 1)
                found = None if row is None else _schema_version(row.schema_version)
            if found is not None and found > SCHEMA_VERSION:
                raise StoreUnavailable(
                    f"the cache database has schema version {found}, newer than the "
                    f"{SCHEMA_VERSION} this service understands; upgrade the service or point "
                    "DATABASE_URL elsewhere (nothing was changed)"
                )
            if found is not None and found < _OLDEST_MIGRATABLE_SCHEMA:
                raise StoreUnavailable(
                    f"the cache database has schema version {found} and no migration to "
                    f"{SCHEMA_VERSION} exists (nothing was changed)"
                )
            # Every migration so far only adds tables (1 → 2: the library's), which creating
            # the missing ones does; the recorded version follows.
            db.create_tables(tables.all(), safe=True)
            _add_missing_columns(db)
            if found is None:
                tables.schema_meta.insert(
                    id=1, schema_version=SCHEMA_VERSION
                ).on_conflict_ignore().execute()
            elif found < SCHEMA_VERSION:
                tables.schema_meta.update(schema_version=SCHEMA_VERSION).where(
                    tables.schema_meta.id == 1
                ).execute()
                log.info("fingerprint_store.migrated", from_version=found,
                         to_version=SCHEMA_VERSION)

    def _mark_healthy(self) -> None:
        with self._state_lock:
            self._healthy = True
            self._reason = None
            changed = self._reported is not True
            self._reported = True
        if changed:
            log.info(
                "fingerprint_store.healthy",
                backend=self.backend,
                database=self._target.redacted if self._target else None,
                schema_version=SCHEMA_VERSION,
                algorithm_version=self._algorithm_version,
            )

    def _mark_degraded(self, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}".strip()
        with self._state_lock:
            self._healthy = False
            self._reason = reason
            self._next_attempt_at = max(
                self._next_attempt_at, self._clock() + self._retry_interval_s
            )
            changed = self._reported is not False
            self._reported = False
        if changed:
            log.warning(
                "fingerprint_store.degraded",
                backend=self.backend,
                database=self._target.redacted if self._target else None,
                reason=reason,
                retry_interval_s=self._retry_interval_s,
            )

    def _reopen_if_replaced(self) -> None:
        """A SQLite file deleted or replaced since the connections opened it: later writes
        would go into the unlinked file and be lost, so reconnect (a new file starts empty)."""
        assert self._target is not None
        if self._target.backend != "sqlite" or self._file_identity is None:
            return
        found = _identity(self._target.location)
        with self._state_lock:
            if found == self._file_identity or self._file_identity is None:
                return
            self._file_identity = None  # one thread reopens
        log.warning("fingerprint_store.file_replaced", database=self._target.redacted,
                    found="missing" if found is None else "another file")
        try:
            self._connect(fresh_pool=True)
        except Exception as exc:
            self._mark_degraded(exc)

    def _run(self, operation: Callable[[_Tables], _T]) -> _T | None:
        """Run ``operation`` on a pooled connection; None when the database is unusable."""
        if not self._usable():
            return None
        self._reopen_if_replaced()
        if not self._healthy:
            return None
        tables = self._tables  # one read: a reopen swaps it, with its database, at once
        assert tables is not None
        try:
            with tables.db.connection_context():
                return operation(tables)
        except _DATABASE_ERRORS as exc:
            self._mark_degraded(exc)
            return None

    # -- API ---------------------------------------------------------------------------------

    def lookup_path(self, path: str, size: int, mtime_ns: int) -> StoredFingerprint | None:
        """The current-version fingerprint of ``path``, if it was stored for exactly this
        ``size`` and ``mtime_ns`` (a changed file misses); one indexed join."""

        def build(t: _Tables, path: str, size: int, mtime_ns: int) -> Any:
            fp, paths = t.fingerprints, t.paths
            return (
                fp.select(fp)
                .join(paths, on=(paths.content_sha256 == fp.content_sha256))
                .where(
                    (paths.path == path)
                    & (paths.size == size)
                    & (paths.mtime_ns == mtime_ns)
                    & (fp.algorithm_version == self._algorithm_version)
                )
                .limit(1)
            )

        def query(t: _Tables) -> dict[str, Any] | None:
            # The warm path: the statement is compiled once per database, not per call
            # (building it through peewee cost ten times the indexed read itself).
            statement = t.compiled("lookup_path", lambda *args: build(t, *args))
            return statement.first_row(t.db, (path, size, mtime_ns))

        return self._decode(self._run(query))

    def lookup_hash(self, content_sha256: str) -> StoredFingerprint | None:
        """The current-version fingerprint of the content with this SHA-256, if stored."""

        def query(t: _Tables) -> dict[str, Any] | None:
            fp = t.fingerprints
            row: dict[str, Any] | None = (
                fp.select()
                .where(
                    (fp.content_sha256 == content_sha256)
                    & (fp.algorithm_version == self._algorithm_version)
                )
                .dicts()
                .first()
            )
            return row

        return self._decode(self._run(query))

    def save(
        self,
        fingerprint: Fingerprint,
        info: TrackInfo,
        *,
        compute_ms: float,
        path: tuple[str, int, int] | None = None,
    ) -> None:
        """Upsert the row keyed by (info.content_sha256, algorithm version) and, when given, the
        (path, size, mtime_ns) → hash mapping, in one transaction. Skipped while degraded.

        Raises ValueError for a non-finite fingerprint: SPEC section 4 guarantees finite values,
        and a stored NaN would poison every later play of the track.
        """
        row = self._fingerprint_row(fingerprint, info, compute_ms)

        def write(t: _Tables) -> None:
            with t.db.atomic():
                _upsert_fingerprint(t, row)
                if path is not None:
                    _upsert_path(t, *path, info.content_sha256)

        self._run(write)

    def _fingerprint_row(self, fingerprint: Fingerprint, info: TrackInfo, compute_ms: float
                         ) -> dict[str, Any]:
        return {
            **_info_columns(info),  # one column per TrackInfo field
            "algorithm_version": self._algorithm_version,
            "features_json": json.dumps(
                fingerprint.to_dict(), allow_nan=False, separators=(",", ":")
            ),
            "computed_at": datetime.now(UTC).replace(tzinfo=None),
            "compute_ms": compute_ms,
        }

    def remember_path(self, path: str, size: int, mtime_ns: int, content_sha256: str) -> None:
        """Map (path, size, mtime_ns) to a content hash, replacing what the path mapped to."""
        self._run(lambda t: _upsert_path(t, path, size, mtime_ns, content_sha256))

    # -- library ---------------------------------------------------------------------------

    def save_library_file(
        self,
        entry: LibraryEntry,
        *,
        computed: tuple[Fingerprint, TrackInfo, float] | None = None,
        loudness_json: str | None = None,
    ) -> bool:
        """Record one scanned file in one transaction: its ``library_files`` row and, for a
        computed track, the fingerprint row (``computed`` = fingerprint, info, compute_ms), the
        path mapping and the album data. False when the database is unusable."""
        fingerprint_row = None if computed is None else self._fingerprint_row(*computed)
        row = {**entry.__dict__, "scanned_at": _utc_now()}

        def write(t: _Tables) -> bool:
            with t.db.atomic():
                if fingerprint_row is not None:
                    _upsert_fingerprint(t, fingerprint_row)
                    _upsert_path(t, entry.path, entry.size, entry.mtime_ns, entry.content_sha256)
                if loudness_json is not None:
                    tl = t.track_loudness
                    tl.insert(content_sha256=entry.content_sha256,
                              algorithm_version=self._algorithm_version,
                              loudness_json=loudness_json).on_conflict(
                        conflict_target=[tl.content_sha256, tl.algorithm_version],
                        preserve=[tl.loudness_json],
                    ).execute()
                lf = t.library_files
                lf.insert(row).on_conflict(
                    conflict_target=[lf.path],
                    preserve=[getattr(lf, name) for name in row if name != "path"],
                ).execute()
            return True

        return bool(self._run(write))

    def library_entries(self) -> dict[str, LibraryEntry] | None:
        """Every ``library_files`` row by path (one query; None while degraded)."""

        def query(t: _Tables) -> dict[str, LibraryEntry]:
            lf = t.library_files
            rows = lf.select(*[getattr(lf, name) for name in _LIBRARY_ENTRY_FIELDS]).dicts()
            return {row["path"]: LibraryEntry(**row) for row in rows}

        return self._run(query)

    def mark_gone(self, paths: list[str]) -> None:
        """Mark files the scan no longer finds as gone (their rows stay, for history)."""

        now = _utc_now()

        def write(t: _Tables) -> None:
            lf = t.library_files
            with t.db.atomic():
                for start in range(0, len(paths), _SQL_BATCH):
                    batch = paths[start : start + _SQL_BATCH]
                    # scanned_at moves too, so other replicas' indexes see the file leave.
                    lf.update(status="gone", scanned_at=now).where(lf.path.in_(batch)).execute()

        if paths:
            self._run(write)

    def library_entry(self, path: str) -> LibraryEntry | None:
        """The ``library_files`` row of ``path`` (None when absent or while degraded)."""

        def query(t: _Tables) -> LibraryEntry | None:
            lf = t.library_files
            row = (lf.select(*[getattr(lf, name) for name in _LIBRARY_ENTRY_FIELDS])
                   .where(lf.path == path).dicts().first())
            return None if row is None else LibraryEntry(**row)

        return self._run(query)

    def library_changes(
        self, since: datetime
    ) -> tuple[list[LibraryTrack], list[str], datetime | None] | None:
        """What changed in the library from ``since`` (UTC, naive) on, by the indexed
        ``scanned_at``: the ``ok`` tracks with a current fingerprint, the paths of the rows that
        are not (gone, failed, or not yet fingerprinted by this version), and the latest
        ``scanned_at`` seen (None when nothing changed). None while degraded."""

        def query(t: _Tables) -> tuple[list[LibraryTrack], list[str], datetime | None]:
            lf = t.library_files
            changed = (lf.select(lf.path, lf.status, lf.scanned_at)
                       .where(lf.scanned_at >= since).dicts())
            latest: datetime | None = None
            paths = []
            for row in changed:
                paths.append(row["path"])
                stamp = _as_datetime(row["scanned_at"])
                latest = stamp if latest is None or stamp > latest else latest
            if not paths:
                return [], [], None
            tracks = self._library_select(t, lf.scanned_at >= since)
            kept = {track.entry.path for track in tracks}
            return tracks, [path for path in paths if path not in kept], latest

        return self._run(query)

    def library_tracks(self, album_id: str | None = None) -> list[LibraryTrack] | None:
        """Scanned ``ok`` tracks that have a current-version fingerprint (of one album, when
        given), with their album data when stored; None while degraded."""

        def query(t: _Tables) -> list[LibraryTrack]:
            lf = t.library_files
            return self._library_select(
                t, None if album_id is None else lf.album_id == album_id)

        return self._run(query)

    def _library_select(self, t: _Tables, condition: Any) -> list[LibraryTrack]:
        lf, fp, tl = t.library_files, t.fingerprints, t.track_loudness
        select = (
            lf.select(*[getattr(lf, n) for n in _LIBRARY_ENTRY_FIELDS],
                      fp.features_json, fp.duration_s, tl.loudness_json)
            .join(fp, on=((fp.content_sha256 == lf.content_sha256)
                          & (fp.algorithm_version == self._algorithm_version)))
            .join(tl, peewee.JOIN.LEFT_OUTER,
                  on=((tl.content_sha256 == lf.content_sha256)
                      & (tl.algorithm_version == self._algorithm_version)),
                  src=lf)
            .where(lf.status == "ok")
        )
        if condition is not None:
            select = select.where(condition)
        return [
            LibraryTrack(
                entry=LibraryEntry(**{n: row[n] for n in _LIBRARY_ENTRY_FIELDS}),
                features_json=row["features_json"],
                loudness_json=row["loudness_json"],
                duration_s=float(row["duration_s"]),
            )
            for row in select.dicts()
        ]

    def count_rows(self) -> int:
        """Fingerprint rows of every algorithm version; 0 while degraded."""
        count: int | None = self._run(lambda t: int(t.fingerprints.select().count()))
        return count or 0

    def close(self) -> None:
        """Close every pooled connection; later calls behave as degraded, without logging."""
        with self._state_lock:
            self._closed = True
            self._healthy = False
            self._reason = "closed"
        if self._db is not None:
            with contextlib.suppress(*_DATABASE_ERRORS):
                self._db.close_all()

    # -- rows --------------------------------------------------------------------------------

    def _decode(self, row: dict[str, Any] | None) -> StoredFingerprint | None:
        """A stored row as domain objects; None (a miss, so it gets recomputed and overwritten)
        when the row is not something this code could have written."""
        if row is None:
            return None
        try:
            return StoredFingerprint(
                fingerprint=Fingerprint.from_dict(json.loads(row["features_json"])),
                info=_info_from_row(row),
                algorithm_version=int(row["algorithm_version"]),
                compute_ms=float(row["compute_ms"]),
            )
        except _ROW_ERRORS as exc:
            log.warning(
                "fingerprint_store.unreadable_row",
                content_sha256=row.get("content_sha256"),
                reason=f"{type(exc).__name__}: {exc}",
            )
            return None


def _identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of ``path``, or None when there is no file there."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


#: Columns added to ``fingerprints`` after its first layout: (name, SQL type and default). A
#: database that lacks one gets it on connect; it is keyed on the column itself, so the order in
#: which layout changes land does not matter.
_ADDED_FINGERPRINT_COLUMNS = (
    ("bit_rate_bps", "BIGINT NOT NULL DEFAULT 0"),
    ("limited_loudness_lufs", "TEXT NOT NULL DEFAULT '[]'"),
    ("limited_loudness_range_lu", "TEXT NOT NULL DEFAULT '[]'"),
)
#: TrackInfo's list fields (the limiting curves), stored as JSON text.
_LIST_COLUMNS = ("limited_loudness_lufs", "limited_loudness_range_lu")


def _info_columns(info: TrackInfo) -> dict[str, Any]:
    """TrackInfo as the row's columns: one per field, the lists as JSON text."""
    columns = info.to_dict()
    for name in _LIST_COLUMNS:
        columns[name] = json.dumps(list(columns[name]), allow_nan=False)
    return columns


def _info_from_row(row: dict[str, Any]) -> TrackInfo:
    return TrackInfo.from_dict({**row, **{name: json.loads(row[name]) for name in _LIST_COLUMNS}})


def _add_missing_columns(db: _PooledDatabase) -> None:
    """Add the columns an older ``fingerprints`` table lacks (inside the schema transaction)."""
    present = {column.name for column in db.get_columns("fingerprints")}
    for name, definition in _ADDED_FINGERPRINT_COLUMNS:
        if name not in present:
            db.execute_sql(f"ALTER TABLE fingerprints ADD COLUMN {name} {definition}")
            log.info("fingerprint_store.column_added", table="fingerprints", column=name)


def _schema_version(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise StoreUnavailable(
        f"schema_meta holds {value!r}, not a schema version: the database belongs to another "
        "program (nothing was changed)"
    )


#: LibraryEntry's fields, which are also ``library_files``' columns (scanned_at aside).
_LIBRARY_ENTRY_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(LibraryEntry))
#: Rows per ``IN (...)`` list: below SQLite's bound-parameter limit on every build.
_SQL_BATCH = 500


def _utc_now() -> datetime:
    """Now in UTC as the naive datetime both backends store."""
    return datetime.now(UTC).replace(tzinfo=None)


def _as_datetime(value: Any) -> datetime:
    """A stored timestamp as a datetime (SQLite may hand back its text)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _upsert_fingerprint(t: _Tables, row: dict[str, Any]) -> None:
    fp = t.fingerprints
    fp.insert(row).on_conflict(
        conflict_target=[fp.content_sha256, fp.algorithm_version],
        preserve=[
            getattr(fp, name)
            for name in row
            if name not in ("content_sha256", "algorithm_version")
        ],
    ).execute()


def _upsert_path(t: _Tables, path: str, size: int, mtime_ns: int, content_sha256: str) -> None:
    paths = t.paths
    paths.insert(
        path=path, size=size, mtime_ns=mtime_ns, content_sha256=content_sha256
    ).on_conflict(
        conflict_target=[paths.path],
        preserve=[paths.size, paths.mtime_ns, paths.content_sha256],
    ).execute()
