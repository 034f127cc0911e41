"""COM segments inside encapsulated JPEG 2000 and HTJ2K frames: removed without touching the image data.

A JPEG 2000 codestream may carry COM marker segments (0xFF64; Rcom 1 is
Latin-1 text, 0 binary) in its main header and in any tile-part header: an
encoder's name, and whatever else a writer put there (a patient's name, an
accession number). This module rewrites the codestream's marker segments:
every COM goes, and everything else (SIZ, COD, QCD, CAP, the packet-length
markers, the bitstream after each SOD) is copied byte for byte, so a frame
decodes to the same pixels. A tile-part that loses a COM gets its Psot (the
tile-part's length in its SOT header) recomputed, and so does its entry in
the main header's TLM segments when there are any; a last tile-part whose
Psot is 0 (it runs to EOC) keeps 0.

Some writers wrap the codestream in a JP2 file (the ``jp2c`` box), which
DICOM does not allow but the size check reads anyway (:mod:`.codestream`).
Such a frame keeps its signature, ``ftyp``, ``rreq`` and ``jp2h`` (image
header, colour specification, palette) boxes as they are; its codestream is
rewritten as above; every other top-level box (``xml``, ``uuid``, ``uinf``,
``jp2i``: free text and vendor data) goes.

No Django here: bytes in, bytes out, or :class:`~.errors.Rejected` with a reason.
"""

from __future__ import annotations

import struct

from .errors import Rejected

__all__ = ["strip_j2k_frame"]

_SOC_SIZ = b"\xff\x4f\xff\x51"
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
_SOT, _SOD, _EOC, _COM, _TLM = 0x90, 0x93, 0xD9, 0x64, 0x55
_JP2_KEPT = frozenset({b"jP  ", b"ftyp", b"rreq", b"jp2h"})


def strip_j2k_frame(frame: bytes) -> tuple[bytes, int]:
    """The frame without COM segments (and, in a JP2 file, without its text boxes); how many went.

    Raises:
        Rejected: Not a JPEG 2000 codestream (or a JP2 file holding one), or a
            marker segment or tile-part that runs past the frame.
    """
    if frame.startswith(_JP2_SIGNATURE):
        return _strip_jp2(frame)
    return _strip_codestream(frame)


def _fail(why: str) -> Rejected:
    return Rejected(f"JPEG 2000 frame {why}: cannot remove its metadata")


def _segment(frame: bytes, pos: int) -> tuple[int, int]:
    """(marker, end) of the marker segment at ``pos`` (0xFF, marker, then a length that counts itself)."""
    if frame[pos : pos + 1] != b"\xff" or pos + 4 > len(frame):
        raise _fail("has bytes between its marker segments or is truncated")
    marker = frame[pos + 1]
    if 0x30 <= marker <= 0x3F:  # reserved markers with no length field
        return marker, pos + 2
    (length,) = struct.unpack(">H", frame[pos + 2 : pos + 4])
    if length < 2 or pos + 2 + length > len(frame):
        raise _fail("is truncated in a marker segment")
    return marker, pos + 2 + length


def _strip_codestream(frame: bytes) -> tuple[bytes, int]:
    if not frame.startswith(_SOC_SIZ):
        raise _fail("does not start with the SOC and SIZ markers")
    main, removed, tlm_at, pos = bytearray(frame[:2]), 0, [], 2
    while True:  # the main header: up to the first SOT
        if frame[pos : pos + 2] == bytes((0xFF, _SOT)):
            break
        marker, end = _segment(frame, pos)
        if marker == _COM:
            removed += 1
        else:
            if marker == _TLM:
                tlm_at.append((len(main), end - pos))
            main += frame[pos:end]
        pos = end

    parts: list[bytes] = []
    while pos < len(frame) and frame[pos : pos + 2] != bytes((0xFF, _EOC)):
        part, pos, n = _tile_part(frame, pos)
        parts.append(part)
        removed += n
    if not removed:
        return frame, 0
    if tlm_at:
        _rewrite_tlm(main, tlm_at, parts, frame)
    tail = b"\xff\xd9" if pos < len(frame) else b""  # what follows EOC (a vendor trailer) goes
    return bytes(main) + b"".join(parts) + tail, removed


