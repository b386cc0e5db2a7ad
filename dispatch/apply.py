"""The apply step: upsert `Incoming` timeslots (dispatch/incoming.py) as DispatchTimeslot rows.

One code path for every source (the inbox's webhook deliveries, the reconcile poll, a recheck, a
test): `apply_all` upserts timeslots on Leap's event id in one transaction, records their
versions, re-plans what changed and hands it on.

Rules, in order, for a timeslot whose event id we already have:
1. Same content as the event's current state (hash of every stored Leap field) -> nothing changes
   but `last_seen_at`. Redeliveries are found per event, never by the whole body: a body that
   repeats an older version after a change (A -> B -> A) differs from the current state and is
   applied.
2. Older than what is applied -> not applied; a STALE version records what it said. "Older" means
   its notification was received (or polled) before the one whose content is applied. This catches
   our own workers processing deliveries out of order (retries, several workers) and a poll
   overtaken by a webhook.
3. Would bring a cancelled event back (a webhook body; Leap promises no order) -> held (a HELD
   version), and Leap's dispatch search decides (dispatch/recheck.py).
4. Otherwise the new content overwrites the row and a version records {field: [old, new]};
   `cancelled: true` keeps the row, marked cancelled.

Every timeslot is checked first (`problems`: parse, enums, ranges); one that fails is kept as a
RejectedTimeslot with its errors and the rest of the notification applies.
A meter-level event for a meter we do not have is stored with `meter` null (parked), a resync of
that meter is requested once, and `attach_parked` (dispatch/parked.py) links it when the meter
arrives.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from django.db import transaction
from django.utils import timezone

from dispatch import alerts, enqueue, outbound, planning
from dispatch.bulk import insert_rows, update_rows
from dispatch.comparable import comparable
from dispatch.incoming import (
    COMPARED_FIELDS,
    GROUP_RECIPIENT_FIELDS,
    METER_RECIPIENT_FIELDS,
    SLOT_FIELDS,
    Incoming,
    problems,
)
from dispatch.models import (
    DispatchDelivery,
    DispatchTimeslot,
    DispatchTimeslotVersion,
    Level,
    ReconcileRun,
    RejectedTimeslot,
    Source,
)
from leapportal import bulk
from meters import actions
from meters.models import MarketGroup, Meter

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    """What applying one notification did."""

    counts: Counter[str] = field(default_factory=Counter)
    changed: list[DispatchTimeslot] = field(default_factory=list)
    unknown_meters: set[uuid.UUID] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    # The same, per delivery (several deliveries can be applied in one go).
    by_delivery: dict[int | None, IngestResult] = field(default_factory=dict)
    # The delivery whose content an unchanged timeslot repeats (for `duplicate_of`).
    same_as: int | None = None

    def note(self, inc: Incoming, outcome: str, error: str | None = None) -> None:
        """Count one timeslot's outcome, overall and for its delivery."""
        key = inc.delivery.pk if inc.delivery is not None else None
        for target in (self, self.by_delivery.setdefault(key, IngestResult())):
            target.counts[str(outcome)] += 1
            if error:
                target.errors.append(error)

    def for_delivery(self, delivery: DispatchDelivery) -> IngestResult:
        """What applying did for one delivery."""
        return self.by_delivery.get(delivery.pk) or IngestResult()

    def summary(self) -> dict[str, Any]:
        """A JSON-able account for the delivery row."""
        data: dict[str, Any] = dict(sorted(self.counts.items()))
        if self.unknown_meters:
            data["unknown_meters"] = sorted(str(m) for m in self.unknown_meters)
        if self.errors:
            data["errors"] = self.errors
        return data


def _version(ts: DispatchTimeslot, kind: str, inc: Incoming, batch: _Batch, **extra: Any) -> Any:
    """A version row for the timeslot (not saved: the caller inserts them, insert_rows).

    A stand-in with the columns' attribute names, not a model instance: a notification makes
    a version per timeslot, and building model instances for them was a tenth of processing.
    """
    return SimpleNamespace(
        timeslot_id=ts.pk,
        version=ts.version,
        kind=kind,
        changed_at=batch.now,
        source=inc.source,
        delivery_id=None if inc.delivery is None else inc.delivery.pk,
        reconcile_run_id=None if batch.run is None else batch.run.pk,
        changes=extra.pop("changes", {}),
        snapshot=extra.pop("snapshot", {}),
        **extra,
    )


