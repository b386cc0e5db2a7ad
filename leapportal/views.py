"""Project-level pages: the home page and the health probe."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required, permission_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from leapportal import roles


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def home(request: HttpRequest) -> HttpResponse:
    """Landing page after login. The overview issue replaces its content."""
    return render(request, "home.html")


@require_GET
@login_not_required
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: the process answers and the database is reachable."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
