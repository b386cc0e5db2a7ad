from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError

from mapping.actions import MappingRefused, clear_mapping, set_mapping
from mapping.models import MappingChange, MeterMapping, SharedSite
from meters.models import Meter

PAGE = MappingChange.Source.PAGE


@pytest.fixture
def map_meter(admin_user):
    """map_meter(meter_id, customer_id, site_id="", label="", reason="map"): set_mapping by
    alice (an admin) from the mapping page."""

    def map_(meter_id, customer_id, *, site_id="", label="", reason="map"):
        return set_mapping(
            meter_id,
            customer_id=customer_id,
            site_id=site_id,
            label=label,
            reason=reason,
            actor=admin_user,
            source=PAGE,
        )

    return map_


def test_setting_a_mapping_creates_it_and_records_who_when_why(make_meter, admin_user, map_meter):
    meter = make_meter("cust-1")

    change = map_meter(
        meter.pk, "cust-1", site_id="site-9", label="Pump house", reason="onboarding"
    )

    mapping = MeterMapping.objects.get(pk=meter.pk)
    assert (mapping.customer_id, mapping.site_id, mapping.label) == (
        "cust-1",
        "site-9",
        "Pump house",
    )
    assert mapping.updated_by == "alice"
    assert change.before is None
    assert change.after == {"customer_id": "cust-1", "site_id": "site-9", "label": "Pump house"}
    assert (change.actor_user, change.actor_name, change.source, change.reason) == (
        admin_user,
        "alice",
        "page",
        "onboarding",
    )
    assert change.action == "created"


def test_changing_a_mapping_keeps_before_and_after(make_meter, map_meter):
    meter = make_meter()
    map_meter(meter.pk, "a", reason="first")

    change = map_meter(meter.pk, "b", site_id="s", reason="moved")

    assert change.before == {"customer_id": "a", "site_id": "", "label": ""}
    assert change.after == {"customer_id": "b", "site_id": "s", "label": ""}
    assert MappingChange.objects.filter(meter_id=meter.pk).count() == 2


def test_saving_the_same_values_changes_nothing_and_writes_no_audit(make_meter, map_meter):
    meter = make_meter()
    map_meter(meter.pk, "a", site_id="s", label="x", reason="first")

    again = map_meter(meter.pk, " a ", site_id="s", label="x", reason="again")

    assert again is None
    assert MappingChange.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"customer_id": ""}, "customer_id", "required"),
        ({"customer_id": "has space"}, "customer_id", "may only contain"),
        ({"customer_id": "x" * 129}, "customer_id", "at most 128"),
        ({"site_id": "a/b"}, "site_id", "may only contain"),
        ({"label": "=HYPERLINK(1)"}, "label", "must not start"),
        ({"label": "two\nlines"}, "label", "single line"),
        ({"reason": "no"}, "reason", "at least 3"),
    ],
)
def test_invalid_values_are_refused_with_the_field_named(
    make_meter, admin_user, fields, field, words
):
    meter = make_meter()
    values = {"customer_id": "c", "site_id": "s", "label": "l", "reason": "because", **fields}

    with pytest.raises(MappingRefused) as refused:
        set_mapping(meter.pk, **values, actor=admin_user, source=PAGE)

    assert words in refused.value.errors[field]
    assert not MeterMapping.objects.exists() and not MappingChange.objects.exists()


def test_a_meter_leap_never_had_cannot_be_mapped(db, map_meter):
    with pytest.raises(MappingRefused) as refused:
        map_meter(uuid.uuid4(), "c", reason="try")
    assert refused.value.code == "unknown_meter"


def test_a_mapping_outlives_its_meter_and_can_still_be_edited(make_meter, map_meter):
    meter_id = make_meter().pk
    map_meter(meter_id, "c")
    Meter.objects.filter(pk=meter_id).delete()  # Leap removed it and the sync dropped the row

    assert MeterMapping.objects.filter(pk=meter_id).exists()
    change = map_meter(meter_id, "c2", reason="fix")
    assert change.after["customer_id"] == "c2"


def test_one_meter_per_site_refuses_a_second_meter(make_meter, map_meter):
    first, second = make_meter(), make_meter()
    map_meter(first.pk, "c", site_id="S1")

    with pytest.raises(MappingRefused) as refused:
        map_meter(second.pk, "c", site_id="S1")

    assert refused.value.code == "site_taken"
    assert str(first.pk) in refused.value.errors["site_id"]
    assert not MeterMapping.objects.filter(pk=second.pk).exists()


def test_a_shared_site_or_the_setting_off_allows_several_meters(make_meter, map_meter, settings):
    a, b, c = make_meter(), make_meter(), make_meter()
    SharedSite.objects.create(site_id="campus", reason="one site, many buildings")
    for m in (a, b):
        map_meter(m.pk, "c", site_id="campus")
    settings.MAPPING_ONE_METER_PER_SITE = False
    map_meter(c.pk, "c", site_id="campus")
    assert MeterMapping.objects.filter(site_id="campus").count() == 3


def test_clearing_a_mapping_records_it_as_removed(make_meter, admin_user, map_meter):
    meter = make_meter()
    map_meter(meter.pk, "c")

    change = clear_mapping(meter.pk, reason="wrong meter", actor=admin_user, source=PAGE)

    assert change.action == "removed" and change.after is None
    assert not MeterMapping.objects.exists()
    assert clear_mapping(meter.pk, reason="again", actor=admin_user, source=PAGE) is None


def test_the_mapping_and_its_audit_row_are_written_together(make_meter, map_meter, monkeypatch):
    meter = make_meter()

    def broken_create(**kwargs):
        raise IntegrityError("audit table unavailable")

    monkeypatch.setattr(MappingChange.objects, "create", broken_create)
    with pytest.raises(IntegrityError):
        map_meter(meter.pk, "c")
    assert not MeterMapping.objects.exists()


def test_an_anonymous_actor_is_refused(make_meter):
    meter = make_meter()
    with pytest.raises(MappingRefused):
        set_mapping(
            meter.pk,
            customer_id="c",
            site_id="",
            label="",
            reason="map",
            actor=AnonymousUser(),
            source=PAGE,
        )
