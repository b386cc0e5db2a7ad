"""The action queue: the list, one action, working it, bulk changes and the CSV export."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from leapportal import roles
from leapportal.htmx import render_page, wants_fragment
from leapportal.web import csvexport, timefmt
from leapportal.web.listing import paginate, parse_sort
from meters.models import MarketGroup, ReasonCode, RequiredAction
from ops import queue, workflow
from ops.models import (
    ActionWorkItem,
    ActionWorkItemChange,
    BulkWorkUpdate,
)
from ops.views import safe_next


def _queue_page_context(request: HttpRequest) -> dict[str, Any]:
    now = timezone.now()
    query = queue.parse(request.GET)
    sort = parse_sort(request.GET.get("sort"), queue.ACTION_SORTS, default="deadline")
    order = sort.order_by
    if query.group_by_code:
        order = ["code", *order]
    found = queue.for_rows(queue.filtered(query, user=request.user, now=now))
    page = paginate(found.order_by(*order), request.GET)
    queue.decorate(page.items, queue.reason_codes(page.items), emails=False)  # rows are closed
    previous = None
    for action in page.items:
        action.new_group = query.group_by_code and action.code != previous
        previous = action.code
    can_work = request.user.has_perm(roles.WORK_QUEUE)
    return {
        "query": query,
        "sort": sort,
        "page": page,
        "now": now,
        "states": queue.STATES,
        "summary": queue.code_summary(query, now),
        "lane": queue.lane(query.side),
        "lanes": queue.lane_counts(),
        "export_query": request.GET.urlencode(),
        "can_work": can_work,
        "workers": list(queue.workers()) if can_work else [],
        "work_states": ActionWorkItem.State.choices,
        "snooze_choices": queue.SNOOZE_CHOICES,
        "urgencies": queue.URGENCIES,
        "market_group": MarketGroup.objects.filter(pk=query.market_group).first()
        if query.market_group
        else None,
        "bulk_limit": workflow.BULK_LIMIT,
        "bulk_active": _active_bulk(request, can_work),
    }


def _active_bulk(request: HttpRequest, can_work: bool) -> BulkWorkUpdate | None:
    """The user's own bulk change still queued or running, its progress URL set: the queue
    keeps showing it (and polling) after a reload or a change of filters."""
    if not can_work:
        return None
    record = (
        BulkWorkUpdate.objects.filter(
            created_by=request.user, status__in=BulkWorkUpdate.ACTIVE_STATUSES
        )
        .select_related("created_by")
        .defer("action_ids", "arguments")
        .order_by("-pk")
        .first()
    )
    if record is not None:
        back = f"?{request.GET.urlencode()}" if request.GET else ""
        record.progress_url = _progress_url(record, back)  # type: ignore[attr-defined]
    return record


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
@vary_on_headers("HX-Request")
def action_queue(request: HttpRequest) -> HttpResponse:
    """Open partner actions by deadline, with guidance, email and workflow; Leap's in a lane."""
    return render_page(
        request, "ops/action_queue.html", _queue_page_context(request), fragment="action-table"
    )


def _action_context(
    request: HttpRequest, action: RequiredAction, *, saved: str = ""
) -> dict[str, Any]:
    queue.decorate([action], queue.reason_codes([action]))
    history = (
        ActionWorkItemChange.objects.filter(work_item__action=action)
        .select_related("changed_by", "bulk")
        .order_by("-changed_at", "-pk")[:20]
    )
    return {
        "action": action,
        "open": request.GET.get("closed") != "1",
        "work_states": ActionWorkItem.State.choices,
        "quick_states": [
            (s, label) for s, label in ActionWorkItem.State.choices if s != ActionWorkItem.State.NEW
        ],
        "now": timezone.now(),
        "history": history,
        "states": queue.STATES,
        "can_work": request.user.has_perm(roles.WORK_QUEUE),
        "workers": queue.workers() if request.user.has_perm(roles.WORK_QUEUE) else [],
        "snooze_choices": queue.SNOOZE_CHOICES,
        "columns": queue.COLUMNS,
        "saved": saved,
    }


