"""Login throttling: django-axes' backend, for logins that come with a request."""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
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
