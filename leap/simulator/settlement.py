"""The simulator's Revenue & Analytics endpoints (settlement.yml v1.1), served from RevenueBook.

Requests are checked as Leap's spec describes them (`additionalProperties: false`, `YYYY-MM`
months, at most 3 months per aggregation search, at most 1000 rows a page); errors use the
settlement envelope `{title, status, details: [{message, description}]}`. Pages carry an opaque
`page_token` bound to the search's filters, as the meter searches' tokens are.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .http import SETTLEMENT, Call, Reply, query_key
from .meter_state import iso
from .revenue_figures import month_index, month_text
from .validate import Invalid, is_uuid

if TYPE_CHECKING:
    from .api import Api

MONTH = re.compile(r"^\d{4}-\d{2}$")
SEARCH_FIELDS = {
    "period_start", "period_end", "programs", "filters", "page_token", "page_size", "sort",
    "version",
}  # fmt: skip
DIAGNOSIS_FIELDS = {
    "year_month", "meter_id_contains", "partner_reference_contains", "customer_name_contains",
    "transmission_regions", "programs", "historical_responsiveness", "include_meter_programs",
    "exclude_meter_programs", "page_token", "page_size", "sort",
}  # fmt: skip
AGGREGATIONS = {
    "meter": "meters",
    "customer": "customers",
    "market-group": "market_groups",
    "load-type": "load_types",
    "utility": "utilities",
}
HISTORICAL = {"NEVER_RESPONDS", "RARELY_RESPONDS", "NORMALLY_RESPONDS", "NEW_METER"}
STRIDE = 10_000_000  # a token's offset: month number * STRIDE + portfolio position


def settlement_routes(api: Api) -> list[tuple[str, str, Callable[[Call], Reply]]]:
    """(method, path template, handler) of every settlement endpoint."""
    handlers = Handlers(api)
    return [
        ("POST", "/v1.1/revenue/periodic/aggregation/{aggregation}/search", handlers.search),
        ("GET", "/v1.1/revenue/periodic/reports", handlers.reports),
        ("GET", "/v1.1/revenue/periodic/versions", handlers.versions),
        ("GET", "/v1.1/revenue/yearly/{year}", handlers.yearly),
        ("POST", "/v1.1/performance/diagnosis/monthly/unresponsive/meters", handlers.unresponsive),
    ]


def _month(value: Any, name: str) -> int:
    if not isinstance(value, str) or not MONTH.match(value) or not 1 <= int(value[5:]) <= 12:
        raise Invalid(name, "must be a month as YYYY-MM")
    return month_index(value)


def _strings(value: Any, name: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [v for v in value.split(",") if v]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid(name, "must be an array of strings")
    return value


def _page_size(value: Any) -> int:
    if value is None:
        return 100
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1000:
        raise Invalid("page_size", "must be an integer from 1 to 1000")
    return value


def _sort(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        raise Invalid("sort", "must be an array")
    for item in value:
        if (
            not isinstance(item, dict)
            or set(item) - {"field", "direction"}
            or not isinstance(item.get("field"), str)
            or item.get("direction") not in ("ASC", "DESC")
        ):
            raise Invalid("sort", "each item needs a field and a direction ASC or DESC")


def _version(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) < 2 or not value.startswith("V"):
        raise Invalid("version", "must look like V1")
    return value


class Handlers:
    """The endpoints, over `api.sim.revenue`."""

    def __init__(self, api: Api) -> None:
        self.api = api

    @property
    def book(self) -> Any:
        return self.api.sim.revenue

    def _accepts(self, call: Call) -> Reply | None:
        """415 for an Accept header the simulator cannot answer (it serves JSON only)."""
        accept = call.headers.get("accept", "")
        if accept and not any(t in accept for t in ("application/json", "*/*")):
            return SETTLEMENT.error(415, "Supported types are application/json and text/csv")
        return None

    def _body(self, call: Call, allowed: set[str]) -> dict[str, Any]:
        body = call.json()
        if not isinstance(body, dict):
            raise Invalid("body", "must be a JSON object")
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise Invalid(unknown[0], "is not a field of this request")
        return body

    def _offset(self, token: Any, key: str) -> int:
        if token is None:
            return 0
        if not isinstance(token, str) or not token:
            raise Invalid("page_token", "must be a string")
        return self.api._read_token(token, key, SETTLEMENT)

    def search(self, call: Call) -> Reply:
        """POST /v1.1/revenue/periodic/aggregation/{aggregation}/search."""
        aggregation = call.params["aggregation"]
        if aggregation not in AGGREGATIONS:
            return SETTLEMENT.error(404, f"No such aggregation: {aggregation}")
        refused = self._accepts(call)
        if refused:
            return refused
        body = self._body(call, SEARCH_FIELDS)
        start = _month(body.get("period_start"), "period_start")
        end = _month(body.get("period_end"), "period_end")
        if end < start:
            raise Invalid("period_end", "must not be before period_start")
        if end - start >= 3:
            raise Invalid("period_end", "the period spans at most 3 months")
        size = _page_size(body.get("page_size"))
        programs = set(_strings(body.get("programs"), "programs") or ())
        filters = [f.lower() for f in _strings(body.get("filters"), "filters") or ()]
        _sort(body.get("sort"))
        version = _version(body.get("version"))
        query = {
            "aggregation": aggregation,
            "start": start,
            "end": end,
            "programs": sorted(programs),
            "filters": filters,
            "version": version,
        }
        key = query_key(query)
        offset = self._offset(body.get("page_token"), key)
        months = list(range(start, end + 1))
        list_key = AGGREGATIONS[aggregation]
        if aggregation == "meter":
            page, next_offset = self._meter_page(months, version, programs, filters, offset, size)
        else:
            rows = self.book.all_rows(months, version)
            if programs:
                rows = (r for r in rows if r["program"] in programs)
            items = self.book.aggregate(aggregation, rows)
            field = {"customer": "customer_name", "market-group": "market_group"}.get(aggregation)
            if filters and field:
                items = [i for i in items if i[field].lower().startswith(tuple(filters))]
            name = {
                "customer": "customer_name",
                "market-group": "market_group",
                "load-type": "load_type",
                "utility": "utility",
            }[aggregation]
            items.sort(key=lambda i: (i["delivery_start_date"], i[name]))
            page = items[offset : offset + size]
            next_offset = offset + size if offset + size < len(items) else None
        data: dict[str, Any] = {list_key: page}
        if next_offset is not None:
            data["page_token"] = self.api._make_token(next_offset, key)
        return Reply.json(200, data)

    def _meter_page(
        self,
        months: list[int],
        version_name: str | None,
        programs: set[str],
        filters: list[str],
        offset: int,
        size: int,
    ) -> tuple[list[dict[str, Any]], int | None]:
        month_no, position = divmod(offset, STRIDE)
        page: list[dict[str, Any]] = []
        while month_no < len(months) and len(page) < size:
            version = self.book.version(months[month_no], version_name)
            if version is None:
                month_no, position = month_no + 1, 0
                continue
            rows, position = self.book.meter_rows(
                months[month_no], version, position, size - len(page), broken=True
            )
            for row in rows:
                if programs and row["program"] not in programs:
                    continue
                if filters and not row["meter_id"].lower().startswith(tuple(filters)):
                    continue
                page.append(row)
            if position >= self.api.sim.portfolio.next_index:
                month_no, position = month_no + 1, 0
        if month_no >= len(months):
            return page, None
        return page, month_no * STRIDE + position

    def reports(self, call: Call) -> Reply:
        """GET /v1.1/revenue/periodic/reports."""
        refused = self._accepts(call)
        if refused:
            return refused
        start = _month(call.arg("period_start"), "period_start")
        end = _month(call.arg("period_end"), "period_end")
        if end < start:
            raise Invalid("period_end", "must not be before period_start")
        version = _version(call.arg("version"))
        report = self.book.report(list(range(start, end + 1)), version)
        if report is None:
            raise Invalid(
                "period_start",
                f"no revenue report of {month_text(start)}..{month_text(end)} is published"
                + (f" in version {version}" if version else ""),
            )
        return Reply.json(200, report)

    def versions(self, call: Call) -> Reply:
        """GET /v1.1/revenue/periodic/versions."""
        start = _month(call.arg("period_start"), "period_start")
        end = _month(call.arg("period_end"), "period_end")
        if end < start:
            raise Invalid("period_end", "must not be before period_start")
        if end - start > 36:
            raise Invalid("period_end", "ask for at most 36 months at a time")
        out = []
        for month in range(start, end + 1):
            text = month_text(month)
            for version in self.book.versions(month):
                out.append(
                    {
                        "version": version.name,
                        "updated_at": iso(version.published, millis=True),
                        "settlement_period": {"period_start": text, "period_end": text},
                    }
                )
        return Reply.json(200, out)

    def yearly(self, call: Call) -> Reply:
        """GET /v1.1/revenue/yearly/{year}."""
        raw = call.params["year"]
        if not raw.isdigit() or not 2000 <= int(raw) <= 9999:
            raise Invalid("year", "must be a year such as 2025")
        regions = set(_strings(call.arg("transmission_regions"), "transmission_regions") or ())
        if region := call.arg("transmission_region"):
            regions.add(region)
        statuses = set(_strings(call.arg("report_statuses"), "report_statuses") or ())
        if statuses - {"PRELIMINARY", "FINALIZED"}:
            raise Invalid("report_statuses", "must be PRELIMINARY and/or FINALIZED")
        return Reply.json(200, self.book.yearly(int(raw), regions, statuses))

    def unresponsive(self, call: Call) -> Reply:
        """POST /v1.1/performance/diagnosis/monthly/unresponsive/meters."""
        refused = self._accepts(call)
        if refused:
            return refused
        body = self._body(call, DIAGNOSIS_FIELDS)
        month = _month(body.get("year_month"), "year_month")
        size = _page_size(body.get("page_size"))
        _sort(body.get("sort"))
        filters: dict[str, Any] = {}
        for name in ("meter_id_contains", "partner_reference_contains", "customer_name_contains"):
            value = body.get(name)
            if value is not None and not isinstance(value, str):
                raise Invalid(name, "must be a string")
            filters[name] = value
        for name in ("transmission_regions", "programs", "historical_responsiveness"):
            values = _strings(body.get(name), name)
            filters[name] = set(values) if values else None
        if (
            filters["historical_responsiveness"]
            and filters["historical_responsiveness"] - HISTORICAL
        ):
            raise Invalid("historical_responsiveness", f"must be among {sorted(HISTORICAL)}")
        for name in ("include_meter_programs", "exclude_meter_programs"):
            pairs = body.get(name)
            if pairs is None:
                filters[name] = None
                continue
            if not isinstance(pairs, list):
                raise Invalid(name, "must be an array of {meter_id, program}")
            chosen = set()
            for pair in pairs:
                if (
                    not isinstance(pair, dict)
                    or not is_uuid(pair.get("meter_id"))
                    or not isinstance(pair.get("program"), str)
                ):
                    raise Invalid(name, "each item needs a UUID meter_id and a program")
                chosen.add((str(pair["meter_id"]).lower(), pair["program"]))
            filters[name] = chosen
        include_summary = call.arg("include_summary", "false").lower() == "true"
        key = query_key(
            {
                "month": month,
                **{k: sorted(v) if isinstance(v, set) else v for k, v in filters.items()},
            }
        )
        offset = self._offset(body.get("page_token"), key)
        found, position, _ = self.book.unresponsive(month, filters, offset, size)
        data: dict[str, Any] = {"meters": found, "year_month": month_text(month)}
        if include_summary:
            every, _, _ = self.book.unresponsive(month, filters, 0, 10**9)
            data["summary"] = {
                "number_of_meters": len(every),
                "missed_revenue": round(sum(m["missed_revenue"] for m in every), 2),
                "average_response_percentage": round(
                    sum(m["response_percentage"] for m in every) / len(every), 2
                )
                if every
                else 0.0,
            }
        if position < self.api.sim.portfolio.next_index:
            data["page_token"] = self.api._make_token(position, key)
        return Reply.json(200, data)
