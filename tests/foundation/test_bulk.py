"""leapportal.bulk, the one bulk layer: COPY, upsert, update-from and binary reads on PostgreSQL.

Values must come back exactly as Model.save() would have stored them: uuids, aware datetimes,
jsonb, arrays, NULLs and text with tabs, newlines, quotes and backslashes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.db import IntegrityError, connection, transaction

from leapportal import bulk
from meters.models import ChangeSource, Meter, MeterChange
from ops.models import BulkWorkUpdate

pytestmark = pytest.mark.django_db

AWKWARD = "tab\there, newline\nthere, CR\r, backslash \\ and \\N, quote ' and \" and é ☃"
WHEN = datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=UTC)
JSON = {"text": AWKWARD, "list": [1, 2.5, None, True], "nested": {"empty": {}, "none": None}}


def _meter(**fields) -> Meter:
    return Meter.objects.create(meter_id=uuid.uuid4(), **fields)


def _meter_row(meter_id: uuid.UUID, **fields) -> dict[str, object]:
    """A whole Meter row (an insert must be complete: COPY has no Django defaults)."""
    row = {f.attname: f.get_default() for f in Meter._meta.concrete_fields}
    return {**row, "meter_id": meter_id, **fields}


def test_copy_rows_stores_text_json_arrays_times_and_nulls_as_save_would():
    written = bulk.copy_rows(
        BulkWorkUpdate,
        [
            "operation",
            "value",
            "query",
            "action_ids",
            "arguments",
            "created_at",
            "started_at",
            "selected",
            "changed",
        ],
        [
            ["note", AWKWARD, "", [1, 2, 3], JSON, WHEN, None, 3, 3],
            ["state", "", "region=ERCOT", [], {}, WHEN + timedelta(days=1), WHEN, 0, 0],
        ],
    )

    assert written == 2
    first, second = BulkWorkUpdate.objects.order_by("pk")
    assert (first.operation, first.value, first.action_ids, first.arguments) == (
        "note",
        AWKWARD,
        [1, 2, 3],
        JSON,
    )
    assert first.created_at == WHEN and first.started_at is None
    # Columns not named take their database default.
    assert (first.status, first.error, first.processed) == ("done", "", 0)
    assert (second.action_ids, second.arguments, second.started_at) == ([], {}, WHEN)


def test_copy_rows_takes_json_text_as_it_is_and_none_as_sql_null():
    meter = _meter()
    bulk.copy_rows(
        MeterChange,
        ["meter", "field", "old", "new", "changed_at", "source"],
        [
            [meter.pk, "tags", None, bulk.JsonText('["a",  "b"]'), WHEN, ChangeSource.POLL],
            [meter.pk, "name", "it's", {"k": AWKWARD}, WHEN, ChangeSource.POLL],
        ],
    )

    name, tags = MeterChange.objects.order_by("field")
    assert name.field == "name" and (name.old, name.new) == ("it's", {"k": AWKWARD})
    assert tags.new == ["a", "b"]
    # None is SQL NULL (as save() stores it), not the JSON value null.
    assert MeterChange.objects.filter(field="tags", old__isnull=True).exists()


def test_copy_objects_takes_stand_ins_with_the_models_attribute_names():
    meter = _meter()
    stand_ins = [
        SimpleNamespace(
            meter_id=meter.pk,
            field=f"f{i}",
            old=None,
            new=[i],
            changed_at=WHEN,
            source=ChangeSource.POLL,
            sync_run_id=None,
        )
        for i in range(3)
    ]

    assert bulk.copy_objects(stand_ins, model=MeterChange) == 3
    assert sorted(MeterChange.objects.values_list("field", "new")) == [
        ("f0", [0]),
        ("f1", [1]),
        ("f2", [2]),
    ]
    assert bulk.copy_objects([], model=MeterChange) == 0


def test_write_rows_upserts_only_the_update_columns_of_a_conflicting_row():
    stored = _meter(partner_reference="old ref", city="Austin", tags=["kept"])
    fresh = uuid.uuid4()

    written = bulk.write_rows(
        Meter,
        [
            _meter_row(stored.pk, partner_reference=AWKWARD, city="Houston", tags=[]),
            _meter_row(fresh, partner_reference="new", city=None, tags=["x"]),
        ],
        conflict=["meter_id"],
        update=["partner_reference", "tags"],
    )

    assert written == 2
    stored.refresh_from_db()
    assert (stored.partner_reference, stored.tags) == (AWKWARD, [])
    assert stored.city == "Austin"  # not in `update`: the stored value stays
    created = Meter.objects.get(pk=fresh)
    assert (created.partner_reference, created.city, created.tags) == ("new", None, ["x"])


def test_write_rows_ignoring_conflicts_leaves_stored_rows_alone():
    stored = _meter(city="Austin")
    fresh = uuid.uuid4()

    written = bulk.write_rows(
        Meter,
        [_meter_row(stored.pk, city="Houston"), _meter_row(fresh, city="Dallas")],
        ignore_conflicts=True,
    )

    assert written == 1
    stored.refresh_from_db()
    assert stored.city == "Austin" and Meter.objects.get(pk=fresh).city == "Dallas"


def test_write_rows_without_conflict_handling_fails_on_a_duplicate_and_writes_nothing():
    stored = _meter()
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk.write_rows(Meter, [_meter_row(uuid.uuid4()), _meter_row(stored.pk)])
    assert Meter.objects.count() == 1


def test_write_rows_and_update_rows_with_nothing_to_do_run_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert bulk.write_rows(Meter, []) == 0
        assert bulk.update_rows(Meter, [], key="meter_id") == 0
        assert bulk.update_objects([], ["city"], model=Meter) == 0
        assert bulk.insert_new_objects([], conflict_key="meter_id") == []
        assert bulk.rows_for(Meter, ["city"], "meter_id", []) == []


def test_update_rows_sets_the_given_columns_of_the_rows_found_by_key():
    first, second, untouched = (_meter(city="Austin", tags=["t"]) for _ in range(3))

    updated = bulk.update_rows(
        Meter,
        [
            {"meter_id": first.pk, "city": AWKWARD, "leap_updated_at": WHEN},
            {"meter_id": second.pk, "city": None, "leap_updated_at": None},
            {"meter_id": uuid.uuid4(), "city": "nowhere", "leap_updated_at": WHEN},
        ],
        key="meter_id",
    )

    assert updated == 2
    rows = {m.pk: m for m in Meter.objects.all()}
    assert (rows[first.pk].city, rows[first.pk].leap_updated_at) == (AWKWARD, WHEN)
    assert (rows[second.pk].city, rows[second.pk].leap_updated_at) == (None, None)
    assert all(m.tags == ["t"] for m in rows.values())  # not sent, not set
    assert rows[untouched.pk].city == "Austin"


def test_update_objects_matches_on_the_pk_and_reuses_its_staging_table_in_one_transaction():
    one, two = (BulkWorkUpdate.objects.create(operation="state", action_ids=[1]) for _ in range(2))
    with transaction.atomic():
        one.value, one.action_ids = AWKWARD, [7, 8]
        assert bulk.update_objects([one], ["value", "action_ids"], model=BulkWorkUpdate) == 1
        one.value, two.value = "second", "also"
        assert bulk.update_objects([one, two], ["value", "action_ids"], model=BulkWorkUpdate) == 2
        two.arguments, two.created_by = {"x": [AWKWARD]}, None
        assert bulk.update_objects([two], ["arguments", "created_by"], model=BulkWorkUpdate) == 1
    one.refresh_from_db()
    two.refresh_from_db()
    assert (one.value, one.action_ids) == ("second", [7, 8])
    assert (two.value, two.action_ids, two.arguments) == ("also", [1], {"x": [AWKWARD]})


def test_a_staging_table_created_in_a_rolled_back_transaction_is_made_again():
    meter = _meter(city="Austin")
    with pytest.raises(RuntimeError), transaction.atomic():
        bulk.update_rows(Meter, [{"meter_id": meter.pk, "voltage": "480"}], key="meter_id")
        raise RuntimeError("roll back")
    assert bulk.update_rows(Meter, [{"meter_id": meter.pk, "voltage": "240"}], key="meter_id") == 1
    meter.refresh_from_db()
    assert meter.voltage == "240"


def test_insert_new_objects_leaves_out_stored_keys_and_sets_pks_even_when_the_pk_is_the_key():
    stored = _meter(city="Austin")
    fresh = [Meter(meter_id=uuid.uuid4(), city=AWKWARD), Meter(meter_id=uuid.uuid4())]

    inserted = bulk.insert_new_objects(
        [Meter(meter_id=stored.pk, city="Houston"), *fresh], conflict_key="meter_id"
    )

    assert inserted == fresh and all(not m._state.adding for m in inserted)
    stored.refresh_from_db()
    assert stored.city == "Austin"
    assert Meter.objects.get(pk=fresh[0].pk).city == AWKWARD


def test_select_binary_round_trips_the_types_the_apps_read():
    ids = [uuid.uuid4(), uuid.uuid4()]
    row = bulk.select_binary(
        "SELECT %b::uuid[], %b::timestamptz, %b::jsonb, %b::bigint[], %b::text, %b::text[], "
        "%b::text, %b::date",
        [
            ids,
            WHEN,
            bulk.dumps(JSON),
            [1, 2**40],
            AWKWARD,
            ["a\tb", None, "c\\d"],
            None,
            WHEN.date(),
        ],
    )
    assert row == [
        (ids, WHEN, JSON, [1, 2**40], AWKWARD, ["a\tb", None, "c\\d"], None, WHEN.date())
    ]
    assert row[0][1].tzinfo is not None


def test_rows_for_reads_the_fields_of_the_rows_whose_key_is_given_in_pk_order():
    meters = sorted((_meter(city=c, tags=[c]) for c in ("a", "b", "c")), key=lambda m: m.pk)
    _meter(city="other")
    meters[1].leap_created_at = WHEN
    meters[1].save()

    rows = bulk.rows_for(
        Meter, ["meter_id", "city", "tags", "leap_created_at"], "meter_id", [m.pk for m in meters]
    )

    assert rows == [(m.pk, m.city, m.tags, m.leap_created_at) for m in meters]
    assert rows[1][3] == WHEN


def test_in_bulk_gives_the_instances_the_orms_in_bulk_gives_with_the_same_fields_deferred(
    django_assert_num_queries,
):
    meters = [_meter(city=c, tags=[c], battery_max_discharge_rate_kw=2.5) for c in ("a", "b")]
    meters[0].leap_created_at = WHEN
    meters[0].save()
    _meter(city="not asked for")
    wanted = [m.pk for m in meters] + [uuid.uuid4()]  # one that does not exist
    fields = ["city", "battery_max_discharge_rate_kw", "leap_created_at"]

    with django_assert_num_queries(0):  # read through select_binary, outside the query log
        got = bulk.in_bulk(Meter, iter(wanted), fields)
    orm = Meter.objects.only(*fields).in_bulk(wanted)

    assert set(got) == set(orm) == {m.pk for m in meters}
    for pk, obj in got.items():
        assert type(obj) is Meter and obj._state.adding is False and obj._state.db == "default"
        assert obj.get_deferred_fields() == orm[pk].get_deferred_fields()
        assert [getattr(obj, f) for f in fields] == [getattr(orm[pk], f) for f in fields]
    assert got[meters[0].pk].leap_created_at == WHEN
    with django_assert_num_queries(1):
        assert got[meters[1].pk].tags == ["b"]  # deferred: read on access, as the ORM's
    whole = bulk.in_bulk(Meter, [meters[1].pk])[meters[1].pk]
    assert whole.get_deferred_fields() == set() and whole.city == "b"
    assert bulk.in_bulk(Meter, [], fields) == {}


def test_unknown_columns_are_refused_before_any_write():
    with pytest.raises(LookupError):
        bulk.write_rows(Meter, [{"meter_id": uuid.uuid4(), "no_such_column": 1}])


def test_dumps_writes_json_text_fast_for_empties_and_falls_back_for_huge_integers():
    assert bulk.dumps([]) == "[]" and bulk.dumps({}) == "{}"
    assert isinstance(bulk.dumps({}), bulk.JsonText)
    assert bulk.dumps({"b": 1, "a": [2]}, sort_keys=True) == '{"a":[2],"b":1}'
    assert bulk.dumps({"n": 2**70}) == '{"n":1180591620717411303424}'
    assert bulk.dumps({"when": WHEN}) == '{"when":"2026-03-04T05:06:07.891000+00:00"}'


def test_the_staging_tables_are_temporary_tables_of_the_session():
    meter = _meter()
    bulk.update_rows(Meter, [{"meter_id": meter.pk, "city": "x"}], key="meter_id")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relname LIKE '_stage_meters_meter_%%' "
            "AND relpersistence = 't'"
        )
        assert cursor.fetchall()
