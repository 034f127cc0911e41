"""Limits checked before decoding, and safe expansion of uploads (zip) and folders."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
import zlib

import numpy as np
import pytest

from oncocore.imaging import (
    DeidOptions,
    Limits,
    Prepared,
    Rejected,
    SourceFile,
    SourceRejected,
    expand_path,
    expand_upload,
    prepare,
)

KEY = b"limits-tests"


def _prepare(data: bytes, limits: Limits | None = None, name: str = "upload") -> Prepared:
    return prepare(SourceFile(name, data), limits=limits or Limits(), deid=DeidOptions(), pseudonym_key=KEY)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_claiming(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------- limits


def test_png_bomb_rejected_from_header_before_decoding(monkeypatch):
    import oncocore.imaging.plain_image as plain_image

    def no_decoding(*args, **kwargs):
        raise AssertionError("the image must not be opened for decoding")

    monkeypatch.setattr(plain_image.Image, "open", no_decoding)
    with pytest.raises(Rejected) as exc:
        _prepare(_png_claiming(60000, 60000))
    assert exc.value.reason == "image is 60000x60000, over the 40-megapixel limit"


def test_dicom_rows_columns_over_limit(make_dicom):
    def huge(ds):
        ds.Rows, ds.Columns = 9000, 7000  # header lies: the pixel data is 8x8

    with pytest.raises(Rejected) as exc:
        _prepare(make_dicom(np.zeros((8, 8), np.uint16), extra=huge))
    assert exc.value.reason == "image is 7000x9000, over the 40-megapixel limit"


def test_dicom_frame_limit(make_dicom):
    def many(ds):
        ds.NumberOfFrames = 5000

    with pytest.raises(Rejected, match="5000 frames, over the 2000-frame limit"):
        _prepare(make_dicom(np.zeros((8, 8), np.uint16), extra=many))


def test_truncated_native_pixel_data(make_dicom):
    def cut(ds):
        ds.PixelData = ds.PixelData[:-10]

    with pytest.raises(Rejected) as exc:
        _prepare(make_dicom(np.zeros((8, 8), np.uint16), extra=cut))
    assert exc.value.reason == "truncated pixel data: 118 of 128 bytes"


def test_file_size_limit():
    with pytest.raises(Rejected, match=r"^file is 200 bytes, over the 100 bytes limit$"):
        _prepare(b"\x00" * 200, Limits(max_file_bytes=100))
    rejected = list(expand_upload("big.bin", b"\x00" * 200, Limits(max_file_bytes=100)))
    assert len(rejected) == 1 and isinstance(rejected[0], SourceRejected)


def test_deflate_bomb_in_dicom(data_path):
    """A Deflated Explicit VR file is inflated (counting only) against the file limit first."""
    data = data_path("dicom/pydicom/image_dfl.dcm").read_bytes()  # 4.5 KiB -> 256+ KiB
    with pytest.raises(Rejected) as exc:
        _prepare(data, Limits(max_file_bytes=100_000))
    assert exc.value.reason == "deflated dataset expands over the 97.7 KiB file limit"
    assert _prepare(data).rows == 512  # and under the default limit it is fine


def test_unsupported_transfer_syntax(make_dicom):
    from pydicom.encaps import encapsulate
    from pydicom.uid import MPEG2MPML

    def as_video(ds):
        ds.file_meta.TransferSyntaxUID = MPEG2MPML
        ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + b"\x00" * 60])
        ds["PixelData"].is_undefined_length = True
        ds["PixelData"].VR = "OB"

    with pytest.raises(Rejected) as exc:
        _prepare(make_dicom(np.zeros((8, 8), np.uint8), modality="XC", rescale=None, extra=as_video))
    assert (
        exc.value.reason
        == "unsupported transfer syntax: MPEG2 Main Profile / Main Level (video is not supported)"
    )


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello world, not an image",
        b"\x00" * 300,
        b"\xff\xd8\xff\xe0garbage",
        _png_claiming(10, 10)[:40],
        b"II*\x00" + b"\x00" * 50,
        b"PK\x03\x04 not a real zip",
    ],
    ids=["empty", "text", "zeros", "bad-jpeg", "short-png", "bad-tiff", "zip-magic"],
)
def test_garbage_is_rejected_never_raises_other(data):
    with pytest.raises(Rejected) as exc:
        _prepare(data)
    assert exc.value.reason and "\n" not in exc.value.reason


def test_truncated_dicom_never_escapes(data_path):
    data = data_path("dicom/pydicom/CT_small.dcm").read_bytes()
    for cut in (10, 131, 132, 200, 700, 1500, len(data) // 2, len(data) - 1):
        try:
            _prepare(data[:cut])
        except Rejected as exc:
            assert exc.reason and "\n" not in exc.reason


# ---------------------------------------------------------------- zip expansion


def _zip(entries: dict[str, bytes], *, method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, content in entries.items():
            zf.writestr(zipfile.ZipInfo(name) if name.endswith("/") else name, content)
    return buf.getvalue()


def test_normal_zip_of_dicom_files_expands(data_path, limits):
    names = ["pydicom/CT_small.dcm", "pydicom/MR_small.dcm", "pydicom-data/SC_rgb.dcm"]
    entries = {f"study1/IM{i:04d}": data_path("dicom/" + n).read_bytes() for i, n in enumerate(names)}
    entries["study1/"] = b""
    entries["__MACOSX/study1/._IM0000"] = b"junk"
    entries["study1/.DS_Store"] = b"junk"
    entries["study1/DICOMDIR"] = b"index"
    items = list(expand_upload("upload.bin", _zip(entries), limits))  # no .zip name: magic bytes decide
    files = [i for i in items if isinstance(i, SourceFile)]
    assert [f.name for f in files] == ["study1/IM0000", "study1/IM0001", "study1/IM0002"]
    assert [(r.name, r.reason) for r in items if isinstance(r, SourceRejected)] == [
        ("study1/DICOMDIR", "DICOMDIR index file skipped")
    ]
    prepared = [prepare(f, limits=limits, deid=DeidOptions(), pseudonym_key=KEY) for f in files]
    assert [p.modality for p in prepared] == ["CT", "MR", "OT"]


def test_zip_bomb_rejected_as_a_whole(limits):
    bomb = _zip({"a.dcm": b"\x00" * (20 * 1024 * 1024), "b.dcm": b"x"})
    items = list(expand_upload("bomb.zip", bomb, limits))
    assert len(items) == 1 and isinstance(items[0], SourceRejected) and items[0].name == "bomb.zip"
    assert "possible zip bomb" in items[0].reason


def test_zip_total_size_limit():
    data = _zip({"a": b"\x01" * 5000, "b": b"\x02" * 5000}, method=zipfile.ZIP_STORED)
    items = list(expand_upload("big.zip", data, Limits(max_zip_total_bytes=8000)))
    assert len(items) == 1 and "over the" in items[0].reason


def test_zip_too_many_entries():
    data = _zip({f"f{i}.dcm": b"x" for i in range(6)})
    items = list(expand_upload("many.zip", data, Limits(max_zip_entries=5)))
    assert len(items) == 1 and isinstance(items[0], SourceRejected)
    assert items[0].reason == "zip has 6 entries, over the 5 limit"


def test_zip_lying_about_sizes_is_contained(limits):
    """An entry whose headers declare fewer bytes than its stream holds is never over-read."""
    data = bytearray(_zip({"a.dcm": b"A" * 4000}, method=zipfile.ZIP_DEFLATED))
    # Patch the declared uncompressed size (local header at 22, central directory at +24) to 100.
    data[22:26] = struct.pack("<I", 100)
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = struct.pack("<I", 100)
    items = list(expand_upload("liar.zip", bytes(data), limits))
    assert len(items) == 1 and isinstance(items[0], SourceRejected)
    assert items[0].reason.startswith(("corrupt zip entry", "zip entry")), items[0].reason


def test_zip_path_traversal_and_nested_archives(limits):
    inner = _zip({"x.dcm": b"x"})
    data = _zip(
        {
            "../x": b"evil",
            "/etc/passwd": b"evil",
            "ok/../../y": b"evil",
            "nested.zip": inner,
            "renamed.bin": inner,
            "data.tar.gz": b"\x1f\x8b" + b"\x00" * 20,
            "fine.txt": b"plain",
        }
    )
    items = {i.name: i for i in expand_upload("u.zip", data, limits)}
    unsafe = [i for i in items.values() if isinstance(i, SourceRejected) and "unsafe path" in i.reason]
    assert len(unsafe) == 3
    assert "nested archive" in items["nested.zip"].reason
    assert items["renamed.bin"].reason == "nested archive (zip) inside the zip: upload its files directly"
    assert "nested archive" in items["data.tar.gz"].reason
    assert isinstance(items["fine.txt"], SourceFile)
    assert not any(
        isinstance(i, SourceFile) and "evil" in i.data.decode(errors="ignore") for i in items.values()
    )


def test_zip_symlink_rejected(limits):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        link = zipfile.ZipInfo("link.dcm")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    items = list(expand_upload("links.zip", buf.getvalue(), limits))
    assert [(i.name, i.reason) for i in items] == [("link.dcm", "symbolic link in zip: skipped")]


def test_other_archives_and_plain_files(limits):
    assert list(expand_upload("IM1", b"DICM-ish bytes", limits)) == [SourceFile("IM1", b"DICM-ish bytes")]
    (gz,) = expand_upload("study.tar.gz", b"\x1f\x8b\x08" + b"\x00" * 40, limits)
    assert isinstance(gz, SourceRejected) and gz.reason.startswith("gzip archives are not supported")
    (bad,) = expand_upload("broken.zip", b"PK\x03\x04" + b"\x00" * 40, limits)
    assert isinstance(bad, SourceRejected) and bad.reason.startswith("corrupt zip file")


def test_expand_path_folder_sorted_hidden_skipped(tmp_path, limits):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.dcm").write_bytes(b"two")
    (tmp_path / "a.dcm").write_bytes(b"one")
    (tmp_path / ".hidden").write_bytes(b"no")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x").write_bytes(b"no")
    (tmp_path / "DICOMDIR").write_bytes(b"index")
    (tmp_path / "c.zip").write_bytes(_zip({"s/IM1": b"zipped"}))
    items = list(expand_path(tmp_path, limits))
    assert [(type(i).__name__, i.name) for i in items] == [
        ("SourceRejected", "DICOMDIR"),
        ("SourceFile", "a.dcm"),
        ("SourceFile", "b/2.dcm"),
        ("SourceFile", "c.zip/s/IM1"),
    ]
    single = list(expand_path(tmp_path / "c.zip", limits))
    assert [(i.name, i.data) for i in single] == [("s/IM1", b"zipped")]
    (missing,) = expand_path(tmp_path / "nope", limits)
    assert isinstance(missing, SourceRejected)
