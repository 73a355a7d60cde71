"""Generate the protobuf/gRPC Python modules under shared/proto from proto/.

Usage: python scripts/gen_proto.py [OUT_DIR]   (default: shared/proto)

protoc writes absolute imports such as ``from fingerprint.v1 import fingerprint_pb2``; they are
rewritten to ``shared.proto.fingerprint.v1`` so the stubs import as a normal package.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
PACKAGES = ("fingerprint", "mastering")
_IMPORT = re.compile(r"^from (fingerprint|mastering)\.v1 import", re.MULTILINE)


def generate(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for path in out_dir.rglob("*.py*"):
        text = path.read_text()
        fixed = _IMPORT.sub(lambda m: f"from shared.proto.{m.group(1)}.v1 import", text)
        if fixed != text:
            path.write_text(fixed)
    for package_dir in [out_dir, *(out_dir / p for p in PACKAGES),
                        *(out_dir / p / "v1" for p in PACKAGES)]:
        (package_dir / "__init__.py").touch()


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "shared" / "proto")
