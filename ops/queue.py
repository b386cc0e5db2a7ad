"""The action queue: which required actions a request asks for, and what each row needs.

Every parameter comes from the URL; unknown values fall back to defaults so a shared link never
breaks. Rows carry the reason-code guidance and the customer email rendered for their meter.
"""

from __future__ import annotations

import uuid
from collections.abc import Container, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from leapportal.web.mailto import mailto
from leapportal.web.urgency import SOON
from meters.models import GroupAssignment, ProgramEnrollment, ReasonCode, RequiredAction
from ops.models import ActionWorkItem


@dataclass(frozen=True)
class Lane:
    """One tab of the queue: which rows it holds and how its tab reads.

    A lane narrows RequiredAction rows (`filters`); every filter, bulk action, keyboard key and
    saved view works the same in each lane. Add a lane by appending to LANES.
    """

    key: str
    label: str
    badge: str
    filters: dict[str, Any]
    hint: str = ""


LANES: list[Lane] = [
    Lane("partner", "Partner actions (us / our customers)", "warn", {"side": "partner"},
         "Actions Leap waits on from us or our customers."),
    Lane("leap", "Leap-side lane", "info", {"side": "leap"},
         "Actions Leap has to take; we follow up only when they stall."),
]  # fmt: skip
SIDES = tuple(lane.key for lane in LANES)


def lane(key: str) -> Lane:
    """The lane of a key (the first lane for an unknown one)."""
    return next((item for item in LANES if item.key == key), LANES[0])


STATUSES = ("open", "resolved", "all")
URGENCIES = ("overdue", "soon", "later", "none")
SNOOZED = ("hide", "show", "only")
ACTION_SORTS = {
    "deadline": ["deadline"],
    "first_seen": ["first_seen_at"],
    "code": ["code", "deadline"],
    "meter": ["meter__partner_reference"],
    "region": ["meter__transmission_region", "deadline"],
    "state": ["work_item__state", "deadline"],
}
STATES = [("open_work", "Not done"), *ActionWorkItem.State.choices]
COLUMNS = 8  # of a queue row: select, deadline, meter, region, code, description, work, open


@dataclass
class QueueQuery:
    """The queue's cleaned parameters."""

    side: str
    status: str
    code: str
    action_type: str
    state: str
    assignee: str
    region: str
    program: str
    urgency: str
    snoozed: str
    q: str
    group_by_code: bool
    market_group: uuid.UUID | None = None

    # The parameters that narrow a lane (the lane, sort and grouping are not filters).
    FILTERS = ("code", "action_type", "state", "assignee", "region", "program", "urgency", "q",
               "market_group")  # fmt: skip

    @property
    def has_filters(self) -> bool:
        """Whether anything narrows the lane beyond its defaults (for the empty state)."""
        return any(getattr(self, name) for name in self.FILTERS) or self.snoozed != "hide"


def _pick(
    params: Mapping[str, str], name: str, allowed: tuple[str, ...] | list[str], default: str
) -> str:
    value = params.get(name, default)
    return value if value in allowed else default


def parse(params: Mapping[str, str]) -> QueueQuery:
    """Clean the URL parameters."""
    return QueueQuery(
        side=_pick(params, "side", SIDES, "partner"),
        status=_pick(params, "status", STATUSES, "open"),
        code=(params.get("code") or "").strip()[:64],
        action_type=(params.get("action_type") or "").strip()[:64],
        state=_pick(params, "state", [s for s, _ in STATES], ""),
        assignee=(params.get("assignee") or "").strip()[:150],
        region=(params.get("region") or "").strip()[:16],
        program=(params.get("program") or "").strip()[:64],
        urgency=_pick(params, "urgency", URGENCIES, ""),
        snoozed=_pick(params, "snoozed", SNOOZED, "hide"),
        q=(params.get("q") or "").strip()[:200],
        group_by_code=params.get("group") == "code",
        market_group=_uuid(params.get("market_group")),
    )


