"""Login throttling: django-axes' backend, for logins that come with a request; the model backend
with permissions in one query."""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.contrib.auth import backends as auth_backends
from django.db.models import Value
from django.http import HttpRequest


class ThrottledBackend(AxesStandaloneBackend):
    """Refuses a locked-out username/address pair (django-axes counts the failures).

    Without a request (a management command or the shell calling authenticate()) there is no
    address to throttle and no login form to protect: the backend stands aside and the model
    backend answers, instead of axes' "request required" error.
    """

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> Any:
        """Check the lockout for a request; do nothing without one."""
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)


class PermissionsBackend(auth_backends.ModelBackend):
    """Permissions as Django's model backend answers them, a user's own and group ones in one query.

    Every dashboard page checks a permission, and Django's backend reads the two sets in two
    queries (user_permissions, then the groups'); this reads them as one UNION ALL of the same
    two queries and fills the same per-request caches on the user, so Django's backend, listed
    after it, answers from them too. It logs nobody in (Django's backend does, as before, so
    sessions keep naming it and a wrong password is checked once).
    """

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        """Not a login backend."""
        return None

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        """The user's permissions, as Django's backend gives them."""
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache") and not user_obj.is_superuser:
            own = self._get_user_permissions(user_obj).values_list(
                Value("user"), "content_type__app_label", "codename"
            )
            groups = self._get_group_permissions(user_obj).values_list(
                Value("group"), "content_type__app_label", "codename"
            )
            found: dict[str, set[str]] = {"user": set(), "group": set()}
            for source, app_label, codename in own.order_by().union(groups.order_by(), all=True):
                found[source].add(f"{app_label}.{codename}")
            user_obj._user_perm_cache = found["user"]
            user_obj._group_perm_cache = found["group"]
        return super().get_all_permissions(user_obj, obj)
