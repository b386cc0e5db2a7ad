"""Bulk import and export of the mapping as CSV.

Upload -> `preview_upload` keeps the file and stores a dry-run verdict per line (create, update,
left alone, conflict, error). `apply_import` re-plans the same file against the current state under
the mapping lock, refuses if the verdict changed, and otherwise writes everything in one transaction.
The export writes the same columns, so exporting and importing again changes nothing.
"""

from __future__ import annotations

import gc
import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from leapportal.web import csvexport
from mapping import actions, bulk, portfolio
from mapping.csvfile import (  # noqa: F401 - importable from here as before
    COLUMNS,
    KEY_COLUMNS,
    VALUE_COLUMNS,
    FileRefused,
    decode,
    read_rows,
)
from mapping.flags import forget_convention
from mapping.models import ImportRow, MappingImport, MeterMapping
from mapping.validation import InvalidValue, clean_mapping, clean_meter_id, clean_reason
from meters.models import Meter

Outcome = ImportRow.Outcome


class ImportNotApplicable(Exception):
    """The import cannot be applied (already applied, refused, or with errors or conflicts)."""


class ImportStale(ImportNotApplicable):
    """The mapping or Leap's meters changed since the preview, so the preview no longer holds."""


# --- planning ------------------------------------------------------------------------------------


@dataclass(slots=True)
class PlannedRow:
    """The verdict for one line."""

    line: int
    key: str
    meter_id: uuid.UUID | None
    partner_reference: str
    customer_id: str
    site_id: str
    label: str
    outcome: str = Outcome.UNCHANGED
    messages: list[str] = field(default_factory=list)
    before: dict[str, str] | None = None
    after: dict[str, str] | None = None

    def fail(self, outcome: str, message: str) -> None:
        """Mark the row an error or conflict (an error outranks a conflict)."""
        if self.outcome != Outcome.ERROR:
            self.outcome = outcome
        self.messages.append(message)


@dataclass
class Plan:
    """The dry run of a whole file."""

    rows: list[PlannedRow]

    @property
    def counts(self) -> dict[str, int]:
        """Rows per outcome, plus the total."""
        counts = {o.value: 0 for o in Outcome}
        for row in self.rows:
            counts[row.outcome] += 1
        counts["rows"] = len(self.rows)
        return counts

    @property
    def digest(self) -> str:
        """Fingerprint of the verdict: apply refuses when re-planning gives a different one."""
        h = hashlib.sha256()
        for r in self.rows:
            # repr is stable here: before/after dicts are always built in the same key order.
            h.update(f"{r.line}|{r.outcome}|{r.meter_id}|{r.after!r}|{r.before!r}\n".encode())
        return h.hexdigest()

    def changes(self) -> list[tuple[uuid.UUID, dict[str, str] | None, dict[str, str]]]:
        """(meter_id, before, after) of every create and update."""
        return [
            (r.meter_id, r.before, r.after)
            for r in self.rows
            if r.outcome in (Outcome.CREATE, Outcome.UPDATE) and r.meter_id and r.after
        ]


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector during bulk work.

    Planning 100,000 lines allocates a few hundred thousand small objects and no cycles; the
    collector's repeated full passes over them doubled the time (measured in the bench).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def make_plan(raw: bytes) -> Plan:
    """Dry-run a file against the current mapping and Leap's meters as last synced."""
    with _no_gc():
        return _make_plan(raw)


def _make_plan(raw: bytes) -> Plan:
    records = list(read_rows(decode(raw)))
    meters = portfolio.load_all_meters()
    by_reference: dict[str, list[uuid.UUID]] = defaultdict(list)
    for facts in meters.values():
        if facts.partner_reference:
            by_reference[facts.partner_reference].append(facts.meter_id)
    current = {
        m: {"customer_id": c, "site_id": s, "label": lab}
        for m, c, s, lab in MeterMapping.objects.values_list(
            "meter_id", "customer_id", "site_id", "label"
        ).iterator(chunk_size=10000)
    }
    rows = []
    lines_of: dict[uuid.UUID, list[PlannedRow]] = defaultdict(list)
    for line, values, problem in records:
        if values is None:
            row = PlannedRow(line, "", None, "", "", "", "")
            row.fail(Outcome.ERROR, problem)
            rows.append(row)
            continue
        row = _plan_row(line, values, meters, by_reference, current)
        rows.append(row)
        if row.meter_id:
            lines_of[row.meter_id].append(row)
    for meter_id, same in lines_of.items():
        if len(same) > 1:
            # One message object shared by every duplicate, naming at most a few lines: a file of
            # repeated rows must cost memory in proportion to its lines, not to their square.
            message = f"duplicate: meter {meter_id} is on {_some_lines(same)}"
            for row in same:
                row.fail(Outcome.ERROR, message)
    _check_sites(rows, current)
    return Plan(rows)


DUPLICATE_LINES_SHOWN = 5


