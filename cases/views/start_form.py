"""The Curator tabs' shared page shape: a list with a form that starts a background run, and its polled status.

Evaluations and training jobs (and whatever run a Curator starts next) are the
same page: GET lists the runs with an empty form; a valid POST calls the
service, says what was queued and redirects to the run's page; a refused one
shows the form again, with the service's reason, as a 400.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django import forms
from django.contrib import messages
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render

from cases.views.access import AuthenticatedHttpRequest
from oncoportal.exceptions import DomainError

Run = TypeVar("Run")


def list_with_start_form(
    request: AuthenticatedHttpRequest,
    *,
    form: forms.Form,
    start: Callable[[dict[str, Any]], Run],
    started: Callable[[Run], tuple[str, HttpResponse]],
    template: str,
    context: Mapping[str, Any],
) -> HttpResponse:
    """Render ``template`` with ``context`` and ``form``; on a valid POST run ``start`` with the form's data.

    ``started`` gives the success message and the redirect for the new run. A
    ``DomainError`` from the service becomes a form error.
    """
    if request.method == "POST" and form.is_valid():
        try:
            run = start(form.cleaned_data)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            message, response = started(run)
            messages.success(request, message)
            return response
    status = 400 if request.method == "POST" else 200
    return render(request, template, {**context, "form": form}, status=status)


def status_json(payload: dict[str, Any]) -> JsonResponse:
    """A run's state for the page's polling: never cached, so each poll sees the worker's latest write."""
    response = JsonResponse(payload)
    response["Cache-Control"] = "no-store"
    return response