@dataclass
class _Batch:
    """One notification's context while it is applied."""

    now: datetime  # when it is applied: changed_at, last_seen_at, the versions' time
    run: ReconcileRun | None  # the reconcile run it comes from, if a poll
    meters: dict[uuid.UUID, Meter]
    groups: dict[uuid.UUID, MarketGroup]
    versions: list[Any] = field(default_factory=list)  # stand-ins (_version)
    seen_only: list[int] = field(default_factory=list)
    updated: dict[int, DispatchTimeslot] = field(default_factory=dict)
    rechecks: list[int] = field(default_factory=list)  # held: Leap's search decides

    def recipient(self, inc: Incoming) -> dict[str, Any]:
        """The FKs of the recipient, when we have it."""
        if inc.level == Level.METER:
            return {"meter": self.meters.get(inc.values["meter_uuid"])}
        return {"market_group": self.groups.get(inc.values["market_group_uuid"])}


def _new_timeslot(inc: Incoming, batch: _Batch) -> DispatchTimeslot:
    """An unsaved timeslot for a first sighting."""
    now = batch.now
    return bulk.unsaved(
        DispatchTimeslot,
        event_id=inc.checked_id,
        level=inc.level,
        raw=inc.raw,
        content_hash=inc.content_hash,
        first_source=inc.checked_source,
        first_seen_at=now,
        last_seen_at=now,
        changed_at=now,
        applied_received_at=inc.checked_received_at,
        first_delivery=inc.delivery,
        last_delivery=inc.delivery,
        **batch.recipient(inc),
        **inc.values,
    )


def _apply_existing(ts: DispatchTimeslot, inc: Incoming, batch: _Batch) -> str:
    """Apply a sighting of an event we already have (its row is locked); returns the outcome."""
    if ts.level != inc.level:
        log.warning("event %s came at level %s, stored as %s", ts.event_id, inc.level, ts.level)
        return "refused"
    # An integration test may reuse a real event's id; it must never overwrite a real event.
    if inc.values["integration_test"] and not ts.integration_test:
        return "refused"
    recipient = {k: v for k, v in batch.recipient(inc).items() if v is not None}
    if ts.content_hash == inc.content_hash:
        missing = {k: v for k, v in recipient.items() if getattr(ts, f"{k}_id") is None}
        if missing:  # the meter (or group) arrived meanwhile
            DispatchTimeslot.objects.filter(pk=ts.pk).update(last_seen_at=batch.now, **missing)
            for name, value in missing.items():  # so a batched write of ts keeps them
                setattr(ts, name, value)
        else:
            batch.seen_only.append(ts.pk)
        return "unchanged"

    old = {name: comparable(getattr(ts, name)) for name in COMPARED_FIELDS}
    new = inc.snapshot
    changes = {name: [old[name], new[name]] for name in COMPARED_FIELDS if old[name] != new[name]}
    Kind = DispatchTimeslotVersion.Kind
    if inc.checked_received_at < ts.applied_received_at:
        batch.versions.append(_version(ts, Kind.STALE, inc, batch, changes=changes, snapshot=new))
        return Kind.STALE
    comes_back = ts.cancelled and not inc.values["cancelled"]
    if comes_back and inc.source != Source.POLL and not ts.integration_test:
        # Leap promises no order: a body that would bring a cancelled event back (Leap
        # reinstating it, or an original arriving after its cancellation) is held, and Leap's
        # dispatch search for its window decides, at once (dispatch/recheck.py). Poll results
        # are Leap's search and apply.
        batch.versions.append(_version(ts, Kind.HELD, inc, batch, changes=changes, snapshot=new))
        ts.recheck, ts.recheck_at = "pending", batch.now
        ts.recheck_note = "a body would bring it back; asking Leap's dispatch search"
        batch.updated[ts.pk] = ts
        batch.rechecks.append(ts.pk)
        return Kind.HELD
    if comes_back and ts.recheck:  # Leap's search (a check or the reconcile poll): it is active
        ts.recheck, ts.recheck_at = "confirmed", batch.now
        ts.recheck_note = "Leap's dispatch search lists it active"
    if inc.values["cancelled"] and not ts.cancelled:
        kind = Kind.CANCELLED
    elif ts.cancelled and not inc.values["cancelled"]:
        kind = Kind.REINSTATED
    else:
        kind = Kind.UPDATED
    for name, value in {**inc.values, **recipient}.items():
        setattr(ts, name, value)
    ts.raw = inc.raw
    ts.content_hash = inc.content_hash
    ts.version += 1
    ts.changed_at = ts.last_seen_at = batch.now
    ts.applied_received_at = inc.checked_received_at
    ts.last_delivery = inc.delivery
    batch.updated[ts.pk] = ts  # written together, after the last sighting of the batch
    batch.versions.append(_version(ts, kind, inc, batch, changes=changes, snapshot=new))
    return kind


