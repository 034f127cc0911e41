"""Corpus inputs that are not plain DICOM: zips and zip bombs, path traversal and symbolic links,
polyglots, and HTML/SVG/scripts disguised as images."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
import zlib

import numpy as np
from PIL import Image

from tests.corpus.dicom_inputs import Seed, fresh
from tests.corpus.model import HostileInput
from tests.oncocore.imaging import bombs


def _zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buf.getvalue()


def _symlink_entry(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    info.create_system = 3
    return info, target.encode()


def _patch_first_entry(data: bytes, **fields: int) -> bytes:
    """Rewrite fields of the first local header and central-directory entry (flag, method, crc, size)."""
    out = bytearray(data)
    cd = data.rindex(b"PK\x01\x02")
    offsets = {
        "flag": ((6, "<H"), (8, "<H")),
        "method": ((8, "<H"), (10, "<H")),
        "crc": ((14, "<I"), (16, "<I")),
        "file_size": ((22, "<I"), (24, "<I")),
    }
    for name, value in fields.items():
        (local_at, fmt), (cd_at, _) = offsets[name]
        struct.pack_into(fmt, out, local_at, value)
        struct.pack_into(fmt, out, cd + cd_at, value)
    return bytes(out)


def _png(width: int = 32, height: int = 32, extra: bytes = b"") -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.arange(width * height) % 256).astype(np.uint8).reshape(height, width)).save(
        buf, "PNG"
    )
    data = buf.getvalue()
    if extra:  # a chunk before IEND
        at = data.rindex(b"IEND") - 4
        data = data[:at] + extra + data[at:]
    return data


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose IHDR says ``width`` x ``height`` around a few bytes of zlib data."""
    ihdr = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    idat = _png_chunk(b"IDAT", zlib.compress(bytes(width + 1) * 4))
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat + _png_chunk(b"IEND", b"")


def _jpeg(size: int = 32, comment: bytes = b"") -> bytes:
    data = bombs.jpeg_baseline(size)
    if comment:
        data = data[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + data[2:]
    return data


def _jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(bombs.jpeg_baseline(16))
    at = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, at + 5, height, width)
    return bytes(data)


def _with_preamble(dicom: bytes, preamble: bytes) -> bytes:
    return preamble[:128].ljust(128, b"\x00") + dicom[128:]


def zips(seeds: dict[str, Seed]) -> list[HostileInput]:
    good = fresh(seeds["mr-explicit"], "zip/good")
    other = fresh(seeds["mr-implicit"], "zip/other")
    noisy = bytearray(4 * 1024 * 1024)
    lying = _patch_first_entry(_zip([("big.dcm", bytes(noisy))]), file_size=1000)
    cases: list[tuple[str, bytes, str, str, dict[str, str]]] = [
        # (label, bytes, expect, reason word, known)
        ("one-dicom", _zip([("study/IM0001.dcm", good)]), "accept", "", {}),
        ("good-and-truncated", _zip([("a.dcm", other), ("b.dcm", good[:3000])]), "mixed", "", {}),
        ("overlapping-16", bombs.overlapping_zip(), "reject", "overlap", {}),
        ("overlapping-2", bombs.overlapping_zip(entries=2, name="b.dcm"), "reject", "overlap", {}),
        ("ratio-4mib-zeros", _zip([("zeros.dcm", bytes(noisy))]), "reject", "zip bomb", {}),
        ("lying-size", lying, "reject", "zip", {}),
        ("too-many-entries", _zip([(f"e{i}.dcm", b"x") for i in range(101)]), "reject", "entries", {}),
        ("empty", _zip([]), "reject", "", {}),
        ("only-a-folder", _zip([("folder/", b"")]), "reject", "", {}),
        ("only-macos-junk", _zip([("__MACOSX/._a.dcm", b"junk")]), "reject", "", {}),
        ("truncated-directory", _zip([("a.dcm", good)])[:-10], "reject", "zip", {}),
        ("local-header-only", b"PK\x03\x04" + bytes(26), "reject", "zip", {}),
        ("bad-crc", _patch_first_entry(_zip([("a.dcm", good)]), crc=0xDEADBEEF), "reject", "zip", {}),
        ("encrypted-flag", _patch_first_entry(_zip([("a.dcm", good)]), flag=1), "reject", "encrypted", {}),
        ("unknown-method", _patch_first_entry(_zip([("a.dcm", good)]), method=99), "reject", "zip", {}),
        ("nested-zip", _zip([("inner.zip", _zip([("a.dcm", good)]))]), "reject", "nested", {}),
        ("nested-zip-renamed", _zip([("inner.dcm", _zip([("a.dcm", good)]))]), "reject", "nested", {}),
        ("dicomdir", _zip([("DICOMDIR", good)]), "reject", "dicomdir", {}),
        ("stored-method", _zip([("a.dcm", other)], zipfile.ZIP_STORED), "accept", "", {}),
    ]
    for kind, magic in {
        "gzip": b"\x1f\x8b\x08\x00" + bytes(60),
        "bzip2": b"BZh91AY&SY" + bytes(60),
        "xz": b"\xfd7zXZ\x00" + bytes(60),
        "7z": b"7z\xbc\xaf\x27\x1c" + bytes(60),
        "rar": b"Rar!\x1a\x07\x00" + bytes(60),
        "tar": bytes(257) + b"ustar\x0000" + bytes(250),
    }.items():
        cases.append((f"{kind}-archive", magic, "reject", "archive", {}))
    return [
        HostileInput(
            name=f"zip/{label}",
            category="zip",
            data=data,
            expect=expect,  # type: ignore[arg-type]
            reason_has=word,
            filename=f"{label}.zip",
            known=known,
        )
        for label, data, expect, word, known in cases
    ]


