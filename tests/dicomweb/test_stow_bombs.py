"""STOW-RS and decompression bombs (issue 24 item 1): a failed instance with its reason, never a 5xx."""

from __future__ import annotations

import pytest

from tests.dicomweb.conftest import CT
from tests.oncocore.imaging import bombs

pytestmark = pytest.mark.django_db

FAILED, REFERENCED, REASON, TEXT = "00081198", "00081199", "00081197", "00091010"
NAMES = ["JPEG baseline", "JPEG-LS 16-bit", "JPEG 2000", "HTJ2K"]


def values(item: dict, tag: str) -> list:
    return item.get(tag, {}).get("Value", [])


def test_codestream_bombs_fail_with_a_reason_and_the_honest_instance_is_stored(stow, dicom, media_dir):
    from cases.models import Image

    parts = [bombs.codestream_bomb(name) for name in NAMES] + [bombs.rle_bomb(fallback=True), dicom(CT)]
    resp = stow(parts)
    assert resp.status_code == 202, resp.content
    body = resp.json()
    assert len(values(body, REFERENCED)) == 1 and Image.objects.count() == 1
    failed = values(body, FAILED)
    # 0xA900: the pixel data does not match the header (as for truncated pixel data).
    assert [values(item, REASON)[0] for item in failed] == [0xA900] * 5
    texts = [values(item, TEXT)[0] for item in failed]
    for name, text in zip(NAMES, texts, strict=False):
        assert f"frame 1: {bombs.KIND[name]} codestream is 512 x 512, the header says 64 x 64" in text
    assert "frame 1: RLE segment 1 expands past the 64 x 64 the header says" in texts[-1]


def test_only_bombs_is_409_and_nothing_stored(stow, media_dir):
    from cases.models import Image, Study

    resp = stow([bombs.codestream_bomb("JPEG-LS"), bombs.rle_bomb()])
    assert resp.status_code == 409, resp.content
    assert REFERENCED not in resp.json()
    assert not Image.objects.exists() and not Study.objects.exists()
    assert not [p for p in media_dir.rglob("*") if p.is_file()]
