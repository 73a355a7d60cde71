"""The one config declaration: environment variables, mirrored by command-line flags.

Each setting is declared once, as a field of ``Config``: its type is the field's annotation, and
the field's metadata (a ``Setting``) holds the default, the accepted values and the doc line. The
environment name is the field name in capitals (part of the deployment contract, SPEC section 8)
and the flag mirrors it (``FINGERPRINT_TIMEOUT_MS`` ↔ ``--fingerprint-timeout-ms``). From that one
declaration come the flags (``add_flags``), the parsing (``load_config``: a flag beats the
environment, which beats the default), ``ENV_VARS`` for deployment checks and the README's
configuration table (``markdown_table``; ``python -m shared.config`` prints it). Both services load
the same ``Config``; each reads the fields it needs.

Adding a setting is one field here plus its row in README.md, which the tests compare with
``markdown_table()``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Service = Literal["fingerprint", "mastering", "both"]
#: What a setting's parser gets: the environment name (for the error message) and the raw text.
Parse = Callable[[str, str], Any]
#: Computes the value of a setting left empty from the settings resolved before it.
Fallback = Callable[[Mapping[str, Any]], Any]

#: The key under which a ``Config`` field carries its ``Setting``.
_SETTING_KEY = "setting"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_DATABASE_URL_PREFIXES = ("sqlite:///", "postgresql://", "postgres://")
#: The default SQLite file, inside DATA_DIR.
_SQLITE_FILE_NAME = "fingerprints.sqlite3"


class ConfigError(ValueError):
    """A setting has a value that cannot be used."""


# --- Value kinds: parse the raw text, and say in words what they accept ----------------------


@dataclass(frozen=True, slots=True)
class Kind:
    """How one setting's raw text becomes its typed value."""

    parse: Parse
    accepts: str


def _text(name: str, raw: str) -> str:
    return raw


def _path(name: str, raw: str) -> Path:
    return Path(raw).expanduser()


