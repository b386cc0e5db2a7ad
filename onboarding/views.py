"""Onboarding pages: upload and dry run, submit, follow a job live, fix and resubmit, funnel.

Viewers may look (history, jobs, funnel, the stuck lane); operators and admins onboard.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from leap import create_meters as cm
from leapportal import roles
from leapportal.htmx import wants_fragment
from mapping.models import MeterMapping
from meters.models import Meter
from onboarding import dryrun, follow, jobs
from onboarding.forms import (
    AssetFilterForm,
    MappingStartForm,
    RowFilterForm,
    ScopeForm,
    SubmitForm,
    UploadForm,
)
from onboarding.models import Asset, Draft, Job
from onboarding.outcomes import in_words, what_to_do


def _index_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {
        "upload_form": UploadForm(),
        "mapping_form": MappingStartForm(),
        "jobs": Job.objects.select_related("draft")
        .defer("draft__raw")
        .order_by("-submitted_at")[:30],
        "drafts": Draft.objects.exclude(status=Draft.Status.SUBMITTED)
        .select_related("created_by")
        .defer("raw")[:10],
        "can_onboard": request.user.has_perm(roles.WORK_QUEUE),
        "limit_mb": settings.ONBOARDING_MAX_BYTES / 1024 / 1024,
        "batch_size": settings.ONBOARDING_BATCH_SIZE,
        **extra,
    }


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def index(request: HttpRequest) -> HttpResponse:
    """Start an onboarding (upload, or from our mapping) and the history of jobs."""
    return render(request, "onboarding/index.html", _index_context(request))


@require_POST
@permission_required(roles.WORK_QUEUE, raise_exception=True)
def upload(request: HttpRequest) -> HttpResponse:
    """Check an uploaded file line by line; nothing is sent to Leap yet."""
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        context = _index_context(request, upload_form=form)
        return render(request, "onboarding/index.html", context, status=400)
    data = form.cleaned_data
    f = data["file"]
    scope = {
        "region": data["region"],
        "meter_type": data["meter_type"],
        "programs": data["programs"],
    }
    if f.size > settings.ONBOARDING_MAX_BYTES:
        draft = dryrun.refuse(
            raw=b"",
            filename=f.name,
            error=f"The file is {f.size / 1024 / 1024:.1f} MB; the limit is "
            f"{settings.ONBOARDING_MAX_BYTES / 1024 / 1024:.0f} MB. Split it.",
            user=request.user,
            **scope,
        )
        draft.size = f.size
        draft.save(update_fields=["size"])
    else:
        draft = dryrun.preview_upload(
            f.read(),
            filename=f.name,
            user=request.user,
            max_rows=settings.ONBOARDING_MAX_ROWS,
            **scope,
        )
    if draft.status == Draft.Status.REFUSED:
        context = _index_context(request, upload_form=form, refused=draft)
        return render(request, "onboarding/index.html", context, status=400)
    return redirect("onboarding:draft", pk=draft.pk)


def _csv_response(filename: str, header: list[str], rows: list[list[str]]) -> HttpResponse:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        # A leading = + - @ would be a formula in a spreadsheet: quote it away.
        writer.writerow(["'" + v if v and v[0] in "=+-@" else v for v in row])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
@permission_required(roles.WORK_QUEUE, raise_exception=True)
def template(request: HttpRequest) -> HttpResponse:
    """The CSV template (the header) for a region, meter type and programs."""
    form = ScopeForm(request.GET)
    if not form.is_valid():
        return HttpResponse(
            "Choose a region, a meter type and programs of that region: "
            + "; ".join(" ".join(e) for e in form.errors.values()),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    d = form.cleaned_data
    columns = dryrun.template_columns(d["region"], d["meter_type"], d["programs"])
    return _csv_response(f"onboarding-{d['region'].lower()}-template.csv", columns, [])


@require_POST
@permission_required(roles.WORK_QUEUE, raise_exception=True)
def from_mapping(request: HttpRequest) -> HttpResponse:
    """A template prefilled from our mapping: one line per mapped site of the customers given,
    with the address Leap holds for the site's current meter; device fields left to fill."""
    form = MappingStartForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "onboarding/index.html",
            _index_context(request, mapping_form=form),
            status=400,
        )
    d = form.cleaned_data
    columns = dryrun.template_columns(d["region"], d["meter_type"], d["programs"])
    mappings = (
        MeterMapping.objects.filter(customer_id__in=d["customers"])
        .order_by("customer_id", "site_id")
        .values_list("meter_id", "customer_id", "site_id", "label")
    )
    meter_fields = {
        "customer.street_1": "street_1",
        "customer.street_2": "street_2",
        "customer.city": "city",
        "customer.postal_code": "postal_code",
        "customer.state_or_province_code": "state_or_province_code",
        "customer.country_code": "country_code",
        "customer.end_customer_name": "end_customer_name",
        "customer.end_customer_email": "end_customer_email",
        "customer.end_customer_phone_number": "end_customer_phone_number",
        "customer_classification": "customer_classification",
        "utility.utility_name": "utility_name",
    }
    rows_by_meter = {m[0]: m for m in mappings}
    meters = {
        m["meter_id"]: m
        for m in Meter.objects.filter(pk__in=list(rows_by_meter)).values(
            "meter_id", *meter_fields.values()
        )
    }
    rows, seen_sites = [], set()
    suffix = d["meter_type"].lower().replace("_", "-")
    for meter_id, customer_id, site_id, label in rows_by_meter.values():
        key = (customer_id, site_id)
        if key in seen_sites:
            continue
        seen_sites.add(key)
        meter = meters.get(meter_id, {})
        values = {
            "customer_id": customer_id,
            "site_id": site_id,
            "label": label,
            "partner_reference": f"{site_id or customer_id}-{suffix}",
        }
        for column, attr in meter_fields.items():
            values[column] = str(meter.get(attr) or "")
        rows.append([values.get(c, "") for c in columns])
    if not rows:
        messages.warning(request, "None of these customers has a mapped site.")
        return redirect("onboarding:index")
    return _csv_response(f"onboarding-{d['region'].lower()}-from-mapping.csv", columns, rows)