def _create_all(new: list[Incoming], batch: _Batch) -> dict[uuid.UUID, DispatchTimeslot]:
    """Insert first sightings in one statement; one another worker inserted meanwhile is left out.

    The caller applies those left out as sightings of an existing event.
    """
    origin = {inc.event_id: inc for inc in new}
    created = insert_rows([_new_timeslot(inc, batch) for inc in new], conflict_key="event_id")
    for ts in created:
        batch.versions.append(
            _version(
                ts,
                DispatchTimeslotVersion.Kind.CREATED,
                origin[ts.event_id],
                batch,
                snapshot=origin[ts.event_id].snapshot,  # ts was built from these values
            )
        )
    return {ts.event_id: ts for ts in created}


# What applying a newer sighting rewrites (_apply_existing); pk, event id and firsts stay.
_UPDATED_FIELDS = [
    *SLOT_FIELDS,
    *METER_RECIPIENT_FIELDS,
    *GROUP_RECIPIENT_FIELDS,
    "integration_test",
    "meter",
    "market_group",
    "raw",
    "content_hash",
    "version",
    "changed_at",
    "last_seen_at",
    "applied_received_at",
    "last_delivery",
    "recheck",
    "recheck_at",
    "recheck_note",
]

_REFUSED = "event {}: refused (a test may not overwrite a real event, and an event keeps its level)"


def apply_all(
    incoming: Iterable[Incoming],
    *,
    source: str,
    received_at: datetime,
    delivery: DispatchDelivery | None = None,
    run: ReconcileRun | None = None,
) -> IngestResult:
    """Apply many timeslots in one transaction, then re-plan and hand on what changed.

    Rows are locked in event-id order (one SELECT ... FOR UPDATE), new events inserted in one
    statement, versions in one more: a notification costs a dozen queries, not a dozen per slot.
    """
    result = IngestResult()
    valid, rejected = _checked(incoming, result, source, received_at, delivery)
    with transaction.atomic():
        batch = _open_batch(valid, run)
        # Lock in a fixed order so two workers on overlapping notifications cannot deadlock.
        existing = {
            ts.event_id: ts
            for ts in DispatchTimeslot.objects.select_for_update()
            .filter(event_id__in=[i.event_id for i in valid])
            .order_by("event_id")
        }
        later = _create_first_sightings(valid, existing, batch, result)
        _apply_later(later, existing, batch, result)
        update_rows(list(batch.updated.values()), _UPDATED_FIELDS)
        insert_rows(batch.versions, model=DispatchTimeslotVersion)
        if rejected:
            RejectedTimeslot.objects.bulk_create(rejected)
        if batch.seen_only:
            DispatchTimeslot.objects.filter(pk__in=batch.seen_only).update(last_seen_at=batch.now)
        _note_unknown_meters(valid, batch, result)
        _follow_up(result, batch)
    return result


def _checked(
    incoming: Iterable[Incoming],
    result: IngestResult,
    source: str,
    received_at: datetime,
    delivery: DispatchDelivery | None,
) -> tuple[list[Incoming], list[RejectedTimeslot]]:
    """Fill in where each timeslot came from and check it: (valid in receipt order, rejected)."""
    valid: list[Incoming] = []
    rejected: list[RejectedTimeslot] = []
    for inc in incoming:
        inc.delivery = inc.delivery or delivery
        inc.received_at = inc.received_at or received_at
        inc.source = inc.source or source
        if found := problems(inc):
            label = f"event {inc.event_id}" if inc.event_id else "a timeslot"
            result.note(inc, "invalid", f"{label}: {'; '.join(found)}")
            rejected.append(_rejected(inc, found))
        else:
            valid.append(inc)
    # In receipt order, so that several sightings of one event apply oldest first.
    valid.sort(key=lambda i: (i.received_at or received_at, i.delivery.pk if i.delivery else 0))
    return valid, rejected


def _open_batch(valid: list[Incoming], run: ReconcileRun | None) -> _Batch:
    """The batch's context, with the recipients we have (meters and groups, one query each)."""
    meter_ids = {i.values["meter_uuid"] for i in valid if i.level == Level.METER}
    group_ids = {i.values["market_group_uuid"] for i in valid if i.level == Level.GROUP}
    return _Batch(
        now=timezone.now(),
        run=run,
        # Only what planning reads (a meter has some 60 columns, JSON among them); re-planning
        # takes these and does not read them again (_follow_up).
        meters=bulk.in_bulk(Meter, meter_ids, planning.METER_PLAN_COLUMNS),
        groups=bulk.in_bulk(MarketGroup, group_ids),
    )