def _boolean(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def _database_url(name: str, raw: str) -> str:
    value = raw.strip()
    if not value.startswith(_DATABASE_URL_PREFIXES):
        raise ConfigError(f"{name} must start with sqlite:/// or postgresql://")
    return value


ADDRESS = Kind(_text, "`host:port`")
TARGET = Kind(_text, "a gRPC target")
PATH = Kind(_path, "a folder")
BOOLEAN = Kind(_boolean, "`true` or `false`")
DATABASE_URL = Kind(_database_url, "`sqlite:///…` or `postgresql://…`")


def _ranged(convert: Callable[[str], Any], what: str, low: Any, high: Any) -> Callable[..., Any]:
    """A parser: ``convert`` the raw text (ConfigError naming ``what`` it must be), then check
    the inclusive range."""
    def parse(name: str, raw: str) -> Any:
        try:
            value = convert(raw)
        except ValueError:
            raise ConfigError(f"{name} must be {what}, not {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{name} must be between {low} and {high}, not {value}")
        return value

    return parse


def integer(low: int, high: int) -> Kind:
    return Kind(_ranged(int, "an integer", low, high), f"integer {low}–{high}")


def number(low: float, high: float) -> Kind:
    return Kind(_ranged(float, "a number", low, high), f"number {low:g}–{high:g}")


def choice(*options: str) -> Kind:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in options:
            raise ConfigError(f"{name} must be one of {', '.join(options)}, not {raw!r}")
        return value

    return Kind(parse, " / ".join(f"`{option}`" for option in options))


# --- Computed defaults (for settings whose default is empty) ----------------------------------


def _sqlite_in_data_dir(resolved: Mapping[str, Any]) -> str:
    data_dir: Path = resolved["data_dir"]
    return f"sqlite:///{(data_dir / _SQLITE_FILE_NAME).resolve()}"


#: Where the kernel shows this process's cgroups; tests point it elsewhere.
CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cpus(cgroup_root: Path | None = None) -> int:
    """The CPUs this process may use: its affinity mask (which ``--cpuset-cpus`` narrows), and at
    most its cgroup's CPU quota rounded up (what ``--cpus`` or a pod's CPU limit sets; the
    mask alone would count every core of the node)."""
    if hasattr(os, "sched_getaffinity"):
        cpus = max(1, len(os.sched_getaffinity(0)))
    else:
        cpus = max(1, os.cpu_count() or 1)
    quota = cgroup_cpu_quota(CGROUP_ROOT if cgroup_root is None else cgroup_root)
    return cpus if quota is None else max(1, min(cpus, math.ceil(quota)))


def cgroup_cpu_quota(root: Path) -> float | None:
    """CPUs' worth of time per period the cgroup allows (cgroup v2 ``cpu.max``, else v1
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``), or None without a quota."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    for folder in (root / "cpu", root / "cpu,cpuacct"):
        try:
            quota_us = int((folder / "cpu.cfs_quota_us").read_text())
            period_us = int((folder / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us
    return None


def _usable_cpus(resolved: Mapping[str, Any]) -> int:
    return usable_cpus()


# --- The declaration ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting's metadata; its name and type come from the ``Config`` field it sits on."""

    default: str
    kind: Kind
    service: Service
    help: str
    #: For an empty default: computes the value from the settings declared before this one.
    fallback: Fallback | None = None
    #: How the README shows the default when the raw text is not the whole story.
    default_doc: str | None = None
    env: str = ""  # filled in from the field name by ``_settings``

    @property
    def flag(self) -> str:
        return "--" + self.env.lower().replace("_", "-")

    @property
    def field(self) -> str:
        return self.env.lower()

    def value(self, raw: str, resolved: Mapping[str, Any]) -> Any:
        if self.fallback is not None and not raw.strip():
            return self.fallback(resolved)
        return self.kind.parse(self.env, raw)


def setting(
    default: str,
    kind: Kind,
    service: Service,
    help: str,
    *,
    fallback: Fallback | None = None,
    default_doc: str | None = None,
) -> dict[str, Setting]:
    """Field metadata declaring a ``Config`` field as a setting.

    The field gets no dataclass default: ``load_config`` always supplies every value, typed.
    """
    meta = Setting(default, kind, service, help, fallback=fallback, default_doc=default_doc)
    return {_SETTING_KEY: meta}


@dataclass(frozen=True, slots=True)
class Config:
    """Every setting, typed. Field order is the order of the flags and of the README table."""

    fingerprint_listen: str = field(metadata=setting(
        "0.0.0.0:50051", ADDRESS, "fingerprint", "address the gRPC server listens on"))
    mastering_listen: str = field(metadata=setting(
        "0.0.0.0:50052", ADDRESS, "mastering", "address the gRPC server listens on"))
    fingerprint_target: str = field(metadata=setting(
        "localhost:50051", TARGET, "mastering",
        "where it calls the fingerprint service; `dns:///host:port` resolves every address of a "
        "headless Service and round-robins over them"))
    media_root: Path = field(metadata=setting(
        "./media", PATH, "both",
        "folder that `TrackRef.path` is relative to (both services must see the same files)"))
    data_dir: Path = field(metadata=setting(
        "./data", PATH, "fingerprint", "folder of the default SQLite cache"))
    database_url: str = field(metadata=setting(
        "", DATABASE_URL, "fingerprint",
        "the cache: `sqlite:///path` or `postgresql://user:password@host:port/database`",
        fallback=_sqlite_in_data_dir, default_doc=f"`sqlite:///<DATA_DIR>/{_SQLITE_FILE_NAME}`"))
    fingerprint_timeout_ms: int = field(metadata=setting(
        "5000", integer(0, 600_000), "mastering",
        "how long to wait for a fingerprint before mastering from its own quick analysis"))
    fingerprint_breaker_failures: int = field(metadata=setting(
        "3", integer(1, 1000), "mastering",
        "fingerprint lookups left unanswered in a row (timeout, unreachable) that open the "
        "circuit breaker: streams then fall back at once instead of waiting"))
    fingerprint_breaker_cooldown_s: float = field(metadata=setting(
        "5", number(0.0, 3600.0), "mastering",
        "shortest time the breaker stays open before a probe may close it"))
    fingerprint_breaker_probe_interval_s: float = field(metadata=setting(
        "1", number(0.05, 600.0), "mastering",
        "while the breaker is open, a health check of the fingerprint service this often; the "
        "first answer after the cool-down closes it"))
    log_format: str = field(metadata=setting(
        "console", choice("json", "console"), "both", "`json` (one object per line) or `console`"))
    log_level: str = field(metadata=setting(
        "info", choice("debug", "info", "warning", "error"), "both", "least severe level logged"))
    max_content_bytes: int = field(metadata=setting(
        str(64 * 2**20), integer(1024, 2**31), "both",
        "largest `TrackRef.content` accepted; the gRPC receive limit follows it",
        default_doc=f"`{64 * 2**20}` (64 MiB)"))
    health_service_enabled: bool = field(metadata=setting(
        "true", BOOLEAN, "both",
        "serve `grpc.health.v1.Health` (the probes and health checks need it)"))
    reflection_enabled: bool = field(metadata=setting(
        "true", BOOLEAN, "both",
        "serve gRPC reflection, so `grpcurl list/describe` works without proto files"))
    shutdown_grace_s: float = field(metadata=setting(
        "20", number(0.0, 3600.0), "both",
        "after SIGTERM, how long in-flight calls may run before they are cancelled"))
    fingerprint_workers: int = field(metadata=setting(
        "", integer(1, 256), "fingerprint", "processes computing fingerprints in parallel",
        fallback=_usable_cpus, default_doc="the CPU count"))
    fingerprint_queue_limit: int = field(metadata=setting(
        "64", integer(1, 100_000), "fingerprint",
        "computations running or waiting; beyond it, RESOURCE_EXHAUSTED"))
    fingerprint_write_sidecars: bool = field(metadata=setting(
        "false", BOOLEAN, "fingerprint",
        "also write a `.25d` sidecar next to each track (needs a writable media folder)"))
    mastering_max_streams: int = field(metadata=setting(
        "16", integer(1, 4096), "mastering",
        "concurrent `MasterTrack` streams; beyond it, RESOURCE_EXHAUSTED"))
    mastering_fallback_workers: int = field(metadata=setting(
        "", integer(1, 256), "mastering",
        "processes running fallback analyses, one analysis each at a time",
        fallback=_usable_cpus, default_doc="the CPU count"))
    mastering_chunk_frames: int = field(metadata=setting(
        "16384", integer(64, 2**20), "mastering",
        "frames per chunk when the request says 0 (16384 stereo s16 frames = 64 KiB: half the "
        "per-chunk cost of 32 KiB)"))
    mastering_first_chunk_frames: int = field(metadata=setting(
        "1024", integer(64, 2**20), "mastering", "frames in the first chunk, for a quick start"))
    mastering_stream_idle_timeout_s: float = field(metadata=setting(
        "60", number(0.0, 86_400.0), "mastering",
        "a stream whose client reads nothing for this long ends (DEADLINE_EXCEEDED) and frees "
        "its slot; 0 waits forever"))


def _settings() -> tuple[Setting, ...]:
    found = []
    for config_field in dataclasses.fields(Config):
        meta = config_field.metadata.get(_SETTING_KEY)
        if not isinstance(meta, Setting):
            raise TypeError(f"Config.{config_field.name} is not declared with setting(...)")
        found.append(dataclasses.replace(meta, env=config_field.name.upper()))
    return tuple(found)


SETTINGS: tuple[Setting, ...] = _settings()

#: Environment variable → default, for deployment tooling and the tests that cross-check it.
ENV_VARS: dict[str, str] = {s.env: s.default for s in SETTINGS}


def add_flags(parser: argparse.ArgumentParser) -> None:
    """Add one flag per setting; each defaults to None so the environment can fill it in."""
    group = parser.add_argument_group("configuration (flags override the environment)")
    for s in SETTINGS:
        default = s.default or "computed"
        group.add_argument(s.flag, dest=s.field, default=None, metavar="VALUE",
                           help=f"{s.help} [env {s.env}, default {default}]")


def load_config(
    flags: argparse.Namespace | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Resolve every setting: flag, else environment, else default; validate and type it."""
    env = os.environ if environ is None else environ
    resolved: dict[str, Any] = {}
    for s in SETTINGS:
        flag_value = getattr(flags, s.field, None) if flags is not None else None
        raw = str(flag_value) if flag_value is not None else env.get(s.env, s.default)
        resolved[s.field] = s.value(raw, resolved)
    return Config(**resolved)


def markdown_table() -> list[str]:
    """The README's configuration table, one line per row, rendered from the declaration."""
    lines = ["| variable | default | accepts | service | meaning |", "|---|---|---|---|---|"]
    for s in SETTINGS:
        default = s.default_doc or f"`{s.default}`"
        lines.append(f"| `{s.env}` | {default} | {s.kind.accepts} | {s.service} | {s.help} |")
    return lines


if __name__ == "__main__":
    print("\n".join(markdown_table()))
