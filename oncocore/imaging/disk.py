"""For the CLI: files and folders on disk -> the files to ingest (a zip among them is expanded).

Only regular files are read, and none is followed through a symbolic link: see
:func:`expand_path`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from .archive import DICOMDIR_REASON, SourceFile, SourceRejected, expand_upload, is_dicomdir, is_junk
from .limits import Limits
from .names import display_name

__all__ = ["expand_path"]

_READ_CHUNK = 1024 * 1024


def expand_path(path: Path, limits: Limits) -> Iterator[SourceFile | SourceRejected]:
    """For the CLI: a file, a folder (recursive, sorted, hidden files skipped) or a zip on disk.

    Names are relative to the folder given (POSIX separators), in their display
    form (:func:`.names.display_name`: a name that is not UTF-8 is shown, never
    fatal); entries of a zip found in a folder are named ``'<zip path>/<entry
    path>'``; a zip given directly yields its entries' own paths. Symbolic links
    are not followed (a link inside a folder is refused by name, so the walk never
    leaves the tree), and only regular files are read: a FIFO, socket or device
    is refused without being opened, so nothing can make the import wait forever.
    """
    path = Path(path)
    if path.is_dir():
        for file, problem in _walk_sorted(path):
            rel = display_name(file.relative_to(path).as_posix()) if file != path else path.name
            if is_junk(rel):
                continue
            if problem:
                yield SourceRejected(rel, problem)
                continue
            for item in _expand_disk_file(file, rel, limits):
                if item.name != rel:  # an entry of a zip inside the folder
                    item.name = display_name(f"{rel}/{item.name}")
                yield item
    elif path.exists() or path.is_symlink():
        yield from _expand_disk_file(path, path.name, limits)
    else:
        yield SourceRejected(str(path), "no such file or folder")


def _walk_sorted(root: Path) -> list[tuple[Path, str]]:
    """Every non-hidden file under ``root`` in sorted order of its relative path, with a problem or ''.

    Symbolic links to folders are listed (as refused links), not walked; a folder
    that cannot be listed is reported, not silently skipped.
    """
    found: list[tuple[Path, str]] = []

    def unreadable(error: OSError) -> None:
        if error.filename is not None:
            found.append((Path(error.filename), "cannot read folder: permission denied or gone"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable, followlinks=False):
        linked = [d for d in dirnames if (Path(dirpath) / d).is_symlink()]
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in linked]
        found += [(Path(dirpath) / f, "") for f in filenames if not f.startswith(".")]
        found += [(Path(dirpath) / d, "") for d in linked if not d.startswith(".")]
    return sorted(found, key=lambda item: item[0].relative_to(root).parts)


# What a path that is not a regular file is, for its refusal.
_NOT_REGULAR = [
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
]


def _not_regular_reason(mode: int) -> str:
    kind = next((what for test, what in _NOT_REGULAR if test(mode)), "not a regular file")
    return f"not a regular file ({kind}): skipped"


def _expand_disk_file(file: Path, name: str, limits: Limits) -> Iterator[SourceFile | SourceRejected]:
    """One file on disk -> ``expand_upload`` of its bytes (a zip yields its entries).

    The path is ``lstat``-ed before it is opened, and opened with ``O_NOFOLLOW |
    O_NONBLOCK`` then ``fstat``-ed again, so a link, a FIFO or a device swapped in
    between is refused too rather than followed or waited on.
    """
    if is_dicomdir(name):
        yield SourceRejected(name, DICOMDIR_REASON)
        return
    try:
        mode = os.lstat(file).st_mode
    except OSError:
        yield SourceRejected(name, "cannot read file: it is gone or its folder cannot be read")
        return
    if stat.S_ISLNK(mode):
        yield SourceRejected(name, "symbolic link: skipped")
        return
    if not stat.S_ISREG(mode):
        yield SourceRejected(name, _not_regular_reason(mode))
        return
    try:
        data = _read_regular(file, limits)
    except _NotRegular as exc:
        yield SourceRejected(name, str(exc))
        return
    except PermissionError:
        yield SourceRejected(name, "cannot read file: permission denied")
        return
    except OSError as exc:
        yield SourceRejected(name, f"cannot read file: {exc.strerror or 'input/output error'}")
        return
    if data is None:
        yield SourceRejected(name, limits.file_size_reason(os.lstat(file).st_size))
        return
    yield from expand_upload(name, data, limits)


class _NotRegular(Exception):
    pass


def _read_regular(file: Path, limits: Limits) -> bytes | None:
    """The bytes of regular file ``file``; None when it is over the file limit."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(file, flags)
    with os.fdopen(fd, "rb", buffering=0) as stream:
        info = os.fstat(fd)
        if stat.S_ISLNK(info.st_mode):
            raise _NotRegular("symbolic link: skipped")
        if not stat.S_ISREG(info.st_mode):
            raise _NotRegular(_not_regular_reason(info.st_mode))
        if info.st_size > limits.max_file_bytes:
            return None
        chunks, total = [], 0
        while chunk := stream.read(_READ_CHUNK):
            chunks.append(chunk)
            total += len(chunk)
            if total > limits.max_file_bytes:  # grew while read
                return None
        return b"".join(chunks)
