"""The Django admin, open to the admin role only (not to every `is_staff` user)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest

from leapportal import roles


def may_use_admin(user: object) -> bool:
    """True for active superusers and members of the admin role."""
    return bool(
        getattr(user, "is_active", False)
        and (getattr(user, "is_superuser", False) or user.has_perm(roles.MANAGE_SETTINGS))  # type: ignore[attr-defined]
    )


class PortalAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's login form, checking the role instead of the is_staff flag."""

    def confirm_login_allowed(self, user: object) -> None:
        """Refuse users outside the admin role with the admin's usual message."""
        if not may_use_admin(user):
            raise forms.ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class PortalAdminSite(admin.AdminSite):
    """Admin site whose access follows leapportal.roles (MANAGE_SETTINGS), not is_staff."""

    site_header = "leapportal administration"
    site_title = "leapportal admin"
    index_title = "Administration"
    login_form = PortalAdminAuthenticationForm

    def has_permission(self, request: HttpRequest) -> bool:
        """Only the admin role (and superusers) may enter."""
        return may_use_admin(request.user)
