"""Submitting a review from the case page; then on to the next case waiting for this reader."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from cases.models import Case, CaseStatus, Image
from cases.selectors import adjudication_queue_for_user, case_list_for_user, next_case_for_review
from cases.services.adjudication import adjudication_submit
from cases.services.review import REVIEWABLE, case_readings, review_submit
from cases.templatetags.cases_tags import class_label
from cases.views.access import AuthenticatedHttpRequest, ui_view, web_audit
from oncoportal.exceptions import DomainError

OPENED_SALT = "cases.review.opened"


def opened_token() -> str:
    """A signed timestamp put in the review form when the page is rendered (time spent reading)."""
    return signing.dumps(timezone.now().isoformat(), salt=OPENED_SALT)


def _opened_at(token: str) -> datetime | None:
    try:
        return datetime.fromisoformat(signing.loads(token, salt=OPENED_SALT, max_age=24 * 3600))
    except (signing.BadSignature, ValueError):
        return None  # a stale or tampered token loses the timing, not the review


class ReviewForm(forms.Form):
    label = forms.CharField(required=False, max_length=64)
    non_diagnostic = forms.BooleanField(required=False)
    note = forms.CharField(required=False, max_length=4000)
    opened = forms.CharField(required=False)


@dataclass
class LabelSubmission:
    """A checked label form for one image of a case the user may see (the shared first half of both views)."""

    case: Case
    image: Image
    fields: dict[str, Any]  # label, non_diagnostic, note, opened_at, audit: a service's keyword arguments


def _label_submission(
    request: AuthenticatedHttpRequest, pk: int, image_pk: int, *, permission: str, denied: str, what: str
) -> LabelSubmission | HttpResponse:
    """404 for a case or image the user may not see, then 403 without ``permission``; a message for a bad form."""
    case = get_object_or_404(case_list_for_user(user=request.user), pk=pk)
    if not request.user.has_perm(permission):
        raise PermissionDenied(denied)
    image = get_object_or_404(case.images, pk=image_pk)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"The {what} form was incomplete; nothing was saved.")
        return redirect("cases:case_detail", pk=case.pk)
    data = form.cleaned_data
    fields = {
        "label": data["label"],
        "non_diagnostic": data["non_diagnostic"],
        "note": data["note"],
        "opened_at": _opened_at(data["opened"]),
        "audit": web_audit(request),
    }
    return LabelSubmission(case=case, image=image, fields=fields)


@require_POST
@ui_view
def review_submit_view(request: AuthenticatedHttpRequest, pk: int, image_pk: int) -> HttpResponse:
    """Save the reader's label for one image (needs review_case); 404 for a case the user may not see."""
    got = _label_submission(
        request, pk, image_pk, permission="cases.review_case", what="review",
        denied="Your role cannot review cases. Reviewers and Curators can.",
    )  # fmt: skip
    if isinstance(got, HttpResponse):
        return got
    case = got.case
    try:
        review = review_submit(case=case, image=got.image, reviewer=request.user, **got.fields)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("cases:case_detail", pk=case.pk)
    what = "non-diagnostic" if review.decision == "non_diagnostic" else class_label(review.label, case.task)
    decision = review.get_decision_display()
    if review.awaits_reveal:
        messages.success(
            request,
            f"Case {case.pk}: blind reading saved as {what}. The AI result is shown now: keep your label "
            "(Enter) or change it.",
        )
    else:
        messages.success(request, f"Case {case.pk}: saved as {what} ({decision[0].lower()}{decision[1:]}).")
    case.refresh_from_db()
    if case.status in REVIEWABLE and any(
        not r.read_by(request.user) and not r.complete for r in case_readings(case=case)
    ):
        return redirect("cases:case_detail", pk=case.pk)  # more to read here (or the AI to see)
    following = next_case_for_review(user=request.user, after=case)
    if following is None:
        messages.info(request, "No more cases are waiting for your review.")
        return redirect("cases:worklist")
    return redirect("cases:case_detail", pk=following)


@require_POST
@ui_view
def adjudication_submit_view(request: AuthenticatedHttpRequest, pk: int, image_pk: int) -> HttpResponse:
    """A Curator's final label for one disputed image (needs adjudicate_case); then the next disputed case."""
    got = _label_submission(
        request, pk, image_pk, permission="cases.adjudicate_case", what="adjudication",
        denied="Only Curators adjudicate disagreements between readers.",
    )  # fmt: skip
    if isinstance(got, HttpResponse):
        return got
    case = got.case
    try:
        decision = adjudication_submit(case=case, image=got.image, curator=request.user, **got.fields)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("cases:case_detail", pk=case.pk)
    messages.success(
        request, f"Case {case.pk}: final label {class_label(decision.label, case.task)} recorded."
    )
    case.refresh_from_db()
    if case.status == CaseStatus.ADJUDICATION:
        return redirect("cases:case_detail", pk=case.pk)  # another disputed image of this case
    following = adjudication_queue_for_user(user=request.user).exclude(pk=case.pk).first()
    if following is None:
        messages.info(request, "No more disagreements are waiting for adjudication.")
        return redirect("cases:adjudication_queue")
    return redirect("cases:case_detail", pk=following.pk)
