"""The case page's Resend button: send again the case's result objects that were not delivered."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from cases.selectors import case_list_for_user
from cases.views.access import AuthenticatedHttpRequest, ui_view, web_audit
from results.delivery import RESENDABLE
from results.models import ResultDelivery
from results.services.delivery import deliveries_resend


@require_POST
@ui_view
def case_resend(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Resend the case's failed and given-up deliveries (Curators); 404 for a case the user may not see."""
    case = get_object_or_404(case_list_for_user(user=request.user), pk=pk)
    if not request.user.has_perm("results.change_resultdelivery"):
        raise PermissionDenied("Only Curators resend results to the PACS.")
    waiting = ResultDelivery.objects.filter(result__case=case, status__in=RESENDABLE)
    done = deliveries_resend(deliveries=list(waiting), audit=web_audit(request))
    if done:
        messages.success(request, f"{len(done)} result object deliveries queued to be sent again.")
    else:
        messages.info(request, "Every result object was delivered: nothing to resend.")
    return redirect("cases:case_detail", pk=case.pk)
