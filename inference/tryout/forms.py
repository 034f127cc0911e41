"""The try-out page's forms: they parse input only; the services validate the image itself."""

from __future__ import annotations

from typing import Any

from django import forms

from cases.models import Site, User


class TryOutForm(forms.Form):
    task = forms.ChoiceField(label="Task", help_text="Only tasks with an active model are listed.")
    file = forms.FileField(
        label="Image",
        allow_empty_file=True,  # the service says why an empty file is refused
        help_text="One DICOM file, or a JPEG, PNG or TIFF image.",
    )

    def __init__(self, *args: Any, tasks: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        task = self.fields["task"]
        assert isinstance(task, forms.ChoiceField)  # self.fields is typed by the base Field
        task.choices = tasks


class SaveAsCaseForm(forms.Form):
    """Only users without a site of their own (Curators) choose where the new case goes."""

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if user.site_id is None:
            self.fields["site"] = forms.ModelChoiceField(
                label="Site",
                queryset=Site.objects.order_by("name"),
                empty_label="Choose the site",
            )

    def chosen_site(self) -> Site | None:
        return self.cleaned_data.get("site")
