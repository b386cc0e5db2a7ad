"""manage.py register_dispatch_webhooks [--level meter|group] [--no-test]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

import leap
from dispatch import receiver_registration


class Command(BaseCommand):
    help = (
        "Register our dispatch receivers with Leap (with our secret header) and send a test "
        "notification through Leap's integration_test endpoint, reporting the result."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--level", choices=["meter", "group"], action="append")
        parser.add_argument("--no-test", action="store_true", help="register only")

    def handle(self, *args: Any, **options: Any) -> None:
        levels = tuple(options["level"] or ["meter", "group"])
        with leap.get_client() as client:
            results = receiver_registration.register_receivers(
                client, levels=levels, send_test=not options["no_test"]
            )
        for result in results:
            line = receiver_registration.describe(result)
            self.stdout.write(self.style.SUCCESS(line) if result.ok else self.style.ERROR(line))
        if not all(r.ok for r in results):
            raise CommandError("dispatch receiver set-up failed (see above)")
