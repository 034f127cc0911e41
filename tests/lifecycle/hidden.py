"""What readers get, searched for a shadow candidate: its version never, and every AI label is the champion's.

Shared by the in-process test and the real-worker test, so both check the
same ways in: the case page, the worklist (HTML, ``new.json``, ``status.json``),
the prediction files, the REST API (cases, predictions), the webhook
payloads and the cases' AI summary.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from api.models import WebhookDelivery
from cases.models import Case
from inference.models import ModelVersion, Prediction


def labels_in(data: Any) -> Iterator[str]:
    """Every value of a "label" or "ai_label" key anywhere in a JSON document."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key in ("label", "ai_label") and isinstance(value, str):
                yield value
            else:
                yield from labels_in(value)
    elif isinstance(data, list):
        for item in data:
            yield from labels_in(item)


def assert_hidden_from_readers(
    *,
    readers: Iterable[Any],
    api: APIClient,
    cases: list[Case],
    candidate: ModelVersion,
    allowed_labels: set[str],
) -> int:
    """Fetch everything readers can see of ``cases``; returns how many responses were searched."""
    secrets = [candidate.name, candidate.version]
    searched = 0

    def clean(body: bytes | str, where: str) -> None:
        nonlocal searched
        text = body.decode() if isinstance(body, bytes) else body
        for secret in secrets:
            assert secret not in text, f"{where} shows the shadow candidate ({secret})"
        searched += 1

    ids = ",".join(str(c.pk) for c in cases)
    for user in readers:
        client = Client()
        client.force_login(user)
        pages = [reverse("cases:worklist"), f"{reverse('cases:worklist_new')}?after=0"]
        pages += [f"{reverse('cases:case_statuses')}?ids={ids}"]
        pages += [reverse("cases:case_detail", args=[c.pk]) for c in cases]
        for url in pages:
            answer = client.get(url)
            assert answer.status_code == 200, url
            clean(answer.content, f"{url} for {user}")
            if answer["Content-Type"].startswith("application/json"):
                assert set(labels_in(answer.json())) <= allowed_labels, url
        for prediction in Prediction.objects.filter(image__case__in=cases):
            answer = client.get(reverse("inference:prediction_file", args=[prediction.pk, "overlay"]))
            assert answer.status_code == 200 and answer["Content-Type"] == "image/png"
        # The shadow pages are not theirs.
        for url in (reverse("lifecycle:shadows"),):
            assert client.get(url).status_code == 403

    api_urls = [reverse("api:case_list")]
    for case in cases:
        api_urls.append(reverse("api:case_detail", args=[case.pk]))
    api_urls += [
        reverse("api:prediction_detail", args=[p.pk])
        for p in Prediction.objects.filter(image__case__in=cases)
    ]
    for url in api_urls:
        api_answer = api.get(url)
        assert api_answer.status_code == 200, (url, api_answer.content[:300])
        clean(api_answer.content, url)
        assert set(labels_in(api_answer.json())) <= allowed_labels, url

    for delivery in WebhookDelivery.objects.all():
        clean(json.dumps(delivery.payload), f"webhook delivery {delivery.pk}")
        assert set(labels_in(delivery.payload)) <= allowed_labels

    for case in Case.objects.filter(pk__in=[c.pk for c in cases]):
        assert case.ai_label in allowed_labels, f"case {case.pk}'s AI summary says {case.ai_label}"
    return searched
