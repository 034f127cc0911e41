"""Deflated Explicit VR Little Endian files: refuse a dataset that would inflate past the limits.

Checked on the raw bytes before pydicom reads the file (:func:`~.dicom_io.read_dataset`).
"""

from __future__ import annotations

import struct
import zlib

from .errors import Rejected
from .limits import Limits, describe_bytes

_DEFLATED_TS = b"1.2.840.10008.1.2.1.99"
_INFLATE_CHUNK = 1024 * 1024


def deflate_limit(compressed_bytes: int, limits: Limits) -> int:
    """The most bytes a deflated dataset of ``compressed_bytes`` may inflate to."""
    by_ratio = max(int(compressed_bytes * limits.max_zip_ratio), limits.deflate_ratio_floor)
    return min(limits.max_file_bytes, by_ratio)


def check_deflate_bomb(data: bytes, limits: Limits) -> None:
    """Refuse a Deflated Explicit VR file whose dataset inflates past :func:`deflate_limit`.

    pydicom inflates the whole dataset in one go, so a few kilobytes could claim
    gigabytes of memory. We inflate it once here first, a chunk at a time,
    counting and discarding, and stop at the cap: the file limit, and past
    ``limits.deflate_ratio_floor`` (64 MiB) the same ratio as zips (a 1 MiB upload
    may hold 200 MiB, not more).
    """
    if data[132:138] != b"\x02\x00\x00\x00UL":
        return  # no meta group length: nothing to locate the dataset by (and no deflate either)
    (group_length,) = struct.unpack("<I", data[140:144])
    meta_end = 144 + group_length
    if _DEFLATED_TS not in data[132:meta_end]:
        return
    cap = deflate_limit(len(data) - meta_end, limits)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    pending, total = data[meta_end:], 0
    while pending and not inflater.eof:
        try:
            total += len(inflater.decompress(pending, _INFLATE_CHUNK))
        except zlib.error:
            raise Rejected("corrupt deflated dataset: the compressed header cannot be inflated") from None
        pending = inflater.unconsumed_tail
        if total > cap:
            if cap == limits.max_file_bytes:
                raise Rejected(
                    f"deflated dataset expands over the {describe_bytes(limits.max_file_bytes)} file limit"
                )
            raise Rejected(
                f"deflated dataset of {describe_bytes(len(data) - meta_end)} expands past "
                f"{describe_bytes(cap)} (over {limits.max_zip_ratio:g}:1, possible decompression bomb)"
            )
