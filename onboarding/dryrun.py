"""The dry run: every line checked against the spec and the chosen programs, before anything is
sent. Each line gets a verdict (ready, ready with a warning, will not be sent) and the reasons.

Errors are what Leap would refuse or fail: a missing required field (the spec's global ones, the
chosen programs' and meter type's), a value outside an enum, a format the spec's pattern refuses,
a partner_reference given twice in the file or already in an onboarding Leap is still processing.
Warnings are what Leap may accept but needs a look: a partner_reference a meter already has (Leap
answers DUPLICATE unless the meter is to be updated), a street without a house number, no
customer_id (the meter will not be linked to our mapping).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from leap import create_meters as cm
from mapping.validation import InvalidValue, clean_mapping
from meters.models import Meter
from onboarding import files, requirements
from onboarding.models import Asset, Draft, DraftRow

Verdict = DraftRow.Verdict


@dataclass
class Line:
    """One line being checked."""

    line: int
    asset: dict[str, Any] = field(default_factory=dict)
    customer_id: str = ""
    site_id: str = ""
    label: str = ""
    errors: list[list[str]] = field(default_factory=list)
    warnings: list[list[str]] = field(default_factory=list)
    fixes_asset_id: int | None = None

    @property
    def reference(self) -> str:
        """The partner_reference (as text)."""
        return str(self.asset.get("partner_reference") or "")

    @property
    def verdict(self) -> str:
        """error, warning or ok."""
        return Verdict.ERROR if self.errors else Verdict.WARNING if self.warnings else Verdict.OK


def required_columns(region: str, meter_type: str, programs: list[str]) -> list[str]:
    """Columns a file must have for this onboarding (the form fills region, type, country)."""
    needed = [p for p in cm.REQUIRED if p not in requirements.FROM_FORM]
    needed += requirements.required_fields(region, meter_type, programs)
    return list(dict.fromkeys(needed + ["customer_id"]))


def template_columns(region: str, meter_type: str, programs: list[str]) -> list[str]:
    """The columns of the downloadable template, required ones first."""
    first = ["customer_id", "site_id", "label"] + [
        c for c in required_columns(region, meter_type, programs) if c != "customer_id"
    ]
    extras = [
        "customer.street_2",
        "customer.end_customer_name",
        "customer.end_customer_email",
        "customer.end_customer_phone_number",
    ]
    return list(dict.fromkeys(first + extras))


def check_line(
    line: Line, cells: dict[str, str], *, region: str, meter_type: str, programs: list[str]
) -> None:
    """Build the asset from a line's cells and record what is wrong with it."""
    asset: dict[str, Any] = {}
    for path, text in cells.items():
        if path in files.OUR_COLUMNS or not text.strip():
            continue
        value, problem = cm.parse_text(cm.BY_PATH[path], text)
        if problem:
            line.errors.append([path, problem])
        else:
            cm.set_path(asset, path, value)
    fill_and_check(line, asset, region=region, meter_type=meter_type, programs=programs)
    line.customer_id = cells.get("customer_id", "").strip()
    line.site_id = cells.get("site_id", "").strip()
    line.label = cells.get("label", "").strip()
    check_link(line)


def fill_and_check(
    line: Line, asset: dict[str, Any], *, region: str, meter_type: str, programs: list[str]
) -> None:
    """Fill the form's values, then check requirements and formats of an asset."""
    for path, chosen in (("transmission_region", region), ("meter_type", meter_type)):
        given = asset.get(path)
        if given is None:
            asset[path] = chosen
        elif given != chosen:
            line.errors.append([path, f"is {given}, but this onboarding is for {chosen}"])
    customer = asset.setdefault("customer", {})
    customer.setdefault("country_code", cm.DEFAULTS["customer.country_code"])
    line.asset = asset
    present = {p for p, _ in line.errors}
    needed = list(cm.REQUIRED) + requirements.required_fields(region, meter_type, programs)
    for path in dict.fromkeys(needed):
        value = cm.get_path(asset, path)
        if (value is None or value == "" or value == []) and path not in present:
            program_of = [p for p in programs if path in requirements.PROGRAM_FIELDS.get(p, ())]
            why = (
                f" for {', '.join(program_of)}"
                if program_of
                else (
                    f" for a {meter_type} meter"
                    if path in requirements.METER_TYPE_FIELDS.get(meter_type, ())
                    else ""
                )
            )
            line.errors.append([path, f"is required{why}"])
    for problem in cm.structural_problems(asset):
        if problem.field not in {p for p, _ in line.errors}:
            line.errors.append([problem.field, problem.message])
    for problem in cm.field_problems(asset):
        line.errors.append([problem.field, problem.message])
    for path, message in requirements.conditional_problems(asset, region):
        line.errors.append([path, message])
    street = str(customer.get("street_1") or "")
    if street and not any(ch.isdigit() for ch in street):
        line.warnings.append(
            ["customer.street_1", "has no house number: Leap may answer ADDRESS_INCOMPLETE"]
        )


def check_link(line: Line) -> None:
    """Our customer/site ids, which link the created meter to the mapping."""
    if not line.customer_id:
        line.warnings.append(["customer_id", "empty: the meter will not be linked to a customer"])
        return
    try:
        clean_mapping(line.customer_id, line.site_id, line.label)
    except InvalidValue as exc:
        line.errors.append(["customer_id", str(exc)])


