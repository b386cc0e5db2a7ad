"""Customer outreach pages: compose and send one action's email, send to all, edit templates."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from alerts import outreach
from alerts.forms import ComposeForm, TemplateForm
from alerts.models import OutboundMessage
from leapportal import roles
from leapportal.htmx import wants_fragment
from leapportal.web.mailto import mailto
from meters.models import Meter, ReasonCode, RequiredAction
from ops import queue


def _action(pk: int) -> RequiredAction:
    return get_object_or_404(
        RequiredAction.objects.select_related("meter").defer(
            "meter__details_raw", "meter__enrollment_raw"
        ),
        pk=pk,
    )


def panel_context(action: RequiredAction) -> dict[str, Any]:
    """The sent/queued/refused customer emails of one action (the work panel shows them)."""
    return {
        "action": action,
        "sent_messages": OutboundMessage.objects.filter(
            purpose=OutboundMessage.Purpose.OUTREACH, action=action
        )
        .select_related("created_by")
        .order_by("-created_at")[:20],
        "address_problem": outreach.address_problem(action.meter.end_customer_email),
    }


@require_http_methods(["GET", "POST"])
@permission_required(roles.WORK_QUEUE, raise_exception=True)
def compose(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the action's email rendered from the catalogue, editable. POST: queue it for sending."""
    action = _action(pk)
    reason = ReasonCode.objects.filter(code=action.code).first()
    now = timezone.now()
    error = ""
    if request.method == "POST":
        form = ComposeForm(request.POST)
        if form.is_valid():
            try:
                message = outreach.queue_email(
                    action, to=form.cleaned_data["to"], subject=form.cleaned_data["subject"],
                    body=form.cleaned_data["body"], by=request.user, now=now,
                )  # fmt: skip
            except outreach.Refused as exc:
                error = str(exc)
            else:
                messages.success(request, f"Email to {message.to} queued for sending.")
                if wants_fragment(request):
                    return render(
                        request, "alerts/partials/outreach_panel.html", panel_context(action)
                    )
                return redirect("ops:action", pk=action.pk)
        else:
            error = form.errors.as_text()
    else:
        subject, body = reason.render_email(action.meter, action) if reason else ("", "")
        form = ComposeForm(
            initial={"to": action.meter.end_customer_email or "", "subject": subject, "body": body}
        )
    address = (form["to"].value() or "").strip()
    context = {
        **panel_context(action),
        "form": form,
        "error": error,
        "reason": reason,
        "guard": outreach.recent_send(action.pk, address, now) if address else None,
        "guard_hours": _guard_hours(),
        "mailto": mailto(
            action.meter.end_customer_email,
            form["subject"].value() or "",
            form["body"].value() or "",
        ),
    }
    template = "alerts/compose.html"
    if wants_fragment(request):
        template = "alerts/partials/compose_form.html"
    return render(request, template, context, status=400 if error else 200)


def _guard_hours() -> int:
    return settings.OUTREACH_RESEND_GUARD_HOURS


@require_http_methods(["GET", "POST"])
@permission_required(roles.WORK_QUEUE, raise_exception=True)
def send_all(request: HttpRequest) -> HttpResponse:
    """The queue's filtered actions of one code: count, preview of the first, then send to all."""
    params = request.POST if request.method == "POST" else request.GET
    query = queue.parse(params)
    now = timezone.now()
    if not query.code:
        messages.error(request, "Filter the queue to one code first, then send to all of them.")
        return redirect(reverse("ops:actions"))
    reason = ReasonCode.objects.filter(code=query.code).first()
    actions = queue.filtered(query, user=request.user, now=now).filter(resolved_at__isnull=True)
    bulk = outreach.plan(actions, query.code, now)
    subject = params.get("subject", reason.email_subject if reason else "")
    body = params.get("body", reason.email_body if reason else "")
    error, preview = "", None
    try:
        outreach.check_template(subject, body)
        if not subject.strip() or not body.strip():
            raise outreach.TemplateError("the email needs a subject and a text")
        if bulk.first is not None:
            preview = outreach.render(subject, body, bulk.first.meter, bulk.first)
    except outreach.TemplateError as exc:
        error = str(exc)
    if request.method == "POST" and not error:
        if params.get("confirm_count") != str(len(bulk.sendable)):
            error = (
                f"The selection changed ({len(bulk.sendable)} sendable now): check the preview "
                "and send again."
            )
        else:
            done = outreach.send_all(bulk, subject=subject, body=body, by=request.user, now=now)
            messages.success(
                request,
                f"{done['queued']} emails queued; {done['refused']} refused (invalid address); "
                f"{done['skipped']} skipped (emailed within {_guard_hours()} h).",
            )
            return redirect(reverse("ops:actions") + "?" + _queue_params(params))
    context = {
        "query": query, "reason": reason, "bulk": bulk, "subject": subject, "body": body,
        "preview": preview, "error": error, "fields": outreach.FIELD_HELP,
        "queue_params": _queue_params(params), "guard_hours": _guard_hours(),
    }  # fmt: skip
    return render(
        request,
        "alerts/send_all.html",
        context,
        status=400 if error and request.method == "POST" else 200,
    )


