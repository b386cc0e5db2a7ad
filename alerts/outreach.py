"""Customer outreach: the reason-code email of an action, rendered, checked, queued and recorded.

An operator previews (and may edit) the email, then sends it: it is queued as an OutboundMessage
(kept even when SMTP is down) and sent by the worker; once sent it is in the action's history with
the exact text, and the action is "contacted" (alerts/sending.py). An address that is not a valid
email is refused and the refusal is recorded on the action. The same customer is not emailed twice
for the same action within OUTREACH_RESEND_GUARD_HOURS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from alerts.enqueue import send_on_commit
from alerts.models import OutboundMessage, one_line
from meters.models import TEMPLATE_FIELDS, Meter, ReasonCode, RequiredAction, template_problems

M = OutboundMessage

FIELD_HELP = {
    "end_customer_name": "The customer's name as Leap has it",
    "end_customer_company_name": "The customer's company",
    "end_customer_email": "The customer's email address",
    "partner_reference": "Our reference of the meter (site/customer id)",
    "street_1": "Service address, street",
    "city": "Service address, city",
    "postal_code": "Service address, postal code",
    "state_or_province_code": "Service address, state",
    "utility_name": "The utility",
    "electric_service_account_number": "The utility account number",
    "meter_id": "Leap's meter id",
    "action_description": "Leap's description of the required action",
}
assert set(FIELD_HELP) == set(TEMPLATE_FIELDS)


class TemplateError(ValueError):
    """A template that refers to an unknown field or has broken braces."""


def check_template(subject: str, body: str) -> None:
    """Raise TemplateError with every problem of the subject and body."""
    problems = [f"subject: {p}" for p in template_problems(subject)]
    problems += [f"body: {p}" for p in template_problems(body)]
    if problems:
        raise TemplateError("; ".join(problems))


def context_for(meter: Meter, action: RequiredAction | None) -> dict[str, str]:
    """The values of the template fields for one meter (and action)."""
    context = meter.customer_context()
    context["action_description"] = action.description if action else ""
    return context


def render(subject: str, body: str, meter: Meter, action: RequiredAction | None) -> tuple[str, str]:
    """(subject, body) of a checked template for this meter; raises TemplateError."""
    check_template(subject, body)
    context = context_for(meter, action)
    return subject.format_map(context), body.format_map(context)


def address_problem(address: str | None) -> str | None:
    """Why this address cannot be emailed (None: it can)."""
    if not address or not address.strip():
        return "Leap has no email address for this customer"
    try:
        validate_email(address.strip())
    except ValidationError:
        return f"{address.strip()} (from Leap) is not a valid email address"
    return None


def recent_send(action_id: int, to: str, now: datetime) -> OutboundMessage | None:
    """A message to this address for this action within the resend guard, queued or sent."""
    hours = settings.OUTREACH_RESEND_GUARD_HOURS
    if hours <= 0:
        return None
    return (
        M.objects.filter(
            purpose=M.Purpose.OUTREACH,
            action_id=action_id,
            to__iexact=to.strip(),
            status__in=[M.Status.QUEUED, M.Status.RETRYING, M.Status.SENT],
            created_at__gte=now - timedelta(hours=hours),
        )
        .order_by("-created_at")
        .first()
    )


class Refused(Exception):
    """The email was not queued; the message says why (and may be recorded)."""


def queue_email(
    action: RequiredAction,
    *,
    to: str,
    subject: str,
    body: str,
    by: Any,
    now: datetime | None = None,
) -> OutboundMessage:
    """Queue one customer email for the action (sent by the worker after commit).

    An invalid address is recorded as a refused message on the action and raises Refused; so does
    a second email to the same address within the guard (not recorded: nothing was attempted).
    """
    now = now or timezone.now()
    to = (to or "").strip()
    subject, body = subject.strip(), body.strip()
    if not subject or not body:
        raise Refused("the email needs a subject and a text")
    problem = address_problem(to)
    if problem:  # recorded on the action (its own write: the refusal must not roll back)
        M.objects.create(
            channel=M.Channel.EMAIL, purpose=M.Purpose.OUTREACH, status=M.Status.REFUSED, to=to,
            subject=one_line(subject), body=body, action=action, meter_id=action.meter_id,
            created_by=by, created_at=now, last_error=problem,
        )  # fmt: skip
        raise Refused(f"not sent: {problem}")
    with transaction.atomic():
        # Two operators sending at the same moment: the action's row lock orders them, so the
        # second one sees the first one's message and is refused by the guard.
        RequiredAction.objects.select_for_update().filter(pk=action.pk).first()
        previous = recent_send(action.pk, to, now)
        if previous is not None:
            raise Refused(
                f"not sent: {to} was already emailed about this action on "
                f"{previous.created_at:%Y-%m-%d %H:%M} UTC (within "
                f"{settings.OUTREACH_RESEND_GUARD_HOURS} h)"
            )
        message = M.objects.create(
            channel=M.Channel.EMAIL, purpose=M.Purpose.OUTREACH, to=to, subject=one_line(subject),
            body=body, action=action, meter_id=action.meter_id, created_by=by, created_at=now,
        )  # fmt: skip
        send_on_commit([message.pk])
    return message


# --- send to all -----------------------------------------------------------------------------


@dataclass
class BulkPlan:
    """What "send to all" would do for the filtered actions of one code."""

    code: str
    total: int = 0
    sendable: list[RequiredAction] = field(default_factory=list)
    invalid: list[tuple[RequiredAction, str]] = field(default_factory=list)
    guarded: int = 0

    @property
    def first(self) -> RequiredAction | None:
        return self.sendable[0] if self.sendable else None


def _recent_pairs(action_ids: list[int], now: datetime) -> set[tuple[int, str]]:
    """(action id, lower-cased address) emailed within the resend guard."""
    hours = settings.OUTREACH_RESEND_GUARD_HOURS
    if hours <= 0 or not action_ids:
        return set()
    return {
        (a, t.strip().lower())
        for a, t in M.objects.filter(
            purpose=M.Purpose.OUTREACH,
            action_id__in=action_ids,
            status__in=[M.Status.QUEUED, M.Status.RETRYING, M.Status.SENT],
            created_at__gte=now - timedelta(hours=hours),
        ).values_list("action_id", "to")
    }


def plan(actions: QuerySet[RequiredAction], code: str, now: datetime) -> BulkPlan:
    """Sort the filtered actions of one code into sendable, invalid address, recently emailed."""
    result = BulkPlan(code=code)
    rows = list(
        actions.filter(code=code)
        .select_related("meter")
        .defer("meter__details_raw", "meter__enrollment_raw")
    )
    result.total = len(rows)
    recent = _recent_pairs([r.pk for r in rows], now)
    for action in rows:
        address = (action.meter.end_customer_email or "").strip()
        problem = address_problem(address)
        if problem:
            result.invalid.append((action, problem))
        elif (action.pk, address.lower()) in recent:
            result.guarded += 1
        else:
            result.sendable.append(action)
    return result


@transaction.atomic
def send_all(
    bulk: BulkPlan, *, subject: str, body: str, by: Any, now: datetime | None = None
) -> dict[str, int]:
    """Queue the email for every sendable action (one checked template rendered per meter).

    Invalid addresses are recorded as refused messages on their actions; guarded ones are skipped.
    """
    now = now or timezone.now()
    check_template(subject, body)
    # Lock the actions, then drop any emailed since the plan was made (a second click, a
    # colleague sending at the same time): the guard holds for "send to all" too.
    ids = [a.pk for a in bulk.sendable]
    list(RequiredAction.objects.select_for_update().filter(pk__in=ids).values_list("pk"))
    recent = _recent_pairs(ids, now)
    fresh = [a for a in bulk.sendable
             if (a.pk, (a.meter.end_customer_email or "").strip().lower()) not in recent]  # fmt: skip
    skipped = bulk.guarded + len(bulk.sendable) - len(fresh)
    queued: list[OutboundMessage] = []
    for action in fresh:
        s, b = render(subject, body, action.meter, action)
        queued.append(
            M(channel=M.Channel.EMAIL, purpose=M.Purpose.OUTREACH, to=action.meter.end_customer_email.strip(),
              subject=one_line(s), body=b, action=action, meter_id=action.meter_id, created_by=by,
              created_at=now)
        )  # fmt: skip
    for action, problem in bulk.invalid:
        s, b = render(subject, body, action.meter, action)
        queued.append(
            M(channel=M.Channel.EMAIL, purpose=M.Purpose.OUTREACH, status=M.Status.REFUSED,
              to=action.meter.end_customer_email or "", subject=one_line(s), body=b, action=action,
              meter_id=action.meter_id, created_by=by, created_at=now, last_error=problem)
        )  # fmt: skip
    created = M.objects.bulk_create(queued, batch_size=1000)
    send_on_commit([m.pk for m in created if m.status == M.Status.QUEUED])
    return {"queued": len(fresh), "refused": len(bulk.invalid), "skipped": skipped}


def catalogue_template(code: str) -> ReasonCode | None:
    """The catalogue entry of a code, if it has an email."""
    return ReasonCode.objects.filter(code=code).exclude(email_body="").first()