def traversal(seeds: dict[str, Seed]) -> list[HostileInput]:
    """Entry names that climb out of the upload, symbolic links in zips and on the CLI's disk."""
    out = []
    entries = {
        "dot-dot": "../../../../tmp/x.dcm",
        "absolute": "/etc/cron.d/x.dcm",
        "windows-drive": "C:\\Windows\\x.dcm",
        "backslash-dot-dot": "..\\..\\x.dcm",
        "inner-dot-dot": "study/../../x.dcm",
    }
    for label, entry in entries.items():
        out.append(
            HostileInput(
                name=f"traversal/zip-{label}",
                category="traversal",
                data=_zip([(entry, fresh(seeds["mr-explicit"], f"traversal/{label}"))]),
                expect="reject",
                reason_has="unsafe path",
                filename=f"{label}.zip",
            )
        )
    out.append(
        HostileInput(
            name="traversal/zip-symlink",
            category="traversal",
            data=_zip([_symlink_entry("passwd.dcm", "/etc/passwd")]),
            expect="reject",
            reason_has="symbolic link",
            filename="symlink.zip",
        )
    )
    out.append(
        HostileInput(
            name="traversal/zip-good-and-dot-dot",
            category="traversal",
            data=_zip(
                [
                    ("ok/a.dcm", fresh(seeds["mr-explicit"], "traversal/mixed-good")),
                    ("../evil.dcm", fresh(seeds["mr-implicit"], "traversal/mixed-evil")),
                ]
            ),
            expect="mixed",
            filename="mixed.zip",
        )
    )
    for label, upload_name in {
        "name-dot-dot": "../../../../etc/passwd.dcm",
        "name-absolute": "/etc/shadow.dcm",
        "name-backslashes": "..\\..\\windows\\win.ini.dcm",
    }.items():
        out.append(
            HostileInput(
                name=f"traversal/{label}",
                category="traversal",
                data=fresh(seeds["mr-explicit"], f"traversal/{label}"),
                expect="accept",  # the name is a label: the file is stored under its own key
                filename=upload_name,
                entry_points=("web", "api"),
            )
        )
    target = fresh(seeds["mr-explicit"], "traversal/disk")
    for disk, known in {
        "symlink-out": "",
        "symlink-dangling": "",
        "symlink-loop": "",
        "symlink-dir": "",
        "fifo": "",
    }.items():
        out.append(
            HostileInput(
                name=f"traversal/disk-{disk}",
                category="traversal",
                data=target,
                expect="reject",
                reason_has="" if disk == "fifo" else "symbolic link",
                filename=f"{disk}.dcm",
                disk=disk,
                known={"cli": known} if known else {},
                entry_points=("cli",),
            )
        )
    return out


