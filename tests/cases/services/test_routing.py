"""Task routing over real DICOM headers (../shared/data/dicom): the exact task per file, intake, rule changes.

The table asserts each file's task and the rule that decided it; every file not in
the table must stay Unassigned with no rule at all. Breaking a rule (MR -> brain)
fails the table (test_breaking_the_mr_brain_rule_changes_the_answer shows it).
"""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid

from cases.models import AuditEvent, Case, RoutingRule, Task
from cases.routing import route_header, routing_rules
from cases.services.intake import intake_sources
from cases.services.routing import routing_rule_save
from oncocore.imaging import routing_header_of
from oncoportal.exceptions import InvalidInput

pytestmark = pytest.mark.django_db

BRAIN = "Brain MRI: body part"
SCOUT = "Scouts, localizers and angiograms (series): no model reads them"
CT_HEAD = "CT of the head: no task reads it (brain tumour typing is MRI)"
U = Task.UNASSIGNED

# file (under dicom/) -> (task, name of the rule that decided; None: no rule matched).
EXPECTED: dict[str, tuple[str, str | None]] = {
    **{f"pydicom-data/emri_small{s}.dcm": ("brain_mri", BRAIN) for s in (
        "", "_RLE", "_big_endian", "_jpeg_2k_lossless", "_jpeg_2k_lossless_too_short", "_jpeg_ls_lossless"
    )},
    # CT "HEAD" / "CT, HEAD/BRAIN WO CONTRAST": no task reads head CT (the brain model is MRI).
    "pydicom/J2K_pixelrep_mismatch.dcm": (U, CT_HEAD),
    **{f"pydicom/dicomdirtests/77654033/CT2/{n}": (U, CT_HEAD) for n in (17106, 17136, 17166, 17196)},
    # Scouts, localizers, pilots and MR angiogram projections: no model reads them.
    **{f"pydicom/dicomdirtests/98892001/CT2N/{n}": (U, SCOUT) for n in (6293, 6924)},
    **{f"pydicom/dicomdirtests/98892003/MR1/{n}": (U, SCOUT) for n in (15820, 4919, 5641)},
    **{f"pydicom/dicomdirtests/98892003/MR2/{n}": (U, SCOUT) for n in (15970, 4950, 4981, 5011, 6273, 6605, 6935)},
    **{f"pydicom/dicomdirtests/98892003/MR700/{n}": (U, SCOUT) for n in (4467, 4528, 4558, 4588, 4618, 4648, 4678)},
    # Named here because a careless rule would take them; no rule does.
    "pydicom/CT_small.dcm": (U, None),  # CT, StudyDescription "e+1": nothing says chest
    "pydicom/MR_small.dcm": (U, None),  # MR with no body part or description
    "pydicom/SC_rgb_jpeg_dcmtk.dcm": (U, None),  # a secondary capture of colour bars
    "pydicom-data/RG1_J2KI.dcm": (U, None),  # CR CHEST "THORAX": a radiograph, not CT
    "pydicom-data/MR2_UNCI.dcm": (U, None),  # MR "SHOULDER"
    "pydicom-data/MR-SIEMENS-DICOM-WithOverlays.dcm": (U, None),  # MR ABDOMEN "abdomen^liver"
    "pydicom/examples_overlay.dcm": (U, None),  # the same abdomen MR
    "pydicom-data/explicit_VR-UN.dcm": (U, None),  # CT PANCREAS
    "pydicom-data/bad_sequence.dcm": (U, None),  # CT NECK
    "pydicom/JPEG2000.dcm": (U, None),  # NM WHOLE BODY "Whole Body Bone"
    "pydicom-data/color-pl.dcm": (U, None),  # US "Echocardiogram"
    "pydicom/dicomdirtests/77654033/CR1/6154": (U, None),  # CR CSPINE
}  # fmt: skip
_SKIP = {"MANIFEST.tsv", "SOURCE_AND_LICENSE.md", "README", "README.txt"}


def _header(path: Path) -> dict[str, str]:
    """The routing fields as intake reads them (before de-identification)."""
    return routing_header_of(pydicom.dcmread(path, stop_before_pixels=True, force=True))


def _all_files(data_dir: Path) -> list[str]:
    root = data_dir / "dicom"
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and p.name not in _SKIP and not p.name.startswith("DICOMDIR")
    )


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_every_sample_header_routes_to_exactly_its_task(data_dir, site):
    rules = routing_rules()
    files = _all_files(data_dir)
    assert set(EXPECTED) <= set(files) and len(files) > 200
    wrong = {}
    for name in files:
        routed = route_header(_header(data_dir / "dicom" / name)) if rules else None
        got = (routed.task, routed.rule.name if routed and routed.rule else None) if routed else None
        if got != EXPECTED.get(name, (U, None)):
            wrong[name] = got
    assert wrong == {}


def test_breaking_the_mr_brain_rule_changes_the_answer(data_dir, site, curator):
    header = _header(data_dir / "dicom" / "pydicom-data/emri_small.dcm")
    assert route_header(header).task == "brain_mri"
    rule = RoutingRule.objects.get(name=BRAIN)
    rule.modalities = "CT"  # MR -> brain broken: the table above would fail
    routing_rule_save(rule=rule)
    assert route_header(header).task == U and route_header(header).rule is None


