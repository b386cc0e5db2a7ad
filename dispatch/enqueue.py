"""The one door dispatch's code queues its Celery tasks through, so domain code never imports tasks.

dispatch/tasks.py imports the domain code it runs (inbox, outbound, reconcile, ...), and that code
queues follow-up work through here, so this module names its tasks instead of importing them
(leapportal/task_lookup.py says why), and queues each exactly as its callers did before.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from leapportal.task_lookup import task


def drain_deliveries() -> None:
    """Queue a drain of the waiting dispatch deliveries now (dispatch/wakeup.py decides when)."""
    task("dispatch.tasks.drain_deliveries").delay()


def process_delivery(delivery_id: int) -> None:
    """Queue the processing of one stored dispatch delivery now."""
    task("dispatch.tasks.process_delivery").delay(delivery_id)


def process_delivery_on_commit(delivery_id: int) -> None:
    """Queue the processing of one dispatch delivery once the transaction commits."""
    task("dispatch.tasks.process_delivery").delay_on_commit(delivery_id)  # type: ignore[attr-defined]  # DjangoTask


def recheck_timeslot_on_commit(timeslot_id: int) -> None:
    """Queue a look at Leap for a timeslot whose notification came out of order, after commit."""
    task("dispatch.tasks.recheck_timeslot").delay_on_commit(timeslot_id)  # type: ignore[attr-defined]  # DjangoTask


def attach_parked_events_on_commit(meter_ids: Iterable[uuid.UUID | str]) -> None:
    """Queue attaching the events parked for meters we did not have yet, after commit."""
    task("dispatch.tasks.attach_parked_events").delay_on_commit([str(m) for m in meter_ids])  # type: ignore[attr-defined]  # DjangoTask


def replan_meters_on_commit(meter_ids: Iterable[uuid.UUID | str]) -> None:
    """Queue re-planning these meters' upcoming events, after commit."""
    task("dispatch.tasks.replan_meters").delay_on_commit([str(m) for m in meter_ids])  # type: ignore[attr-defined]  # DjangoTask


def send_outbound_on_commit(message_id: int) -> None:
    """Queue sending one outbound message to our systems, after commit."""
    task("dispatch.tasks.send_outbound").delay_on_commit(message_id)  # type: ignore[attr-defined]  # DjangoTask
