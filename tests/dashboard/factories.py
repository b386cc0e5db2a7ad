"""Small helpers that make dashboard test data straight in the models."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from dispatch.models import DispatchTimeslot
from meters.models import MarketGroup, Meter, RequiredAction


def make_timeslot(**overrides: Any) -> DispatchTimeslot:
    """A meter-level dispatch timeslot one hour long, starting in a day, unless overridden."""
    start = overrides.pop("start_time", datetime.now(UTC) + timedelta(days=1))
    meter = overrides.get("meter")
    fields: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "level": "meter",
        "meter_uuid": meter.pk if meter is not None else uuid.uuid4(),
        "start_time": start,
        "end_time": start + timedelta(hours=1),
        "energy_kw": 50.0,
        "priority": 5,
        "first_source": "webhook",
        "content_hash": "x",
    }
    fields.update(overrides)
    return DispatchTimeslot.objects.create(**fields)


_counter = iter(range(1, 10_000_000))


def make_meter(**overrides: Any) -> Meter:
    """A present, ACTIVE CAISO meter with a customer, unless overridden."""
    n = next(_counter)
    fields: dict[str, Any] = {
        "meter_id": uuid.uuid4(),
        "partner_reference": f"site-{n:05d}",
        "transmission_region": "CAISO",
        "global_enrollment_status": "ACTIVE",
        "meter_type": "UTILITY_METER",
        "load_types": ["HVAC"],
        "end_customer_name": f"Customer {n}",
        "end_customer_email": f"customer{n}@example.com",
        "street_1": f"{n} Main St",
        "city": "Fresno",
        "state_or_province_code": "CA",
        "postal_code": "93701",
        "utility_name": "PGE",
        "electric_service_account_number": f"ACC{n:06d}",
        "leap_updated_at": datetime(2026, 3, 1, tzinfo=UTC),
    }
    fields.update(overrides)
    return Meter.objects.create(**fields)


def make_action(meter: Meter, **overrides: Any) -> RequiredAction:
    """An open partner action AUTH_0001 due in two days, unless overridden."""
    fields: dict[str, Any] = {
        "meter": meter,
        "side": "partner",
        "program_identifier": "CCA",
        "delivery_period": "CAISO-CCA_2026_APR",
        "action_type": "IS_AUTHORIZED",
        "code": "AUTH_0001",
        "description": "End customer must re-authorize the meter",
        "deadline": datetime.now(UTC) + timedelta(days=2),
    }
    fields.update(overrides)
    action = RequiredAction.objects.create(**fields)
    Meter.objects.filter(pk=meter.pk, action_required=False).filter(
        required_actions__side="partner", required_actions__resolved_at__isnull=True
    ).update(action_required=True)
    return action


def make_group(name: str = "PGSB_1_PDRP68", region: str = "CAISO") -> MarketGroup:
    """A market group of a region."""
    return MarketGroup.objects.create(market_group_id=uuid.uuid4(), name=name, region=region)
