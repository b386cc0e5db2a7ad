from __future__ import annotations

from django.apps import AppConfig


class DispatchConfig(AppConfig):
    name = "dispatch"
    verbose_name = "Dispatch"

    def ready(self) -> None:
        """Connect the signal that attaches parked events to arriving meters."""
        from dispatch import signals  # noqa: F401
