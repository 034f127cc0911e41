"""Task routing rules as data: Curators edit them in the admin; ``oncocore.routing`` evaluates them."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from cases.task_registry import validate_case_task
from oncocore import routing


class RoutingRule(models.Model):
    """One rule of task routing (docs/routing.md): for these modalities, a pattern in one header field -> a task.

    Rules are tried in ``order`` (then id); the first that matches decides. A
    rule may route to Unassigned on purpose (scouts, localizers). Seeded with
    ``oncocore.routing.DEFAULT_RULES`` by the migration that adds the table.
    """

    order = models.PositiveIntegerField(
        default=500, help_text="Rules are tried from the lowest order up; the first match decides."
    )
    name = models.CharField(
        max_length=120, blank=True, help_text="What the rule is for, shown when it decides."
    )
    modalities = models.CharField(
        max_length=100,
        blank=True,
        help_text="DICOM modalities it applies to, separated by spaces (e.g. 'CT' or 'OT XC GM'); empty: any.",
    )
    field = models.CharField(max_length=32, choices=list(routing.FIELDS.items()))
    pattern = models.CharField(
        max_length=300,
        help_text="A regular expression searched in the field, compared without accents or case, with every "
        "run of punctuation read as one space ('Neuro^Crane Axial_T1' reads 'neuro crane axial t1').",
    )
    task = models.CharField(
        max_length=32,
        validators=[validate_case_task],
        help_text="The task routed to; Unassigned: no model reads such images (the case asks for a task).",
    )
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return f"#{self.order} {self.name or self.as_rule().describe()}"

    def modality_set(self) -> frozenset[str]:
        return frozenset(self.modalities.upper().split())

    def clean(self) -> None:
        problems = routing.rule_problems(
            field=self.field, pattern=self.pattern, modalities=self.modality_set()
        )
        if problems:
            raise ValidationError(problems)

    def as_rule(self) -> routing.RoutingRule:
        """The rule as ``oncocore.routing`` reads it."""
        return routing.RoutingRule(
            field=self.field,
            pattern=self.pattern,
            task=self.task,
            modalities=self.modality_set(),
            name=self.name,
            ref=self.pk or 0,
        )