def _get_action(pk: int) -> RequiredAction:
    return get_object_or_404(
        RequiredAction.objects.select_related("meter", "work_item__assignee").defer(
            "meter__details_raw", "meter__enrollment_raw"
        ),
        pk=pk,
    )


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
@vary_on_headers("HX-Request")
def action_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One action with its guidance, customer email and workflow (a page, or its row opened)."""
    action = _get_action(pk)
    template = (
        "ops/partials/action_row.html" if wants_fragment(request) else "ops/action_detail.html"
    )
    return render(request, template, _action_context(request, action))


class WorkForm(forms.Form):
    """The workflow form: a quick button changes one thing; Save applies every field."""

    quick = forms.ChoiceField(
        required=False, choices=[("", ""), ("me", "Assign to me"), *ActionWorkItem.State.choices]
    )
    assignee = forms.CharField(required=False, max_length=150)
    state = forms.ChoiceField(required=False, choices=[("", "—"), *ActionWorkItem.State.choices])
    note = forms.CharField(required=False, max_length=4000)
    snooze = forms.ChoiceField(required=False, choices=queue.SNOOZE_CHOICES)


@require_POST
@permission_required(roles.WORK_QUEUE, raise_exception=True)
def action_work(request: HttpRequest, pk: int) -> HttpResponse:
    """Assign, move the state, note or snooze one action; answers with its refreshed row."""
    action = _get_action(pk)
    form = WorkForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(f"invalid work update: {form.errors.as_text()}")
    changes = queue.work_changes(
        form.cleaned_data,
        request.POST,
        user=request.user,
        states=ActionWorkItem.State.values,
        now=timezone.now(),
    )
    if isinstance(changes, str):
        return HttpResponseBadRequest(changes)
    _, changed = workflow.update_work_item(action, actor=request.user, **changes)
    saved = f"{', '.join(changed)} updated" if changed else "nothing to change"
    if not wants_fragment(request):
        # A full page follows: the message belongs to it, and is shown there once.
        if changed:
            messages.success(request, f"{action.code} on {action.meter}: {saved}")
        return redirect(safe_next(request, reverse("ops:action", args=[action.pk])))
    # htmx: the confirmation travels inside this action's own row, never through the session
    # (where it would surface on whatever full page is loaded next).
    action = _get_action(pk)
    context = _action_context(request, action, saved=saved)
    response = render(request, "ops/partials/action_row.html", context)
    response["HX-Trigger"] = "actionsChanged"
    return response


class BulkForm(forms.Form):
    """A bulk change: which actions (ids, or every match of the filters) and what to do."""

    operation = forms.ChoiceField(choices=BulkWorkUpdate.Operation.choices)
    ids = forms.TypedMultipleChoiceField(required=False, coerce=int, choices=[])
    all_matching = forms.BooleanField(required=False)
    query = forms.CharField(required=False, max_length=2000)
    assignee = forms.CharField(required=False, max_length=150)
    state = forms.ChoiceField(required=False, choices=[("", "—"), *ActionWorkItem.State.choices])
    snooze = forms.ChoiceField(required=False, choices=queue.SNOOZE_CHOICES)
    note = forms.CharField(required=False, max_length=4000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Any positive id is accepted here; ids of actions that do not exist simply match nothing.
        self.fields["ids"].valid_value = lambda value: str(value).isdigit()  # type: ignore[attr-defined]


def _bulk_target(request: HttpRequest, data: dict[str, Any]) -> tuple[list[int], str] | str:
    """The ids a bulk form means and the filters behind them, or an error message."""
    if data["all_matching"]:
        params = QueryDict(data["query"])
        query = queue.parse(params)
        sort = parse_sort(params.get("sort"), queue.ACTION_SORTS, default="deadline")
        found = queue.filtered(query, user=request.user, now=timezone.now())
        ids = list(
            found.order_by(*sort.order_by).values_list("pk", flat=True)[: workflow.BULK_LIMIT + 1]
        )
        if len(ids) > workflow.BULK_LIMIT:
            return f"more than {workflow.BULK_LIMIT:,} actions match: narrow the filters first"
        return ids, data["query"]
    ids = sorted(set(data["ids"]))
    if not ids:
        return "select at least one action"
    if len(ids) > workflow.BULK_LIMIT:
        return f"at most {workflow.BULK_LIMIT:,} actions at once"
    return list(RequiredAction.objects.filter(pk__in=ids).values_list("pk", flat=True)), ""


def _bulk_change(request: HttpRequest, data: dict[str, Any]) -> tuple[Any, str] | str:
    """The value and label of the bulk operation, or an error message."""
    operation = data["operation"]
    if operation == "assign":
        name = data["assignee"]
        if name in ("", "none"):
            return None, "nobody"
        if name == "me":
            return request.user, request.user.get_username()
        worker = queue.workers().filter(username=name).first()
        if worker is None:
            return f"{name!r} cannot work the queue"
        return worker, name
    if operation == "state":
        if not data["state"]:
            return "choose a state"
        return data["state"], data["state"]
    if operation == "snooze":
        if not data["snooze"]:
            return "choose how long to snooze"
        return queue.snooze_until(data["snooze"], timezone.now()), data["snooze"]
    note = data["note"].strip()
    if not note:
        return "write the note to add"
    return note, note


@require_POST
@permission_required(roles.WORK_QUEUE, raise_exception=True)
def action_bulk(request: HttpRequest) -> HttpResponse:
    """Assign, set the state, snooze or note the selected actions (or all that match) at once.

    Up to OPS_BULK_INLINE_MAX actions the change is written now and the queue answers with the
    result; a larger one is queued for a worker, and the answer is its progress, which polls
    /actions/bulk/<id> until it is done (without JavaScript: a redirect to that page).
    """
    back = _back(request.POST.get("back", ""))
    form = BulkForm(request.POST)
    if not form.is_valid():
        return _bulk_answer(request, back, error=f"Invalid bulk change: {form.errors.as_text()}")
    target = _bulk_target(request, form.cleaned_data)
    change = _bulk_change(request, form.cleaned_data) if not isinstance(target, str) else target
    if isinstance(target, str) or isinstance(change, str):
        return _bulk_answer(request, back, error=str(change if isinstance(change, str) else target))
    ids, query = target
    value, label = change
    operation = form.cleaned_data["operation"]
    if len(ids) > settings.OPS_BULK_INLINE_MAX:
        record = workflow.queue_bulk_update(
            ids, actor=request.user, operation=operation, value=value, label=label, query=query
        )
        url = _progress_url(record, back)
        if not wants_fragment(request):
            return redirect(url)
        response = render(
            request,
            "ops/partials/bulk_progress.html",
            {"bulk": record, "progress_url": url, "slot": "bulk-status"},
        )
        # The form targets the whole table; the progress goes into the table's status line.
        response["HX-Retarget"] = "#bulk-status"
        response["HX-Reswap"] = "outerHTML"
        return response
    record = workflow.bulk_update(
        ids, actor=request.user, operation=operation, value=value, label=label, query=query
    )
    return _bulk_answer(request, back, done=_bulk_text(record))


def _back(back: str) -> str:
    """The queue's own query string (`?code=...`) to go back to; anything else is dropped."""
    return back if back.startswith("?") else ""


