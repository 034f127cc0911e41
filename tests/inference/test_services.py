"""Model-version services: the ensemble weight rule, and setting a weight."""

from __future__ import annotations

import math

import pytest

from cases.models import AuditEvent
from cases.services.audit import AuditContext
from inference.services import (
    ensemble_activate,
    model_version_check_weight,
    model_version_register,
    model_version_set_weight,
)
from oncoportal.exceptions import InvalidInput

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("weight", [0, -0.5, math.nan, math.inf, -math.inf, "abc", None])
def test_a_weight_must_be_a_finite_number_above_zero(weight):
    with pytest.raises(InvalidInput, match="ensemble weight must be"):
        model_version_check_weight(weight)


def test_good_weights_come_back_as_floats():
    assert model_version_check_weight("0.25") == 0.25 and model_version_check_weight(3) == 3.0


def test_set_weight_writes_and_audits_only_a_change(random_model):
    audit = AuditContext.system(source="cli")
    updated = model_version_set_weight(version=random_model, weight=2, audit=audit)
    assert updated.weight == 2.0
    random_model.refresh_from_db()
    assert random_model.weight == 2.0
    event = AuditEvent.objects.get(action="model.weight_changed")
    assert event.detail == {"task": "brain_mri", "from": 1.0, "to": 2.0} and event.source == "cli"
    model_version_set_weight(version=random_model, weight=2.0, audit=audit)
    assert AuditEvent.objects.filter(action="model.weight_changed").count() == 1
    with pytest.raises(InvalidInput):
        model_version_set_weight(version=random_model, weight=math.nan)
    random_model.refresh_from_db()
    assert random_model.weight == 2.0


def test_register_and_ensemble_refuse_bad_weights(random_bundle, random_model):
    with pytest.raises(InvalidInput, match="finite number above zero"):
        model_version_register(bundle_dir=random_bundle, weight=0)
    with pytest.raises(InvalidInput, match="ensemble weights must be positive"):
        ensemble_activate(members=[(random_model, math.inf)])
    random_model.refresh_from_db()
    assert random_model.weight == 1.0
