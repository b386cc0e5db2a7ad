"""`manage.py seed_demo`: fill the database with demo data fetched from the Leap simulator."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from leapportal.demo import seed_demo


def _answers(url: str) -> bool:
    """True when something accepts TCP connections at the URL's host and port."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", port), timeout=3):
            return True
    except OSError:
        return False


class Command(BaseCommand):
    """Run the meter sync and the dispatch reconcile once, against the configured Leap."""

    help = "Seed demo data through the Leap simulator (meter sync, dispatch reconcile)."

    def handle(self, *args: Any, **options: Any) -> None:
        """Refuse a real Leap, check the simulator answers, seed, and say what was seeded."""
        if not settings.LEAP_SIMULATOR:
            raise CommandError(
                "seed_demo only talks to the Leap simulator (LEAP_SIMULATOR=true); "
                f"this process is configured for {settings.LEAP_BASE_URL}"
            )
        if not _answers(settings.LEAP_BASE_URL):
            raise CommandError(
                f"the Leap simulator does not answer at {settings.LEAP_BASE_URL}: "
                "start it with `python manage.py leap_simulator --port 8001`"
            )
        report = seed_demo()
        for label in report.ran:
            self.stdout.write(f"  seeded: {label}")
        for reason in report.skipped:
            self.stdout.write(f"  skipped: {reason}")
        if report.added:
            self.stdout.write("  rows added:")
            for name, added in sorted(report.added.items()):
                self.stdout.write(f"    {name:<40} +{added:>7}  (now {report.totals[name]})")
        elif report.ran:
            self.stdout.write("  no new rows: the database already held this demo data")
        else:
            self.stdout.write("  nothing seeded: no seeding step is available in this checkout")
