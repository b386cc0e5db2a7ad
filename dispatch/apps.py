from __future__ import annotations

from django.apps import AppConfig


class DispatchConfig(AppConfig):
    name = "dispatch"
    verbose_name = "Dispatch"

    def ready(self) -> None:
        """Connect the signal that attaches parked events to arriving meters; let long work (the
        meter sync) give way to waiting deliveries (leapportal/priority.py)."""
        # Imported here, not at the top: receivers import models, which do not exist before the
        # app registry is ready (Django's way of connecting signals).
        from dispatch import signals  # noqa: F401
        from dispatch.inbox import oldest_due
        from leapportal import priority

        priority.register("dispatch deliveries", oldest_due)