def check_references(lines: list[Line], *, update_existing: bool = False) -> None:
    """Duplicates in the file, in open onboardings, and references meters already have."""
    counts = Counter(line.reference for line in lines if line.reference)
    first_line: dict[str, int] = {}
    for line in lines:
        ref = line.reference
        if ref and counts[ref] > 1:
            if ref in first_line:
                line.errors.append(
                    ["partner_reference", f"already on line {first_line[ref]} of this file"]
                )
            else:
                first_line[ref] = line.line
    refs = [ref for ref in counts if ref]
    in_flight: dict[str, int] = {}
    taken: dict[str, str] = {}
    for chunk in range(0, len(refs), 5000):
        part = refs[chunk : chunk + 5000]
        in_flight.update(
            Asset.objects.filter(
                partner_reference__in=part,
                status__in=(Asset.Status.WAITING, Asset.Status.PROCESSING),
            ).values_list("partner_reference", "job_id")
        )
        taken.update(
            (ref, str(meter_id))
            for ref, meter_id in Meter.objects.filter(partner_reference__in=part).values_list(
                "partner_reference", "meter_id"
            )
        )
    for line in lines:
        ref = line.reference
        if ref in in_flight:
            line.errors.append(
                [
                    "partner_reference",
                    f"is in onboarding job #{in_flight[ref]}, which Leap is still processing",
                ]
            )
        elif ref in taken and not update_existing:
            line.warnings.append(
                [
                    "partner_reference",
                    f"meter {taken[ref]} already has it: Leap will answer DUPLICATE "
                    "unless the existing meter is to be updated",
                ]
            )


def refuse(
    *, raw: bytes, filename: str, error: str, user: Any, region: str, meter_type: str,
    programs: list[str], source: str = Draft.Source.CSV,
) -> Draft:  # fmt: skip
    """Keep a refused file for inspection, with why it was refused."""
    return Draft.objects.create(
        created_by=user if getattr(user, "is_authenticated", False) else None,
        source=source,
        filename=filename[:255],
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest() if raw else "",
        raw=raw,
        region=region,
        meter_type=meter_type,
        programs=programs,
        status=Draft.Status.REFUSED,
        file_error=error,
    )


def preview_upload(
    raw: bytes,
    *,
    filename: str,
    user: Any,
    region: str,
    meter_type: str,
    programs: list[str],
    max_rows: int,
) -> Draft:
    """Check a whole file and keep it with every line's verdict (a refused file is kept too)."""
    common = {"user": user, "region": region, "meter_type": meter_type, "programs": programs}
    source = Draft.Source.XLSX if raw.startswith(files.XLSX_MAGIC) else Draft.Source.CSV
    try:
        kind, names, rows = files.read(raw, filename)
        source = Draft.Source(kind)
        files.check_header(names, required_columns(region, meter_type, programs))
        lines = []
        for number, values in rows:
            if len(lines) >= max_rows:
                raise files.FileRefused(
                    f"The file has more than {max_rows:,} lines; split it (each file becomes "
                    "one onboarding job)."
                )
            line = Line(number)
            if len(values) > len(names) and any(v.strip() for v in values[len(names) :]):
                line.errors.append(["", f"has {len(values)} cells; the header has {len(names)}"])
            cells = {n: (values[i] if i < len(values) else "") for i, n in enumerate(names) if n}
            check_line(line, cells, region=region, meter_type=meter_type, programs=programs)
            lines.append(line)
        if not lines:
            raise files.FileRefused("The file has a header but no lines.")
    except files.FileRefused as exc:
        return refuse(raw=raw, filename=filename, error=str(exc), source=source, **common)
    check_references(lines)
    return save_draft(
        lines,
        raw=raw,
        filename=filename,
        source=source,
        user=user,
        region=region,
        meter_type=meter_type,
        programs=programs,
    )


def save_draft(
    lines: list[Line],
    *,
    raw: bytes,
    filename: str,
    source: str,
    user: Any,
    region: str,
    meter_type: str,
    programs: list[str],
    parent_job: Any = None,
    update_existing: bool = False,
) -> Draft:
    """Write a draft and its lines' verdicts in one transaction."""
    counts = Counter(line.verdict for line in lines)
    with transaction.atomic():
        draft = Draft.objects.create(
            created_by=user if getattr(user, "is_authenticated", False) else None,
            source=source,
            filename=filename[:255],
            size=len(raw),
            sha256=hashlib.sha256(raw).hexdigest(),
            raw=raw,
            region=region,
            meter_type=meter_type,
            programs=programs,
            counts={"lines": len(lines), "ok": 0, "warning": 0, "error": 0, **counts},
            parent_job=parent_job,
            update_existing=update_existing,
        )
        DraftRow.objects.bulk_create(
            (
                DraftRow(
                    draft=draft,
                    line=line.line,
                    partner_reference=line.reference[:300],
                    customer_id=line.customer_id[:200],
                    site_id=line.site_id[:200],
                    label=line.label[:400],
                    asset=line.asset,
                    verdict=line.verdict,
                    problems=line.errors + line.warnings,
                    fixes_asset_id=line.fixes_asset_id,
                )
                for line in lines
            ),
            batch_size=2000,
        )
    return draft
