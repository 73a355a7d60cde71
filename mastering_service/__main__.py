"""``python -m mastering_service serve | render IN OUT | plan IN``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from shared.process import apply_runtime_environment

USAGE = "usage: python -m mastering_service {serve,render,plan} ..."


def _serve(argv: Sequence[str]) -> int:
    from mastering_service.app import build_app
    from shared.config import ConfigError, add_flags, load_config
    from shared.grpc_runtime import run_app
    from shared.log import configure_logging

    parser = argparse.ArgumentParser(prog="python -m mastering_service serve",
                                     description="run the mastering gRPC server")
    add_flags(parser)
    try:
        config = load_config(parser.parse_args(argv))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_format, config.log_level)
    return run_app(lambda: build_app(config))


def main(argv: Sequence[str] | None = None) -> int:
    apply_runtime_environment()
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "serve":
        return _serve(rest)
    if command in ("render", "plan"):
        from mastering_service.render_cli import main_plan, main_render

        return main_render(rest) if command == "render" else main_plan(rest)
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
