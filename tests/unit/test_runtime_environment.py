"""shared.process: the runtime settings reach the process that applies them, not only its
children (glibc reads the malloc variables only when a process starts); a child that ignores
interrupts outlives a Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from shared.process import RUNTIME_ENVIRONMENT
from tests.conftest import REPO_ROOT

# Bytes glibc serves from mmap()ed blocks, before and after a 1 MiB numpy array is made: over
# the default 128 KiB threshold that array is a fresh mapping, under the tuned 32 MiB it is not.
_CHILD = """
import ctypes, sys
import numpy as np
from shared.process import apply_runtime_environment

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "apply":
    apply_runtime_environment()
before = libc.mallinfo2().hblkhd
array = np.ones(1 << 17)
print(libc.mallinfo2().hblkhd - before)
"""


def _mapped_bytes_of_a_1_mib_array(mode: str) -> int:
    env = {name: value for name, value in os.environ.items() if name not in RUNTIME_ENVIRONMENT}
    out = subprocess.run([sys.executable, "-c", _CHILD, mode], env=env, cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[-1])


@pytest.mark.skipif(not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"),
                    reason="the malloc settings are glibc's")
def test_the_malloc_settings_apply_to_the_running_process() -> None:
    assert _mapped_bytes_of_a_1_mib_array("default") >= 1 << 20
    assert _mapped_bytes_of_a_1_mib_array("apply") == 0


# Python's own Ctrl-C handler first: a process started with SIGINT ignored (a background job
# of a non-interactive shell, as CI may run) would otherwise not react to it either way.
_INTERRUPTED_CHILD = """
import signal, sys, time
from shared.process import ignore_interrupts
signal.signal(signal.SIGINT, signal.default_int_handler)
if sys.argv[1] == "ignore":
    ignore_interrupts()
print("ready", flush=True)
time.sleep(1.0)
"""


@pytest.mark.parametrize(("mode", "survives"), [("ignore", True), ("default", False)])
def test_a_child_that_ignores_interrupts_outlives_a_ctrl_c(mode: str, survives: bool) -> None:
    child = subprocess.Popen([sys.executable, "-c", _INTERRUPTED_CHILD, mode], cwd=REPO_ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    child.send_signal(signal.SIGINT)
    assert (child.wait(30) == 0) is survives
