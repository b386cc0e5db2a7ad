"""Who is told what, when: immediate notifications and hourly/daily digests per preference.

Each person has a cursor (NotificationPreference.last_alert_id): every alert up to it has been
handed on. When a person's messages are due (immediately, unless in quiet hours; or at the digest
time in their own zone) the alerts after the cursor, of the kinds they chose, become one message per
channel, and the cursor moves past them in the same transaction. So a digest gathers everything
new since the last one, and no alert is ever sent twice to the same person.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min
from django.urls import reverse
from django.utils import timezone

from alerts.models import Alert, NotificationPreference, OutboundMessage, one_line

P = NotificationPreference
LIST_AT_MOST = 50  # alerts listed one by one in a message; the rest are counted


def zone_of(pref: NotificationPreference) -> ZoneInfo:
    """The person's zone (UTC if the stored name is unknown)."""
    try:
        return ZoneInfo(pref.time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def in_quiet_hours(pref: NotificationPreference, now: datetime) -> bool:
    """Quiet hours (local; may span midnight, e.g. 22:00-07:00)."""
    if pref.quiet_start is None or pref.quiet_end is None or pref.quiet_start == pref.quiet_end:
        return False
    local = now.astimezone(zone_of(pref)).time()
    if pref.quiet_start < pref.quiet_end:
        return pref.quiet_start <= local < pref.quiet_end
    return local >= pref.quiet_start or local < pref.quiet_end


def is_due(pref: NotificationPreference, now: datetime) -> bool:
    """Is this person's next message due now (ignoring whether anything is new)?"""
    if in_quiet_hours(pref, now):
        return False
    if pref.mode == P.Mode.IMMEDIATE:
        return True
    local = now.astimezone(zone_of(pref))
    if pref.mode == P.Mode.HOURLY:
        slot = local.replace(minute=0, second=0, microsecond=0)
    else:
        slot = datetime.combine(local.date(), time(pref.digest_hour), tzinfo=local.tzinfo)
        if local < slot:
            return False
    return pref.last_sent_at is None or pref.last_sent_at < slot


def start_preference_cursor() -> int:
    """Where a person's cursor starts: at the newest alert (no flood of older ones)."""
    return Alert.objects.aggregate(n=Max("id"))["n"] or 0


def start_preference(user: Any) -> NotificationPreference:
    """A person's preference, created with the cursor at the newest alert."""
    pref, _ = P.objects.get_or_create(
        user=user, defaults={"last_alert_id": start_preference_cursor()}
    )
    return pref


def _alert_url(alert_id: int) -> str:
    return settings.PUBLIC_BASE_URL + reverse("alerts:detail", args=[alert_id])


def compose(
    pref: NotificationPreference, alerts: list[Alert], counts: Counter[str], total: int
) -> tuple[str, str]:
    """(subject, body) of one notification or digest."""
    labels = dict(Alert.Kind.choices)
    digest = pref.mode != P.Mode.IMMEDIATE
    if total == 1 and alerts:
        subject = f"[leapportal] {alerts[0].title}"
    else:
        what = "digest: " if digest else ""
        subject = f"[leapportal] {what}{total} new alerts"
    zone = zone_of(pref)
    lines = [f"{total} new alert{'s' if total != 1 else ''} since the last message:", ""]
    lines += [f"  {n:>6}  {labels.get(kind, kind)}" for kind, n in counts.most_common()]
    lines.append("")
    for alert in alerts:
        when = alert.raised_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
        state = "" if alert.status == Alert.Status.OPEN else f" [{alert.get_status_display()}]"
        lines.append(f"- {when} {alert.get_severity_display()}: {alert.title}{state}")
        lines.append(f"  {_alert_url(alert.pk)}")
    if total > len(alerts):
        lines.append(f"... and {total - len(alerts)} more.")
    lines += ["", f"All alerts: {settings.PUBLIC_BASE_URL}{reverse('alerts:list')}"]
    lines.append(f"Your notification settings: {settings.PUBLIC_BASE_URL}{reverse('alerts:prefs')}")
    return subject, "\n".join(lines)


def notify_one(pref_id: int, now: datetime) -> list[int]:
    """Hand on a person's new alerts if their message is due; returns the messages queued."""
    with transaction.atomic():
        pref = P.objects.select_for_update(skip_locked=True).filter(pk=pref_id).first()
        if pref is None or not is_due(pref, now):
            return []
        # Bounded by the newest id read first: an alert committed while this runs is left for
        # the next message instead of being listed now and again then. (Alerts are only inserted
        # by the evaluation pass, one at a time, so ids commit in order.)
        newest = Alert.objects.aggregate(n=Max("id"))["n"] or pref.last_alert_id
        new = Alert.objects.filter(id__gt=pref.last_alert_id, id__lte=newest)
        if pref.kinds:
            new = new.filter(kind__in=pref.kinds)
        counts = Counter(
            {row["kind"]: row["n"] for row in new.values("kind").annotate(n=Count("id"))}
        )
        total = sum(counts.values())
        pref.last_alert_id = max(pref.last_alert_id, newest)
        messages = []
        if total:
            listed = list(new.order_by("-severity", "id")[:LIST_AT_MOST])
            listed.sort(key=lambda a: a.id)
            subject, body = compose(pref, listed, counts, total)
            bounds = new.aggregate(first=Min("id"), last=Max("id"))
            purpose = (
                OutboundMessage.Purpose.ALERT
                if pref.mode == P.Mode.IMMEDIATE
                else OutboundMessage.Purpose.DIGEST
            )
            targets = []
            if pref.email_enabled and pref.email_address:
                targets.append((OutboundMessage.Channel.EMAIL, pref.email_address))
            if pref.chat_enabled and pref.chat_webhook_url:
                targets.append((OutboundMessage.Channel.CHAT, pref.chat_webhook_url))
            for channel, to in targets:
                messages.append(
                    OutboundMessage.objects.create(
                        channel=channel, purpose=purpose, recipient_user=pref.user, to=to,
                        subject=one_line(subject), body=body, alert_first_id=bounds["first"],
                        alert_last_id=bounds["last"], alert_count=total, created_at=now,
                    ).pk
                )  # fmt: skip
            pref.last_sent_at = now
        elif pref.mode != P.Mode.IMMEDIATE:
            pref.last_sent_at = now  # nothing new: this digest slot is done, no empty message
        pref.save(update_fields=["last_alert_id", "last_sent_at"])
    return messages


def notify_all(now: datetime | None = None) -> list[int]:
    """Everybody's due messages (one small transaction per person); returns the messages queued."""
    now = now or timezone.now()
    ids = (
        P.objects.filter(user__is_active=True)
        .exclude(email_enabled=False, chat_enabled=False)
        .values_list("id", flat=True)
    )
    queued: list[int] = []
    for pref_id in ids:
        queued += notify_one(pref_id, now)
    return queued


def quiet_window_text(pref: NotificationPreference) -> str:
    """ "22:00-07:00 Europe/Berlin" or ""."""
    if pref.quiet_start is None or pref.quiet_end is None:
        return ""
    return f"{pref.quiet_start:%H:%M}-{pref.quiet_end:%H:%M} {pref.time_zone}"
