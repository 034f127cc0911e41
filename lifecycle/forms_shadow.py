"""The start form of a shadow run: it parses input only; shadow_start validates the candidate."""

from __future__ import annotations

from typing import Any

from django import forms

from inference.models import ModelVersion
from lifecycle.selectors_shadow import shadow_candidates


class CandidateField(forms.ModelChoiceField):
    def label_from_instance(self, obj: ModelVersion) -> str:
        return f"{obj.label} · {obj.task}"


class ShadowStartForm(forms.Form):
    candidate = CandidateField(
        queryset=ModelVersion.objects.none(),
        label="Candidate",
        empty_label="Choose a registered model version",
        help_text="Registered, not active: its results are stored for this page only, never shown to readers.",
    )
    note = forms.CharField(label="Note", required=False, max_length=500, widget=forms.TextInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["candidate"]
        assert isinstance(field, forms.ModelChoiceField)  # self.fields is typed by the base Field
        field.queryset = shadow_candidates().order_by("task", "name", "-created_at")
