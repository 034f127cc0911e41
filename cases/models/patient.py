from django.db import models


class Patient(models.Model):
    """A patient known only by a keyed pseudonym (HMAC of issuer + patient ID).

    No name, ID or birth date is ever stored; the same patient in later
    uploads maps to the same row because the pseudonym is deterministic.
    """

    pseudonym = models.CharField(max_length=32, unique=True)
    sex = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pseudonym"]

    def __str__(self) -> str:
        return self.pseudonym
