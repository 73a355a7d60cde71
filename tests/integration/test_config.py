"""SPEC section 8: configuration from the environment, mirrored by command-line flags."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from shared.config import (
    ENV_VARS,
    SETTINGS,
    Config,
    ConfigError,
    add_flags,
    load_config,
    markdown_table,
)
from tests.servers import REPO_ROOT


def _flags(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_flags(parser)
    return parser.parse_args(list(argv))


def test_flag_beats_environment_beats_default() -> None:
    env = {"FINGERPRINT_TIMEOUT_MS": "1500", "LOG_FORMAT": "json"}

    defaults = load_config(environ={})
    from_env = load_config(environ=env)
    from_flag = load_config(_flags("--fingerprint-timeout-ms", "250"), environ=env)

    assert defaults.fingerprint_timeout_ms == 5000
    assert from_env.fingerprint_timeout_ms == 1500
    assert from_flag.fingerprint_timeout_ms == 250
    # A flag that is not given leaves the environment's value in place.
    assert from_flag.log_format == "json"
    assert defaults.log_format == "console"


def test_every_setting_has_a_flag_named_after_its_variable() -> None:
    parser = argparse.ArgumentParser()
    add_flags(parser)
    flags = {option for action in parser._actions for option in action.option_strings}
    for setting in SETTINGS:
        assert setting.flag == "--" + setting.env.lower().replace("_", "-")
        assert setting.flag in flags


@pytest.mark.parametrize(
    ("variable", "bad_value"),
    [
        ("FINGERPRINT_TIMEOUT_MS", "soon"),
        ("FINGERPRINT_TIMEOUT_MS", "-1"),
        ("LOG_FORMAT", "xml"),
        ("LOG_LEVEL", "loud"),
        ("MAX_CONTENT_BYTES", "0"),
        ("HEALTH_SERVICE_ENABLED", "maybe"),
        ("REFLECTION_ENABLED", "2"),
        ("SHUTDOWN_GRACE_S", "a while"),
        ("FINGERPRINT_WORKERS", "0"),
        ("FINGERPRINT_QUEUE_LIMIT", "none"),
        ("FINGERPRINT_WRITE_SIDECARS", "sometimes"),
        ("MASTERING_MAX_STREAMS", "0"),
        ("MASTERING_CHUNK_FRAMES", "1"),
        ("MASTERING_FIRST_CHUNK_FRAMES", "x"),
        ("DATABASE_URL", "mysql://db/fingerprints"),
    ],
)
def test_bad_value_raises_config_error_naming_the_variable(variable: str, bad_value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_config(environ={variable: bad_value})
    # The same value given as a flag is refused the same way.
    flag = next(s.flag for s in SETTINGS if s.env == variable)
    with pytest.raises(ConfigError, match=variable):
        load_config(_flags(flag, bad_value), environ={})


def test_serve_with_a_bad_value_exits_2_naming_the_variable() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "fingerprint_service", "serve", "--log-format", "xml"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "LOG_FORMAT" in proc.stderr


def test_env_vars_lists_every_setting() -> None:
    assert list(ENV_VARS) == [s.env for s in SETTINGS]
    assert {s.env: s.default for s in SETTINGS} == ENV_VARS
    # Every Config field is loaded from exactly one setting, and vice versa.
    assert {f.name for f in dataclasses.fields(Config)} == {s.field for s in SETTINGS}


def test_contract_variable_names_and_defaults() -> None:
    """The names SPEC section 8 makes part of the deployment contract, with its defaults."""
    assert ENV_VARS["FINGERPRINT_LISTEN"] == "0.0.0.0:50051"
    assert ENV_VARS["MASTERING_LISTEN"] == "0.0.0.0:50052"
    assert ENV_VARS["FINGERPRINT_TARGET"] == "localhost:50051"
    assert ENV_VARS["FINGERPRINT_TIMEOUT_MS"] == "5000"
    assert ENV_VARS["MAX_CONTENT_BYTES"] == str(64 * 1024 * 1024)
    for name in ("MEDIA_ROOT", "DATABASE_URL", "LOG_FORMAT", "LOG_LEVEL"):
        assert name in ENV_VARS
    config = load_config(environ={})
    assert config.health_service_enabled is True
    assert config.reflection_enabled is True
    assert config.fingerprint_write_sidecars is False


def test_database_url_defaults_to_sqlite_under_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "cache"
    config = load_config(environ={"DATA_DIR": str(data_dir)})

    assert config.database_url.startswith("sqlite:///")
    database_file = Path(config.database_url.removeprefix("sqlite:///"))
    assert database_file.is_absolute()
    assert database_file.parent == data_dir.resolve()

    explicit = load_config(environ={"DATA_DIR": str(data_dir),
                                    "DATABASE_URL": "postgresql://u@db:5432/fp"})
    assert explicit.database_url == "postgresql://u@db:5432/fp"


def _readme_configuration_table() -> list[str]:
    lines = (REPO_ROOT / "README.md").read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| variable | default |"))
    end = header
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return lines[header:end]


def test_readme_configuration_table_is_rendered_from_the_declaration() -> None:
    assert _readme_configuration_table() == markdown_table(), (
        "README.md's configuration table differs from the declaration in shared/config.py; "
        "replace it with the output of `python -m shared.config`"
    )


def test_every_setting_loads_as_its_declared_field_type() -> None:
    hints = typing.get_type_hints(Config)
    config = load_config(environ={})
    for setting in SETTINGS:
        value, declared = getattr(config, setting.field), hints[setting.field]
        assert isinstance(value, declared), setting.env
        assert declared is bool or not isinstance(value, bool), f"{setting.env} is a bool"
    # A value given through the environment or a flag is typed the same way.
    assert load_config(environ={"SHUTDOWN_GRACE_S": "3"}).shutdown_grace_s == 3.0
    assert isinstance(load_config(environ={"SHUTDOWN_GRACE_S": "3"}).shutdown_grace_s, float)


def test_bounds_are_inclusive_and_name_the_range() -> None:
    assert load_config(environ={"MASTERING_MAX_STREAMS": "4096"}).mastering_max_streams == 4096
    assert load_config(environ={"MASTERING_MAX_STREAMS": "1"}).mastering_max_streams == 1
    with pytest.raises(ConfigError, match="MASTERING_MAX_STREAMS must be between 1 and 4096"):
        load_config(environ={"MASTERING_MAX_STREAMS": "4097"})


def test_empty_computed_settings_fall_back_and_others_do_not() -> None:
    workers = load_config(environ={"FINGERPRINT_WORKERS": "  "}).fingerprint_workers
    assert workers >= 1
    assert load_config(environ={"FINGERPRINT_WORKERS": "3"}).fingerprint_workers == 3
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        load_config(environ={"LOG_FORMAT": ""})
