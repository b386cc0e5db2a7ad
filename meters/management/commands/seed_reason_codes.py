"""Create the ReasonCode rows we know that are missing (never overwrites an edited row)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from meters.models import ReasonCode
from meters.reason_codes import seed


class Command(BaseCommand):
    help = "Seed the ReasonCode catalogue with Leap's known action codes and the 14 action types."

    def handle(self, *args: Any, **options: Any) -> None:
        """Seed and say how many rows were added."""
        created = seed(ReasonCode)
        self.stdout.write(f"{created} reason code(s) created, {ReasonCode.objects.count()} in all")
