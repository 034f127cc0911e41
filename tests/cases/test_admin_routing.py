"""Curators edit the task routing rules in the admin: add, change, refuse a bad pattern, delete; all audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases.models import AuditEvent, RoutingRule
from cases.routing import route_header
from oncocore.routing import DEFAULT_RULES

pytestmark = pytest.mark.django_db

ADD = "admin:cases_routingrule_add"


def _form(**values: object) -> dict[str, object]:
    return {
        "order": 5, "name": "Our PE protocol", "modalities": "ct", "field": "ProtocolName",
        "pattern": r"\bpe study\b", "task": "lung_ct", "enabled": "on", **values,
    }  # fmt: skip


def test_the_defaults_are_seeded_in_order_and_listed_for_a_curator(client, curator, site):
    assert [(r.order, r.name) for r in RoutingRule.objects.all()] == [(o, r.name) for o, r in DEFAULT_RULES]
    client.force_login(curator)  # a Curator, not a superuser: the role's permissions let them in
    html = client.get(reverse("admin:cases_routingrule_changelist")).content.decode()
    assert "Brain MRI: study description" in html and "Lung CT: body part" in html


def test_a_curator_adds_a_rule_that_routes_the_next_study(client, curator, site):
    client.force_login(curator)
    assert route_header({"Modality": "CT", "ProtocolName": "PE_Study"}).task == "unassigned"
    response = client.post(reverse(ADD), _form())
    assert response.status_code == 302
    rule = RoutingRule.objects.get(name="Our PE protocol")
    assert rule.modalities == "CT" and rule.task == "lung_ct"
    assert route_header({"Modality": "CT", "ProtocolName": "PE_Study"}).task == "lung_ct"
    event = AuditEvent.objects.get(action="routing_rule.created")
    assert event.actor == curator and event.source == "web" and event.detail["rule"]["task"] == "lung_ct"


def test_a_curator_edits_and_deletes_a_rule_and_both_are_audited(client, curator, site):
    client.force_login(curator)
    rule = RoutingRule.objects.get(name="Brain MRI: body part")
    url = reverse("admin:cases_routingrule_change", args=[rule.pk])
    form = _form(order=rule.order, name=rule.name, modalities="MR", field=rule.field, pattern=r"\bhead\b",
                 task="brain_mri")  # fmt: skip
    assert client.post(url, form).status_code == 302
    assert route_header({"Modality": "MR", "BodyPartExamined": "SKULL"}).task == "unassigned"
    changed = AuditEvent.objects.get(action="routing_rule.changed")
    assert changed.detail["before"]["pattern"] != changed.detail["rule"]["pattern"] == r"\bhead\b"
    delete = reverse("admin:cases_routingrule_delete", args=[rule.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 302
    assert not RoutingRule.objects.filter(pk=rule.pk).exists()
    assert (
        AuditEvent.objects.get(action="routing_rule.deleted").detail["rule"]["name"] == "Brain MRI: body part"
    )


@pytest.mark.parametrize(
    "values, message",
    [
        (
            {"pattern": "(chest"},
            "Not a valid regular expression: missing ), unterminated subpattern at position 0.",
        ),
        ({"pattern": ".*"}, "This pattern matches an empty value, so it would match every study."),
        ({"modalities": "C-T"}, "Modalities are upper-case DICOM codes"),
        ({"task": "knee_mri"}, "Select a valid choice."),
    ],
)
def test_a_bad_rule_is_refused_with_the_reason_and_nothing_is_stored(client, curator, site, values, message):
    client.force_login(curator)
    before = RoutingRule.objects.count()
    response = client.post(reverse(ADD), _form(**values))
    assert response.status_code == 200  # the form again, with the error
    assert message in response.content.decode()
    assert RoutingRule.objects.count() == before
    assert not AuditEvent.objects.filter(action__startswith="routing_rule.").exists()


def test_readers_cannot_edit_routing_rules(client, radiologist, site):
    client.force_login(radiologist)
    response = client.get(reverse("admin:cases_routingrule_changelist"))
    assert response.status_code == 302 and "/login/" in response["Location"]
