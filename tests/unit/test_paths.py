"""Media-root resolution: every escape is PERMISSION_DENIED, and messages never leak the root;
and whether the root lies on local filesystems only (``media_root_is_local``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.errors import InvalidArgument, LimitExceeded, PathOutsideRoot, TrackNotFound
from shared.paths import media_root_is_local, resolve_media_file
from shared.tracks import resolve_track


@pytest.fixture(params=["kernel", "realpath"])
def root(tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
         ) -> Path:
    """A media root; each test runs with both resolutions: the kernel's (an O_PATH descriptor
    named through /proc) and ``os.path.realpath``'s, where /proc is not mounted."""
    if request.param == "realpath":
        monkeypatch.setattr("shared.paths._KERNEL_NAMES", False)
    media = tmp_path / "media"
    (media / "album").mkdir(parents=True)
    (media / "album" / "song.wav").write_bytes(b"RIFF")
    (tmp_path / "secret.wav").write_bytes(b"RIFF")
    return media


def test_relative_path_resolves_inside_the_root(root: Path) -> None:
    found = resolve_media_file(root, "album/song.wav")
    assert found.path == (root / "album" / "song.wav").resolve()
    assert found.stat.st_size == len(b"RIFF")


@pytest.mark.parametrize("path", ["../secret.wav", "album/../../secret.wav", "/etc/passwd",
                                  "album/\x00song.wav"])
def test_escapes_are_outside_the_media_root(root: Path, path: str) -> None:
    with pytest.raises(PathOutsideRoot, match="outside the media root") as caught:
        resolve_media_file(root, path)
    assert str(root) not in str(caught.value)


def test_symlink_leading_outside_is_refused(root: Path) -> None:
    os.symlink(root.parent / "secret.wav", root / "link.wav")
    with pytest.raises(PathOutsideRoot, match="outside the media root"):
        resolve_media_file(root, "link.wav")


def test_symlink_inside_the_root_is_followed(root: Path) -> None:
    os.symlink(root / "album" / "song.wav", root / "alias.wav")
    assert resolve_media_file(root, "alias.wav").path.name == "song.wav"


def test_missing_file_names_the_relative_path(root: Path) -> None:
    with pytest.raises(TrackNotFound, match=r"album/nope\.wav") as caught:
        resolve_media_file(root, "album/nope.wav")
    assert str(root) not in str(caught.value)


def test_directory_is_not_a_track(root: Path) -> None:
    with pytest.raises(TrackNotFound, match="not a regular file"):
        resolve_media_file(root, "album")


def test_a_fifo_is_not_a_track_and_resolving_it_does_not_block(root: Path) -> None:
    os.mkfifo(root / "pipe.wav")
    with pytest.raises(TrackNotFound, match="not a regular file"):
        resolve_media_file(root, "pipe.wav")


def test_a_symlink_loop_is_not_found(root: Path) -> None:
    os.symlink(root / "b.wav", root / "a.wav")
    os.symlink(root / "a.wav", root / "b.wav")
    with pytest.raises(TrackNotFound, match=r"a\.wav"):
        resolve_media_file(root, "a.wav")


def test_a_media_root_that_is_a_symlink_resolves_through_it(root: Path) -> None:
    alias = root.parent / "library"
    os.symlink(root, alias)
    assert resolve_media_file(alias, "album/song.wav").path == (
        root / "album" / "song.wav").resolve()
    os.symlink(root.parent / "secret.wav", root / "out.wav")
    with pytest.raises(PathOutsideRoot):
        resolve_media_file(alias, "out.wav")


def test_empty_path_is_invalid(root: Path) -> None:
    with pytest.raises(InvalidArgument):
        resolve_media_file(root, "")


def test_track_needs_exactly_one_source(root: Path) -> None:
    with pytest.raises(InvalidArgument, match="exactly one"):
        resolve_track(root, path=None, content=None, max_content_bytes=10)
    with pytest.raises(InvalidArgument, match="exactly one"):
        resolve_track(root, path="album/song.wav", content=b"x", max_content_bytes=10)


def test_content_over_the_limit_is_resource_exhausted(root: Path) -> None:
    with pytest.raises(LimitExceeded, match="limit is 10 bytes"):
        resolve_track(root, path=None, content=b"x" * 11, max_content_bytes=10)


def test_path_track_carries_size_and_mtime(root: Path) -> None:
    track = resolve_track(root, path="album/song.wav", content=None, max_content_bytes=10)
    assert track.size == 4
    assert track.mtime_ns == (root / "album" / "song.wav").stat().st_mtime_ns
    assert track.relative_path == "album/song.wav"


# -- local or remote ----------------------------------------------------------------------------


def _mountinfo(*mounts: tuple[str, str]) -> str:
    """/proc/self/mountinfo lines for (mount point, filesystem type) pairs, in mount order."""
    return "".join(
        f"{20 + i} 1 0:{30 + i} / {point} rw,relatime shared:{i} - {kind} src{i} rw\n"
        for i, (point, kind) in enumerate(mounts))


ROOTFS = ("/", "ext4")


@pytest.mark.parametrize(
    ("mounts", "local"),
    [
        ((ROOTFS,), True),
        ((ROOTFS, ("/srv", "xfs")), True),
        ((("/", "overlay"), ("/srv/music", "tmpfs")), True),
        ((ROOTFS, ("/srv/music", "nfs4")), False),
        ((ROOTFS, ("/srv", "nfs")), False),
        ((ROOTFS, ("/srv/music/live", "cifs")), False),
        ((ROOTFS, ("/srv/music/phone", "fuse.sshfs")), False),
        ((ROOTFS, ("/srv", "nfs4"), ("/srv", "ext4")), True),
        ((ROOTFS, ("/srv", "ext4"), ("/srv", "nfs4")), False),
        # Hidden under a local mount, but not worth telling apart: counted as remote.
        ((ROOTFS, ("/srv/music", "nfs4"), ("/srv/music", "ext4")), False),
        ((ROOTFS, ("/srv/musical", "nfs4")), True),
        ((("/", "9p"),), False),
        ((), False),
    ],
    ids=["rootfs", "local-mount-above", "tmpfs-on-overlay", "nfs-root", "nfs-above",
         "cifs-inside", "fuse-inside", "local-over-nfs", "nfs-over-local", "nfs-under-root-mount",
         "sibling-nfs",
         "9p-rootfs", "no-mounts"],
)
def test_a_media_root_is_local_only_when_every_filesystem_it_reaches_is(
    mounts: tuple[tuple[str, str], ...], local: bool
) -> None:
    assert media_root_is_local(Path("/srv/music"), _mountinfo(*mounts)) is local


def test_mount_points_with_escaped_spaces_are_read(tmp_path: Path) -> None:
    root = tmp_path / "my music"
    root.mkdir()
    escaped = str(root).replace(" ", "\\040")
    text = _mountinfo(ROOTFS) + f"99 1 0:99 / {escaped} rw - nfs4 server:/music rw\n"
    assert media_root_is_local(root, text) is False
    assert media_root_is_local(root, _mountinfo(ROOTFS)) is True


def test_unreadable_or_malformed_mount_tables_count_as_remote(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert media_root_is_local(Path("/srv/music"), "garbage without a separator\n") is False
    monkeypatch.setattr("shared.paths.MOUNTINFO", tmp_path / "missing")
    assert media_root_is_local(Path("/srv/music")) is False
