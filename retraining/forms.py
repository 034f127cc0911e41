"""The start form of a retraining job: it parses input only; job_start validates the combination."""

from __future__ import annotations

from typing import Any

from django import forms

from curation.models import Snapshot
from inference.models import ModelVersion
from retraining.models import JobMode
from retraining.selectors import base_version_choices, recipe_choices, snapshot_choices


class JobStartForm(forms.Form):
    snapshot = forms.ModelChoiceField(
        queryset=Snapshot.objects.none(), label="Snapshot", empty_label="Choose a snapshot"
    )
    mode = forms.ChoiceField(choices=JobMode.choices, label="Mode", initial=JobMode.FINETUNE)
    recipe = forms.ChoiceField(label="Recipe")
    base_version = forms.ModelChoiceField(
        queryset=ModelVersion.objects.none(),
        required=False,
        label="Base model",
        empty_label="The task's active model",
        help_text="Fine-tuning only.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recipes = recipe_choices()
        for name, queryset in (("snapshot", snapshot_choices()), ("base_version", base_version_choices())):
            field = self.fields[name]
            assert isinstance(field, forms.ModelChoiceField)  # self.fields is typed by the base Field
            field.queryset = queryset
        recipe = self.fields["recipe"]
        assert isinstance(recipe, forms.ChoiceField)
        recipe.choices = [(name, name) for name, _ in self.recipes]
        recipe.initial = "quick" if any(name == "quick" for name, _ in self.recipes) else None
