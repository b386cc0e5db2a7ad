"""The bearer-token check of our JSON APIs (mapping's /api/ and dispatch's feed.json).

A per-system token (mapping.ApiToken, issued and revoked in the admin) serves a system for both
APIs. The views are exempt from LoginRequiredMiddleware and CSRF and check the token here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from mapping.models import ApiToken


def error(status: int, message: str, **extra: Any) -> JsonResponse:
    """The one error shape of this API: {"error": message, ...}."""
    response = JsonResponse({"error": message, **extra}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="leapportal"'
    return response


def token_required(
    *, write: bool
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Accept the request only with a valid, unrevoked token (and write access if asked)."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not presented.strip():
                return error(401, "send an API token: Authorization: Bearer <token>")
            token = ApiToken.objects.filter(
                digest=ApiToken.hash(presented.strip()), revoked_at__isnull=True
            ).first()
            if token is None:
                return error(401, "unknown or revoked API token")
            if write and not token.can_write:
                return error(403, f"token {token.name!r} may read but not change mappings")
            now = timezone.now()
            if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
                # At most one write a minute per token, not one per request.
                ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            request.api_token = token  # type: ignore[attr-defined]
            return view(request, *args, **kwargs)

        return login_not_required(csrf_exempt(wrapped))

    return decorate
