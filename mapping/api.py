"""A small JSON API for our other internal systems: meters with their mapping, and mapping updates.

Authentication is a per-system bearer token (mapping.ApiToken), not a login session: the views
are exempt from LoginRequiredMiddleware and CSRF and check the token themselves. Updates go
through mapping.actions with source "api", so they obey the same rules and land in the audit.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import EmptyPage, Paginator
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from mapping import flags
from mapping.actions import MappingRefused, clear_mapping, set_mapping
from mapping.models import MappingChange, MeterMapping
from mapping.tokens import error, token_required
from meters.models import Meter

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
LIST_PARAMS = {"meter_id", "partner_reference", "customer_id", "page", "page_size"}
MAPPING_FIELDS = {"customer_id", "site_id", "label", "reason"}


def meter_json(
    meter: Meter | None, mapping: MeterMapping | None, found: list[flags.Flag]
) -> dict[str, Any]:
    """One meter with Leap's reference, our mapping and its flags."""
    facts = flags.portfolio.facts_of(meter)
    return {
        "meter_id": str(meter.pk if meter else mapping.meter_id),  # type: ignore[union-attr]
        "partner_reference": facts.partner_reference if facts else None,
        "in_leap": bool(facts and not facts.missing),
        "is_archived": bool(facts and facts.archived),
        "mapping": None
        if mapping is None
        else {
            **mapping.snapshot(),
            "updated_at": mapping.updated_at.isoformat(),
            "updated_by": mapping.updated_by,
        },
        "flags": [f.code for f in found],
    }


def _values(request: HttpRequest, name: str) -> list[str]:
    return [v.strip() for raw in request.GET.getlist(name) for v in raw.split(",") if v.strip()]


@require_GET
@token_required(write=False)
def meters(request: HttpRequest) -> JsonResponse:
    """GET /api/meters/?meter_id=&partner_reference=&customer_id=&page=&page_size= (lists: a,b)."""
    unknown = sorted(set(request.GET) - LIST_PARAMS)
    if unknown:
        return error(
            400, f"unknown parameter(s): {', '.join(unknown)}", allowed=sorted(LIST_PARAMS)
        )
    qs = flags.annotate_meters(Meter.objects.all()).order_by("meter_id")
    if ids := _values(request, "meter_id"):
        try:
            qs = qs.filter(pk__in=[uuid.UUID(i) for i in ids])
        except ValueError:
            return error(400, "meter_id must be UUIDs")
    if refs := _values(request, "partner_reference"):
        qs = qs.filter(partner_reference__in=refs)
    if customers := _values(request, "customer_id"):
        qs = qs.filter(mapping__customer_id__in=customers)
    try:
        page_size = int(request.GET.get("page_size", DEFAULT_PAGE_SIZE))
        number = int(request.GET.get("page", 1))
    except ValueError:
        return error(400, "page and page_size must be whole numbers")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        return error(400, f"page_size must be between 1 and {MAX_PAGE_SIZE}")
    paginator = Paginator(qs, page_size)
    try:
        page = paginator.page(number)
    except EmptyPage:
        return error(404, f"page {number} does not exist (there are {paginator.num_pages})")
    results = [
        meter_json(m, m.mapping if flags.has_mapping(m) else None, flags.flags_of_meter(m))
        for m in page
    ]
    next_url = None
    if page.has_next():
        query = request.GET.copy()
        query["page"] = str(page.next_page_number())
        next_url = request.build_absolute_uri(
            reverse("api:meters") + "?" + urlencode(query, doseq=True)
        )
    return JsonResponse(
        {
            "count": paginator.count,
            "page": number,
            "page_size": page_size,
            "next": next_url,
            "results": results,
        }
    )


def _one(meter_id: uuid.UUID) -> dict[str, Any] | None:
    meter = flags.annotate_meters(Meter.objects.filter(pk=meter_id)).first()
    if meter is not None:
        mapping = meter.mapping if flags.has_mapping(meter) else None
        return meter_json(meter, mapping, flags.flags_of_meter(meter))
    mapping = MeterMapping.objects.filter(pk=meter_id).first()
    if mapping is None:
        return None
    return meter_json(None, mapping, flags.flags_for(None, mapping))


@require_GET
@token_required(write=False)
def meter(request: HttpRequest, meter_id: uuid.UUID) -> JsonResponse:
    """GET /api/meters/<meter_id>/: one meter (or a mapping whose meter Leap no longer has)."""
    found = _one(meter_id)
    if found is None:
        return error(404, f"no meter and no mapping with meter_id {meter_id}")
    return JsonResponse(found)


@require_http_methods(["PUT", "DELETE"])
@token_required(write=True)
def meter_mapping(request: HttpRequest, meter_id: uuid.UUID) -> JsonResponse:
    """PUT {customer_id, site_id, label, reason} sets the mapping; DELETE {reason} removes it."""
    if request.content_type != "application/json":
        return error(415, "send a JSON body with Content-Type: application/json")
    try:
        body = json.loads(request.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return error(400, f"the body is not valid JSON: {exc}")
    if not isinstance(body, dict):
        return error(400, "the body must be a JSON object")
    allowed = MAPPING_FIELDS if request.method == "PUT" else {"reason"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        return error(400, f"unknown field(s): {', '.join(unknown)}", allowed=sorted(allowed))
    not_text = sorted(k for k, v in body.items() if not isinstance(v, str))
    if not_text:
        return error(400, f"field(s) must be strings: {', '.join(not_text)}")
    token = request.api_token  # type: ignore[attr-defined]
    try:
        if request.method == "PUT":
            change = set_mapping(
                meter_id,
                customer_id=body.get("customer_id", ""),
                site_id=body.get("site_id", ""),
                label=body.get("label", ""),
                reason=body.get("reason", ""),
                actor=token,
                source=MappingChange.Source.API,
            )
        else:
            change = clear_mapping(
                meter_id,
                reason=body.get("reason", ""),
                actor=token,
                source=MappingChange.Source.API,
            )
    except MappingRefused as exc:
        status = {"unknown_meter": 404, "site_taken": 409}.get(exc.code, 400)
        return error(status, str(exc), errors=exc.errors)
    result = _one(meter_id) or {"meter_id": str(meter_id), "mapping": None}
    return JsonResponse({**result, "changed": change is not None})
