"""The one config loader: environment variables, mirrored by command-line flags.

Every setting has an environment name (part of the deployment contract, SPEC section 8), a
default and a flag (``FINGERPRINT_TIMEOUT_MS`` ↔ ``--fingerprint-timeout-ms``). A flag beats the
environment, which beats the default. Both services load the same ``Config``; each reads the
fields it needs.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class ConfigError(ValueError):
    """A setting has a value that cannot be used."""


@dataclass(frozen=True, slots=True)
class Setting:
    env: str
    default: str
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.env.lower().replace("_", "-")

    @property
    def field(self) -> str:
        return self.env.lower()


SETTINGS: tuple[Setting, ...] = (
    Setting("FINGERPRINT_LISTEN", "0.0.0.0:50051", "address the fingerprint service listens on"),
    Setting("MASTERING_LISTEN", "0.0.0.0:50052", "address the mastering service listens on"),
    Setting("FINGERPRINT_TARGET", "localhost:50051",
            "where the mastering service calls the fingerprint service (dns:///name:port for "
            "round-robin over a headless Service)"),
    Setting("MEDIA_ROOT", "./media", "folder that request paths are relative to"),
    Setting("DATA_DIR", "./data", "folder for the SQLite cache (the default DATABASE_URL)"),
    Setting("DATABASE_URL", "",
            "fingerprint cache: sqlite:///path or postgresql://user:pass@host:port/db "
            "(default: sqlite:///DATA_DIR/fingerprints.sqlite3)"),
    Setting("FINGERPRINT_TIMEOUT_MS", "5000",
            "how long the mastering service waits for a fingerprint before falling back"),
    Setting("LOG_FORMAT", "console", "log output: json or console"),
    Setting("LOG_LEVEL", "info", "debug, info, warning or error"),
    Setting("MAX_CONTENT_BYTES", str(64 * 1024 * 1024),
            "largest TrackRef.content accepted (the gRPC receive limit follows it)"),
    Setting("HEALTH_SERVICE_ENABLED", "true", "serve grpc.health.v1.Health"),
    Setting("REFLECTION_ENABLED", "true", "serve gRPC server reflection (grpcurl list/describe)"),
    Setting("SHUTDOWN_GRACE_S", "20", "on SIGTERM, how long in-flight calls may finish"),
    Setting("FINGERPRINT_WORKERS", "", "worker processes computing fingerprints (default: CPUs)"),
    Setting("FINGERPRINT_QUEUE_LIMIT", "64",
            "computations running or waiting before new ones get RESOURCE_EXHAUSTED"),
    Setting("FINGERPRINT_WRITE_SIDECARS", "false", "write a .25d sidecar next to each track"),
    Setting("MASTERING_MAX_STREAMS", "16",
            "concurrent MasterTrack streams before new ones get RESOURCE_EXHAUSTED"),
    Setting("MASTERING_CHUNK_FRAMES", "8192",
            "default frames per chunk (8192 stereo s16 frames = 32 KiB)"),
    Setting("MASTERING_FIRST_CHUNK_FRAMES", "1024", "frames in the first chunk, for low latency"),
)

#: Environment variable → default, for deployment tooling and the tests that cross-check it.
ENV_VARS: dict[str, str] = {s.env: s.default for s in SETTINGS}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True, slots=True)
class Config:
    fingerprint_listen: str
    mastering_listen: str
    fingerprint_target: str
    media_root: Path
    data_dir: Path
    database_url: str
    fingerprint_timeout_ms: int
    log_format: str
    log_level: str
    max_content_bytes: int
    health_service_enabled: bool
    reflection_enabled: bool
    shutdown_grace_s: float
    fingerprint_workers: int
    fingerprint_queue_limit: int
    fingerprint_write_sidecars: bool
    mastering_max_streams: int
    mastering_chunk_frames: int
    mastering_first_chunk_frames: int


def add_flags(parser: argparse.ArgumentParser) -> None:
    """Add one flag per setting; each defaults to None so the environment can fill it in."""
    group = parser.add_argument_group("configuration (flags override the environment)")
    for setting in SETTINGS:
        default = setting.default or "computed"
        group.add_argument(setting.flag, dest=setting.field, default=None, metavar="VALUE",
                           help=f"{setting.help} [env {setting.env}, default {default}]")


def _as_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def _as_int(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, not {value}")
    return value


def _as_float(name: str, raw: str, low: float, high: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, not {value}")
    return value


def _choice(name: str, raw: str, choices: Sequence[str]) -> str:
    value = raw.strip().lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return value


def load_config(
    flags: argparse.Namespace | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Resolve every setting: flag, else environment, else default; validate and type it."""
    env = os.environ if environ is None else environ
    raw: dict[str, str] = {}
    for setting in SETTINGS:
        flag_value = getattr(flags, setting.field, None) if flags is not None else None
        raw[setting.env] = str(flag_value) if flag_value is not None else env.get(
            setting.env, setting.default
        )

    data_dir = Path(raw["DATA_DIR"]).expanduser()
    database_url = raw["DATABASE_URL"].strip() or (
        f"sqlite:///{(data_dir / 'fingerprints.sqlite3').resolve()}"
    )
    if not database_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ConfigError("DATABASE_URL must start with sqlite:/// or postgresql://")
    workers_raw = raw["FINGERPRINT_WORKERS"].strip()
    workers = (
        _as_int("FINGERPRINT_WORKERS", workers_raw, 1, 256)
        if workers_raw
        else max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                 else (os.cpu_count() or 1))
    )
    return Config(
        fingerprint_listen=raw["FINGERPRINT_LISTEN"],
        mastering_listen=raw["MASTERING_LISTEN"],
        fingerprint_target=raw["FINGERPRINT_TARGET"],
        media_root=Path(raw["MEDIA_ROOT"]).expanduser(),
        data_dir=data_dir,
        database_url=database_url,
        fingerprint_timeout_ms=_as_int("FINGERPRINT_TIMEOUT_MS", raw["FINGERPRINT_TIMEOUT_MS"],
                                       0, 600_000),
        log_format=_choice("LOG_FORMAT", raw["LOG_FORMAT"], ("json", "console")),
        log_level=_choice("LOG_LEVEL", raw["LOG_LEVEL"], ("debug", "info", "warning", "error")),
        max_content_bytes=_as_int("MAX_CONTENT_BYTES", raw["MAX_CONTENT_BYTES"], 1024, 1 << 31),
        health_service_enabled=_as_bool("HEALTH_SERVICE_ENABLED", raw["HEALTH_SERVICE_ENABLED"]),
        reflection_enabled=_as_bool("REFLECTION_ENABLED", raw["REFLECTION_ENABLED"]),
        shutdown_grace_s=_as_float("SHUTDOWN_GRACE_S", raw["SHUTDOWN_GRACE_S"], 0.0, 3600.0),
        fingerprint_workers=workers,
        fingerprint_queue_limit=_as_int("FINGERPRINT_QUEUE_LIMIT", raw["FINGERPRINT_QUEUE_LIMIT"],
                                        1, 100_000),
        fingerprint_write_sidecars=_as_bool("FINGERPRINT_WRITE_SIDECARS",
                                            raw["FINGERPRINT_WRITE_SIDECARS"]),
        mastering_max_streams=_as_int("MASTERING_MAX_STREAMS", raw["MASTERING_MAX_STREAMS"],
                                      1, 4096),
        mastering_chunk_frames=_as_int("MASTERING_CHUNK_FRAMES", raw["MASTERING_CHUNK_FRAMES"],
                                       64, 1 << 20),
        mastering_first_chunk_frames=_as_int("MASTERING_FIRST_CHUNK_FRAMES",
                                             raw["MASTERING_FIRST_CHUNK_FRAMES"], 64, 1 << 20),
    )
