"""Selectors: every filter of the Curator page, and the counts per class and provenance."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from curation.selectors import ExampleFilters, example_counts, example_list, example_list_for_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def examples(make_example, site, other_site):
    now = timezone.now()
    return {
        "confirmed": make_example(site, label="benign", provenance="ai_confirmed", labelled_at=now),
        "corrected": make_example(
            site, label="malignant", provenance="corrected", model_version="lung-tiny@2", labelled_at=now
        ),
        "adjudicated": make_example(
            other_site, label="malignant", provenance="adjudicated", disagreement=True, labelled_at=now
        ),
        "non_diagnostic": make_example(site, label="", provenance="non_diagnostic", labelled_at=now),
        "old_brain": make_example(
            other_site,
            task="brain_mri",
            label="glioma",
            provenance="base",
            model_version="",
            labelled_at=now - timedelta(days=10),
            included=False,
            exclusion_reason="blurred",
        ),
    }


def names(examples, **filters) -> set[str]:
    found = set(example_list(filters=ExampleFilters(**filters)).values_list("pk", flat=True))
    return {name for name, example in examples.items() if example.pk in found}


def test_each_filter(examples, other_site):
    today = timezone.localdate()
    assert names(examples, task="brain_mri") == {"old_brain"}
    assert names(examples, label="malignant") == {"corrected", "adjudicated"}
    assert names(examples, provenance="non_diagnostic") == {"non_diagnostic"}
    assert names(examples, disagreement=True) == {"adjudicated"}
    assert names(examples, disagreement=False) == set(examples) - {"adjudicated"}
    assert names(examples, model_version="lung-tiny@2") == {"corrected"}
    assert names(examples, site=other_site.pk) == {"adjudicated", "old_brain"}
    assert names(examples, included=False) == {"old_brain"}
    assert names(examples, labelled_to=today - timedelta(days=5)) == {"old_brain"}
    assert names(examples, labelled_from=today - timedelta(days=5)) == set(examples) - {"old_brain"}
    assert names(examples, task="lung_ct", label="malignant", site=other_site.pk) == {"adjudicated"}
    assert names(examples) == set(examples)
    assert not ExampleFilters().active and ExampleFilters(included=False).active


def test_counts_per_class_and_provenance(examples):
    counts = example_counts(examples=example_list(filters=ExampleFilters(task="lung_ct")))
    assert (counts["total"], counts["included"]) == (4, 4)
    assert counts["by_label"] == {
        "": {"total": 1, "included": 1},
        "benign": {"total": 1, "included": 1},
        "malignant": {"total": 2, "included": 2},
    }
    assert counts["by_provenance"] == {
        "adjudicated": 1,
        "ai_confirmed": 1,
        "corrected": 1,
        "non_diagnostic": 1,
    }
    everything = example_counts(examples=example_list())
    assert everything["by_label"]["glioma"] == {"total": 1, "included": 0}


def test_only_curators_read_examples(examples, curator, radiologist):
    assert example_list_for_user(user=curator).count() == len(examples)
    assert not example_list_for_user(user=radiologist).exists()
