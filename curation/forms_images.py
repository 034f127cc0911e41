"""Forms of the Curator page's labelled images: the GET filters and the bulk include/exclude."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from cases.models import Site
from cases.task_registry import task_choices
from curation.models import Example, Provenance
from curation.selectors import ExampleFilters, example_filter_choices

ANY_YES_NO = [("", "Any"), ("yes", "Yes"), ("no", "No")]
INCLUDED_CHOICES = [("", "Included and excluded"), ("yes", "Included only"), ("no", "Excluded only")]


def _yes_no(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


class ExampleFilterForm(forms.Form):
    """The labelled images' filters; invalid values are reported and ignored."""

    task = forms.ChoiceField(label="Task", required=False)
    label = forms.ChoiceField(label="Final label", required=False)
    provenance = forms.ChoiceField(
        label="Provenance", choices=[("", "Any provenance"), *Provenance.choices], required=False
    )
    disagreement = forms.ChoiceField(label="Readers disagreed", choices=ANY_YES_NO, required=False)
    model_version = forms.ChoiceField(label="Model version", required=False)
    site = forms.ModelChoiceField(
        label="Site", queryset=Site.objects.order_by("name"), required=False, empty_label="Any site"
    )
    labelled_from = forms.DateField(
        label="Labelled from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    labelled_to = forms.DateField(label="to", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    included = forms.ChoiceField(label="Included", choices=INCLUDED_CHOICES, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        present = example_filter_choices()
        tasks = dict(task_choices(unassigned=False))
        offered = {
            "task": [("", "Any task"), *((t, tasks.get(t, t)) for t in present["tasks"])],
            "label": [("", "Any label"), *((n, n) for n in present["labels"])],
            "model_version": [("", "Any model version"), *((v, v) for v in present["model_versions"])],
        }
        for name, choices in offered.items():
            cast(forms.ChoiceField, self.fields[name]).choices = choices

    def filters(self) -> ExampleFilters:
        """The valid, non-empty filters (none when unbound)."""
        if not self.is_bound:
            return ExampleFilters()
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        site = data.get("site")
        return ExampleFilters(
            task=data.get("task") or "",
            label=data.get("label") or "",
            provenance=data.get("provenance") or "",
            disagreement=_yes_no(data.get("disagreement") or ""),
            model_version=data.get("model_version") or "",
            site=site.pk if site is not None else None,
            labelled_from=data.get("labelled_from"),
            labelled_to=data.get("labelled_to"),
            included=_yes_no(data.get("included") or ""),
        )


class ExampleBulkForm(forms.Form):
    """Include or exclude the ticked images; excluding needs a reason."""

    ACTIONS = [("include", "Include"), ("exclude", "Exclude")]

    examples = forms.ModelMultipleChoiceField(
        queryset=Example.objects.all(),
        error_messages={"required": "Tick the images to include or exclude."},
    )
    action = forms.ChoiceField(choices=ACTIONS)
    reason = forms.CharField(required=False, max_length=500, strip=True)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("action") == "exclude" and not data.get("reason"):
            self.add_error("reason", "Say why these images are excluded.")
        return data
