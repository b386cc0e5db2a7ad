"""Objects Leap sends unchanged, recognised before they are validated.

The nightly full sync reads every meter twice (details, then enrollment), 200,000 objects at
100,000 meters, and in a night where little changed the planner writes almost none of them: it
compares each object's content hash (of its canonical JSON, `snapshot.canonical_json`) with the
stored one. Yet every object was validated by pydantic and flattened into columns first, only for
the planner to find the hash equal: that was most of the sync's CPU (bench/sync.py, "nothing
changed": 27 s of the fetch process against 6 s of the writer), taken from dispatch and the
pages while they run beside it (bench/mixed_load.py).

The hash needs only the dict Leap sent. So a full search reads, once, the stored hash of every
present meter (`stored_hashes`; a meter marked missing is left out: it must be written back), and
its pages are prepared by `Known.prepare_page`: an object whose hash is its meter's stored one
becomes a `Prepared` without data (no validation, no flattening), every other object is
validated and prepared as before. The planner still decides what to write
(`meter_rows.changed_meters`); should it find such an object changed after all (a webhook's
resync wrote the meter since the hashes were read), `complete` validates and prepares it there,
from its text.

What is skipped was validated when it was stored, with the same result: the stored hash is only
ever written with the rows made from that object.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from django.db import connection

from leap.client.pages import Page, RawPage
from leap.schemas import MeterDetail, MeterEnrollment, RawModel
from meters.models import Meter
from meters.sync.snapshot import Prepared, canonical_json, text_hash

# The stored hash of each stream, and the model its objects validate as.
HASH_COLUMNS = {"details": "details_hash", "enrollment": "enrollment_hash"}
MODELS: dict[str, type[RawModel]] = {"details": MeterDetail, "enrollment": MeterEnrollment}


def stored_hashes(stream: str) -> dict[str, str]:
    """{meter id as text: stored content hash} of the present meters, for one stream."""
    column = HASH_COLUMNS[stream]
    sql = (
        f"SELECT meter_id::text, {column} FROM {Meter._meta.db_table} "  # noqa: S608 - our names
        f"WHERE missing_since IS NULL AND {column} <> ''"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return dict(cursor.fetchall())


class Known:
    """The stored hashes of one stream, and how its pages are prepared with them.

    Picklable (the full sync's fetch process gets it with its job). `matched` counts the objects
    passed without validation, `checked` those looked up.
    """

    def __init__(self, hashes: dict[str, str]) -> None:
        self.hashes = hashes
        self.checked = 0
        self.matched = 0

    def __len__(self) -> int:
        return len(self.hashes)

    def match(self, raw: Any) -> Prepared | None:
        """`raw` as a Prepared without data when its hash is its meter's stored one, else None."""
        if not isinstance(raw, dict):
            return None
        key = raw.get("meter_id")
        stored = self.hashes.get(key) if isinstance(key, str) else None
        if stored is None:
            return None
        self.checked += 1
        text = canonical_json(raw)
        digest = text_hash(text)
        if digest != stored:
            return None
        self.matched += 1
        return Prepared(uuid.UUID(key), text, digest, None)

    def prepare_page(self, page: RawPage[Any], prepare: Callable[[Any], Prepared]) -> Page[Any]:
        """A fetched page as the planner takes it: unchanged objects passed as they are, the
        others validated (failures kept) and prepared; Leap's order is kept."""
        slots: list[Prepared | None] = []
        rest: list[Any] = []
        for raw in page.items:
            item = self.match(raw)
            slots.append(item)
            if item is None:
                rest.append(raw)
        validated = page.validate(rest)
        failed = {id(failure.raw) for failure in validated.failures}
        good = iter(validated)
        items: list[Prepared] = []
        for raw, item in zip(page.items, slots, strict=True):
            if item is not None:
                items.append(item)
            elif id(raw) not in failed:
                items.append(prepare(next(good)))
        return Page(
            items,
            failures=validated.failures,
            number=validated.number,
            next_page_token=validated.next_page_token,
        )


def complete(stream: str, item: Prepared, prepare: Callable[[Any], Prepared]) -> Prepared:
    """A Prepared passed without data (`Known.match`), validated and prepared from its text.

    Raises the LeapBadPayload validation gives (the caller keeps it as a failure).
    """
    if item.data is not None:
        return item
    return prepare(MODELS[stream].parse(json.loads(item.text)))
