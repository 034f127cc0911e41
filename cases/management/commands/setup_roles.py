from typing import Any

from django.core.management.base import BaseCommand

from cases.roles import sync_roles


class Command(BaseCommand):
    help = "Create or update the role groups (Radiologist, Reviewer, Curator, Integration) and their permissions."

    def handle(self, *args: Any, **opts: Any) -> None:
        sync_roles()
        self.stdout.write("roles up to date")