def _progress_url(record: BulkWorkUpdate, back: str) -> str:
    """The address of a queued bulk change's progress (a page GET serves, and reloads)."""
    url = reverse("ops:action_bulk_progress", args=[record.pk])
    return f"{url}?{urlencode({'back': back})}" if back else url


def _bulk_text(record: BulkWorkUpdate) -> str:
    """What a finished bulk change did, in one sentence."""
    verb = record.get_operation_display().lower()
    same = record.selected - record.changed
    return (
        f"Bulk #{record.pk}: {verb} “{record.value or 'nobody'}” on {record.selected:,} "
        f"action{'s' if record.selected != 1 else ''}; {record.changed:,} changed"
        f"{'' if not same else f', {same:,} already so'}."
    )


def _bulk_failure(record: BulkWorkUpdate) -> str:
    """What a failed bulk change did before it failed, and why it failed."""
    return (
        f"Bulk #{record.pk} failed after {record.processed:,} of {record.selected:,} actions "
        f"({record.changed:,} changed): {record.error}"
    )


def _bulk_answer(
    request: HttpRequest, back: str, *, done: str = "", error: str = ""
) -> HttpResponse:
    """The refreshed queue (htmx) or a redirect to it, saying what the bulk change did."""
    if not wants_fragment(request):
        if error:
            messages.error(request, error)
        else:
            messages.success(request, done)
        return redirect(reverse("ops:actions") + back)
    # Re-render the table of the page the user is on (its filters ride along in `back`).
    request.GET = QueryDict(back.lstrip("?"))
    context = _queue_page_context(request)
    context["bulk_done"], context["bulk_error"] = done, error
    response = render(request, "ops/action_queue.html#action-table", context)
    response["HX-Retarget"] = "#action-table"
    response["HX-Reswap"] = "outerHTML"
    response["HX-Trigger"] = "actionsChanged"
    return response


