"""Exporting a snapshot: an ImageFolder tree with ``manifest.csv`` and its dataset card.

Two shapes of one layout (``oncocore.datasets.manifest``):

- :func:`snapshot_write_folder` writes a folder (a training job's input);
- :func:`snapshot_export_stream` yields a zip chunk by chunk (downloads), with
  everything under ``<snapshot name>/``; nothing is held in memory beyond one
  read chunk, and images are stored uncompressed (they are JPEG/PNG/DICOM
  already).

Files are read through Django's storage API (so S3 works as well as a disk),
and every image's SHA-256 is checked against the one frozen in the manifest
while it is copied: a changed or missing file stops the export with
:class:`SnapshotCorrupt`. Both shapes carry the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from django.core.files.storage import default_storage

from cases.services.audit import AuditContext, audit_record
from curation.models import Snapshot, SnapshotItem
from curation.services.dataset_card import card_json_bytes, card_md_bytes, dataset_card
from oncocore.datasets.manifest import (
    CARD_JSON_NAME,
    CARD_MD_NAME,
    MANIFEST_NAME,
    ManifestRow,
    is_snapshot_dir,
    manifest_bytes,
)
from oncoportal.exceptions import DomainError

__all__ = ["SnapshotCorrupt", "snapshot_export_stream", "snapshot_metadata_files", "snapshot_write_folder"]

CHUNK = 1024 * 1024
Progress = Callable[[int, int], None]  # (items done, items in all)


class SnapshotCorrupt(DomainError):
    """A stored file is missing or no longer has the bytes the snapshot froze."""

    status_code = 409
    code = "conflict"


def _rows(snapshot: Snapshot) -> list[ManifestRow]:
    return [item.as_manifest_row() for item in snapshot.items.order_by("path")]


def snapshot_metadata_files(snapshot: Snapshot) -> list[tuple[str, bytes]]:
    """``manifest.csv``, ``dataset_card.json`` and ``DATASET_CARD.md``, as exported.

    The manifest is the stored one, checked against the snapshot's items.

    Raises:
        SnapshotCorrupt: The stored manifest is missing or differs from the items.
    """
    expected = manifest_bytes(_rows(snapshot))
    try:
        with default_storage.open(snapshot.manifest.name, "rb") as fh:
            stored = fh.read()
    except OSError as exc:
        raise SnapshotCorrupt(
            f"{snapshot.name}: its manifest {snapshot.manifest.name} cannot be read."
        ) from exc
    if stored != expected:
        raise SnapshotCorrupt(f"{snapshot.name}: the stored manifest differs from the snapshot's items.")
    card = dataset_card(snapshot)
    return [
        (MANIFEST_NAME, stored),
        (CARD_JSON_NAME, card_json_bytes(card)),
        (CARD_MD_NAME, card_md_bytes(card)),
    ]


def _items(snapshot: Snapshot) -> Iterator[SnapshotItem]:
    return snapshot.items.select_related("image").order_by("path").iterator(chunk_size=500)


def _audit_export(snapshot: Snapshot, audit: AuditContext | None, how: str) -> None:
    if audit is not None:
        audit_record(
            action="snapshot_export",
            obj=snapshot,
            audit=audit,
            detail={"name": snapshot.name, "content_hash": snapshot.content_hash, "as": how},
        )


def snapshot_write_folder(
    snapshot: Snapshot,
    dest: Path,
    *,
    progress: Progress | None = None,
    audit: AuditContext | None = None,
) -> Path:
    """Write the snapshot as a folder at ``dest`` and return ``dest``.

    The tree is written into a temporary sibling and renamed into place at
    the end, so ``dest`` is either absent or complete. When ``dest`` already
    holds an export of this snapshot (same content hash on its card), it is
    returned as it is (a resumed job calls this again).

    Raises:
        SnapshotCorrupt: A file is missing or changed (nothing is left at ``dest``).
        FileExistsError: ``dest`` holds something else.
    """
    dest = Path(dest)
    if dest.exists():
        if _is_export_of(dest, snapshot):
            return dest
        if not dest.is_dir() or any(dest.iterdir()):
            raise FileExistsError(f"{dest} exists and is not an export of {snapshot.name}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        metadata = snapshot_metadata_files(snapshot)
        total = snapshot.items.count()
        for done, item in enumerate(_items(snapshot), start=1):
            target = tmp / item.path
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as out:
                for chunk in _iter_checked(item):
                    out.write(chunk)
            if progress is not None:
                progress(done, total)
        # The card last: a folder with a card is a complete one.
        for name, data in metadata:
            (tmp / name).write_bytes(data)
        if dest.exists():
            dest.rmdir()  # empty (checked above)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _audit_export(snapshot, audit, "folder")
    return dest


def _is_export_of(dest: Path, snapshot: Snapshot) -> bool:
    if not is_snapshot_dir(dest):
        return False
    card = json.loads((dest / CARD_JSON_NAME).read_text(encoding="utf-8"))
    return bool(card.get("content_hash") == snapshot.content_hash and card.get("name") == snapshot.name)


class _Sink:
    """A write-only, non-seekable file for ``zipfile``: it collects bytes until they are taken."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def snapshot_export_stream(
    snapshot: Snapshot, *, progress: Progress | None = None, audit: AuditContext | None = None
) -> Iterator[bytes]:
    """The snapshot as a zip, yielded chunk by chunk, under ``<snapshot name>/``.

    The metadata (and the manifest check) come first, so a snapshot whose
    manifest is damaged fails before any byte is sent. A changed image found
    later stops the stream with :class:`SnapshotCorrupt` (the client sees a
    truncated, invalid zip).
    """
    metadata = snapshot_metadata_files(snapshot)  # raises before the first chunk
    _audit_export(snapshot, audit, "zip")
    return _zip_chunks(snapshot, metadata, progress)


def _zip_chunks(
    snapshot: Snapshot, metadata: list[tuple[str, bytes]], progress: Progress | None
) -> Iterator[bytes]:
    top = snapshot.name
    stamp = snapshot.created_at.timetuple()[:6]
    sink = _Sink()
    total = snapshot.items.count()
    with zipfile.ZipFile(sink, mode="w", allowZip64=True) as zf:
        for name, data in metadata:
            info = zipfile.ZipInfo(f"{top}/{name}", date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
            if chunk := sink.take():
                yield chunk
        for done, item in enumerate(_items(snapshot), start=1):
            info = zipfile.ZipInfo(f"{top}/{item.path}", date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            info.file_size = item.image.file_size
            with zf.open(info, mode="w", force_zip64=item.image.file_size > zipfile.ZIP64_LIMIT // 2) as out:
                for chunk in _iter_checked(item):
                    out.write(chunk)
                    if data := sink.take():
                        yield data
            if data := sink.take():
                yield data
            if progress is not None:
                progress(done, total)
    if data := sink.take():
        yield data


def _iter_checked(item: SnapshotItem) -> Iterator[bytes]:
    """One image's stored bytes in chunks, its SHA-256 checked at the end."""
    digest = hashlib.sha256()
    try:
        with default_storage.open(item.image.file.name, "rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
                yield chunk
    except OSError as exc:
        raise SnapshotCorrupt(f"{item.path}: the stored file {item.image.file.name} cannot be read.") from exc
    if digest.hexdigest() != item.sha256:
        raise SnapshotCorrupt(
            f"{item.path}: the stored file's SHA-256 is {digest.hexdigest()}, the snapshot froze {item.sha256}."
        )
