"""Turn one uploaded blob into the files inside it (paths on disk: see ``.disk``).

Zip archives are opened defensively: the central directory is checked before
any entry is read (entry count, entries whose compressed data overlap, total
uncompressed size, compression ratio overall against the archive's real size
and per entry), and what is actually inflated is counted again while reading,
across all entries, and reading stops at the limit, because zip headers can
lie. Unsafe names (absolute, ``..``), symbolic links, encrypted entries and
nested archives are refused one by one with a reason.

Overlapping entries (several central-directory entries pointing at the same
compressed bytes) are refused outright: no archiver writes them, and they are
how a 2 MB zip inflates to gigabytes while every per-entry ratio looks
ordinary. The inflation budget would stop such a zip anyway; the overlap rule
says why, before anything is inflated.
"""

from __future__ import annotations

import io
import itertools
import posixpath
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from .dicom_io import has_dicom_preamble
from .errors import Rejected, one_line, readable
from .limits import Limits, describe_bytes
from .names import display_name

__all__ = ["DICOMDIR_REASON", "SourceFile", "SourceRejected", "archive_kind", "expand_upload"]

_READ_CHUNK = 1024 * 1024
DICOMDIR_REASON = "DICOMDIR index file skipped"


@dataclass
class SourceFile:
    """One file to prepare. ``name`` is its path inside the upload, e.g. ``'study1/IM0001'``.

    ``original_sha256`` is set when ``data`` is a stored copy (a try-out's
    de-identified file) of bytes uploaded earlier: the image then records the
    original's SHA-256, so uploading those bytes again is caught as a duplicate.
    """

    name: str
    data: bytes
    original_sha256: str | None = None

    def __post_init__(self) -> None:
        self.name = display_name(self.name)


@dataclass
class SourceRejected:
    """A file (or a whole archive) refused before preparation, with a one-line reason."""

    name: str
    reason: str

    def __post_init__(self) -> None:
        self.name = display_name(self.name)
        self.reason = one_line(readable(self.reason), Rejected.MAX_REASON_CHARS) or "rejected"


def archive_kind(data: bytes) -> str | None:
    """The archive format ``data`` starts with ('zip', 'gzip', 'tar', ...), or None.

    A DICOM Part 10 file (``DICM`` at byte 128) is never an archive, whatever its
    128-byte preamble holds: the preamble is free for applications, and one that
    begins with ``PK`` (or makes the file a zip too, a polyglot) is still DICOM.
    DICOM wins because the standard defines the file by that marker; its zip
    side is never opened.
    """
    if has_dicom_preamble(data):
        return None
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "zip"
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:3] == b"BZh":
        return "bzip2"
    if data[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if data[:6] == b"7z\xbc\xaf\x27\x1c":
        return "7z"
    if data[:7] == b"Rar!\x1a\x07\x00" or data[:8] == b"Rar!\x1a\x07\x01\x00":
        return "rar"
    if data[257:262] == b"ustar":
        return "tar"
    return None


_ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".zipx")


def is_junk(path: str) -> bool:
    """macOS/Windows litter and hidden files: skipped without a message."""
    parts = path.split("/")
    base = parts[-1]
    return (
        parts[0] == "__MACOSX"
        or any(p.startswith(".") for p in parts)
        or base in ("Thumbs.db", "desktop.ini")
    )


def is_dicomdir(path: str) -> bool:
    return posixpath.basename(path).upper() == "DICOMDIR"


def _safe_entry_name(raw: str) -> str | None:
    """The normalised relative path of a zip entry, or None if it could escape the upload."""
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None  # absolute POSIX path or Windows drive
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    if any("\x00" in p for p in parts):
        return None
    return "/".join(parts)


