"""Routing from the image (issue 23 item 2): the shipped models' checks pick the task the header does not give."""

from __future__ import annotations

from pathlib import Path

import pytest

from cases.models import Case, Task
from cases.services.intake import intake_sources
from inference.image_routing import scope_ratios, task_from_image
from inference.services import model_version_activate, model_version_register

BUNDLES = Path(__file__).resolve().parents[2] / "inference" / "bundles"
BRAIN = "brain_mri/train/meningioma/meningioma_001d1f5dcaf3.jpg"
TILE = "histo_lung/train/lung_benign/lungn1000.jpg"


@pytest.fixture
def shipped_models(db):
    """The shipped brain MRI and lung CT models, active (no histology model: a tile fits none)."""
    for name in ("brain_mri-lite0", "lung_ct-cpu"):
        version, _ = model_version_register(bundle_dir=BUNDLES / name)
        model_version_activate(version=version)


def test_each_active_model_scores_the_image_and_the_one_that_accepts_it_routes(shipped_models, data_dir):
    brain = (data_dir / BRAIN).read_bytes()
    ratios = scope_ratios(data=brain, dicom=False)
    assert set(ratios) == {"brain_mri", "lung_ct"}
    assert ratios["brain_mri"] <= 1.0 < ratios["lung_ct"]
    assert task_from_image(data=brain, dicom=False) == "brain_mri"
    assert task_from_image(data=(data_dir / TILE).read_bytes(), dicom=False) is None


def test_an_upload_without_a_task_gets_the_task_its_image_looks_like(
    shipped_models, data_dir, site, radiologist
):
    report = intake_sources(
        uploads=[(Path(p).name, (data_dir / p).read_bytes()) for p in (BRAIN, TILE)],
        site=site,
        user=radiologist,
        source="web",
        task=None,
    )
    assert len(report.case_ids) == 2
    by_task = sorted((c.task, c.task_inferred) for c in Case.objects.filter(pk__in=report.case_ids))
    assert by_task == [("brain_mri", True), (Task.UNASSIGNED, False)]


def test_no_model_with_a_check_routes_nothing(db, data_dir, random_model):
    assert scope_ratios(data=(data_dir / BRAIN).read_bytes(), dicom=False) == {}
    assert task_from_image(data=(data_dir / BRAIN).read_bytes(), dicom=False) is None


def test_the_image_is_asked_only_where_no_routing_rule_matched(db, data_dir, site, radiologist):
    from unittest import mock

    scout = data_dir / "dicom" / "pydicom" / "dicomdirtests" / "98892001" / "CT2N" / "6293"
    silent = data_dir / "dicom" / "pydicom" / "MR_small.dcm"
    with mock.patch("cases.services.intake_store.task_infer_from_image", return_value="brain_mri") as ask:
        first = intake_sources(
            uploads=[("scout.dcm", scout.read_bytes())], site=site, user=radiologist, source="web", task=None
        )
        assert not ask.called  # a rule's Unassigned (a scout) is a decision, not silence
        second = intake_sources(
            uploads=[("mr.dcm", silent.read_bytes())], site=site, user=radiologist, source="web", task=None
        )
        assert ask.call_count == 1
    assert Case.objects.get(pk=first.case_ids[0]).task == Task.UNASSIGNED
    routed = Case.objects.get(pk=second.case_ids[0])
    assert routed.task == "brain_mri" and routed.task_inferred and "image" in routed.task_reason
