"""Media-root path resolution: the only way a request path becomes a file on disk.

A request path is relative to the media root. Absolute paths, '..' segments, NUL bytes and
symlinks that resolve outside the root are refused with PathOutsideRoot; messages quote only the
caller's relative path, never the server's absolute one.

``media_root_is_local`` says whether that resolution can run on an event loop: on local
filesystems it takes microseconds; on a network or FUSE filesystem a stat can wait on a server
far away, or hang with it.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from shared.errors import InvalidArgument, PathOutsideRoot, TrackNotFound

#: Filesystems whose metadata this machine's kernel answers from local storage: a stat there
#: takes microseconds, a disk read at worst. Any other type (nfs, cifs, fuse.*, 9p, ceph, …)
#: counts as remote.
LOCAL_FILESYSTEMS = frozenset({
    "ext2", "ext3", "ext4", "xfs", "btrfs", "bcachefs", "zfs", "f2fs", "jfs", "reiserfs",
    "tmpfs", "ramfs", "overlay", "squashfs", "erofs", "iso9660", "vfat", "exfat", "ntfs3",
})
MOUNTINFO = Path("/proc/self/mountinfo")
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


class MediaFile(NamedTuple):
    """A request path resolved: the real file, and its stat (taken once, by the check)."""

    path: Path
    stat: os.stat_result


def resolve_media_file(media_root: Path, relative: str) -> MediaFile:
    """The real path of ``relative`` under ``media_root`` and its stat, or a typed error.

    On the warm path of every call: the root and the candidate resolved by the kernel (an
    ``O_PATH`` descriptor and its name in ``/proc/self/fd``: a few system calls, where
    ``os.path.realpath`` takes an ``lstat`` and a string join per component), and the stat of
    the very file the name resolved to."""
    if not relative:
        raise InvalidArgument("track.path is empty: give a path relative to the media root")
    if "\x00" in relative:
        raise PathOutsideRoot("track.path contains a NUL byte: it is outside the media root")
    pure = PurePosixPath(relative)
    if pure.is_absolute() or relative.startswith("\\") or ".." in pure.parts:
        raise PathOutsideRoot(f"track.path {relative!r} is outside the media root")
    try:
        root = _resolved(os.fspath(media_root))[0]
        inside = root if root.endswith(os.sep) else root + os.sep
        candidate, found = _resolved(os.path.join(root, relative))
        if not candidate.startswith(inside):
            raise PathOutsideRoot(f"track.path {relative!r} is outside the media root")
    except OSError:
        # Missing, a symlink loop, or a name too long for the OS.
        raise TrackNotFound(f"track not found: {relative}") from None
    if not stat.S_ISREG(found.st_mode):
        raise TrackNotFound(f"track is not a regular file: {relative}")
    return MediaFile(Path(candidate), found)


#: Whether the kernel can name what a path resolves to (Linux, with /proc mounted).
_KERNEL_NAMES = hasattr(os, "O_PATH") and os.path.isdir("/proc/self/fd")


def _resolved(path: str) -> tuple[str, os.stat_result]:
    """``path`` with every symbolic link followed, and the stat of what it names."""
    if not _KERNEL_NAMES:
        real = os.path.realpath(path)
        return real, os.stat(real)
    descriptor = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        return os.readlink(f"/proc/self/fd/{descriptor}"), os.fstat(descriptor)
    finally:
        os.close(descriptor)


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def media_root_is_local(media_root: Path, mountinfo: str | None = None) -> bool:
    """Whether every filesystem a path under ``media_root`` can lead to is local: the one that
    holds the root and any mounted inside it (``mountinfo``: the text of
    ``/proc/self/mountinfo``, read when not given). False whenever it cannot tell. Symbolic
    links out of the root need no check: resolution refuses them."""
    try:
        root = os.path.realpath(media_root)
        text = MOUNTINFO.read_text() if mountinfo is None else mountinfo
    except OSError:
        return False
    holder: tuple[str, str] | None = None
    for line in text.splitlines():
        mount, separator, rest = line.partition(" - ")
        fields, kind = mount.split(), rest.split()[:1]
        if not separator or len(fields) < 5 or not kind:
            return False
        point = _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), fields[4])
        if _within(point, root) and kind[0] not in LOCAL_FILESYSTEMS:
            return False
        # The longest mount point above the root holds it; of two on one point, the later.
        if _within(root, point) and (holder is None or len(point) >= len(holder[0])):
            holder = (point, kind[0])
    return holder is not None and holder[1] in LOCAL_FILESYSTEMS
