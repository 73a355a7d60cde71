"""Run a test as an unprivileged user when the suite runs as root (as CI does).

Root ignores permission bits, so a test about a read-only folder proves nothing as root. Instead
of skipping, such a test calls ``rerun_unprivileged(request)`` first: as root it runs the same test
again, in a child pytest, as an unprivileged user (``$TEST_UNPRIVILEGED_USER``, else ``nobody``,
the user scripts/with-postgres also runs PostgreSQL as), and passes or fails with it; as anyone
else it returns False and the test goes on in this process.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, skip_for_missing_tool

#: Long enough for one test's child pytest (start-up, imports, the test) on a loaded machine.
CHILD_TIMEOUT_S = 300.0


def _unprivileged_user() -> pwd.struct_passwd:
    name = os.environ.get("TEST_UNPRIVILEGED_USER", "nobody")
    try:
        return pwd.getpwnam(name)
    except KeyError:
        skip_for_missing_tool(f"user {name}", "an unprivileged user to run read-only tests as")
        raise  # not reached: the call above raises


def rerun_unprivileged(request: pytest.FixtureRequest) -> bool:
    """True if this test was run (and passed) as an unprivileged user; False if not root."""
    if os.geteuid() != 0:
        return False
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        skip_for_missing_tool("setpriv", "util-linux, to run read-only tests as another user")
    user = _unprivileged_user()
    home = Path(tempfile.mkdtemp(prefix="unprivileged-"))
    try:
        os.chown(home, user.pw_uid, user.pw_gid)
        env = {**os.environ, "HOME": str(home), "TMPDIR": str(home),
               "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.run(
            [str(setpriv), f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
             "--", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             f"--basetemp={home / 'pytest'}", request.node.nodeid],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S,
            check=False,
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert proc.returncode == 0, (
        f"as user {user.pw_name}, {request.node.nodeid} failed:\n{proc.stdout}\n{proc.stderr}"
    )
    assert " passed" in proc.stdout and "skipped" not in proc.stdout, proc.stdout
    return True
