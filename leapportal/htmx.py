"""HTMX helpers shared by every app's views."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def wants_fragment(request: HttpRequest) -> bool:
    """True for an htmx request that swaps a fragment (not boosted, not a history restore)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page(
    request: HttpRequest, template: str, context: Mapping[str, Any], *, fragment: str
) -> HttpResponse:
    """The whole page, or for an htmx fragment request only its inline partial `fragment`
    (the template's `{% partialdef fragment %}`, rendered as "template#fragment")."""
    if wants_fragment(request):
        template = f"{template}#{fragment}"
    return render(request, template, context)
