from django.contrib.auth.models import AbstractUser
from django.db import models


class Site(models.Model):
    """A hospital or department. Users and cases belong to one; a Curator sees all."""

    code = models.SlugField(max_length=40, unique=True, help_text="Short code, e.g. 'uh-radiology'.")
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    """Group names; the groups and their permissions are created by a migration."""

    RADIOLOGIST = "Radiologist"
    REVIEWER = "Reviewer"
    CURATOR = "Curator"
    INTEGRATION = "Integration"


class User(AbstractUser):
    site = models.ForeignKey(
        Site,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
        help_text="Cases of this site are visible to the user (Curators see every site).",
    )

    def has_role(self, role: str) -> bool:
        # Cached per request object: the worklist asks this several times.
        if not hasattr(self, "_role_names"):
            self._role_names = set(self.groups.values_list("name", flat=True))
        return self.is_superuser or role in self._role_names
