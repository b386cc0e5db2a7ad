"""manage.py register_leap_webhooks [--no-test]: our meter receiver on Leap's webhook platform."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

import leap
from meters.setup import register_receiver


class Command(BaseCommand):
    help = (
        "Create or update our subscription to Leap's meter events (meter.created, "
        "meter.enrollment.*) and send a test event. Dispatch receivers: register_dispatch_webhooks."
    )

    def add_arguments(self, parser: Any) -> None:
        """--no-test registers without asking Leap for a test delivery."""
        parser.add_argument("--no-test", action="store_true", help="register only")

    def handle(self, *args: Any, **options: Any) -> None:
        """Register, print the outcome, fail the command if anything went wrong."""
        with leap.get_client() as client:
            result = register_receiver(client, send_test=not options["no_test"])
        self.stdout.write(result.describe())
        if not result.ok:
            raise CommandError("meter webhook registration failed")
