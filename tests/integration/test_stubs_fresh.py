"""SPEC section 2: the generated protobuf/gRPC modules are committed, and a test fails when they
are stale. Regenerating them from proto/ must reproduce shared/proto byte for byte."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.servers import REPO_ROOT

COMMITTED = REPO_ROOT / "shared" / "proto"


def _generated_files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_committed_stubs_match_a_fresh_make_proto(tmp_path: Path) -> None:
    out_dir = tmp_path / "proto"
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "gen_proto.py"), str(out_dir)],
        cwd=REPO_ROOT, check=True, capture_output=True, text=True, timeout=120,
    )
    fresh = _generated_files(out_dir)
    committed = _generated_files(COMMITTED)
    assert fresh, "scripts/gen_proto.py generated nothing"
    assert sorted(committed) == sorted(fresh), "stub files differ from a fresh `make proto`"
    stale = [name for name in fresh if committed[name] != fresh[name]]
    assert not stale, f"stale generated stubs (run `make proto`): {stale}"