def _tile_part(frame: bytes, pos: int) -> tuple[bytes, int, int]:
    """The tile-part at ``pos`` without its COM segments, where the next one starts, and how many went."""
    if frame[pos : pos + 4] != b"\xff\x90\x00\x0a" or pos + 12 > len(frame):
        raise _fail("has something other than a tile-part (SOT) after its main header")
    (psot,) = struct.unpack(">I", frame[pos + 6 : pos + 10])
    end = len(frame) if psot == 0 else pos + psot
    if end > len(frame) or end < pos + 14:
        raise _fail("has a tile-part whose length (Psot) runs past the frame")
    header, removed, at = bytearray(), 0, pos + 12
    while frame[at : at + 2] != bytes((0xFF, _SOD)):
        marker, seg_end = _segment(frame, at)
        if seg_end > end:
            raise _fail("has a tile-part header that runs past its tile-part")
        if marker == _COM:
            removed += 1
        else:
            header += frame[at:seg_end]
        at = seg_end
    body = frame[at:end]  # SOD and the bitstream, copied as they are
    new_psot = 0 if psot == 0 else 12 + len(header) + len(body)
    sot = frame[pos : pos + 6] + struct.pack(">I", new_psot) + frame[pos + 10 : pos + 12]
    return sot + bytes(header) + body, end, removed


def _rewrite_tlm(main: bytearray, tlm_at: list[tuple[int, int]], parts: list[bytes], frame: bytes) -> None:
    """Put each tile-part's new length into the TLM entries (which list tile-parts in codestream order)."""
    index = 0
    for offset, size in tlm_at:
        ztlm_stlm = main[offset + 4 : offset + 6]
        if len(ztlm_stlm) < 2:
            raise _fail("has a truncated TLM segment")
        st, sp = (ztlm_stlm[1] >> 4) & 0x3, (ztlm_stlm[1] >> 6) & 0x1
        width = 4 if sp else 2
        entry = st + width
        at = offset + 6
        while at + entry <= offset + size and index < len(parts):
            length = len(parts[index])
            if length >= 1 << (8 * width):
                raise _fail(
                    "has a TLM entry too narrow for its tile-part"
                )  # lengths only shrink: unreachable
            main[at + st : at + entry] = length.to_bytes(width, "big")
            at += entry
            index += 1


def _strip_jp2(data: bytes) -> tuple[bytes, int]:
    out, removed, pos = bytearray(), 0, 0
    while pos < len(data):
        if not data[pos:].strip(b"\x00") and len(data) - pos < 8:
            break  # even-length padding after the last box
        if pos + 8 > len(data):
            raise _fail("is a JP2 file truncated in a box header")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if length == 1:  # the length follows as 8 bytes (XLBox)
            if pos + 16 > len(data):
                raise _fail("is a JP2 file truncated in a box header")
            (length,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
            header = 16
        elif length == 0:  # the last box runs to the end
            length = len(data) - pos
        if length < header or pos + length > len(data):
            raise _fail("is a JP2 file with a box that runs past its end")
        if kind == b"jp2c":
            codestream, n = _strip_codestream(data[pos + header : pos + length])
            removed += n
            out += _box(kind, codestream)
        elif kind in _JP2_KEPT:
            out += data[pos : pos + length]
        else:
            removed += 1
        pos += length
    return (bytes(out), removed) if removed else (data, 0)


def _box(kind: bytes, content: bytes) -> bytes:
    if len(content) + 8 < 1 << 32:
        return struct.pack(">I4s", len(content) + 8, kind) + content
    return struct.pack(">I4sQ", 1, kind, len(content) + 16) + content
