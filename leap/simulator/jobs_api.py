"""HTTP handlers of the create-meters endpoints (v1.1 jobs, single create, provisional assets)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from leap import create_meters as cm

from . import validate
from .http import CREATE_METERS, Call, Reply
from .jobs import BatchRefused
from .validate import Invalid

if TYPE_CHECKING:
    from .api import Api

JOB_FILTERS = ("status", "transmission_region", "file_name")
ASSET_FILTERS = ("status", "transmission_region", "partner_reference", "job_id")
JOB_SEARCH_FIELDS = ("file_name", "partner_reference", "job_id")
ASSET_SEARCH_FIELDS = ("partner_reference", "device_serial_number", "job_id")


def _bool_arg(call: Call, name: str) -> bool:
    value = (call.arg(name, "false") or "false").lower()
    if value not in ("true", "false"):
        raise Invalid(name, "must be true or false")
    return value == "true"


def _filters(call: Call, allowed: tuple[str, ...]) -> dict[str, list[str]]:
    """`filter=key:v1,v2` parameters (AND across keys, IN within one key)."""
    out: dict[str, list[str]] = {}
    for raw in call.query.get("filter", []):
        key, sep, values = raw.partition(":")
        if not sep or key not in allowed:
            raise Invalid("filter", f"{raw!r} is not key:value with a key among {allowed}")
        out.setdefault(key, []).extend(v for v in values.split(",") if v)
    return out


def _search(call: Call, allowed: tuple[str, ...]) -> tuple[list[str], list[str]]:
    query = call.arg("search_query")
    fields = call.query.get("search_fields", [])
    if not query:
        return [], []
    if not fields:
        raise Invalid("search_fields", "are required with search_query")
    bad = [f for f in fields if f not in allowed]
    if bad:
        raise Invalid("search_fields", f"unknown field(s) {', '.join(bad)}")
    return [q.strip().lower() for q in query.split(",") if q.strip()], fields


def _page_size(call: Call) -> int:
    raw = call.arg("page_size", "100") or "100"
    try:
        size = int(raw)
    except ValueError:
        raise Invalid("page_size", "must be an integer") from None
    if not 1 <= size <= 500:
        raise Invalid("page_size", "must be between 1 and 500")
    return size


def page(api: Api, call: Call, items: list[dict[str, Any]], key: str) -> Reply:
    size = _page_size(call)
    query_key = hashlib.sha256(
        json.dumps(
            {k: v for k, v in sorted(call.query.items()) if k != "page_token"}, sort_keys=True
        ).encode()
    ).hexdigest()[:16]
    token = call.arg("page_token")
    offset = api._read_token(token, query_key, CREATE_METERS) if token else 0
    data: dict[str, Any] = {key: items[offset : offset + size]}
    if offset + size < len(items):
        data["next_page_token"] = api._make_token(offset + size, query_key)
    return Reply.json(200, data)


def create_job(api: Api, call: Call) -> Reply:
    update_existing = _bool_arg(call, "update_existing")
    file_name = call.arg("file_name")
    if file_name is not None:
        if len(file_name) > 255 or not re.fullmatch(r"[a-zA-Z0-9._\s-]+.[a-zA-Z0-9]+", file_name):
            raise Invalid("file_name", "does not match the file naming pattern")
    try:
        assets = api.sim.jobs.check_batch(call.json())
    except BatchRefused as exc:
        return Reply.json(400, {"title": exc.title, "status": 400, "details": exc.details})
    job = api.sim.jobs.create(assets, update_existing=update_existing, file_name=file_name)
    return Reply.json(201, {"job_id": job.job_id})


def get_job(api: Api, call: Call) -> Reply:
    raw = call.params["job_id"]
    if not validate.is_uuid(raw):
        return CREATE_METERS.error(400, "job_id must be a UUID", {"job_id": raw})
    api.sim.jobs.process_due()
    job = api.sim.jobs.jobs.get(raw.lower())
    if job is None:
        return CREATE_METERS.error(404, "Job not found", {"job_id": raw})
    return Reply.json(200, job.json(with_assets=True))


def list_jobs(api: Api, call: Call) -> Reply:
    filters = _filters(call, JOB_FILTERS)
    words, fields = _search(call, JOB_SEARCH_FIELDS)
    api.sim.jobs.process_due()
    out = []
    for job_id in reversed(api.sim.jobs.order):
        job = api.sim.jobs.jobs[job_id]
        body = job.json(with_assets=False)
        if "status" in filters and job.status not in filters["status"]:
            continue
        if "transmission_region" in filters and not set(body["transmission_regions"]) & set(
            filters["transmission_region"]
        ):
            continue
        if "file_name" in filters and not any(
            f.lower() in job.file_name.lower() for f in filters["file_name"]
        ):
            continue
        if words:
            haystack = []
            if "file_name" in fields:
                haystack.append(job.file_name.lower())
            if "job_id" in fields:
                haystack.append(job.job_id)
            if "partner_reference" in fields:
                haystack.extend(str(a.data.get("partner_reference")).lower() for a in job.assets)
            if not any(w in h for w in words for h in haystack):
                continue
        out.append(body)
    return page(api, call, out, "jobs")


def job_filters(api: Api, call: Call) -> Reply:
    api.sim.jobs.process_due()
    regions = sorted(
        {
            str(a.data.get("transmission_region"))
            for j in api.sim.jobs.jobs.values()
            for a in j.assets
        }
        & set(cm.TRANSMISSION_REGIONS)
    )
    return Reply.json(
        200,
        {
            "filter_options": [
                {"key": "status", "values": list(cm.JOB_STATUSES)},
                {"key": "transmission_region", "values": regions},
                {
                    "key": "file_name",
                    "values": sorted({j.file_name for j in api.sim.jobs.jobs.values()}),
                },
            ]
        },
    )


def asset_error(message: str, field: str | None = None) -> Reply:
    # The provisional-assets 400 is a ValidationError (create-meters.yml), not ErrorResponse.
    body: dict[str, Any] = {"message": message}
    if field:
        body["problem_field"] = field
    return Reply.json(400, body)


def list_assets(api: Api, call: Call) -> Reply:
    try:
        filters = _filters(call, ASSET_FILTERS)
        words, fields = _search(call, ASSET_SEARCH_FIELDS)
        _page_size(call)
    except Invalid as exc:
        return asset_error(f"Invalid {exc.field}: {exc.problem}", exc.field)
    api.sim.jobs.process_due()
    out = []
    for item in api.sim.jobs.provisional_assets():
        data = item["data"]
        if "status" in filters and item["status"] not in filters["status"]:
            continue
        if (
            "transmission_region" in filters
            and data.get("transmission_region") not in filters["transmission_region"]
        ):
            continue
        if (
            "partner_reference" in filters
            and item["partner_reference"] not in filters["partner_reference"]
        ):
            continue
        if "job_id" in filters and item["job_id"] not in filters["job_id"]:
            continue
        if words:
            haystack = [
                str(item["partner_reference"]).lower() if "partner_reference" in fields else "",
                item["job_id"] if "job_id" in fields else "",
                str((data.get("device") or {}).get("device_serial_number", "")).lower()
                if "device_serial_number" in fields
                else "",
            ]
            if not any(w in h for w in words for h in haystack if h):
                continue
        out.append(item)
    try:
        return page(api, call, out, "provisional_assets")
    except Invalid as exc:
        return asset_error(f"Invalid {exc.field}: {exc.problem}", exc.field)


def asset_filters(api: Api, call: Call) -> Reply:
    return Reply.json(
        200,
        {
            "filter_options": [
                {"key": "status", "values": list(cm.ASSET_STATUSES)},
                {"key": "transmission_region", "values": list(cm.TRANSMISSION_REGIONS)},
            ]
        },
    )


def create_single(api: Api, call: Call) -> Reply:
    def refuse(errors: list[dict[str, Any]]) -> Reply:
        return Reply.json(400, {"errors": errors})

    update_existing = _bool_arg(call, "update_existing")
    body = call.json()
    if not isinstance(body, dict):
        return refuse([{"description": "The body must be a JSON object"}])
    token = body.get("onboarding_token")
    if not isinstance(token, str) or token not in api.sim.jobs.tokens:
        return refuse(
            [
                {
                    "field": "onboarding_token",
                    "description": "Missing or unknown onboarding token; get one from "
                    "Leap's onboarding service",
                }
            ]
        )
    asset = body.get("provisional_asset")
    problems = cm.structural_problems(asset)
    if problems:
        return refuse(
            [{"field": p.field or "provisional_asset", "description": p.message} for p in problems]
        )
    assert isinstance(asset, dict)  # structural_problems refuses anything else
    return Reply.json(
        200, api.sim.jobs.create_single(token, asset, update_existing=update_existing)
    )


ROUTES: list[tuple[str, str, Callable[[Api, Call], Reply]]] = [
    ("POST", "/v1.1/jobs/meters", create_job),
    ("GET", "/v1.1/jobs/meters", list_jobs),
    ("GET", "/v1.1/jobs/meter-job-filters", job_filters),
    ("GET", "/v1.1/jobs/meters/{job_id}", get_job),
    ("POST", "/v1.1/meters", create_single),
    ("GET", "/v1.1/provisional-assets", list_assets),
    ("GET", "/v1.1/provisional-assets-filters", asset_filters),
]


def job_routes(api: Api) -> list[tuple[str, str, Callable[[Call], Reply]]]:
    """(method, path template, handler) of the create-meters endpoints, bound to `api`."""
    return [(method, path, partial(handler, api)) for method, path, handler in ROUTES]