def _problem_fields(problems: list[list[str]]) -> set[str]:
    return {p[0] for p in problems if p and p[0]}


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
@vary_on_headers("HX-Request")
def draft(request: HttpRequest, pk: int) -> HttpResponse:
    """A checked file: counts, then each line's verdict and reasons."""
    d = get_object_or_404(Draft.objects.select_related("created_by").defer("raw"), pk=pk)
    form = RowFilterForm(request.GET)
    rows = d.rows.all()
    if form.is_valid() and form.cleaned_data["verdict"]:
        rows = rows.filter(verdict=form.cleaned_data["verdict"])
    page = Paginator(rows, 100).get_page(request.GET.get("page"))
    batches = -(-d.sendable // settings.ONBOARDING_BATCH_SIZE) if d.sendable else 0
    template_name = "onboarding/draft.html"
    if wants_fragment(request):
        template_name += "#draft-rows"
    context = {
        "draft": d,
        "form": form,
        "page": page,
        "submit_form": SubmitForm(initial={"update_existing": d.update_existing}),
        "batches": batches,
        "batch_size": settings.ONBOARDING_BATCH_SIZE,
        "can_onboard": request.user.has_perm(roles.WORK_QUEUE),
        "job": Job.objects.filter(draft=d).first(),
    }
    return render(request, template_name, context)


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def draft_file(request: HttpRequest, pk: int) -> HttpResponse:
    """The file exactly as uploaded."""
    d = get_object_or_404(Draft, pk=pk)
    if not d.raw:
        raise Http404("the file was not kept (refused for its size)")
    kind = (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        if d.source == Draft.Source.XLSX
        else "text/csv"
    )
    response = HttpResponse(bytes(d.raw), content_type=kind)
    response["Content-Disposition"] = f'attachment; filename="{d.filename}"'
    return response


@require_POST
@permission_required(roles.WORK_QUEUE, raise_exception=True)
def submit(request: HttpRequest, pk: int) -> HttpResponse:
    """Send the ready lines of a checked draft to Leap, in batches."""
    d = get_object_or_404(Draft.objects.defer("raw"), pk=pk)
    form = SubmitForm(request.POST)
    if form.is_valid() and form.cleaned_data["update_existing"] != d.update_existing:
        Draft.objects.filter(pk=d.pk).update(update_existing=form.cleaned_data["update_existing"])
        d.update_existing = form.cleaned_data["update_existing"]
    try:
        job = jobs.submit_draft(d, user=request.user)
    except ValueError as exc:
        messages.error(request, f"Not sent: {exc}.")
        return redirect("onboarding:draft", pk=d.pk)
    messages.success(
        request, f"Job #{job.pk}: {job.counts['assets']} assets are being sent to Leap."
    )
    return redirect("onboarding:job", pk=job.pk)


def _decorate(assets: list[Asset]) -> None:
    for asset in assets:
        asset.words = in_words(asset.status, asset.detail_name)  # type: ignore[attr-defined]
        asset.todo = what_to_do(asset.detail_name) if asset.failed else ""  # type: ignore[attr-defined]


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
@vary_on_headers("HX-Request")
def job(request: HttpRequest, pk: int) -> HttpResponse:
    """A job, live: its batches at Leap and each asset's outcome (polls while open)."""
    j = get_object_or_404(Job.objects.select_related("draft", "parent").defer("draft__raw"), pk=pk)
    form = AssetFilterForm(request.GET)
    assets = j.assets.all()
    status = form.cleaned_data["status"] if form.is_valid() else ""
    if status == "failed":
        assets = assets.filter(status__in=Asset.FAILED_STATUSES)
    elif status:
        assets = assets.filter(status=status)
    page = Paginator(assets.order_by("line"), 100).get_page(request.GET.get("page"))
    _decorate(list(page.object_list))
    batches = list(j.batches.all())
    now = timezone.now()
    fixable = (
        j.assets.filter(status__in=Asset.FAILED_STATUSES, resubmitted_in__isnull=True).count()
        if not j.is_open
        else 0
    )
    context = {
        "job": j,
        "batches": batches,
        "page": page,
        "form": form,
        "now": now,
        "fixable": fixable,
        "can_onboard": request.user.has_perm(roles.WORK_QUEUE),
        "resubmissions": j.resubmissions.all(),
        "poll_seconds": settings.ONBOARDING_POLL_SECONDS,
    }
    template_name = "onboarding/job.html"
    if wants_fragment(request):
        template_name += "#job-live"
    return render(request, template_name, context)


EDITABLE_ALWAYS = ("partner_reference",)
ADDRESS = (
    "customer.street_1",
    "customer.street_2",
    "customer.city",
    "customer.postal_code",
    "customer.state_or_province_code",
)


def _fix_fields(asset: Asset) -> list[str]:
    """The fields offered for editing: Leap's failed fields, the address for address failures."""
    fields = [f for f in asset.failed_fields if f in cm.BY_PATH]
    if asset.detail_name.startswith(("ADDRESS", "UNSUPPORTED")):
        fields += ADDRESS
    if asset.detail_name in ("DUPLICATE_REF_ID",) or asset.status == Asset.Status.MULTIPLE:
        fields += EDITABLE_ALWAYS
    if not fields:
        fields = list(ADDRESS)
    return list(dict.fromkeys(fields))


@require_http_methods(["GET", "POST"])
@permission_required(roles.WORK_QUEUE, raise_exception=True)
def fix(request: HttpRequest, pk: int) -> HttpResponse:
    """Fix the failed assets of a job (only those) and check them again before resubmitting."""
    j = get_object_or_404(Job, pk=pk)
    failed = list(
        j.assets.filter(status__in=Asset.FAILED_STATUSES, resubmitted_in__isnull=True).order_by(
            "line"
        )[:200]
    )
    if j.is_open or not failed:
        messages.info(request, "This job has no failed asset left to fix.")
        return redirect("onboarding:job", pk=j.pk)
    _decorate(failed)
    for asset in failed:
        flat = cm.flatten(asset.payload)
        asset.fields = [  # type: ignore[attr-defined]
            {
                "path": path,
                "value": _as_text(flat.get(path)),
                "failed": path in asset.failed_fields,
                "message": asset.failed_fields.get(path, ""),
            }
            for path in _fix_fields(asset)
        ]
    if request.method == "POST":
        lines = []
        for asset in failed:
            if request.POST.get(f"skip-{asset.pk}"):
                continue
            line = dryrun.Line(asset.line, fixes_asset_id=asset.pk)
            payload = cm.flatten(asset.payload)
            for f in asset.fields:  # type: ignore[attr-defined]
                text = request.POST.get(f"a{asset.pk}-{f['path']}", "").strip()
                if text == "":
                    payload.pop(f["path"], None)
                    continue
                value, problem = cm.parse_text(cm.BY_PATH[f["path"]], text)
                if problem:
                    line.errors.append([f["path"], problem])
                else:
                    payload[f["path"]] = value
            rebuilt: dict[str, Any] = {}
            for path, value in payload.items():
                cm.set_path(rebuilt, path, value)
            dryrun.fill_and_check(
                line, rebuilt, region=j.region, meter_type=j.meter_type, programs=j.programs
            )
            line.customer_id, line.site_id, line.label = (
                asset.customer_id,
                asset.site_id,
                asset.label,
            )
            dryrun.check_link(line)
            lines.append(line)
        if not lines:
            messages.info(request, "Every failed asset was skipped: nothing to resubmit.")
            return redirect("onboarding:job", pk=j.pk)
        update_existing = bool(request.POST.get("update_existing"))
        dryrun.check_references(lines, update_existing=update_existing)
        body = "\n".join(str(line.asset) for line in lines).encode()
        d = dryrun.save_draft(
            lines,
            raw=body,
            filename=f"job-{j.pk}-fixes.json",
            source=Draft.Source.FIX,
            user=request.user,
            region=j.region,
            meter_type=j.meter_type,
            programs=j.programs,
            parent_job=j,
            update_existing=update_existing,
        )
        return redirect("onboarding:draft", pk=d.pk)
    return render(request, "onboarding/fix.html", {"job": j, "failed": failed})


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(map(str, value))
    return str(value)


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def failed_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """A job's failed assets as an onboarding file (to fix many in a spreadsheet)."""
    j = get_object_or_404(Job, pk=pk)
    failed = list(
        j.assets.filter(status__in=Asset.FAILED_STATUSES, resubmitted_in__isnull=True).order_by(
            "line"
        )
    )
    flats = [cm.flatten(a.payload) for a in failed]
    used = {p for flat in flats for p in flat}
    columns = ["customer_id", "site_id", "label"] + [f.path for f in cm.FIELDS if f.path in used]
    rows = [
        [a.customer_id, a.site_id, a.label] + [_as_text(flat.get(c)) for c in columns[3:]]
        for a, flat in zip(failed, flats, strict=True)
    ]
    return _csv_response(f"onboarding-job-{j.pk}-failed.csv", columns, rows)


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def funnel(request: HttpRequest) -> HttpResponse:
    """submitted -> created -> ELIGIBLE -> ACTIVE per program and per job, days in each step."""
    now = timezone.now()
    data = follow.funnel(now)
    job_ids = [row["key"] for row in data["jobs"]]
    names = {
        j.pk: j
        for j in Job.objects.filter(pk__in=job_ids).only("pk", "submitted_at", "submitted_by_name")
    }
    for row in data["jobs"]:
        row["job"] = names.get(row["key"])
    context = {**data, "stuck_days": settings.ONBOARDING_STUCK_DAYS, "now": now}
    return render(request, "onboarding/funnel.html", context)


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def stuck(request: HttpRequest) -> HttpResponse:
    """The action queue's lane of onboarded meters stuck before ACTIVE."""
    now = timezone.now()
    program = (request.GET.get("program") or "").strip()[:64]
    query = follow.stuck_assets(now, program or None)
    q = (request.GET.get("q") or "").strip()[:200]
    if q:
        query = query.filter(Q(partner_reference__icontains=q) | Q(customer_id__icontains=q))
    page = Paginator(query, 100).get_page(request.GET.get("page"))
    assets = list(page.object_list)
    follow.attach_actions(assets)
    cutoff = follow.stuck_cutoff(now)
    for asset in assets:
        asset.days = (now - asset.stage_since).days  # type: ignore[attr-defined]
        for step in asset.program_steps:  # type: ignore[attr-defined]
            step.days = (now - step.stage_since).days
            step.stuck = step.stage != Asset.Stage.ACTIVE and step.stage_since < cutoff
    context = {
        "page": page,
        "assets": assets,
        "stuck_days": settings.ONBOARDING_STUCK_DAYS,
        "program": program,
        "q": q,
    }
    return render(request, "onboarding/stuck.html", context)