def _queue_params(params: Any) -> str:
    keep = QueryDict(mutable=True)
    for key in ("side", "status", "code", "action_type", "state", "assignee", "region",
                "program", "urgency", "snoozed", "q"):  # fmt: skip
        if params.get(key):
            keep[key] = params[key]
    return keep.urlencode()


# --- templates -------------------------------------------------------------------------------


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def template_list(request: HttpRequest) -> HttpResponse:
    """The reason codes and their customer email templates."""
    codes = ReasonCode.objects.order_by("kind", "code")
    return render(
        request,
        "alerts/template_list.html",
        {"codes": codes, "can_edit": request.user.has_perm(roles.MANAGE_SETTINGS)},
    )


def _preview_meter(code: str, wanted: str) -> tuple[Meter | None, RequiredAction | None, str]:
    """The meter to preview with: the one asked for, else one with an open action of the code."""
    meters = Meter.objects.defer("details_raw", "enrollment_raw")
    if wanted:
        try:
            meter = meters.filter(pk=uuid.UUID(wanted)).first()
        except ValueError:
            meter = meters.filter(partner_reference=wanted).first()
        if meter is None:
            return None, None, f"No meter {wanted!r}."
        action = meter.required_actions.filter(code=code).order_by("-first_seen_at").first()
        return meter, action, ""
    action = (
        RequiredAction.objects.filter(code=code, resolved_at__isnull=True)
        .select_related("meter")
        .order_by("deadline")
        .first()
    )
    if action is not None:
        return action.meter, action, ""
    meter = meters.order_by("partner_reference").first()
    return meter, None, "" if meter else "No meter yet to preview with."


@require_http_methods(["GET", "POST"])
@permission_required(roles.MANAGE_SETTINGS, raise_exception=True)
def template_edit(request: HttpRequest, code: str) -> HttpResponse:
    """Edit a code's email (admins): fields listed beside it, preview against a real meter."""
    reason = get_object_or_404(ReasonCode, code=code)
    if request.method == "POST":
        form = TemplateForm(request.POST)
    else:
        form = TemplateForm(
            initial={
                "email_subject": reason.email_subject,
                "email_body": reason.email_body,
                "meter": request.GET.get("meter", ""),
            }  # fmt: skip
        )
    preview, errors = None, []
    saving = request.method == "POST" and bool(request.POST.get("save"))
    if form.is_valid() or request.method == "GET":
        data = form.cleaned_data if request.method == "POST" else form.initial
        reason.email_subject = data.get("email_subject", "")
        reason.email_body = data.get("email_body", "")
        try:
            reason.clean()
        except ValidationError as exc:
            errors = [
                f"{name.replace('email_', '')}: {m}"
                for name, ms in exc.message_dict.items()
                for m in ms
            ]
        if saving and not errors:  # a meter to preview with is not needed to save
            reason.save(update_fields=["email_subject", "email_body"])
            messages.success(request, f"The email of {code} was saved.")
            return redirect("outreach:template", code=code)
        meter, action, meter_error = _preview_meter(code, (data.get("meter") or "").strip())
        if not errors and meter is not None:
            preview = {"meter": meter, "action": action,
                       "email": reason.render_email(meter, action)}  # fmt: skip
        if meter_error:
            errors.append(meter_error)
    else:
        errors = [form.errors.as_text()]
    status = 400 if errors and saving else 200
    return render(
        request,
        "alerts/template_edit.html",
        {
            "reason": reason,
            "form": form,
            "errors": errors,
            "preview": preview,
            "fields": outreach.FIELD_HELP,
        },  # fmt: skip
        status=status,
    )
