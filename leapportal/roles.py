"""The three roles, as Django groups with permissions.

viewer reads; operator also works queues and starts syncs; admin also edits mappings and settings
and uses the Django admin. `sync_roles()` runs after every migrate, so the groups always match this
table; the permission strings are what views check with `permission_required`.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

VIEWER = "viewer"
OPERATOR = "operator"
ADMIN = "admin"

VIEW = "leapportal.view_dashboard"
WORK_QUEUE = "leapportal.work_queue"
START_SYNC = "leapportal.start_sync"
EDIT_MAPPING = "leapportal.edit_mapping"
MANAGE_SETTINGS = "leapportal.manage_settings"

ROLE_PERMISSIONS: dict[str, list[str]] = {
    VIEWER: [VIEW],
    OPERATOR: [VIEW, WORK_QUEUE, START_SYNC],
    ADMIN: [VIEW, WORK_QUEUE, START_SYNC, EDIT_MAPPING, MANAGE_SETTINGS],
}
# Admins also get every model permission (for the Django admin), except of these framework apps
# whose rows nobody should edit by hand.
ADMIN_EXCLUDED_APPS = ("contenttypes", "sessions", "admin")

ROLES = (VIEWER, OPERATOR, ADMIN)


def _perm(label: str) -> Permission:
    """The Permission row for an "app_label.codename" string."""
    app_label, codename = label.split(".", 1)
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def sync_roles() -> None:
    """Create or update the three groups so their permissions are exactly ROLE_PERMISSIONS."""
    for role, labels in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = {_perm(label) for label in labels}
        if role == ADMIN:
            perms |= set(
                Permission.objects.exclude(content_type__app_label__in=ADMIN_EXCLUDED_APPS)
            )
        group.permissions.set(perms)
