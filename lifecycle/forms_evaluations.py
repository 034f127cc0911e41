"""The start form of an evaluation: it parses input only; evaluation_request validates the combination."""

from __future__ import annotations

from typing import Any

from django import forms

from curation.models import Snapshot, Split
from inference.models import ModelVersion
from lifecycle.selectors_evaluations import candidate_choices, snapshot_choices


class VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.label} ({obj.task}, {obj.get_status_display().lower()})"


class EvaluationStartForm(forms.Form):
    candidate = VersionChoiceField(
        queryset=ModelVersion.objects.none(), label="Candidate", empty_label="Choose a model version"
    )
    snapshot = forms.ModelChoiceField(
        queryset=Snapshot.objects.none(),
        required=False,
        label="Snapshot",
        empty_label="The candidate's training snapshot (else the newest)",
    )
    split = forms.ChoiceField(choices=Split.choices, initial=Split.TEST, label="Split")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, queryset in (("candidate", candidate_choices()), ("snapshot", snapshot_choices())):
            field = self.fields[name]
            assert isinstance(field, forms.ModelChoiceField)  # self.fields is typed by the base Field
            field.queryset = queryset
