"""The Curator page's freeze form."""

from __future__ import annotations

from typing import Any

from django import forms

from cases.task_registry import task_choices


class SnapshotFreezeForm(forms.Form):
    task = forms.ChoiceField(label="Task", choices=lambda: task_choices(unassigned=False))
    seed = forms.IntegerField(label="Split seed", min_value=0, max_value=2**31 - 1, initial=0)
    val_fraction = forms.FloatField(label="Validation share", min_value=0.01, max_value=0.9, initial=0.15)
    test_fraction = forms.FloatField(
        label="Test share", min_value=0.0, max_value=0.9, initial=0.15, help_text="0: no test split."
    )
    include_base = forms.BooleanField(label="Include the base data", required=False, initial=True)
    note = forms.CharField(label="Note", required=False, max_length=2000)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        val, test = data.get("val_fraction"), data.get("test_fraction")
        if val is not None and test is not None and val + test >= 1.0:
            raise forms.ValidationError("The validation and test shares must sum below 1.")
        return data
