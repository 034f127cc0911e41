"""The one answer to "the active ensemble of a task", and who asks it."""

from __future__ import annotations

import pytest

from inference.models import ModelVersion
from inference.scoring import ensemble_for
from inference.selectors import active_ensemble
from inference.services import ensemble_activate, model_version_register
from tests.inference.conftest import trained_random_bundle

pytestmark = pytest.mark.django_db


def test_active_ensemble_leads_with_the_heaviest_then_the_oldest(tmp_path):
    for name, version in (("a", "1"), ("b", "2"), ("c", "3")):
        trained_random_bundle(tmp_path / name, version)
    a, b, c = (model_version_register(bundle_dir=tmp_path / n)[0] for n in ("a", "b", "c"))
    assert active_ensemble(task="brain_mri") == [] and active_ensemble(task="lung_ct") == []
    ensemble_activate(members=[(a, 1.0), (b, 2.0), (c, 1.0)])
    assert [v.version for v in active_ensemble(task="brain_mri")] == ["2", "1", "3"]
    # The worker's view: the lead's ensemble while it leads, else the lead alone (a retired one).
    assert [v.version for v in ensemble_for(b)] == ["2", "1", "3"]
    assert ensemble_for(a) == [a]
    ensemble_activate(members=[(a, 1.0)])
    assert active_ensemble(task="brain_mri") == [a]
    b.refresh_from_db()
    assert b.status == ModelVersion.Status.RETIRED and ensemble_for(b) == [b]
