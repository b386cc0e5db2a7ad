"""The unresponsive-meters lane of the action queue: which rows a URL asks for, and their work.

Rows are Leap's latest monthly diagnosis of meters that never or rarely respond, one per meter
and program, joined with our work on them (assign, state, note, snooze, as in the queue) and
with our customer and site. Every parameter comes from the URL; unknown values fall back.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from leapportal.web.history import display
from leapportal.web.mailto import mailto
from meters.models import ReasonCode
from ops import queue, workflow
from revenue.models import MeterResponsiveness, UnresponsiveWorkItem, UnresponsiveWorkItemChange
from revenue.queries import parse_month

EMAIL_CODE = "UNRESPONSIVE_METER"
KINDS = ("", "NEVER_RESPONDS", "RARELY_RESPONDS")
STATES = [("open_work", "Not done"), *UnresponsiveWorkItem.State.choices]
SORTS = {
    "missed": ["-missed_revenue"],
    "response": ["response_percentage"],
    "events": ["-events"],
    "meter": ["partner_reference"],
    "program": ["program", "-missed_revenue"],
    "region": ["transmission_region", "-missed_revenue"],
}
_UNSET: Any = workflow.UNSET  # the same "left out" as the action queue's


@dataclass
class LaneQuery:
    month: date | None
    kind: str
    state: str
    assignee: str
    program: str
    snoozed: str
    q: str


def parse(params: Mapping[str, str]) -> LaneQuery:
    state = params.get("state", "")
    snoozed = params.get("snoozed", "hide")
    kind = params.get("kind", "")
    return LaneQuery(
        month=parse_month(params.get("month")),
        kind=kind if kind in KINDS else "",
        state=state if state in [s for s, _ in STATES] else "",
        assignee=(params.get("assignee") or "").strip()[:150],
        program=(params.get("program") or "").strip()[:64],
        snoozed=snoozed if snoozed in queue.SNOOZED else "hide",
        q=(params.get("q") or "").strip()[:200],
    )


def latest_month() -> date | None:
    """The newest month Leap's diagnosis has been fetched for."""
    return MeterResponsiveness.objects.order_by("-month").values_list("month", flat=True).first()


def _work(field: str) -> Subquery:
    return Subquery(
        UnresponsiveWorkItem.objects.filter(
            meter_id=OuterRef("meter_id"), program=OuterRef("program")
        ).values(field)[:1]
    )


def rows(query: LaneQuery, *, user: Any, now: datetime) -> QuerySet[MeterResponsiveness]:
    """The lane's rows for the query's month (default: the latest), filtered (see with_work)."""
    month = query.month or latest_month()
    found = MeterResponsiveness.objects.filter(month=month)
    if query.kind:
        found = found.filter(historical_responsiveness=query.kind)
    if query.program:
        found = found.filter(program=query.program)
    items = UnresponsiveWorkItem.objects.filter(
        meter_id=OuterRef("meter_id"), program=OuterRef("program")
    )
    if query.state == "new":
        found = found.exclude(Exists(items.exclude(state="new")))
    elif query.state == "open_work":
        found = found.exclude(Exists(items.filter(state="done")))
    elif query.state:
        found = found.filter(Exists(items.filter(state=query.state)))
    if query.assignee == "me":
        found = found.filter(Exists(items.filter(assignee=user)))
    elif query.assignee == "none":
        found = found.exclude(Exists(items.filter(assignee__isnull=False)))
    elif query.assignee:
        found = found.filter(Exists(items.filter(assignee__username=query.assignee)))
    snoozed = Exists(items.filter(snoozed_until__gt=now))
    if query.snoozed == "hide":
        found = found.exclude(snoozed)
    elif query.snoozed == "only":
        found = found.filter(snoozed)
    if query.q:
        match = Q(partner_reference__icontains=query.q) | Q(customer_name__icontains=query.q)
        try:
            match |= Q(meter_id=uuid.UUID(query.q))
        except ValueError:
            pass
        found = found.filter(match)
    return found


def with_work(found: QuerySet[MeterResponsiveness]) -> QuerySet[MeterResponsiveness]:
    """The rows with our work on them (state, assignee, snooze, idle) as columns."""
    return found.annotate(
        work_state=_work("state"),
        work_assignee=_work("assignee__username"),
        work_snoozed_until=_work("snoozed_until"),
        work_idled_at=_work("idled_at"),
    )


def count_open(now: datetime | None = None) -> int:
    """Rows of the latest month not done and not snoozed (the queue tab's badge), one query."""
    now = now or timezone.now()
    latest = MeterResponsiveness.objects.order_by("-month").values("month")[:1]
    items = UnresponsiveWorkItem.objects.filter(
        meter_id=OuterRef("meter_id"), program=OuterRef("program")
    )
    return (
        MeterResponsiveness.objects.filter(month=Subquery(latest))
        .exclude(Exists(items.filter(Q(state="done") | Q(snoozed_until__gt=now))))
        .count()
    )


def email_for(meter: Any) -> tuple[str, str, str] | None:
    """(subject, body, mailto) of the catalogue's unresponsive-meter email, for a known meter."""
    reason = ReasonCode.objects.filter(code=EMAIL_CODE).first()
    if reason is None or meter is None or not reason.email_body:
        return None
    subject, body = reason.render_email(meter)
    return subject, body, mailto(meter.end_customer_email, subject, body)


def guidance() -> ReasonCode | None:
    return ReasonCode.objects.filter(code=EMAIL_CODE).first()


@transaction.atomic
def update(
    meter_id: uuid.UUID,
    program: str,
    *,
    actor: AbstractBaseUser,
    assignee: Any = _UNSET,
    state: str | None = None,
    note: str | None = None,
    snoozed_until: Any = _UNSET,
    idled: bool = False,
) -> tuple[UnresponsiveWorkItem, dict[str, list[Any]]]:
    """Apply the given changes to the meter × program's work item, audited; return what changed.

    `idled=True` records that the actor idled the meter in Leap's Partner Portal now (Leap's
    published API has no call that sets a participation preference): who, when, and the state.
    """
    item, _ = UnresponsiveWorkItem.objects.select_for_update().get_or_create(
        meter_id=meter_id, program=program
    )
    now = timezone.now()
    wanted = workflow.wanted_fields(
        UnresponsiveWorkItem.State.values,
        assignee=assignee, state=state, note=note, snoozed_until=snoozed_until,
    )  # fmt: skip
    if idled:
        wanted.update(idled_at=now, idled_by=actor, state=UnresponsiveWorkItem.State.IDLED)
    changes: dict[str, list[Any]] = {}
    for field, value in wanted.items():
        current = getattr(item, field)
        if current != value:
            changes[field] = [display(current), display(value)]
            setattr(item, field, value)
    if changes:
        item.updated_at = now
        item.updated_by = actor
        item.save()
        UnresponsiveWorkItemChange.objects.create(
            work_item=item, changed_by=actor, changed_at=now, changes=changes
        )
    return item, changes


IDLE_STEPS = [
    "Sign in to Leap's Partner Portal (partner.leap.energy, or partner.staging.leap.energy for "
    "staging) with an account allowed to change participation.",
    "Open Meters, search for the meter id (or its partner reference) shown above, and open it.",
    "Under Participation, choose Idle, set the start date (today, or the next delivery period) and "
    "leave the end date open unless the customer gave one; give the reason (e.g. 'Unresponsive "
    "to dispatches').",
    "Save, then check that the meter's participation shows IDLE from that date.",
    "Come back here and press 'I idled this meter in Leap's portal': we record who did it and "
    "when. The next meter sync shows the IDLE window on the meter page.",
]
