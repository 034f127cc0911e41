"""The spool: each received instance as a file, written before the store is answered.

Layout: ``<root>/<association>/<Study Instance UID>/<SOP Instance UID>.dcm``, where
``<association>`` is the association's key, followed by ``=<site code>`` when the calling
AE's entry names a site (:func:`association_folder`): so files left at start-up still go
to the site their sender's entry named. Each file is written under a temporary name and
renamed, so a file with the final name is always complete; a crash leaves at most a
``.part`` file, which start-up removes.

``fsync`` (ONCOPORTAL_DICOM_SPOOL_FSYNC) also forces each file to the disk before the
store is answered. Off by default, as in dcmtk's storescp: a file handed to the kernel
survives a crash of the listener, and only a power loss or kernel crash in the few
seconds before the kernel writes it back could lose an acknowledged instance; on the
development machine the fsync cost 6 ms an instance, more than everything else a store
does (docs/performance.md).
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections import defaultdict
from pathlib import Path

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
PART_SUFFIX = ".part"


def association_folder(key: str, site: str) -> str:
    """The spool folder of an association: its key, and its site code when it has one."""
    return f"{key}={site}" if site else key


def site_of_folder(name: str) -> str:
    """The site code recorded in an association folder's name; '' for the default site."""
    return name.partition("=")[2]


def valid_uid(value: str) -> bool:
    """A DICOM UID (digits and dots, at most 64 characters), so it is also a safe file name."""
    return 0 < len(value) <= 64 and _UID.match(value) is not None


class Spool:
    def __init__(self, root: Path, *, fsync: bool = False) -> None:
        self.root = root
        self.fsync = fsync

    def write(self, association: str, study_uid: str, sop_uid: str, data: bytes) -> Path:
        """Store one instance atomically; raises OSError (disk full, permissions) or ValueError (bad UID)."""
        if not (valid_uid(study_uid) and valid_uid(sop_uid)):
            raise ValueError("not a valid UID")
        folder = self.root / association / study_uid
        final = folder / f"{sop_uid}.dcm"
        temp = folder / f"{sop_uid}.{uuid.uuid4().hex}{PART_SUFFIX}"
        for attempt in (1, 2):
            folder.mkdir(parents=True, exist_ok=True)
            try:
                with open(temp, "wb") as fh:
                    fh.write(data)
                    if self.fsync:
                        fh.flush()
                        os.fsync(fh.fileno())
                os.replace(temp, final)
                return final
            except FileNotFoundError:
                # prune() removed the (then empty) folder between mkdir and open: once more.
                temp.unlink(missing_ok=True)
                if attempt == 2:
                    raise
            except BaseException:
                temp.unlink(missing_ok=True)
                raise
        raise AssertionError("unreachable")

    def leftovers(self) -> dict[tuple[str, str], list[Path]]:
        """Complete files left by an earlier run, by (site code, study); removes half-written ones."""
        studies: dict[tuple[str, str], list[Path]] = defaultdict(list)
        if not self.root.is_dir():
            return {}
        for path in sorted(self.root.glob("*/*/*")):
            if path.name.endswith(PART_SUFFIX):
                path.unlink(missing_ok=True)
            elif path.suffix == ".dcm" and path.is_file():
                studies[(site_of_folder(path.parent.parent.name), path.parent.name)].append(path)
        self.prune()
        return dict(studies)

    def remove(self, paths: list[Path]) -> None:
        for path in paths:
            path.unlink(missing_ok=True)
        self.prune()

    def prune(self) -> None:
        """Drop empty study and association folders."""
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.glob("*/*"), reverse=True) + sorted(self.root.glob("*")):
            if folder.is_dir():
                # not empty, or a concurrent write just created it
                with contextlib.suppress(OSError):
                    folder.rmdir()
