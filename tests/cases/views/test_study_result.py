"""The study result on the case page and the worklist, for a real 7-instance MR series."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.conftest import MR_STUDY_RANKING

pytestmark = pytest.mark.django_db


def _order(html: str, pattern: str) -> list[int]:
    return [int(m) for m in re.findall(pattern, html)]


def test_the_case_page_leads_with_the_study_result_and_ranks_the_images(
    client, radiologist, mr_study_predicted
):
    case, images = mr_study_predicted
    number = {image.pk: n for n, image in images.items()}
    client.force_login(radiologist)
    html = client.get(reverse("cases:case_detail", args=[case.pk])).content.decode()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    # Readable class names (issue 23).
    # One name per image everywhere (issue 23): "Image <instance number>", with its place in the study.
    assert "Study result: Glioma 0.91 — from Image 5 (5 of 7); rule: docs/study-result.md" in text
    assert "7 of 7 images with a result" in text
    # The study result comes before the viewer and the review panel.
    assert html.index('id="study-result"') < html.index('id="viewer"') < html.index('id="review"')
    strip = html[html.index('class="key-images"') : html.index("</ol>", html.index('class="key-images"'))]
    assert [number[i] for i in _order(strip, r'data-image-id="(\d+)"')] == MR_STUDY_RANKING[:6]
    assert "1 more, in this order in the review panel below." in text
    # The review panel goes through the images in the rule's order, key image first and marked.
    assert [number[i] for i in _order(html, r'id="review-image-(\d+)"')] == MR_STUDY_RANKING
    review = html[html.index(f'id="review-image-{images[5].pk}"') :]
    assert review.index("key image · most suspicious") < review.index('id="review-image-', 10)
    # The viewer marks the key image and starts on it (image index 4 in instance order).
    title = html[html.index(f'id="image-title-{images[5].pk}"') :]
    assert title[: title.index("</h3>")].count("key image · most suspicious") == 1
    assert html.count("key image · most suspicious") == 3  # strip, viewer panel, review panel
    assert re.search(r'"start": \[4, 0\]', html)


def test_the_case_page_without_results_shows_no_study_result(client, radiologist, mr_study):
    client.force_login(radiologist)
    html = client.get(reverse("cases:case_detail", args=[mr_study.pk])).content.decode()
    assert 'id="study-result"' not in html and "key image · most suspicious" not in html


def test_the_worklist_row_shows_the_study_result_and_the_key_image(client, radiologist, mr_study_predicted):
    case, images = mr_study_predicted
    client.force_login(radiologist)
    html = client.get(reverse("cases:worklist")).content.decode()
    row = html[
        html.index(f'data-case-id="{case.pk}"') : html.index("</tr>", html.index(f'data-case-id="{case.pk}"'))
    ]
    assert reverse("cases:image_thumbnail", args=[images[5].pk]) in row  # the key image, not the first
    ai = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row[row.index('data-field="ai"') :]))
    # Readable class names and "AI" before the AI's finding (issue 23: the row shows the final label
    # once reviewed, so an unread row says whose label it is).
    assert (
        "AI Glioma 0.91" in ai
        and 'title="AI study result: from the most suspicious of 7 images with a result"' in row
    )


def test_the_worklist_poll_gives_the_key_image(client, radiologist, mr_study_predicted):
    case, images = mr_study_predicted
    client.force_login(radiologist)
    (row,) = client.get(reverse("cases:case_statuses"), {"ids": str(case.pk)}).json()["cases"]
    assert row["key_image_thumbnail"] == reverse("cases:image_thumbnail", args=[images[5].pk])
    assert (row["ai_label"], row["ai_confidence"], row["ai_images"]) == ("glioma", 0.91, 7)