def expand_upload(name: str, data: bytes, limits: Limits) -> Iterator[SourceFile | SourceRejected]:
    """One uploaded blob -> the files in it.

    A zip (detected by its magic bytes, whatever the extension) is opened safely.
    A failure of the whole zip (corrupt, too many entries, too large, bomb) yields
    exactly one :class:`SourceRejected` for the zip and nothing else: it is decided
    from the central directory before any entry is yielded. Should the archive
    then prove to lie about its sizes while being read, expansion stops with one
    :class:`SourceRejected` for the zip (entries already yielded were read within
    their declared sizes and stand). Inside the
    zip, directories and macOS/hidden junk are skipped silently, DICOMDIR yields
    ``SourceRejected(..., 'DICOMDIR index file skipped')`` and unsafe or nested
    entries are rejected one by one. Other archive formats at the top level are
    refused with a reason (a deliberate extension of the contract: "upload a .zip"
    reads better than "not a DICOM file"). Anything else is one :class:`SourceFile`.
    """
    if len(data) > limits.max_file_bytes:
        yield SourceRejected(name, limits.file_size_reason(len(data)))
        return
    kind = archive_kind(data)
    if kind == "zip":
        yield from _expand_zip(name, data, limits)
    elif kind is not None:
        yield SourceRejected(
            name, f"{kind} archives are not supported: upload a .zip or the files themselves"
        )
    else:
        yield SourceFile(name, data)


def _expand_zip(zip_name: str, data: bytes, limits: Limits) -> Iterator[SourceFile | SourceRejected]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        yield SourceRejected(zip_name, "corrupt zip file: it is damaged or incomplete and cannot be opened")
        return
    whole_zip_problem = _check_zip_directory(infos, limits, len(data))
    if whole_zip_problem:
        yield SourceRejected(zip_name, whole_zip_problem)
        return

    found = 0
    for item in _zip_entries(zf, infos, zip_name, limits, len(data)):
        found += 1
        yield item
    if not found:
        yield SourceRejected(zip_name, "the zip holds no files (only folders, hidden or system files)")


def _zip_entries(
    zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], zip_name: str, limits: Limits, size: int
) -> Iterator[SourceFile | SourceRejected]:
    budget = _Budget(_inflation_limit(size, limits))
    with zf:
        for info in infos:
            if info.is_dir():
                continue
            entry = _safe_entry_name(info.filename)
            shown = entry or info.filename
            if entry is None:
                yield SourceRejected(shown, "unsafe path in zip (absolute or '..'): skipped")
                continue
            if is_junk(entry):
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                yield SourceRejected(entry, "symbolic link in zip: skipped")
                continue
            if is_dicomdir(entry):
                yield SourceRejected(entry, DICOMDIR_REASON)
                continue
            if entry.lower().endswith(_ARCHIVE_SUFFIXES):
                yield SourceRejected(entry, "nested archive inside the zip: upload its files directly")
                continue
            if info.flag_bits & 0x1:
                yield SourceRejected(entry, "encrypted zip entry: cannot be read")
                continue
            if info.file_size > limits.max_file_bytes:
                yield SourceRejected(entry, limits.file_size_reason(info.file_size))
                continue
            try:
                content = _read_entry(zf, info, limits, budget)
            except _ZipBomb as bomb:
                # The archive lied about its sizes: stop trusting the rest of it.
                yield SourceRejected(zip_name, str(bomb))
                return
            except (
                zipfile.BadZipFile,
                zlib.error,
                OSError,
                EOFError,
                NotImplementedError,
                ValueError,
            ):
                yield SourceRejected(
                    entry, "corrupt zip entry: this file in the zip is damaged and cannot be extracted"
                )
                continue
            nested = archive_kind(content)
            if nested is not None:
                yield SourceRejected(
                    entry, f"nested archive ({nested}) inside the zip: upload its files directly"
                )
                continue
            yield SourceFile(entry, content)


# Tiny files compress badly or absurdly well (an empty DICOM tag block, a 1 kB run of
# zeros); ratios are only meaningful above this many uncompressed bytes.
_RATIO_FLOOR = 1024 * 1024


class _ZipBomb(Exception):
    pass


