"""dispatch.bulk.update_rows: many rows' fields in one UPDATE, values exactly as save() stores."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dispatch.bulk import update_rows
from dispatch.models import DispatchDelivery, Level

pytestmark = pytest.mark.django_db


def _delivery(body: bytes) -> DispatchDelivery:
    return DispatchDelivery.objects.create(
        level=Level.METER, body=body, body_sha256=DispatchDelivery.hash_body(body), size=len(body)
    )


def test_update_rows_writes_text_json_foreign_keys_nulls_and_times_in_one_query(
    django_assert_num_queries,
):
    first, second, third, untouched = (_delivery(f"{{{i}}}".encode()) for i in range(4))
    when = datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=UTC)
    first.status, first.summary, first.attempts = "processed", {"created": 2, "x": ["a'b"]}, 1
    second.status, second.duplicate_of, second.error = "duplicate", first, 'it\'s "quoted"'
    third.status, third.summary, third.processed_at = "rejected", {}, when
    for d in (first, second):
        d.processed_at = when

    with django_assert_num_queries(1):
        update_rows(
            [first, second, third],
            ["status", "error", "processed_at", "attempts", "summary", "duplicate_of"],
        )

    rows = {d.pk: d for d in DispatchDelivery.objects.all()}
    assert (rows[first.pk].status, rows[first.pk].summary, rows[first.pk].attempts) == (
        "processed",
        {"created": 2, "x": ["a'b"]},
        1,
    )
    assert rows[first.pk].duplicate_of_id is None and rows[first.pk].processed_at == when
    assert (rows[second.pk].status, rows[second.pk].duplicate_of_id) == ("duplicate", first.pk)
    assert rows[second.pk].error == 'it\'s "quoted"'
    assert (rows[third.pk].status, rows[third.pk].summary, rows[third.pk].processed_at) == (
        "rejected",
        {},
        when,
    )
    assert rows[untouched.pk].status == "received" and rows[untouched.pk].processed_at is None


def test_update_rows_with_nothing_to_do_runs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        update_rows([], ["status"])
