from typing import Any

from django.db import models

from oncocore.tasks import TaskSpec


class TaskDefinition(models.Model):
    """A task added as data: a hospital's own, declared by the model card that first served it.

    The built-in tasks are data in ``oncocore.tasks``; this table holds only
    the others (``cases.task_registry`` reads both). Rows are only ever added
    (by model registration), never changed, so cases and reviews made under a
    task keep their meaning.
    """

    key = models.CharField(max_length=32, unique=True)
    classes = models.JSONField(help_text="The class names, in the declaring card's logit order.")
    definition = models.JSONField(
        default=dict, blank=True, help_text="The card's task_definition: label, positives, presets, ..."
    )
    declared_by = models.CharField(
        max_length=160, blank=True, help_text="name@version of the declaring card."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.label} ({self.key})"

    @property
    def label(self) -> str:
        value: Any = self.definition.get("label")
        return str(value) if value else self.key

    def spec(self) -> TaskSpec:
        """The task as the rest of the platform reads it (validated when the card was registered)."""
        return TaskSpec.from_declaration(key=self.key, classes=self.classes, declared=self.definition)