def _inflation_limit(archive_bytes: int, limits: Limits) -> int:
    """The most bytes all entries together may inflate to: the total cap, and the ratio to the archive's size."""
    by_ratio = max(int(archive_bytes * limits.max_zip_ratio), _RATIO_FLOOR)
    return min(limits.max_zip_total_bytes, by_ratio)


@dataclass
class _Budget:
    """Bytes still allowed to be inflated from this zip, all entries together."""

    limit: int
    used: int = 0

    @property
    def left(self) -> int:
        return self.limit - self.used


def _check_zip_directory(infos: list[zipfile.ZipInfo], limits: Limits, archive_bytes: int) -> str | None:
    """A reason to refuse the whole zip from its central directory, or None."""
    if len(infos) > limits.max_zip_entries:
        return f"zip has {len(infos)} entries, over the {limits.max_zip_entries} limit"
    overlap = _overlapping(infos)
    if overlap:
        return overlap
    declared = sum(i.file_size for i in infos)
    if declared > limits.max_zip_total_bytes:
        limit = describe_bytes(limits.max_zip_total_bytes)
        return f"zip would expand to {describe_bytes(declared)}, over the {limit} limit"
    # Against the bytes the archive really has, not the sum its entries claim (which
    # overlapping or lying entries inflate).
    if declared > _RATIO_FLOOR and declared / max(archive_bytes, 1) > limits.max_zip_ratio:
        ratio = declared / max(archive_bytes, 1)
        return f"zip expands {ratio:.0f}:1, over the {limits.max_zip_ratio:g}:1 limit (possible zip bomb)"
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _RATIO_FLOOR and ratio > limits.max_zip_ratio:
            return (
                f"zip entry {_label(infos, info)} expands {ratio:.0f}:1, over the "
                f"{limits.max_zip_ratio:g}:1 limit (possible zip bomb)"
            )
    return None


def _label(infos: list[zipfile.ZipInfo], info: zipfile.ZipInfo) -> str:
    """An entry named by its position in the zip ('#3'): the name itself may identify the patient."""
    return f"#{infos.index(info) + 1}"


_LOCAL_HEADER_BYTES = 30  # fixed part of a local file header; the name and extra field follow


def _overlapping(infos: list[zipfile.ZipInfo]) -> str | None:
    """A reason when two entries' compressed data overlap (a zip-bomb technique), else None.

    Each entry occupies at least its 30-byte local header plus its compressed
    size from its header offset; the next entry (by offset) must start after that.
    """
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for before, after in itertools.pairwise(ordered):
        end = before.header_offset + _LOCAL_HEADER_BYTES + before.compress_size
        if after.header_offset < end:
            return (
                f"zip entries {_label(infos, before)} and {_label(infos, after)} overlap "
                "(they share compressed data: a zip-bomb technique)"
            )
    return None


def _read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits, budget: _Budget) -> bytes:
    """Read one entry, never holding more than its declared size nor more than the zip's budget has left."""
    cap = info.file_size
    out = bytearray()
    with zf.open(info) as stream:
        while True:
            chunk = stream.read(min(_READ_CHUNK, cap + 1 - len(out), budget.left + 1))
            if not chunk:
                break
            out += chunk
            budget.used += len(chunk)
            if budget.left < 0:
                limit = describe_bytes(budget.limit)
                raise _ZipBomb(
                    f"zip inflates past {limit} (the {describe_bytes(limits.max_zip_total_bytes)} total "
                    f"or {limits.max_zip_ratio:g}:1 limit); stopped at entry {_label(zf.infolist(), info)} (possible zip bomb)"
                )
            if len(out) > cap:
                raise _ZipBomb(
                    f"zip entry {_label(zf.infolist(), info)} is larger than it declares (possible zip bomb)"
                )
    if len(out) > _RATIO_FLOOR and len(out) / max(info.compress_size, 1) > limits.max_zip_ratio:
        raise _ZipBomb(
            f"zip entry {_label(zf.infolist(), info)} expands over {limits.max_zip_ratio:g}:1 (possible zip bomb)"
        )
    return bytes(out)
