"""Issue 23 item 5: a reviewed worklist row shows the final label and whether the AI agreed; the
open worklist asks for new cases (cases/new.json)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from cases.services.review import review_submit
from cases.templatetags.cases_tags import class_label
from inference.models import Prediction

pytestmark = pytest.mark.django_db


def _ai_cell(html: str, case_pk: int) -> str:
    start = html.index(f'data-case-id="{case_pk}"')
    row = html[start : html.index("</tr>", start)]
    cell = row[row.index('data-field="ai"') :]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell[: cell.index("</td>")]))


def test_a_reviewed_row_shows_the_final_label_and_whether_the_ai_agreed(client, predicted, reviewer):
    agreed, corrected = predicted
    for case, same in ((agreed, True), (corrected, False)):
        prediction = Prediction.objects.get(image__case=case)
        label = (
            prediction.label if same else next(c for c in prediction.probabilities if c != prediction.label)
        )
        review_submit(case=case, image=case.images.get(), reviewer=reviewer, label=label)
    client.force_login(reviewer)
    html = client.get(reverse("cases:worklist")).content.decode()
    assert "AI agreed" in _ai_cell(html, agreed.pk)
    cell = _ai_cell(html, corrected.pk)
    corrected.refresh_from_db()
    assert "AI agreed" not in cell and "AI said" in cell and "ai-positive" not in cell
    ai_said = class_label(Prediction.objects.get(image__case=corrected).label, corrected.task)
    assert f"{class_label(corrected.final_label, corrected.task)} AI said {ai_said}" in cell


def test_new_cases_json_sends_rows_after_the_given_case(client, predicted, radiologist):
    first, second = sorted(predicted, key=lambda c: c.pk)
    client.force_login(radiologist)
    url = reverse("cases:worklist_new")
    body = client.get(url, {"after": first.pk}).json()
    assert [row["id"] for row in body["rows"]] == [second.pk] and body["newest"] == second.pk
    assert f'data-case-id="{second.pk}"' in body["rows"][0]["html"]
    assert client.get(url, {"after": second.pk}).json() == {"newest": second.pk, "rows": []}
    # The page's filters apply: a status no case has gains nothing.
    assert client.get(url, {"after": 0, "status": "failed"}).json()["rows"] == []
    assert client.get(url, {"after": "x"}).status_code == 400
    html = client.get(reverse("cases:worklist")).content.decode()
    assert f'data-newest="{second.pk}"' in html


def test_a_blind_task_hides_the_ai_from_its_readers_in_the_worklist(client, predicted, reviewer, radiologist):
    from cases.models import ReviewPolicy, Task

    ReviewPolicy.objects.create(task=Task.BRAIN_MRI, blind_first_reading=True)
    case = predicted[0]
    client.force_login(reviewer)
    html = client.get(reverse("cases:worklist")).content.decode()
    assert "hidden until you read" in _ai_cell(html, case.pk)
    body = client.get(reverse("cases:case_statuses"), {"ids": str(case.pk)}).json()
    assert body["cases"][0]["ai_hidden"] is True and body["cases"][0]["ai_label"] == ""
    # Not a reader of the case: the radiologist still sees the AI.
    client.force_login(radiologist)
    assert "hidden until you read" not in _ai_cell(
        client.get(reverse("cases:worklist")).content.decode(), case.pk
    )
