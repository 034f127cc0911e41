"""`manage.py ingest`: files, folders and zips; JSON report; exit status."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from cases.models import Case, Image

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[4]


def test_ingest_folder_and_zip_with_json_report(data_dir, site, tmp_path, capsys):
    folder = tmp_path / "incoming"
    folder.mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm", "MR_truncated.dcm"):
        shutil.copy(data_dir / "dicom" / "pydicom" / name, folder / name)
    (folder / "readme.txt").write_text("not dicom")
    archive = tmp_path / "rgb.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(data_dir / "dicom" / "pydicom" / "SC_rgb_jpeg_dcmtk.dcm", "SC_rgb_jpeg_dcmtk.dcm")

    call_command("ingest", str(folder), str(archive), "--json", "--site", site.code)
    report = json.loads(capsys.readouterr().out)

    # The stored report names files by position (folder in sorted order, then the zip's entry).
    names = [item["name"] for key in ("accepted", "rejected") for item in report[key]]
    assert sorted(names) == ["file-001.dcm", "file-002.dcm", "file-003.dcm", "file-004", "file-005.dcm"]
    assert "CT_small" not in json.dumps(report) and "readme" not in json.dumps(report)
    assert len(report["accepted"]) == 3
    for item in report["accepted"]:
        assert (
            item["image_id"]
            and item["case_id"]
            and item["study_instance_uid"]
            and item["series_instance_uid"]
        )
    rejected = {item["name"]: item["reason"] for item in report["rejected"]}
    assert len(rejected) == 2 and all(rejected.values())
    assert Image.objects.count() == 3
    assert sorted(report["case_ids"]) == sorted(Case.objects.values_list("pk", flat=True))


def test_ingest_exits_non_zero_only_when_nothing_could_be_ingested(data_dir, site, tmp_path, capsys):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00" * 500)
    with pytest.raises(CommandError, match="nothing could be ingested"):
        call_command("ingest", str(junk), str(tmp_path / "missing.dcm"))
    out = capsys.readouterr().out
    assert "no such file" in out

    # Re-running an import that succeeded is not an error: everything is a duplicate.
    good = data_dir / "dicom" / "pydicom" / "CT_small.dcm"
    call_command("ingest", str(good))
    call_command("ingest", str(good))
    assert "1 duplicate" in capsys.readouterr().out


def test_ingest_unknown_site_is_a_clear_error(site, tmp_path):
    with pytest.raises(CommandError, match="unknown site 'nowhere'"):
        call_command("ingest", str(tmp_path), "--site", "nowhere")


# Real PACS files that used to print a wall of stderr: pydicom's per-plugin tracebacks (JPEG 2000),
# GDCM's native "Unsupported JPEG data precision 12" on a 12-bit JPEG it then decodes, and pydicom's
# reading warnings (implicit VR in an explicit file, invalid UI/IS values, a truncated item).
NOISY = {
    "pydicom/JPEG-lossy.dcm": "accepted",
    "pydicom/SC_rgb_jpeg.dcm": "accepted",
    "pydicom/rtdose_1frame.dcm": "accepted",
    "pydicom/JPEG2000-embedded-sequence-delimiter.dcm": "rejected",
    "pydicom/badVR.dcm": "rejected",
    "pydicom-data/emri_small_jpeg_2k_lossless_too_short.dcm": "rejected",
}


@pytest.mark.django_db(transaction=True)
def test_ingest_of_real_files_prints_one_line_per_rejected_file_and_nothing_on_stderr(
    data_dir, site, tmp_path
):
    from tests.worker import test_database_url

    folder = tmp_path / "pacs"
    folder.mkdir()
    for name in NOISY:
        shutil.copy(data_dir / "dicom" / name, folder / name.replace("/", "__"))
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DJANGO_", "ONCOPORTAL_VAR_DIR", "LOG_LEVEL"))
        },
        "DATABASE_URL": test_database_url(),
        "ONCOPORTAL_VAR_DIR": str(tmp_path / "var"),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "ingest", str(folder), "--site", site.code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    # Not a terminal: no progress bar either, so stderr is empty (no traceback, warning or native line).
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    rejected = sorted(line.split()[1].rstrip(":") for line in lines if line.startswith("rejected "))
    expected = sorted(n.replace("/", "__") for n, status in NOISY.items() if status == "rejected")
    assert rejected == expected
    assert len(lines) == len(expected) + 1  # one per rejected file, then the summary
    assert lines[-1].startswith("3 accepted into ")
    assert Image.objects.count() == 3


def test_ingest_is_audited_as_the_command_line(data_dir, site, radiologist, capsys):
    from cases.models import AuditEvent

    call_command("ingest", str(data_dir / "dicom" / "pydicom" / "CT_small.dcm"), "--user", "rad")
    event = AuditEvent.objects.get(action="intake.batch")
    assert (event.source, event.actor, event.ip_address) == ("cli", radiologist, None)
