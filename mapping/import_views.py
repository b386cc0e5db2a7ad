"""CSV import pages (admins only): upload, dry-run preview, apply; plus the CSV export."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from leapportal import roles
from leapportal.htmx import render_page
from leapportal.web import csvexport
from mapping import imports
from mapping.forms import ImportRowFilterForm, ReasonForm, UploadForm
from mapping.models import MappingImport


@require_http_methods(["GET", "POST"])
@permission_required(roles.EDIT_MAPPING, raise_exception=True)
def upload(request: HttpRequest) -> HttpResponse:
    """Upload a CSV; a readable file goes on to its preview, a refused one shows why."""
    limit = settings.MAPPING_IMPORT_MAX_BYTES
    form = UploadForm()
    refused = None
    status = 200
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            f = form.cleaned_data["file"]
            if f.size > limit:
                refused = imports.refuse_oversize(
                    filename=f.name, size=f.size, limit=limit, uploaded_by=request.user
                )
                status = 413
            else:
                result = imports.preview_upload(f.read(), filename=f.name, uploaded_by=request.user)
                if result.status != MappingImport.Status.REJECTED:
                    return redirect("mapping:import_detail", pk=result.pk)
                refused = result
                status = 400
        else:
            status = 400
    recent = MappingImport.objects.select_related("uploaded_by", "applied_by").defer("raw")[:20]
    context = {"form": form, "refused": refused, "recent": recent, "limit_mb": limit / 1024 / 1024}
    return render(request, "mapping/import_upload.html", context, status=status)


@require_GET
@permission_required(roles.EDIT_MAPPING, raise_exception=True)
@vary_on_headers("HX-Request")
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The dry-run preview: counts, then every line's verdict (filterable by outcome)."""
    upload = get_object_or_404(
        MappingImport.objects.select_related("uploaded_by", "applied_by").defer("raw"), pk=pk
    )
    form = ImportRowFilterForm(request.GET)
    rows = upload.rows.all()
    if form.is_valid() and form.cleaned_data["outcome"]:
        rows = rows.filter(outcome=form.cleaned_data["outcome"])
    page = Paginator(rows, 100).get_page(request.GET.get("page"))
    context = {"upload": upload, "form": form, "page": page, "apply_form": ReasonForm()}
    return render_page(request, "mapping/import_detail.html", context, fragment="import-rows")


@require_POST
@permission_required(roles.EDIT_MAPPING, raise_exception=True)
def apply(request: HttpRequest, pk: int) -> HttpResponse:
    """Apply the previewed import in one transaction, or say why not (nothing applied then)."""
    upload = get_object_or_404(MappingImport.objects.defer("raw"), pk=pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a reason for this import (it is kept in the audit).")
        return redirect("mapping:import_detail", pk=upload.pk)
    try:
        written = imports.apply_import(
            upload.pk, actor=request.user, reason=form.cleaned_data["reason"]
        )
    except imports.ImportNotApplicable as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Applied: {written} mappings written.")
    return redirect("mapping:import_detail", pk=upload.pk)


@require_POST
@permission_required(roles.EDIT_MAPPING, raise_exception=True)
def repreview(request: HttpRequest, pk: int) -> HttpResponse:
    """Preview the kept file again against the current state."""
    upload = get_object_or_404(MappingImport, pk=pk)
    if upload.status == MappingImport.Status.REJECTED and not upload.raw:
        messages.error(request, "This upload was refused for its size; its content was not kept.")
        return redirect("mapping:import")
    fresh = imports.repreview(upload, uploaded_by=request.user)
    return redirect("mapping:import_detail", pk=fresh.pk)


@require_GET
@permission_required(roles.EDIT_MAPPING, raise_exception=True)
def download(request: HttpRequest, pk: int) -> HttpResponse:
    """The uploaded file exactly as received, for inspection."""
    upload = get_object_or_404(MappingImport, pk=pk)
    response = HttpResponse(bytes(upload.raw), content_type="application/octet-stream")
    # The name came from the uploader.
    response["Content-Disposition"] = csvexport.attachment(f"import-{upload.pk}-{upload.filename}")
    return response


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def export(request: HttpRequest) -> StreamingHttpResponse:
    """The whole mapping as CSV, in the import format."""
    response = StreamingHttpResponse(imports.export_rows(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%dT%H%MZ")
    response["Content-Disposition"] = csvexport.attachment(f"meter-mapping-{stamp}.csv")
    response["Cache-Control"] = "no-store"
    return response
