"""Issue 23 item 6: the case page's history: views, readings and AI results, each with its source."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from cases.models import AuditEvent
from cases.services.audit import AuditContext
from cases.services.review import review_submit
from inference.models import Prediction

pytestmark = pytest.mark.django_db


def test_the_case_page_lists_the_case_history_with_sources(client, predicted, reviewer):
    case = predicted[0]
    prediction = Prediction.objects.get(image__case=case)
    # The worker recorded the AI result.
    completed = AuditEvent.objects.get(action="prediction.completed", object_id=str(prediction.pk))
    assert completed.source == "worker" and completed.detail["label"] == prediction.label
    review_submit(
        case=case,
        image=case.images.get(),
        reviewer=reviewer,
        label="glioma",
        audit=AuditContext.system(source="api", actor=reviewer),
    )
    client.force_login(reviewer)
    html = client.get(reverse("cases:case_detail", args=[case.pk])).content.decode()
    history = html[html.index('id="history"') :]
    rows = [re.sub(r"<[^>]+>", "|", r) for r in re.findall(r"<tr><td.*?</tr>", history)]
    assert any("|Viewed|" in r and "|rev|" in r and "|Web page|" in r for r in rows)
    assert any("|Reading|" in r and "|REST API|" in r and "label: glioma" in r for r in rows)
    assert any("|AI result|" in r and "|system|" in r and "|Background worker|" in r for r in rows)
