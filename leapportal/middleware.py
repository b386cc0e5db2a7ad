"""Project middleware."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest


class RejectNulBytesMiddleware:
    """400 for a NUL byte in the path or the query string.

    PostgreSQL refuses NUL in text ("A string literal cannot contain NUL"), so a filter value
    carrying one would otherwise reach the database and come back as a 500. No legitimate link
    contains one.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists()
        ):
            return HttpResponseBadRequest(
                "A NUL byte is not allowed in a URL.", content_type="text/plain"
            )
        return self.get_response(request)
