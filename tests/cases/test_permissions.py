"""Who may open which page: anonymous users, roles, and other sites' data (healthchecks' owner/member/outsider)."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _pages(case, image_id: int, batch_id: str) -> list[tuple[str, str]]:
    """(method, url) of every UI page for one case, its first image and an upload batch."""
    return [
        ("get", reverse("cases:worklist")),
        ("get", reverse("cases:upload")),
        ("post", reverse("cases:upload")),
        ("get", reverse("cases:upload_result", kwargs={"batch_id": batch_id})),
        ("get", reverse("cases:case_detail", kwargs={"pk": case.pk})),
        ("post", reverse("cases:case_task", kwargs={"pk": case.pk})),
        ("post", reverse("cases:case_priority", kwargs={"pk": case.pk})),
        ("get", reverse("cases:image_thumbnail", kwargs={"pk": image_id})),
        ("get", reverse("cases:image_frame", kwargs={"pk": image_id, "frame": 0})),
        ("get", reverse("cases:image_pixels", kwargs={"pk": image_id, "frame": 0})),
        ("get", reverse("cases:image_header", kwargs={"pk": image_id})),
        ("get", reverse("cases:case_statuses") + f"?ids={case.pk}"),
        ("get", reverse("cases:adjudication_queue")),
        ("post", reverse("cases:review_submit", kwargs={"pk": case.pk, "image_pk": image_id})),
        ("post", reverse("cases:adjudication_submit", kwargs={"pk": case.pk, "image_pk": image_id})),
        ("get", reverse("inference:tryout")),
    ]


def _batch_id(case) -> str:
    from cases.models import IntakeBatch

    return str(IntakeBatch.objects.filter(site=case.site).values_list("pk", flat=True).first())


def test_anonymous_is_sent_to_login_from_every_page(client, ct_case):
    image = ct_case.images.first()
    for method, url in _pages(ct_case, image.pk, _batch_id(ct_case)):
        response = getattr(client, method)(url)
        assert response.status_code == 302, (method, url)
        assert response["Location"].startswith(reverse("login") + "?next="), (method, url)


def test_login_page_is_open(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="password"' in response.content


@pytest.mark.parametrize("who", ["no_role_user", "integration"])
def test_accounts_without_a_ui_role_get_403_everywhere(client, request, ct_case, who):
    client.force_login(request.getfixturevalue(who))
    image = ct_case.images.first()
    for method, url in _pages(ct_case, image.pk, _batch_id(ct_case)):
        response = getattr(client, method)(url)
        assert response.status_code == 403, (who, method, url)
    assert b"API-only" in client.get(reverse("cases:worklist")).content


def test_radiologist_sees_own_site_case(client, radiologist, ct_case):
    client.force_login(radiologist)
    image = ct_case.images.first()
    assert client.get(reverse("cases:case_detail", kwargs={"pk": ct_case.pk})).status_code == 200
    thumb = client.get(reverse("cases:image_thumbnail", kwargs={"pk": image.pk}))
    assert thumb.status_code == 200
    assert b"".join(thumb.streaming_content).startswith(PNG_MAGIC)
    worklist = client.get(reverse("cases:worklist"))
    assert [c.pk for c in worklist.context["page"].object_list] == [ct_case.pk]


def test_another_sites_case_image_and_batch_are_404(client, radiologist, ct_case, other_site_case):
    client.force_login(radiologist)
    image = other_site_case.images.first()
    batch_id = _batch_id(other_site_case)
    for method, url in [
        ("get", reverse("cases:case_detail", kwargs={"pk": other_site_case.pk})),
        ("post", reverse("cases:case_task", kwargs={"pk": other_site_case.pk})),
        ("post", reverse("cases:case_priority", kwargs={"pk": other_site_case.pk})),
        ("get", reverse("cases:image_thumbnail", kwargs={"pk": image.pk})),
        ("get", reverse("cases:image_frame", kwargs={"pk": image.pk, "frame": 0})),
        ("get", reverse("cases:image_pixels", kwargs={"pk": image.pk, "frame": 0})),
        ("get", reverse("cases:image_header", kwargs={"pk": image.pk})),
        ("post", reverse("cases:review_submit", kwargs={"pk": other_site_case.pk, "image_pk": image.pk})),
        (
            "post",
            reverse("cases:adjudication_submit", kwargs={"pk": other_site_case.pk, "image_pk": image.pk}),
        ),
        ("get", reverse("cases:upload_result", kwargs={"batch_id": batch_id})),
    ]:
        assert getattr(client, method)(url).status_code == 404, (method, url)
    worklist = client.get(reverse("cases:worklist"))
    assert other_site_case.pk not in [c.pk for c in worklist.context["page"].object_list]


def test_owner_of_the_other_site_does_see_it(client, other_radiologist, other_site_case):
    # The control for the 404 test above: the same URLs work for the right user.
    client.force_login(other_radiologist)
    image = other_site_case.images.first()
    assert client.get(reverse("cases:case_detail", kwargs={"pk": other_site_case.pk})).status_code == 200
    assert client.get(reverse("cases:image_frame", kwargs={"pk": image.pk, "frame": 0})).status_code == 200
    batch_url = reverse("cases:upload_result", kwargs={"batch_id": _batch_id(other_site_case)})
    assert client.get(batch_url).status_code == 200


def test_unknown_batch_is_404(client, radiologist):
    client.force_login(radiologist)
    url = reverse("cases:upload_result", kwargs={"batch_id": str(uuid.uuid4())})
    assert client.get(url).status_code == 404


def test_curator_sees_every_site(client, curator, ct_case, other_site_case):
    client.force_login(curator)
    worklist = client.get(reverse("cases:worklist"))
    assert {c.pk for c in worklist.context["page"].object_list} == {ct_case.pk, other_site_case.pk}
    for case in (ct_case, other_site_case):
        assert client.get(reverse("cases:case_detail", kwargs={"pk": case.pk})).status_code == 200
        image = case.images.first()
        assert client.get(reverse("cases:image_thumbnail", kwargs={"pk": image.pk})).status_code == 200
        assert (
            client.get(reverse("cases:upload_result", kwargs={"batch_id": _batch_id(case)})).status_code
            == 200
        )


def test_reviewer_views_but_cannot_upload_or_change(client, reviewer, ct_case):
    client.force_login(reviewer)
    assert client.get(reverse("cases:case_detail", kwargs={"pk": ct_case.pk})).status_code == 200
    assert client.get(reverse("cases:upload")).status_code == 403
    assert client.post(reverse("cases:upload")).status_code == 403
    assert (
        client.post(reverse("cases:case_task", kwargs={"pk": ct_case.pk}), {"task": "brain_mri"}).status_code
        == 403
    )
    assert (
        client.post(reverse("cases:case_priority", kwargs={"pk": ct_case.pk}), {"priority": 2}).status_code
        == 403
    )
    ct_case.refresh_from_db()
    assert ct_case.priority == 0
    # The nav and the case page offer nothing the reviewer cannot do.
    page = client.get(reverse("cases:case_detail", kwargs={"pk": ct_case.pk})).content
    assert b'id="task-form"' not in page
    assert reverse("cases:upload").encode() not in client.get(reverse("cases:worklist")).content


def test_colleagues_upload_batch_is_not_shown(client, make_user, site, ct_case):
    # Upload reports list file names; the selector shows a batch to its uploader (and Curators) only.
    colleague = make_user("rad-colleague", "Radiologist", site)
    client.force_login(colleague)
    assert (
        client.get(reverse("cases:upload_result", kwargs={"batch_id": _batch_id(ct_case)})).status_code == 404
    )
    assert client.get(reverse("cases:case_detail", kwargs={"pk": ct_case.pk})).status_code == 200