@require_GET
@permission_required(roles.WORK_QUEUE, raise_exception=True)
@vary_on_headers("HX-Request", "HX-Target")
def action_bulk_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """A queued bulk change: its progress while it runs, then what it did (or why it failed).

    The queue polls it every second (htmx, target #bulk-status) and, once finished, gets the
    refreshed table with the result; its own page (no JavaScript, or reloaded) shows the same
    progress and reloads itself until finished.
    """
    record = get_object_or_404(
        BulkWorkUpdate.objects.select_related("created_by").defer("action_ids", "arguments"),
        pk=pk,
    )
    back = _back(request.GET.get("back", ""))
    htmx = getattr(request, "htmx", None)
    from_queue = wants_fragment(request) and htmx is not None and htmx.target == "bulk-status"
    if from_queue and not record.is_active:
        failed = record.status == BulkWorkUpdate.Status.FAILED
        return _bulk_answer(
            request, back,
            done="" if failed else _bulk_text(record),
            error=_bulk_failure(record) if failed else "",
        )  # fmt: skip
    context = {
        "bulk": record,
        "progress_url": _progress_url(record, back),
        "slot": "bulk-status" if from_queue else "bulk-progress",
        "back": back,
        "result": _bulk_text(record) if record.status == BulkWorkUpdate.Status.DONE else "",
        "failure": _bulk_failure(record) if record.status == BulkWorkUpdate.Status.FAILED else "",
    }
    if wants_fragment(request):
        return render(request, "ops/partials/bulk_progress.html", context)
    return render(request, "ops/bulk_progress.html", context)


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def action_export(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered queue as CSV for a mail merge: contact, address, action and the email text."""
    now = timezone.now()
    query = queue.parse(request.GET)
    sort = parse_sort(request.GET.get("sort"), queue.ACTION_SORTS, default="deadline")
    actions = queue.filtered(query, user=request.user, now=now).order_by(*sort.order_by)
    codes = {c.code: c for c in ReasonCode.objects.all()}  # the catalogue is small
    header = [
        "end_customer_email", "end_customer_name", "end_customer_company_name", "partner_reference",
        "meter_id", "street_1", "city", "state_or_province_code", "postal_code",
        "transmission_region", "side", "code", "title", "action_type", "description",
        "program_identifier", "delivery_period", "deadline", "first_seen_at", "resolved_at",
        "work_state", "assignee", "email_subject", "email_body",
    ]  # fmt: skip

    def rows() -> Any:
        for chunk in _chunks(actions.iterator(chunk_size=1000), 1000):
            queue.decorate(chunk, codes)
            for a in chunk:
                m = a.meter
                zone = timefmt.zone_for(m.transmission_region or None)
                yield [
                    m.end_customer_email, m.end_customer_name, m.end_customer_company_name,
                    m.partner_reference, m.pk, m.street_1, m.city, m.state_or_province_code,
                    m.postal_code, m.transmission_region, a.side, a.code,
                    a.reason.title if a.reason else "", a.action_type, a.description,
                    a.program_identifier, a.delivery_period,
                    timefmt.iso_with_offset(a.deadline, zone),
                    timefmt.iso_with_offset(a.first_seen_at, zone),
                    timefmt.iso_with_offset(a.resolved_at, zone),
                    a.work.state if a.work else "new",
                    a.work.assignee.get_username() if a.work and a.work.assignee else "",
                    a.email_subject, a.email_body,
                ]  # fmt: skip

    return csvexport.stream_csv("actions", header, rows())


def _chunks(items: Any, size: int) -> Any:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- market groups ---------------------------------------------------------------------------
