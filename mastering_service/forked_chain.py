"""Decoding and the chain of a render in a forked child process: a two-stage pipeline on two
cores.

The child decodes and runs every stage of the chain; this process receives the mastered blocks
and encodes, meters and writes them. Each stage is the same object doing the same arithmetic
as in a one-process render, only in the other process, so the bytes are identical; on two idle
cores the render takes the time of its longer half (measured on a 4-min WAV: 0.55 s of CPU in
the child, the pipe's 0.05 s included, and 0.38 s here). For a single-threaded caller that has
the cores to itself (the render CLI, ``shared.process.fork_is_safe``), never a server.

Blocks cross a pipe as raw float64 behind a two-number header (frames, channels), read straight
into the array that holds them. A negative frame count ends the stream: ``_END``, or ``_ERROR``
with the pickled exception the child met (a damaged file), raised here where the stream
stopped.
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import os
import pickle
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mastering_service.chain import Chain
from shared.process import ignore_interrupts

FloatBlock = NDArray[np.float64]

#: Linux's F_SETPIPE_SZ (fcntl.h): the pipe holds a whole 1 MiB block (16 × the default 64 KiB,
#: and /proc/sys/fs/pipe-max-size's default), so a block crosses in one write.
_F_SETPIPE_SZ = 1031
_PIPE_BYTES = 1 << 20
#: The header: frames (or _END / _ERROR) and channels, or the pickled exception's length.
_HEADER = np.dtype("<i8")
_HEADER_WORDS = 2
_END = -1
_ERROR = -2
#: How long the child is given to exit once asked to stop (it may be inside a decode call).
_JOIN_TIMEOUT_S = 5.0


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data):]


def _read_exactly(fd: int, into: memoryview) -> None:
    while into:
        got = os.readv(fd, [into])
        if got == 0:
            raise EOFError
        into = into[got:]


def _bytes_of(array: NDArray[Any]) -> memoryview:
    return array.data.cast("B")


def _send_header(fd: int, first: int, second: int) -> None:
    _write_all(fd, _bytes_of(np.array([first, second], dtype=_HEADER)))


def _run_chain(chain: Chain, blocks: Iterator[FloatBlock], fd: int) -> None:
    """The child: every block through ``chain``, then the end (or what went wrong). Ctrl-C
    reaches the whole foreground process group; the parent alone decides, and stops the child
    on its way out."""
    ignore_interrupts()
    try:
        for block in blocks:
            processed = np.ascontiguousarray(chain.process(block), dtype=np.float64)
            _send_header(fd, processed.shape[0], processed.shape[1])
            _write_all(fd, _bytes_of(processed))
        _send_header(fd, _END, 0)
    except BrokenPipeError:
        pass  # the parent stopped reading: nobody left to tell
    except Exception as exc:  # forwarded, to be raised where the stream stopped
        try:
            reason = pickle.dumps(exc)
        except Exception:  # an exception that does not pickle: its text then
            reason = pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
        with contextlib.suppress(BrokenPipeError):
            _send_header(fd, _ERROR, len(reason))
            _write_all(fd, memoryview(reason))
    finally:
        os.close(fd)


class ForkedChain:
    """Iterate ``chain``'s output for ``blocks``, computed in a child process; ``close`` (or
    leaving the ``with``) stops the child wherever it is."""

    def __init__(self, chain: Chain, blocks: Iterator[FloatBlock]) -> None:
        receiver, sender = os.pipe()
        with contextlib.suppress(OSError):  # not Linux, or above the limit: smaller writes
            fcntl.fcntl(sender, _F_SETPIPE_SZ, _PIPE_BYTES)
        self._receiver = receiver
        self._ended = False
        self._child: Any = multiprocessing.get_context("fork").Process(
            target=_run_chain, args=(chain, blocks, sender), name="render-chain", daemon=True)
        try:
            self._child.start()
        finally:
            os.close(sender)  # the child's end: EOF here once the child is gone

    def __iter__(self) -> Iterator[FloatBlock]:
        header = np.empty(_HEADER_WORDS, dtype=_HEADER)
        while True:
            try:
                _read_exactly(self._receiver, _bytes_of(header))
                frames, second = int(header[0]), int(header[1])
                if frames == _END:
                    self._ended = True
                    return
                if frames == _ERROR:
                    reason = bytearray(second)
                    _read_exactly(self._receiver, memoryview(reason))
                    self._ended = True
                    raise pickle.loads(reason)
                block: FloatBlock = np.empty((frames, second))
                _read_exactly(self._receiver, _bytes_of(block))
            except EOFError:
                self._child.join(_JOIN_TIMEOUT_S)
                raise ChildProcessError(
                    f"the render's decoding process ended unexpectedly "
                    f"(exit status {self._child.exitcode})") from None
            yield block

    def close(self) -> None:
        """Wait for a child that has sent its end; stop one that has not."""
        if self._receiver >= 0:
            os.close(self._receiver)
            self._receiver = -1
        if not self._ended:
            self._child.terminate()
        self._child.join(_JOIN_TIMEOUT_S)
        if self._child.is_alive():
            self._child.kill()
            self._child.join()

    def __enter__(self) -> ForkedChain:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
