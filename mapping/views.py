"""Mapping pages: overview, one meter's mapping with inline editing, and the audit trail.

Reading needs roles.VIEW; every change needs roles.EDIT_MAPPING, checked here on the server
(a viewer or operator gets 403 on POST whatever the page showed them).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Page, Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event

from leapportal import roles
from leapportal.htmx import render_page, wants_fragment
from leapportal.web import csvexport
from mapping import flags, leap_reference
from mapping.actions import MappingRefused, clear_mapping, set_mapping
from mapping.forms import AuditFilterForm, MappingForm, OverviewFilterForm, ReasonForm
from mapping.models import MappingChange, MeterMapping
from meters.models import Meter

PAGE_SIZE = 50


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
@vary_on_headers("HX-Request")
def overview(request: HttpRequest) -> HttpResponse:
    """Every meter with Leap's reference, our mapping and its flags; filterable by flag."""
    if wants_fragment(request) and request.GET.get("part") == "counts":
        counts = _counts()  # the cards refresh themselves after an inline edit
        cards = [(code, label, counts[code]) for code, label in flags.FILTERS.items()]
        counts_context: dict[str, Any] = {"counts": counts, "cards": cards}
        return render(request, "mapping/overview.html#mapping-counts", counts_context)
    form = OverviewFilterForm(request.GET)
    flag = form.cleaned_data.get("flag", "") if form.is_valid() else ""
    page: Page[Any]  # of mappings (no meter any more) or of meters
    if flag == "missing":
        mappings = flags.missing_mappings()
        if form.is_valid() and (q := form.cleaned_data.get("q", "").strip()):
            mappings = mappings.filter(_mapping_search(q))
        page = Paginator(mappings.order_by("customer_id", "meter_id"), PAGE_SIZE).get_page(
            request.GET.get("page")
        )
        meters = Meter.objects.in_bulk([m.meter_id for m in page])
        rows = [_row(meters.get(m.meter_id), m) for m in page]
    else:
        meters_qs = flags.annotate_meters(Meter.objects.all())
        if form.is_valid():
            meters_qs = form.search(flags.filter_meters(meters_qs, flag))
        page = Paginator(meters_qs.order_by("meter_id"), PAGE_SIZE).get_page(
            request.GET.get("page")
        )
        rows = [_row(m, m.mapping if flags.has_mapping(m) else None) for m in page]
    counts = _counts() if not wants_fragment(request) else {}
    context: dict[str, Any] = {
        "form": form,
        "flag": flag,
        "page": page,
        "rows": rows,
        "counts": counts,
        "cards": [(code, label, counts.get(code)) for code, label in flags.FILTERS.items()],
        "one_meter_per_site": flags.portfolio.one_meter_per_site(),
    }
    return render_page(request, "mapping/overview.html", context, fragment="mapping-table")


def _mapping_search(q: str) -> Q:
    try:
        return Q(meter_id=uuid.UUID(q))
    except ValueError:
        return Q(customer_id__icontains=q) | Q(site_id__icontains=q) | Q(label__icontains=q)


def _row(meter: Meter | None, mapping: MeterMapping | None) -> dict[str, Any]:
    if meter is not None:
        found = flags.flags_of_meter(meter)
    else:
        found = flags.flags_for(None, mapping)
    meter_id = meter.pk if meter is not None else mapping.meter_id  # type: ignore[union-attr]
    return {"meter_id": meter_id, "meter": meter, "mapping": mapping, "flags": found}


def _counts() -> dict[str, int]:
    return flags.counts()


def _inline_context(request: HttpRequest, meter_id: uuid.UUID, **extra: Any) -> dict[str, Any]:
    meter = flags.annotate_meters(Meter.objects.filter(pk=meter_id)).first()
    if meter is not None:
        mapping = meter.mapping if flags.has_mapping(meter) else None
        found = flags.flags_of_meter(meter)
    else:
        mapping = MeterMapping.objects.filter(pk=meter_id).first()
        found = flags.flags_for(None, mapping)
    return {
        "meter_id": meter_id,
        "meter": meter,
        "mapping": mapping,
        "flags": found,
        "can_edit": request.user.has_perm(roles.EDIT_MAPPING),
        **extra,
    }


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def meter_mapping(request: HttpRequest, meter_id: uuid.UUID) -> HttpResponse:
    """One meter: Leap's reference and ours side by side, flags, inline edit, its audit trail."""
    context = _inline_context(request, meter_id)
    if context["meter"] is None and context["mapping"] is None:
        return render(request, "mapping/unknown_meter.html", {"meter_id": meter_id}, status=404)
    editing = request.GET.get("edit") == "1" and context["can_edit"]
    if editing:
        context["editing"] = True
        context["form"] = MappingForm(initial=_initial(context["mapping"]))
    context["changes"] = MappingChange.objects.filter(meter_id=meter_id).select_related(
        "mapping_import"
    )[:200]
    context["leap_push"] = leap_reference.PUSH_STATUS
    return render(request, "mapping/meter.html", context)


