"""Forms for the web UI: they parse and validate input only; services do the writes."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Q

from cases.models import CaseStatus, Priority, Site, User
from cases.permissions import sees_all_sites
from cases.selectors import WorklistOrder
from cases.task_registry import task_all, task_choices

# The empty choice means "let intake guess the task from each study's DICOM header".
INFER_TASK = ""
PATIENT_REF_MAX_LENGTH = 64
# Relative paths only label files in the intake report; they are never used to
# build storage names, but are still trimmed so a crafted name cannot bloat it.
RELATIVE_PATH_MAX_LENGTH = 255


class MultipleFileInput(forms.ClearableFileInput):
    """A file input that lets the user pick several files (or, with webkitdirectory, a folder)."""

    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Cleans to a list of UploadedFile; empty when nothing was chosen (the view reports that)."""

    widget = MultipleFileInput

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        if data is None or data == "":
            return []
        items = data if isinstance(data, (list, tuple)) else [data]
        single = super().clean
        return [single(item, initial) for item in items]


def clean_relative_path(raw: str) -> str:
    """A display label for an uploaded file: its folder-relative path without '..', leading '/' or control chars."""
    text = "".join(ch for ch in raw.replace("\\", "/") if ch.isprintable())
    parts = [p for p in text.split("/") if p not in ("", ".", "..")]
    return "/".join(parts)[-RELATIVE_PATH_MAX_LENGTH:]


class UploadForm(forms.Form):
    """The upload page's fields. ``site`` exists only for users without a site of their own (Curators)."""

    task = forms.ChoiceField(
        label="Task",
        # Callables: read from the registry each time, so a task added as data is offered.
        choices=lambda: [(INFER_TASK, "Infer from DICOM header"), *task_choices()],
        required=False,
        help_text="Applies to every study in this upload. Plain images cannot be inferred: pick their task.",
    )
    patient_ref = forms.CharField(
        label="Patient reference (optional)",
        max_length=PATIENT_REF_MAX_LENGTH,
        required=False,
        strip=True,
        help_text=(
            "Only for JPEG/PNG/TIFF images: links them to one pseudonymised patient. "
            "It is hashed and never stored. DICOM files carry their own patient ID."
        ),
    )
    # Declared fields are popped off the class, so this does not shadow BaseForm.files at runtime.
    files = MultipleFileField(label="Files")  # type: ignore[assignment]
    # Sent by the upload script: a JSON list with each file's folder-relative path,
    # in the order of the files. One field rather than one per file, so a folder
    # of thousands of files stays under DATA_UPLOAD_MAX_NUMBER_FIELDS.
    paths = forms.JSONField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        if user.site_id is None:
            self.fields["site"] = forms.ModelChoiceField(
                label="Site",
                queryset=Site.objects.order_by("name"),
                empty_label="Choose the site these studies belong to",
                help_text="Your account is not tied to one site, so choose where these studies belong.",
            )
            # Show the site first: it decides where everything else goes.
            self.order_fields(["site", "task", "patient_ref", "files"])

    def clean_task(self) -> str | None:
        """None means "infer"; otherwise a task key (an unknown one fails the ChoiceField)."""
        value: str = self.cleaned_data["task"]
        return value or None

    def clean_patient_ref(self) -> str:
        value: str = self.cleaned_data["patient_ref"]
        if any(not ch.isprintable() for ch in value):
            raise forms.ValidationError("Use printable characters only.")
        return value

    def clean_paths(self) -> list[str]:
        value = self.cleaned_data.get("paths")
        if value in (None, ""):
            return []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise forms.ValidationError("Relative paths must be a JSON list of strings.")
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("files") and "files" not in self.errors:
            self.add_error("files", "Choose at least one file, folder or zip to upload.")
        return cleaned

    def target_site(self) -> Site:
        """The site the upload goes to: the chosen one, else the user's own. Call after is_valid()."""
        chosen = self.cleaned_data.get("site")
        if chosen is not None:
            return chosen
        assert self.user.site is not None  # the field exists exactly when the user has no site
        return self.user.site

    def labelled_uploads(self) -> list[tuple[str, UploadedFile]]:
        """Pair each file with its label: its relative path when the script sent one per file, else its name.

        Django strips folders from multipart file names, so the upload script
        sends the paths separately. Call after is_valid().
        """
        files: list[UploadedFile] = self.cleaned_data["files"]
        paths: list[str] = self.cleaned_data.get("paths") or []
        use_paths = len(paths) == len(files)
        labelled = []
        for index, upload in enumerate(files):
            label = clean_relative_path(paths[index]) if use_paths else ""
            labelled.append((label or upload.name or f"file-{index + 1}", upload))
        return labelled


class TaskChangeForm(forms.Form):
    task = forms.ChoiceField(label="Task", choices=task_choices)


class PriorityForm(forms.Form):
    priority = forms.TypedChoiceField(label="Priority", choices=Priority.choices, coerce=int)


AI_POSITIVE = "__positive__"  # the AI-label filter's "any finding" choice


def _ai_label_choices() -> list[tuple[str, str]]:
    # Readable names (issue 23), each class once with the first task's name for it.
    readable: dict[str, str] = {}
    for task in task_all():
        for name in task.classes:
            readable.setdefault(name, task.class_label(name))
    options = sorted(readable.items(), key=lambda item: (item[1].lower(), item[0]))
    return [("", "Any AI label"), (AI_POSITIVE, "Any finding (tumour, malignant)"), *options]


class WorklistFilterForm(forms.Form):
    """GET filters and sort order of the worklist; invalid values are reported and ignored.

    ``site`` exists only for users who see every site (Curators).
    """

    status = forms.ChoiceField(
        label="Status", choices=[("", "Any status"), *CaseStatus.choices], required=False
    )
    task = forms.ChoiceField(
        label="Task", choices=lambda: [("", "Any task"), *task_choices()], required=False
    )
    ai_label = forms.ChoiceField(label="AI label", choices=_ai_label_choices, required=False)
    received_from = forms.DateField(
        label="Received from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    received_to = forms.DateField(label="to", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    mine = forms.BooleanField(label="Assigned to me", required=False)
    flagged = forms.BooleanField(label="Flagged only", required=False)
    order = forms.ChoiceField(label="Order", choices=WorklistOrder.choices, required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        if sees_all_sites(user):
            self.fields["site"] = forms.ModelChoiceField(
                label="Site", queryset=Site.objects.order_by("name"), required=False, empty_label="Any site"
            )

    def _data(self) -> dict[str, Any]:
        if not self.is_bound:
            return {}
        self.is_valid()
        return getattr(self, "cleaned_data", {})

    def filters(self) -> Q:
        """An ORM condition for the valid, non-empty fields (an empty Q when none)."""
        data = self._data()
        found = Q()
        for name in ("status", "task"):
            if data.get(name):
                found &= Q(**{name: data[name]})
        if data.get("ai_label") == AI_POSITIVE:
            found &= Q(ai_positive=True)
        elif data.get("ai_label"):
            found &= Q(ai_label=data["ai_label"])
        if data.get("received_from"):
            found &= Q(created_at__date__gte=data["received_from"])
        if data.get("received_to"):
            found &= Q(created_at__date__lte=data["received_to"])
        if data.get("mine"):
            found &= Q(assignee=self.user)
        if data.get("flagged"):
            found &= Q(flagged=True)
        if data.get("site"):
            found &= Q(site=data["site"])
        return found

    def ordering(self) -> str:
        return self._data().get("order") or WorklistOrder.FINDINGS
