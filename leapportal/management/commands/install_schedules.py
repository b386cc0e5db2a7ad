from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from leapportal.schedules import install_schedules


class Command(BaseCommand):
    """Install the declared beat schedule into django-celery-beat."""

    help = "Install the beat schedule from settings into django-celery-beat (edits are kept)."

    def add_arguments(self, parser: CommandParser) -> None:
        """--reset restores the declared timings of existing entries."""
        parser.add_argument("--reset", action="store_true", help="restore the declared timings")

    def handle(self, *args: Any, reset: bool, **options: Any) -> None:
        """Install and say which entries were new."""
        created = install_schedules(reset=reset)
        self.stdout.write(f"installed {len(created)} new schedule(s): {', '.join(created) or '-'}")