def _some_lines(rows: list[PlannedRow]) -> str:
    """'lines 5, 6' or, for many, 'lines 5, 6, 7, 8, 9 and 1,995 more' (a bounded text)."""
    shown = ", ".join(str(r.line) for r in rows[:DUPLICATE_LINES_SHOWN])
    rest = len(rows) - DUPLICATE_LINES_SHOWN
    return f"lines {shown}" + (f" and {rest:,} more" if rest > 0 else "")


def _plan_row(
    line: int,
    values: list[str],
    meters: dict[uuid.UUID, portfolio.MeterFacts],
    by_reference: dict[str, list[uuid.UUID]],
    current: dict[uuid.UUID, dict[str, str]],
) -> PlannedRow:
    raw_id, reference, customer_id, site_id, label = values
    row = PlannedRow(
        line,
        "meter_id" if raw_id else "partner_reference",
        None,
        reference,
        customer_id,
        site_id,
        label,
    )
    if raw_id:
        try:
            row.meter_id = clean_meter_id(raw_id)
        except InvalidValue as exc:
            row.fail(Outcome.ERROR, str(exc))
    elif reference:
        found = by_reference.get(reference, [])
        if not found:
            row.fail(Outcome.ERROR, f"no meter in Leap has partner_reference {reference!r}")
        elif len(found) > 1:
            ids = ", ".join(str(m) for m in found[:5])
            row.fail(
                Outcome.CONFLICT,
                f"partner_reference {reference!r} matches {len(found)} meters ({ids}); "
                "give meter_id for each instead",
            )
        else:
            row.meter_id = found[0]
    else:
        row.fail(Outcome.ERROR, "needs a meter_id or a partner_reference")
    try:
        row.after = clean_mapping(customer_id, site_id, label)
    except InvalidValue as exc:
        for message in exc.errors.values():
            row.fail(Outcome.ERROR, message)
    if row.meter_id is None:
        return row
    facts = meters.get(row.meter_id)
    row.before = current.get(row.meter_id)
    if facts is None and row.before is None:
        row.fail(
            Outcome.ERROR,
            f"unknown meter_id {row.meter_id}: not in Leap's portfolio as last synced",
        )
        return row
    if facts is None or facts.missing:
        row.messages.append("note: Leap no longer has this meter")
    elif facts.archived:
        row.messages.append("note: Leap archived this meter")
    if (
        facts
        and row.key == "meter_id"
        and reference
        and reference != (facts.partner_reference or "")
    ):
        row.messages.append(
            f"note: partner_reference in the file ({reference!r}) differs from Leap's "
            f"({facts.partner_reference!r}); Leap's is not changed by an import"
        )
    if facts and facts.partner_reference and row.after:
        if row.after["customer_id"] != facts.partner_reference:
            row.messages.append(
                f"note: Leap's partner_reference {facts.partner_reference!r} differs from "
                f"customer_id {row.after['customer_id']!r}"
            )
    if row.outcome == Outcome.UNCHANGED:
        if row.before is None:
            row.outcome = Outcome.CREATE
        elif row.before != row.after:
            row.outcome = Outcome.UPDATE
    return row


def _check_sites(rows: list[PlannedRow], current: dict[uuid.UUID, dict[str, str]]) -> None:
    """Conflict for every row that puts a meter on a site that would then hold several."""
    if not portfolio.one_meter_per_site():
        return
    # A created or updated row always has its meter (an unknown one is an error) and its values.
    movers = [
        (r, r.meter_id, r.after)
        for r in rows
        if r.outcome in (Outcome.CREATE, Outcome.UPDATE) and r.meter_id and r.after
    ]
    if not movers:
        return
    site_of = {m: v["site_id"] for m, v in current.items() if v["site_id"]}
    for _, meter, after in movers:
        site_of[meter] = after["site_id"]
    occupants: dict[str, list[uuid.UUID]] = defaultdict(list)
    for meter_id, site in site_of.items():
        if site:
            occupants[site].append(meter_id)
    shared = portfolio.shared_sites()
    for r, meter, after in movers:
        site = after["site_id"]
        moved = r.before is None or r.before["site_id"] != site
        if site and moved and site not in shared and len(occupants[site]) > 1:
            others = [str(m) for m in occupants[site] if m != meter][:3]
            r.fail(
                Outcome.CONFLICT,
                f"site {site} would have {len(occupants[site])} meters (also {', '.join(others)}); "
                "one meter per site",
            )


# --- storing the preview and applying it ---------------------------------------------------------


def refuse_oversize(*, filename: str, size: int, limit: int, uploaded_by: Any) -> MappingImport:
    """Record an upload refused for its size (its content is not kept)."""
    return MappingImport.objects.create(
        uploaded_by=uploaded_by,
        filename=filename[:255],
        size=size,
        status=MappingImport.Status.REJECTED,
        file_error=(
            f"The file is {size / 1024 / 1024:.1f} MB; the limit is {limit / 1024 / 1024:.0f} MB "
            "(setting MAPPING_IMPORT_MAX_BYTES). Split it into smaller files. Nothing was imported."
        ),
    )


