"""The admin's labelled examples: read-only rows, include and exclude (with a reason) through the service."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases.models import AuditEvent
from curation.models import Example

pytestmark = pytest.mark.django_db
LIST = reverse("admin:curation_example_changelist")


def test_changelist_with_thumbnails_filters_and_no_add_or_delete(client, curator, make_example, site):
    example = make_example(site)
    client.force_login(curator)
    response = client.get(LIST, {"provenance__exact": "ai_confirmed", "q": example.group})
    assert response.status_code == 200
    assert reverse("cases:image_thumbnail", args=[example.image_id]) in response.content.decode()
    assert client.get(reverse("admin:curation_example_add")).status_code == 403
    assert client.get(reverse("admin:curation_example_delete", args=[example.pk])).status_code == 403
    change = client.post(reverse("admin:curation_example_change", args=[example.pk]), {"label": "malignant"})
    assert change.status_code == 403
    example.refresh_from_db()
    assert example.label == "benign"


def test_exclude_asks_for_a_reason_then_calls_the_service(client, curator, make_example, site):
    first, second = make_example(site), make_example(site)
    client.force_login(curator)
    selection = {"action": "exclude_examples", "_selected_action": [first.pk, second.pk]}

    asked = client.post(LIST, selection)
    assert asked.status_code == 200 and b"Reason" in asked.content
    assert not Example.objects.filter(included=False).exists()
    blank = client.post(LIST, {**selection, "apply": "Exclude", "reason": ""})
    assert blank.status_code == 200 and not Example.objects.filter(included=False).exists()

    done = client.post(LIST, {**selection, "apply": "Exclude", "reason": "duplicate scan"}, follow=True)
    assert done.status_code == 200 and b"2 image(s) excluded" in done.content
    assert set(Example.objects.filter(included=False).values_list("exclusion_reason", flat=True)) == {
        "duplicate scan"
    }
    assert AuditEvent.objects.filter(action="curation.example_excluded", source="web").count() == 2

    client.post(LIST, {"action": "include_examples", "_selected_action": [first.pk]}, follow=True)
    first.refresh_from_db()
    assert first.included and first.exclusion_reason == ""


def test_actions_need_the_curate_permission(client, make_user, make_example, site):
    from django.contrib.auth.models import Permission

    example = make_example(site)
    viewer = make_user("viewer", None, site, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_example"))
    client.force_login(viewer)
    assert client.get(LIST).status_code == 200
    client.post(
        LIST, {"action": "exclude_examples", "_selected_action": [example.pk], "apply": "1", "reason": "x"}
    )
    example.refresh_from_db()
    assert example.included
