"""Files of assets for the onboarding tests."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from openpyxl import Workbook

from onboarding import follow
from onboarding.models import Job

HEADER = [
    "customer_id",
    "site_id",
    "partner_reference",
    "customer_classification",
    "load_types",
    "customer.street_1",
    "customer.postal_code",
    "customer.city",
    "customer.state_or_province_code",
    "device.device_type",
    "device.device_serial_number",
]


def row(n: int, **overrides: Any) -> dict[str, str]:
    """A CAISO residential battery that Leap (the simulator) accepts, unless overridden."""
    values = {
        "customer_id": f"cust-{n}",
        "site_id": f"site-{n}",
        "partner_reference": f"onb-{n:05d}",
        "customer_classification": "RESIDENTIAL",
        "load_types": "BATTERY_STORAGE",
        "customer.street_1": f"{n} Market St",
        "customer.postal_code": "94103",
        "customer.city": "San Francisco",
        "customer.state_or_province_code": "CA",
        "device.device_type": "BATTERY",
        "device.device_serial_number": f"SN{n:06d}",
    }
    values.update(overrides)
    return values


def csv_bytes(rows: list[dict[str, str]], header: list[str] | None = None) -> bytes:
    """The rows as a UTF-8 CSV with a header line."""
    header = header or HEADER
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for r in rows:
        writer.writerow([r.get(h, "") for h in header])
    return out.getvalue().encode()


def xlsx_bytes(rows: list[dict[str, Any]], header: list[str] | None = None) -> bytes:
    """The rows as an XLSX workbook (first sheet)."""
    header = header or HEADER
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for r in rows:
        sheet.append([r.get(h) for h in header])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(client: Any, content: bytes, name: str = "assets.csv", **scope: Any) -> Any:
    """POST a file to the onboarding upload (CAISO device meters by default)."""
    data = {"region": "CAISO", "meter_type": "DEVICE", "programs": [], **scope}
    data["file"] = SimpleUploadedFile(name, content)
    return client.post("/onboarding/upload", data)


def assert_funnel_sums_fresh() -> None:
    """The funnel sums the write paths kept equal a recomputation of every job's."""

    now = timezone.now()
    kept = follow.funnel(now)
    follow.refresh_funnel(Job.objects.values_list("pk", flat=True))
    assert follow.funnel(now) == kept