def _uuid(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID((raw or "").strip())
    except ValueError:
        return None


def base_queryset(query: QueueQuery, *, side: str | None = None) -> QuerySet[RequiredAction]:
    """Actions of one lane with the status filter only (what the lane tabs count)."""
    actions = RequiredAction.objects.filter(**lane(side or query.side).filters)
    if query.status == "open":
        actions = actions.filter(resolved_at__isnull=True)
    elif query.status == "resolved":
        actions = actions.filter(resolved_at__isnull=False)
    return actions


def lane_counts() -> list[tuple[Lane, int]]:
    """Each lane's tab with its open actions (the lane's work to do), in one query.

    The same under every filter of the page: under "resolved" the tabs used to count the open
    actions *among the resolved ones*, always 0, which read as "nothing to do" in every lane.
    """
    counts = RequiredAction.objects.filter(resolved_at__isnull=True).aggregate(
        **{f"lane_{i}": Count("pk", filter=Q(**item.filters)) for i, item in enumerate(LANES)}
    )
    return [(item, counts[f"lane_{i}"]) for i, item in enumerate(LANES)]


def filtered(query: QueueQuery, *, user: Any, now: datetime) -> QuerySet[RequiredAction]:
    """The lane's actions narrowed by every filter of the URL."""
    actions = base_queryset(query)
    if query.code:
        actions = actions.filter(code=query.code)
    if query.action_type:
        actions = actions.filter(action_type=query.action_type)
    if query.region:
        actions = actions.filter(meter__transmission_region=query.region)
    if query.program:
        actions = actions.filter(program_identifier=query.program)
    if query.market_group:
        # Members on any trade date we hold, or enrolled into the group (as the meter list does).
        actions = actions.filter(
            Exists(
                GroupAssignment.objects.filter(
                    meter=OuterRef("meter_id"), market_group_id=query.market_group
                )
            )
            | Exists(
                ProgramEnrollment.objects.filter(
                    meter=OuterRef("meter_id"), market_group_id=query.market_group
                )
            )
        )
    if query.state == "new":
        actions = actions.filter(Q(work_item__isnull=True) | Q(work_item__state="new"))
    elif query.state == "open_work":
        actions = actions.exclude(work_item__state=ActionWorkItem.State.DONE)
    elif query.state:
        actions = actions.filter(work_item__state=query.state)
    if query.assignee == "me":
        actions = actions.filter(work_item__assignee=user)
    elif query.assignee == "none":
        actions = actions.filter(Q(work_item__isnull=True) | Q(work_item__assignee__isnull=True))
    elif query.assignee:
        actions = actions.filter(work_item__assignee__username=query.assignee)
    if query.urgency == "overdue":
        actions = actions.filter(deadline__lte=now)
    elif query.urgency == "soon":
        actions = actions.filter(deadline__gt=now, deadline__lte=now + SOON)
    elif query.urgency == "later":
        actions = actions.filter(deadline__gt=now + SOON)
    elif query.urgency == "none":
        actions = actions.filter(deadline__isnull=True)
    snoozed = Q(work_item__snoozed_until__gt=now)
    if query.snoozed == "hide":
        actions = actions.exclude(snoozed)
    elif query.snoozed == "only":
        actions = actions.filter(snoozed)
    if query.q:
        match = (
            Q(meter__partner_reference__icontains=query.q)
            | Q(meter__end_customer_name__icontains=query.q)
            | Q(meter__end_customer_company_name__icontains=query.q)
            | Q(meter__electric_service_account_number__icontains=query.q)
        )
        try:
            match |= Q(meter_id=uuid.UUID(query.q))
        except ValueError:
            pass
        actions = actions.filter(match)
    return actions.select_related("meter", "work_item__assignee").defer(
        "meter__details_raw", "meter__enrollment_raw"
    )


# What a closed row of the queue shows (ops.templatetags.action_rows) of the action's meter, work
# item and assignee: 3 of a meter's 60 columns, the assignee's name (not its password hash etc.).
ROW_FIELDS = (
    *(f.name for f in RequiredAction._meta.concrete_fields),
    "meter__partner_reference",
    "meter__end_customer_name",
    "meter__transmission_region",
    "work_item__state",
    "work_item__snoozed_until",
    "work_item__assignee__username",
)


def for_rows(actions: QuerySet[RequiredAction]) -> QuerySet[RequiredAction]:
    """`actions` (filtered()) reading only what the queue's closed rows show."""
    return actions.only(*ROW_FIELDS)


def code_summary(query: QueueQuery, now: datetime) -> list[dict[str, Any]]:
    """Open actions of the lane per code: how many, how many overdue (one query)."""
    return list(
        base_queryset(query)
        .values("code")
        .annotate(n=Count("pk"), overdue=Count("pk", filter=Q(deadline__lte=now)))
        .order_by("-n", "code")
    )


def reason_codes(actions: list[RequiredAction]) -> dict[str, ReasonCode]:
    """The catalogue rows of the page's codes and action types, in one query."""
    keys = {a.code for a in actions} | {a.action_type for a in actions}
    return {c.code: c for c in ReasonCode.objects.filter(code__in=keys)}


def decorate(
    actions: list[RequiredAction], codes: dict[str, ReasonCode], *, emails: bool = True
) -> None:
    """Attach guidance (by code, else by action type) and the rendered customer email.

    emails=False leaves the email out (empty): the queue's closed rows never show it, and
    rendering it (a template and a mailto link per row) was a tenth of the queue page's CPU.
    """
    for action in actions:
        reason = codes.get(action.code)
        if reason is None or not (reason.guidance or reason.email_body):
            reason = codes.get(action.action_type) or reason
        action.reason = reason
        action.email_subject = action.email_body = action.mailto = ""
        if emails and reason is not None and reason.email_body:
            subject, body = reason.render_email(action.meter, action)
            action.email_subject, action.email_body = subject, body
            action.mailto = mailto(action.meter.end_customer_email, subject, body)
        action.work = action.work_item if _has_work_item(action) else None


def _has_work_item(action: RequiredAction) -> bool:
    try:
        action.work_item  # noqa: B018 - the reverse one-to-one raises when there is none
    except ActionWorkItem.DoesNotExist:
        return False
    return True


def workers() -> QuerySet[Any]:
    """Users who may work the queue (assignee choices)."""
    user_model = get_user_model()
    return (
        user_model.objects.filter(is_active=True)
        .filter(
            Q(groups__permissions__codename="work_queue")
            | Q(user_permissions__codename="work_queue")
            | Q(is_superuser=True)
        )
        .distinct()
        .order_by("username")
    )


SNOOZE_CHOICES = [
    ("", "—"),
    ("1d", "1 day"),
    ("3d", "3 days"),
    ("7d", "1 week"),
    ("clear", "Wake up"),
]


def snooze_until(choice: str, now: datetime) -> datetime | None:
    """The instant a snooze choice ends (None clears it)."""
    days = {"1d": 1, "3d": 3, "7d": 7}.get(choice)
    return now + timedelta(days=days) if days else None


def work_changes(
    data: Mapping[str, Any],
    posted: Container[str],
    *,
    user: Any,
    states: Container[str],
    now: datetime,
) -> dict[str, Any] | str:
    """The work-item changes a valid workflow form asks for, or why it cannot be saved.

    `data`: the form's cleaned data (quick, assignee, state, note, snooze); `posted`: the names
    the form sent (an assignee or note sent empty clears it, one not sent is left alone). A quick
    button ("me", or one of `states`) changes that one thing only. Used by the action queue and
    revenue's unresponsive-meters lane.
    """
    quick = data["quick"]
    if quick == "me":
        return {"assignee": user}
    if quick in states:
        return {"state": quick}
    changes: dict[str, Any] = {}
    if "assignee" in posted:
        name = data["assignee"]
        changes["assignee"] = None
        if name:
            worker = workers().filter(username=name).first()
            if worker is None:
                return f"{name!r} cannot work the queue"
            changes["assignee"] = worker
    if data["state"]:
        changes["state"] = data["state"]
    if "note" in posted:
        changes["note"] = data["note"]
    if data["snooze"]:
        changes["snoozed_until"] = snooze_until(data["snooze"], now)
    return changes