def _initial(mapping: MeterMapping | None) -> dict[str, str]:
    return mapping.snapshot() if mapping else {}


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def inline(request: HttpRequest, meter_id: uuid.UUID) -> HttpResponse:
    """The mapping cell as shown (the Cancel of the inline form comes back here)."""
    return render(
        request, "mapping/partials/mapping_inline.html", _inline_context(request, meter_id)
    )


@require_GET
@permission_required(roles.EDIT_MAPPING, raise_exception=True)
def edit(request: HttpRequest, meter_id: uuid.UUID) -> HttpResponse:
    """The inline edit form (htmx), or the meter's mapping page in edit mode (no JavaScript)."""
    if not wants_fragment(request):
        return redirect(reverse("mapping:meter", args=[meter_id]) + "?edit=1")
    context = _inline_context(request, meter_id, editing=True)
    context["form"] = MappingForm(initial=_initial(context["mapping"]))
    return render(request, "mapping/partials/mapping_inline.html", context)


@require_POST
@permission_required(roles.EDIT_MAPPING, raise_exception=True)
def save(request: HttpRequest, meter_id: uuid.UUID) -> HttpResponse:
    """Set the mapping from the inline form; on a refusal the form comes back with the reason."""
    form = MappingForm(request.POST)
    change = None
    if form.is_valid():
        try:
            change = set_mapping(
                meter_id, **form.cleaned_data, actor=request.user, source=MappingChange.Source.PAGE
            )
        except MappingRefused as exc:
            for name, message in exc.errors.items():
                form.add_error(None if name not in form.fields else name, message)
    if form.errors:
        context = _inline_context(request, meter_id, editing=True, form=form)
        if wants_fragment(request):
            return render(request, "mapping/partials/mapping_inline.html", context)
        context["leap_push"] = leap_reference.PUSH_STATUS
        return render(request, "mapping/meter.html", context, status=400)
    note = "Mapping saved." if change else "Nothing changed."
    if not wants_fragment(request):
        messages.success(request, note)
        return redirect("mapping:meter", meter_id=meter_id)
    response = render(
        request,
        "mapping/partials/mapping_inline.html",
        _inline_context(request, meter_id, note=note),
    )
    if change:
        trigger_client_event(response, "mappingChanged", {"meter_id": str(meter_id)})
    return response


@require_POST
@permission_required(roles.EDIT_MAPPING, raise_exception=True)
def clear(request: HttpRequest, meter_id: uuid.UUID) -> HttpResponse:
    """Remove the mapping (with a reason)."""
    form = ReasonForm(request.POST)
    if form.is_valid():
        try:
            clear_mapping(
                meter_id,
                reason=form.cleaned_data["reason"],
                actor=request.user,
                source=MappingChange.Source.PAGE,
            )
        except MappingRefused as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Mapping removed.")
    else:
        messages.error(request, "Give a reason of at least 3 characters to remove a mapping.")
    return redirect("mapping:meter", meter_id=meter_id)


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
@vary_on_headers("HX-Request")
def audit(request: HttpRequest) -> HttpResponse:
    """Every mapping change across all meters, filterable, newest first."""
    form = AuditFilterForm(request.GET)
    changes = MappingChange.objects.all()
    changes = form.apply(changes) if form.is_valid() else changes.none()
    page = Paginator(changes.select_related("mapping_import"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    # People know meters by reference and customer: the page's meters, in one query.
    meters = Meter.objects.only(
        "meter_id", "partner_reference", "end_customer_name", "transmission_region"
    ).in_bulk({c.meter_id for c in page})
    for change in page:
        change.meter = meters.get(change.meter_id)  # type: ignore[attr-defined]  # for the template
    query = request.GET.copy()
    query.pop("page", None)
    return render_page(
        request,
        "mapping/audit.html",
        {"form": form, "page": page, "query": query.urlencode()},
        fragment="audit-table",
    )


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def audit_csv(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The filtered audit trail as CSV."""
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return HttpResponse(
            f"Invalid filter: {form.errors.as_text()}", status=400, content_type="text/plain"
        )
    changes = form.apply(MappingChange.objects.all())
    fields = ("customer_id", "site_id", "label")
    header = (
        ["at", "meter_id", "action", "actor", "source", "reason", "import_id"]
        + [f"before_{f}" for f in fields]
        + [f"after_{f}" for f in fields]
    )

    def rows() -> Any:
        for c in changes.iterator(chunk_size=2000):
            before, after = c.before or {}, c.after or {}
            yield (
                [
                    c.at.isoformat(),
                    c.meter_id,
                    c.action,
                    c.actor_name,
                    c.source,
                    c.reason,
                    c.mapping_import_id or "",
                ]
                + [before.get(f, "") for f in fields]
                + [after.get(f, "") for f in fields]
            )

    return csvexport.stream_response("mapping-audit.csv", header, rows(), lineterminator="\n")
