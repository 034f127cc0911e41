"""``sync_examples``: examples for cases reviewed before curation, built once."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from cases.services.review import review_submit
from curation.models import Example, Provenance

pytestmark = pytest.mark.django_db


def test_builds_the_missing_examples_and_a_second_run_writes_nothing(predicted, reviewer):
    for case in predicted:  # no on-commit listeners here: as before the feature
        review_submit(case=case, image=case.images.get(), reviewer=reviewer, non_diagnostic=True)
    assert not Example.objects.exists()

    out = StringIO()
    call_command("sync_examples", stdout=out, stderr=StringIO())
    assert "2 reviewed case(s), 2 example(s) created or updated" in out.getvalue()
    assert set(Example.objects.values_list("provenance", flat=True)) == {Provenance.NON_DIAGNOSTIC}

    out = StringIO()
    call_command("sync_examples", stdout=out, stderr=StringIO())
    assert "2 reviewed case(s), 0 example(s) created or updated" in out.getvalue()