def polyglots(seeds: dict[str, Seed]) -> list[HostileInput]:
    """Files that are two formats at once. A DICOM preamble is free-form, so a Part 10 file with
    'DICM' at 128 is DICOM whatever its first bytes say (that is how DICOM/TIFF dual-personality
    files work); an image with bytes after its end is still that image."""
    dicom = {
        label: fresh(seeds["mr-explicit"], f"polyglot/{label}")
        for label in ("pk", "png", "jpeg", "html", "tiff", "pdf", "zip-after")
    }
    zipped = _zip([("a.dcm", fresh(seeds["mr-implicit"], "polyglot/inner"))])
    # STOW-RS looks for DICM first, and the listener spools a fresh preamble: they store it today.
    cases: list[tuple[str, bytes, str, dict[str, str]]] = [
        ("dicom-preamble-pk", _with_preamble(dicom["pk"], zipped[:128]), "accept", {}),
        ("dicom-preamble-png", _with_preamble(dicom["png"], _png()[:128]), "accept", {}),
        ("dicom-preamble-jpeg", _with_preamble(dicom["jpeg"], _jpeg()[:128]), "accept", {}),
        (
            "dicom-preamble-html",
            _with_preamble(dicom["html"], b"<html><script>alert(1)</script>"),
            "accept",
            {},
        ),
        ("dicom-preamble-tiff", _with_preamble(dicom["tiff"], b"II*\x00\x08\x00\x00\x00"), "accept", {}),
        ("dicom-preamble-pdf", _with_preamble(dicom["pdf"], b"%PDF-1.4\n"), "accept", {}),
        ("dicom-then-zip", dicom["zip-after"] + zipped, "either", {}),
        ("png-then-zip", _png() + zipped, "accept", {}),
        ("jpeg-then-zip", _jpeg() + zipped, "accept", {}),
        ("png-then-html", _png() + b"<html><script>alert(1)</script></html>", "accept", {}),
        (
            "gif-with-script",
            b"GIF89a\x01\x00\x01\x00\x00\x00\x00;<script>alert(1)</script>",
            "reject",
            {},
        ),
        ("bare-dataset-then-html", b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100<html></html>", "reject", {}),
    ]
    return [
        HostileInput(
            name=f"polyglot/{label}",
            category="polyglot",
            data=data,
            expect=expect,  # type: ignore[arg-type]
            filename=f"{label}.dcm" if label.startswith(("dicom", "bare")) else f"{label}.png",
            known=known,
        )
        for label, data, expect, known in cases
    ]


def disguised() -> list[HostileInput]:
    """Non-images under image names, broken images and image bombs."""
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(8))
        + b']><svg xmlns="http://www.w3.org/2000/svg"><text>&i;</text></svg>'
    )
    tiff_pages = io.BytesIO()
    frames = [Image.new("L", (16, 16), v) for v in (0, 128)]
    frames[0].save(tiff_pages, "TIFF", save_all=True, append_images=frames[1:])
    bmp = io.BytesIO()
    Image.new("RGB", (8, 8)).save(bmp, "BMP")
    cases: list[tuple[str, str, bytes, str, str]] = [
        # (label, upload name, bytes, expect, reason word)
        ("svg-script", "scan.png", svg, "reject", ""),
        ("svg-billion-laughs", "scan.svg", laughs, "reject", ""),
        (
            "html-as-dicom",
            "IM0001.dcm",
            b"<!DOCTYPE html><html><body onload=alert(1)>x</body></html>",
            "reject",
            "",
        ),
        (
            "html-as-jpeg",
            "photo.jpg",
            b"<html><script>document.location='//evil'</script></html>",
            "reject",
            "",
        ),
        ("php-double-extension", "shell.php.png", b"<?php system($_GET['c']); ?>", "reject", ""),
        ("javascript-as-jpeg", "x.jpg", b"alert(document.cookie)//" + bytes(64), "reject", ""),
        ("pdf", "report.pdf.dcm", b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "reject", ""),
        ("elf", "scanner.dcm", b"\x7fELF\x02\x01\x01" + bytes(57), "reject", ""),
        ("utf16-text", "notes.png", "\ufeffpatient: Doe^John".encode("utf-16"), "reject", ""),
        ("bmp", "x.bmp", bmp.getvalue(), "accept", ""),  # BMP, GIF and WebP are read too
        ("empty", "empty.dcm", b"", "reject", "empty"),
        ("one-byte", "one.dcm", b"\x00", "reject", ""),
        ("nul-4k", "zeros.dcm", bytes(4096), "reject", ""),
        ("random-4k", "random.dcm", np.random.default_rng(7).bytes(4096), "reject", ""),
        ("dicm-only", "dicm.dcm", b"DICM", "reject", ""),
        ("preamble-and-dicm-only", "dicm2.dcm", bytes(128) + b"DICM", "reject", ""),
        (
            "png-text-script",
            "x.png",
            _png(extra=_png_chunk(b"tEXt", b"c\x00<script>alert(1)</script>")),
            "accept",
            "",
        ),
        ("jpeg-comment-script", "x.jpg", _jpeg(comment=b"<script>alert(1)</script>"), "accept", ""),
        ("jpeg-claims-60000", "big.jpg", _jpeg_claiming(60000, 60000), "reject", "limit"),
        ("png-claims-100000", "big.png", _png_claiming(100000, 100000), "reject", "limit"),
        ("png-claims-0", "zero.png", _png_claiming(0, 16), "reject", ""),
        ("png-truncated", "cut.png", _png()[:60], "reject", "png"),
        ("jpeg-truncated", "cut.jpg", _jpeg()[:200], "reject", "jpeg"),
        ("tiff-two-pages", "pages.tif", tiff_pages.getvalue(), "reject", "multi-page"),
    ]
    return [
        HostileInput(
            name=f"disguised/{label}",
            category="disguised",
            data=data,
            expect=expect,  # type: ignore[arg-type]
            reason_has=word,
            filename=upload_name,
        )
        for label, upload_name, data, expect, word in cases
    ]