def _create_first_sightings(
    valid: list[Incoming],
    existing: dict[uuid.UUID, DispatchTimeslot],
    batch: _Batch,
    result: IngestResult,
) -> list[Incoming]:
    """Insert the events seen for the first time (adding them to `existing`).

    Returns the sightings left to apply to existing rows, in order: events we had, repeats within
    the batch, and (first) new events another worker inserted meanwhile.
    """
    first_seen: dict[uuid.UUID, Incoming] = {}
    later: list[Incoming] = []
    for inc in valid:
        if inc.event_id in existing or inc.event_id in first_seen:
            later.append(inc)  # known, or repeated within this notification
        else:
            first_seen[inc.checked_id] = inc
    if first_seen:
        created = _create_all(list(first_seen.values()), batch)
        for event_id, inc in first_seen.items():
            if event_id in created:
                result.note(inc, DispatchTimeslotVersion.Kind.CREATED)
                result.changed.append(created[event_id])
            else:  # lost the race: it exists now, apply as an update
                later.insert(0, inc)
        existing.update(created)
    return later


def _apply_later(
    later: list[Incoming],
    existing: dict[uuid.UUID, DispatchTimeslot],
    batch: _Batch,
    result: IngestResult,
) -> None:
    """Apply the sightings of events that have a row (locking those another worker inserted)."""
    missing = [i.event_id for i in later if i.event_id not in existing]
    if missing:
        existing.update(
            DispatchTimeslot.objects.select_for_update().in_bulk(missing, field_name="event_id")
        )
    for inc in later:
        ts = existing[inc.checked_id]
        outcome = _apply_existing(ts, inc, batch)
        refused = outcome == "refused"
        result.note(inc, outcome, _REFUSED.format(inc.event_id) if refused else None)
        if outcome == "unchanged" and inc.delivery is not None:
            result.by_delivery[inc.delivery.pk].same_as = ts.last_delivery_id
        if not refused and outcome not in ("unchanged", DispatchTimeslotVersion.Kind.STALE):
            result.changed.append(ts)


def _note_unknown_meters(valid: list[Incoming], batch: _Batch, result: IngestResult) -> None:
    """Note the meters real meter-level events name that we do not have, overall and per delivery."""
    for inc in valid:
        # A test names whatever meter the tester typed; only real events start a resync.
        if (
            inc.level == Level.METER
            and inc.values["meter_uuid"] not in batch.meters
            and not inc.values["integration_test"]
        ):
            result.unknown_meters.add(inc.values["meter_uuid"])
            key = inc.delivery.pk if inc.delivery is not None else None
            mine = result.by_delivery.setdefault(key, IngestResult())
            mine.unknown_meters.add(inc.values["meter_uuid"])


def _follow_up(result: IngestResult, batch: _Batch) -> None:
    """Re-plan and hand on what changed, raise alerts, ask for resyncs and Leap's rechecks."""
    if result.changed:
        changed = {ts.pk: ts for ts in result.changed}
        touched = planning.replan_timeslots(list(changed.values()), batch.meters)
        outbound.hand_on(touched | set(changed))
        alerts.raise_unknown_meters(result.changed, batch.meters)
    if result.unknown_meters:
        _request_resync(result.unknown_meters)
    for pk in batch.rechecks:
        enqueue.recheck_timeslot_on_commit(pk)


def _rejected(inc: Incoming, errors: list[str]) -> RejectedTimeslot:
    """The kept record of a timeslot that broke Leap's rules."""
    values = inc.values
    recipient = (
        values.get("meter_uuid") if inc.level == Level.METER else values.get("market_group_uuid")
    )
    return RejectedTimeslot(
        delivery=inc.delivery,
        level=inc.level,
        event_id=inc.event_id,
        recipient_uuid=recipient,
        raw=inc.raw if isinstance(inc.raw, dict) else {"value": inc.raw},
        errors=errors,
        received_at=inc.checked_received_at,
    )


def _request_resync(meter_ids: set[uuid.UUID]) -> None:
    """Ask the meter sync for meters that Leap dispatches but we do not have (after commit)."""

    def request() -> None:
        for meter_id in sorted(meter_ids, key=str):
            try:
                # The meter-sync app's entry point (docs/contracts.md §3).
                actions.request_sync("meter", requested_by=None, meter_id=meter_id)
            except Exception:  # the parked event is stored and shown; a failed request is logged
                log.exception("could not request a resync of meter %s", meter_id)

    transaction.on_commit(request)