def preview_upload(raw: bytes, *, filename: str, uploaded_by: Any) -> MappingImport:
    """Keep the file and its dry run; a file that cannot be read is kept with the reason."""
    upload = MappingImport(
        uploaded_by=uploaded_by,
        filename=filename[:255],
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        raw=raw,
    )
    try:
        plan = make_plan(raw)
    except FileRefused as exc:
        upload.status = MappingImport.Status.REJECTED
        upload.file_error = str(exc)
        upload.save()
        return upload
    with _no_gc(), transaction.atomic():
        upload.counts = plan.counts
        upload.plan_digest = plan.digest
        upload.save()
        bulk.copy_rows(ImportRow, ROW_FIELDS, _row_values(upload.pk, plan.rows))
    return upload


ROW_FIELDS = (
    "mapping_import",
    "line",
    "key",
    "meter_id",
    "partner_reference",
    "customer_id",
    "site_id",
    "label",
    "outcome",
    "messages",
    "before",
)


def _row_values(import_id: int, rows: Iterable[PlannedRow]) -> Iterator[tuple[Any, ...]]:
    for r in rows:
        yield (
            import_id,
            r.line,
            r.key,
            r.meter_id,
            r.partner_reference[:256],
            r.customer_id[:256],
            r.site_id[:256],
            r.label[:400],
            r.outcome,
            r.messages,
            r.before,
        )


def apply_import(import_id: int, *, actor: actions.Actor, reason: str) -> int:
    """Apply a previewed import in one transaction; returns the number of mappings written."""
    try:
        reason = clean_reason(reason)
    except InvalidValue as exc:
        raise ImportNotApplicable(str(exc)) from None
    with transaction.atomic():
        upload = MappingImport.objects.select_for_update().get(pk=import_id)
        if upload.status == MappingImport.Status.APPLIED:
            raise ImportNotApplicable(
                f"This import was already applied at {upload.applied_at:%Y-%m-%d %H:%M} UTC."
            )
        if upload.status == MappingImport.Status.REJECTED:
            raise ImportNotApplicable("This file was refused; nothing can be applied from it.")
        if upload.counts.get("error") or upload.counts.get("conflict"):
            raise ImportNotApplicable(
                "The preview has errors or conflicts; fix the file and upload it again. "
                "Nothing is applied in part."
            )
        portfolio.lock_mappings()
        plan = make_plan(bytes(upload.raw))
        if plan.digest != upload.plan_digest:
            raise ImportStale(
                "The mapping or Leap's meters changed since this preview "
                f"({describe_drift(upload, plan)}). Nothing was applied; preview the file again."
            )
        now = timezone.now()
        with _no_gc():
            written = actions.record_import_changes(
                upload, plan.changes(), reason=reason, actor=actor, now=now
            )
        upload.status = MappingImport.Status.APPLIED
        upload.applied_at = now
        # A person who applied it (a user, always signed in); an API token leaves it empty.
        upload.applied_by = actor if isinstance(actor, get_user_model()) else None
        upload.apply_reason = reason
        upload.save(update_fields=["status", "applied_at", "applied_by", "apply_reason"])
    forget_convention()
    return written


def describe_drift(upload: MappingImport, plan: Plan) -> str:
    """Which lines now get a different verdict than the stored preview, in a few words."""
    stored = {
        line: (outcome, before)
        for line, outcome, before in upload.rows.values_list("line", "outcome", "before")
    }
    changed = [r.line for r in plan.rows if stored.get(r.line) != (r.outcome, r.before)]
    if not changed:
        return "site occupancy or meters changed"
    shown = ", ".join(str(n) for n in changed[:5])
    more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
    return f"lines {shown}{more} now differ"


def repreview(upload: MappingImport, *, uploaded_by: Any) -> MappingImport:
    """Preview the same kept file again against the current state (a new import)."""
    return preview_upload(bytes(upload.raw), filename=upload.filename, uploaded_by=uploaded_by)


# --- export --------------------------------------------------------------------------------------


def export_rows() -> Iterator[str]:
    """The whole mapping as CSV lines in the import format (meter_id keyed), header first."""
    leap_reference = Meter.objects.filter(pk=OuterRef("meter_id")).values("partner_reference")[:1]
    rows = (
        MeterMapping.objects.annotate(leap_reference=Subquery(leap_reference))
        .order_by("meter_id")
        .values_list("meter_id", "leap_reference", "customer_id", "site_id", "label")
    )
    yield from csvexport.csv_rows(
        COLUMNS,
        (
            (meter_id, reference or "", customer_id, site_id, label)
            for meter_id, reference, customer_id, site_id, label in rows.iterator(chunk_size=5000)
        ),
        lineterminator="\n",
    )
