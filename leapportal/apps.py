from __future__ import annotations

from typing import Any

from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


def _after_migrate(sender: AppConfig, **kwargs: Any) -> None:
    # post_migrate is sent once per app; permissions of an app exist only after its own signal.
    # Acting on the last app's signal means every permission exists by then.
    if sender is list(apps.get_app_configs())[-1]:
        from leapportal.roles import sync_roles
        from leapportal.schedules import install_schedules

        sync_roles()
        install_schedules()


class LeapportalConfig(AppConfig):
    name = "leapportal"
    verbose_name = "Leap portal"

    def ready(self) -> None:
        post_migrate.connect(_after_migrate, dispatch_uid="leapportal-after-migrate")
