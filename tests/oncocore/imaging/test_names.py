"""Neutral file names: the name a file was uploaded under never goes further than intake's door."""

from __future__ import annotations

import pytest

from oncocore.imaging import neutral_name, scrub_name


@pytest.mark.parametrize(
    ("position", "original", "expected"),
    [
        (3, "DOE_JOHN_19450101.png", "file-003.png"),
        (1, "patients/Doe^John/IM0001.DCM", "file-001.dcm"),
        (12, "C:\\scans\\SMITH JANE.jpeg", "file-012.jpeg"),
        (4, "notes.txt", "file-004"),  # an unknown suffix could itself be text
        (5, "DOE.JOHN", "file-005"),
        (1000, "", "file-1000"),
    ],
)
def test_neutral_name(position, original, expected):
    assert neutral_name(position, original) == expected


def test_scrub_name_replaces_the_path_and_its_parts():
    reason = "corrupt zip entry: BadZipFile: Bad CRC-32 for file 'DOE_JOHN/scan 1.dcm' (scan 1.dcm)"
    scrubbed = scrub_name(reason, "DOE_JOHN/scan 1.dcm", "file-002.dcm")
    assert "DOE_JOHN" not in scrubbed and "scan 1" not in scrubbed
    assert scrubbed == "corrupt zip entry: BadZipFile: Bad CRC-32 for file 'file-002.dcm' (file-002.dcm)"
    assert scrub_name("not a DICOM file", "a", "file-001") == "not a DICOM file"
