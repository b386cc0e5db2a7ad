"""`manage.py demo_logins`: one login per role for the demo, printed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from leapportal.demo import ensure_demo_logins


class Command(BaseCommand):
    """Create or reset the demo users viewer, operator and admin (admin is also a superuser)."""

    help = "Create or reset one login per role (viewer, operator, admin) and print them."

    def add_arguments(self, parser: CommandParser) -> None:
        """--password: use this password for all three instead of fresh random ones."""
        parser.add_argument("--password", help="one password for all (default: random each run)")

    def handle(self, *args: Any, password: str | None, **options: Any) -> None:
        """Create the users and print a small table."""
        self.stdout.write("Logins (one per role):")
        for login in ensure_demo_logins(password):
            extra = " (also a superuser)" if login.superuser else ""
            self.stdout.write(
                f"  {login.role:<9} username {login.username:<9} password {login.password}{extra}"
            )
