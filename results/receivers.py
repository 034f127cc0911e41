"""Listeners for `cases` signals: the intake's stored instances keep their study's identity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.dispatch import receiver

from cases.models import Study
from cases.signals import study_instance_stored
from results.services.identity import study_identity_keep


@receiver(study_instance_stored)
def keep_study_identity(sender: Any, study: Study, identity: Mapping[str, str], **kwargs: Any) -> list[str]:
    return study_identity_keep(study=study, identity=identity)
