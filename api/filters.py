"""The case list's query parameters: the worklist's own filter form, strict, plus ``finding``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q
from django.http import QueryDict

from api.errors import FieldErrors
from cases.forms import AI_POSITIVE, WorklistFilterForm
from cases.models import User
from cases.task_registry import task_all
from inference.selectors import case_has_finding

# Not filters: the pagination's own parameters.
PAGINATION_PARAMETERS = {"cursor", "page_size"}
# The API's word for the form's "any finding" choice of ai_label.
POSITIVE = "positive"


def _finding_choices() -> list[tuple[str, str]]:
    labels = sorted({name for task in task_all() for name in task.classes})
    return [("", "Any"), *[(name, name) for name in labels]]


class CaseListFilterForm(WorklistFilterForm):
    """The worklist's filters with two API twists: ``site`` is a site code, and ``finding`` is added.

    ``finding``: a case with any image whose newest finished prediction has
    that label (the case's ``ai_label`` is only its summary).
    """

    finding = forms.ChoiceField(choices=_finding_choices, required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, user=user, **kwargs)
        if "site" in self.fields:
            site_field = self.fields["site"]
            assert isinstance(site_field, forms.ModelChoiceField)
            site_field.to_field_name = "code"

    def filters(self) -> Q:
        found = super().filters()
        label = self._data().get("finding")
        if label:
            found &= Q(case_has_finding(label=label))
        return found


def case_list_filters(params: QueryDict, *, user: User) -> CaseListFilterForm:
    """The bound, valid filter form of a case-list request; 400 for an unknown parameter or a bad value.

    The web page ignores a bad filter and says so; an API client gets an error
    instead, so a typo never silently lists every case.
    """
    data = params.copy()
    if data.get("ai_label") == POSITIVE:
        data["ai_label"] = AI_POSITIVE
    form = CaseListFilterForm(data, user=user)
    unknown = sorted(set(params) - set(form.fields) - PAGINATION_PARAMETERS)
    if unknown:
        raise FieldErrors(
            f"Unknown query parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.",
            {name: ["Unknown query parameter."] for name in unknown},
        )
    empty = sorted(name for name in params if name in form.fields and not params.get(name, "").strip())
    if empty:
        # The web form reads an empty filter as "any"; a client sending one has most likely lost a value.
        raise FieldErrors(
            "Empty filter: give a value or leave the parameter out.",
            {name: ["Give a value or leave the parameter out."] for name in empty},
        )
    wrong = {name: ["Give it once."] for name in params if len(params.getlist(name)) > 1} | {
        name: ["true or false."]
        for name, field in form.fields.items()
        if isinstance(field, forms.BooleanField)
        and name in params
        and params.get(name) not in ("true", "false")
    }
    if wrong:
        raise FieldErrors("Some filters are invalid; see errors.", dict(sorted(wrong.items())))
    if not form.is_valid():
        raise FieldErrors(
            "Some filters are invalid; see errors.",
            {name: [str(message) for message in messages] for name, messages in form.errors.items()},
        )
    return form
