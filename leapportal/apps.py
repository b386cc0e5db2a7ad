"""App configs: the portal itself and the Django admin bound to the portal's roles."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig, apps
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate


def _after_migrate(sender: AppConfig, **kwargs: Any) -> None:
    """Sync the role groups and install the beat schedule once every app has migrated."""
    # post_migrate is sent once per app that has a models module, in INSTALLED_APPS order; an app's
    # permissions exist only after its own signal. Acting on the last such app's signal means every
    # permission exists by then.
    with_models = [config for config in apps.get_app_configs() if config.models_module is not None]
    if sender is with_models[-1]:
        # Imported here, not at the top: both import models (auth groups, beat's tables), which
        # do not exist yet when Django imports this module to build the app registry.
        from leapportal.roles import sync_roles
        from leapportal.schedules import install_schedules

        sync_roles()
        install_schedules()


def mapping_installed() -> bool:
    """Whether our customer/site mapping (the mapping app) is part of this project."""
    return apps.is_installed("mapping")


class LeapportalConfig(AppConfig):
    """The project app: roles, schedules, heartbeat, management commands."""

    default = True  # "leapportal" in INSTALLED_APPS means this one, not the admin's config below
    name = "leapportal"
    verbose_name = "Leap portal"

    def ready(self) -> None:
        """Connect the post-migrate hook."""
        post_migrate.connect(_after_migrate, dispatch_uid="leapportal-after-migrate")


class PortalAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the role-checking site as `admin.site`."""

    default = False
    default_site = "leapportal.admin_site.PortalAdminSite"