def _edited(data_dir: Path, name: str, **values: str) -> bytes:
    ds = pydicom.dcmread(data_dir / "dicom" / name)
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name, values, expected",
    [
        ("pydicom/CT_small.dcm", {"StudyDescription": "Chest CT routine"}, "lung_ct"),
        ("pydicom/CT_small.dcm", {"ProtocolName": "Thorax^Lunge"}, "lung_ct"),
        ("pydicom/CT_small.dcm", {"StudyDescription": "CT HEAD"}, U),
        ("pydicom/MR_small.dcm", {"StudyDescription": "Neuro^Crane Axial_T1"}, "brain_mri"),
        ("pydicom/MR_small.dcm", {"SeriesDescription": "Schädel T2 tra"}, "brain_mri"),
        ("pydicom/MR_small.dcm", {"StudyDescription": "Brain", "SeriesDescription": "3-pl localizer"}, U),
    ],
)
def test_intake_routes_by_the_descriptions_that_de_identification_removes(
    data_dir, site, radiologist, name, values, expected
):
    report = intake_sources(
        uploads=[("x.dcm", _edited(data_dir, name, **values))], site=site, user=radiologist, source="web"
    )
    case = Case.objects.get(pk=report.case_ids[0])
    assert case.task == expected and case.task_inferred
    assert case.task_reason.startswith("Rule “")
    # Read for routing only: the stored study and header keep no description.
    assert case.study.description == ""
    assert not {"StudyDescription", "SeriesDescription", "ProtocolName"} & set(case.images.get().header)
    created = AuditEvent.objects.get(action="case.created", object_id=str(case.pk))
    assert created.detail["task"] == expected and created.detail["routing_rule"] is not None


def test_a_later_series_routes_a_case_its_localizer_left_unassigned(data_dir, site, radiologist):
    study_uid = generate_uid()
    localizer = _edited(
        data_dir, "pydicom/MR_small.dcm", StudyInstanceUID=study_uid, StudyDescription="Brain",
        SeriesDescription="FAST LOCALIZER", SeriesInstanceUID=generate_uid(), SOPInstanceUID=generate_uid(),
    )  # fmt: skip
    axial = _edited(
        data_dir, "pydicom/MR_small.dcm", StudyInstanceUID=study_uid, StudyDescription="Brain",
        SeriesDescription="AX T1", SeriesInstanceUID=generate_uid(), SOPInstanceUID=generate_uid(),
    )  # fmt: skip
    first = intake_sources(uploads=[("1.dcm", localizer)], site=site, user=radiologist, source="web")
    case = Case.objects.get(pk=first.case_ids[0])
    assert case.task == U and "no task reads such images" in case.task_reason
    intake_sources(uploads=[("2.dcm", axial)], site=site, user=radiologist, source="web")
    case.refresh_from_db()
    assert (
        case.task == "brain_mri"
        and case.task_reason == "Rule “Brain MRI: study description” matched the Study Description."
    )
    change = AuditEvent.objects.get(action="case.task_changed", object_id=str(case.pk))
    assert (
        change.detail["from"] == U and change.detail["to"] == "brain_mri" and change.detail["by"] == "routing"
    )


def test_a_task_a_person_chose_is_never_rerouted(data_dir, site, radiologist):
    study_uid = generate_uid()
    uploads = [
        _edited(data_dir, "pydicom/MR_small.dcm", StudyInstanceUID=study_uid, BodyPartExamined="HEAD",
                SeriesInstanceUID=generate_uid(), SOPInstanceUID=generate_uid())
        for _ in range(2)
    ]  # fmt: skip
    report = intake_sources(
        uploads=[("1.dcm", uploads[0])], site=site, user=radiologist, source="web", task=Task.UNASSIGNED
    )
    intake_sources(uploads=[("2.dcm", uploads[1])], site=site, user=radiologist, source="web")
    case = Case.objects.get(pk=report.case_ids[0])
    assert case.task == U and not case.task_inferred and case.task_reason == ""


def test_a_rule_for_a_task_that_is_gone_is_skipped(site):
    RoutingRule.objects.create(
        order=1, field="Modality", pattern="^mr$", task="knee_mri"
    )  # bypasses validation
    assert route_header({"Modality": "MR"}).task == U


def test_a_rule_with_an_invalid_pattern_is_refused_with_the_reason(site):
    bad = RoutingRule(order=5, field="StudyDescription", pattern="(chest", task="lung_ct", modalities="ct")
    with pytest.raises(InvalidInput, match=r"pattern: Not a valid regular expression: missing \)"):
        routing_rule_save(rule=bad)
    unknown = RoutingRule(order=5, field="StudyDescription", pattern="chest", task="knee_mri")
    with pytest.raises(InvalidInput, match="task: Unknown task 'knee_mri'"):
        routing_rule_save(rule=unknown)
    assert not RoutingRule.objects.filter(order=5).exists()


def test_a_saved_rule_routes_the_next_study_and_is_audited(site, curator):
    from cases.services.audit import AuditContext

    rule = RoutingRule(order=5, name="Our chest protocol", field="ProtocolName", pattern=r"\bpe study\b",
                       task="lung_ct", modalities="ct")  # fmt: skip
    routing_rule_save(rule=rule, audit=AuditContext.system(source="cli", actor=curator))
    assert rule.modalities == "CT"
    assert route_header({"Modality": "CT", "ProtocolName": "PE_Study"}).task == "lung_ct"
    event = AuditEvent.objects.get(action="routing_rule.created")
    assert event.actor == curator and event.detail["rule"]["pattern"] == r"\bpe study\b"


def test_route_headers_command_tries_the_rules_on_files_without_storing_them(data_dir, site):
    import json
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    folder = data_dir / "dicom" / "pydicom" / "dicomdirtests" / "77654033" / "CT2"
    call_command(
        "route_headers",
        str(data_dir / "dicom/pydicom-data/emri_small.dcm"),
        str(folder),
        "--json",
        stdout=out,
    )
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(Path(x["file"]).name, x["task"], x["rule"]) for x in lines] == [
        ("emri_small.dcm", "brain_mri", BRAIN),
        *((str(n), U, CT_HEAD) for n in (17106, 17136, 17166, 17196)),
    ]
    assert not Case.objects.exists()
