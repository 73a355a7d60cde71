"""``python -m fingerprint_service serve`` (the gRPC server), ``analyze FILE…`` (JSON) or
``scan DIR`` (the library scan, with ``--shard I/N`` for several machines)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from shared.config import ConfigError, add_flags, load_config
from shared.errors import ServiceError
from shared.log import configure_logging
from shared.process import apply_runtime_environment


def _serve(args: argparse.Namespace) -> int:
    config = load_config(args)  # a bad setting is reported before the heavy imports
    configure_logging(config.log_format, config.log_level)
    from fingerprint_service.app import build_app
    from shared.grpc_runtime import run_app

    return run_app(lambda: build_app(config))


def _analyze(args: argparse.Namespace) -> int:
    from fingerprint_service.extractor import extract, fingerprint_to_json

    status = 0
    for name in args.files:
        try:
            fingerprint, info = extract(Path(name))
        except (ServiceError, OSError) as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            status = 2
            continue
        print(fingerprint_to_json(fingerprint, info))
    return status


def _scan(args: argparse.Namespace) -> int:
    config = load_config(args)
    configure_logging(config.log_format, "warning")
    from fingerprint_service.library.cli import run_scan

    return run_scan(config, args.directory, args.shard)


def main(argv: Sequence[str] | None = None) -> int:
    apply_runtime_environment()
    parser = argparse.ArgumentParser(prog="python -m fingerprint_service",
                                     description="25D audio fingerprint service")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gRPC server")
    add_flags(serve)
    serve.set_defaults(run=_serve)
    analyze = commands.add_parser("analyze", help="print the fingerprint of files as JSON")
    analyze.add_argument("files", nargs="+", metavar="FILE")
    analyze.set_defaults(run=_analyze)
    scan = commands.add_parser("scan", help="scan a library folder into the cache (resumable)")
    scan.add_argument("directory", metavar="DIR", help="folder inside the media root")
    scan.add_argument("--shard", default="0/1", metavar="I/N",
                      help="scan only the files whose path hash is I modulo N (default 0/1)")
    add_flags(scan)
    scan.set_defaults(run=_scan)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
