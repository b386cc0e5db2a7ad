"""Revenue and analytics v1.1 (settlement.yml): reports, aggregations, the yearly overview and
the unresponsive-meter diagnosis."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlencode

from leap.client.core import ClientCore, T
from leap.client.pages import Page, RawPage
from leap.errors import LeapBadPayload
from leap.schemas import (
    CustomerRevenue,
    LoadTypeRevenue,
    MarketGroupRevenue,
    MeterRevenue,
    PeriodicReport,
    RawModel,
    ReportVersion,
    RevenueSearchPage,
    UnresponsiveMeter,
    UnresponsivePage,
    UtilityRevenue,
    YearlyOverview,
)

MAX_REVENUE_PAGE_SIZE = 1000  # revenue searches and the unresponsive diagnosis (settlement.yml)
MAX_REVENUE_MONTHS = 3  # a revenue aggregation search spans at most 3 months (settlement.yml)
# The revenue aggregations: path segment -> (the list's key in a page, the row model).
REVENUE_AGGREGATIONS: dict[str, tuple[str, type[RawModel]]] = {
    "meter": ("meters", MeterRevenue),
    "customer": ("customers", CustomerRevenue),
    "market-group": ("market_groups", MarketGroupRevenue),
    "load-type": ("load_types", LoadTypeRevenue),
    "utility": ("utilities", UtilityRevenue),
}
HISTORICAL_RESPONSIVENESS = ("NEVER_RESPONDS", "RARELY_RESPONDS", "NORMALLY_RESPONDS", "NEW_METER")


class RevenueAPI(ClientCore):
    """Revenue and analytics v1.1."""

    @staticmethod
    def month_windows(period_start: str, period_end: str) -> list[tuple[str, str]]:
        """[start, end] (inclusive `YYYY-MM`) cut into windows of at most 3 months (Leap's limit)."""
        first, last = _month_index(period_start), _month_index(period_end)
        if last < first:
            raise ValueError(f"period_end ({period_end}) is before period_start ({period_start})")
        return [
            (_month_text(m), _month_text(min(last, m + MAX_REVENUE_MONTHS - 1)))
            for m in range(first, last + 1, MAX_REVENUE_MONTHS)
        ]

    def iter_revenue_pages(
        self,
        aggregation: str,
        period_start: str,
        period_end: str,
        *,
        version: str | None = None,
        programs: Iterable[str] | None = None,
        filters: Iterable[str] | None = None,
        page_size: int = MAX_REVENUE_PAGE_SIZE,
        lazy: bool = False,
    ) -> Iterator[Page[RawModel]]:
        """Stream `POST /v1.1/revenue/periodic/aggregation/{aggregation}/search` page by page.

        `aggregation` is meter, customer, market-group, load-type or utility. A period longer
        than 3 months is searched in windows of 3. With `lazy`, pages come as RawPage.
        """
        if aggregation not in REVENUE_AGGREGATIONS:
            raise ValueError(f"unknown revenue aggregation {aggregation!r}")
        if not 1 <= page_size <= MAX_REVENUE_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_REVENUE_PAGE_SIZE}")
        if version is not None and not (len(version) >= 2 and version.startswith("V")):
            raise ValueError(f"a report version looks like V1, got {version!r}")
        key, model = REVENUE_AGGREGATIONS[aggregation]
        path = f"/v1.1/revenue/periodic/aggregation/{aggregation}/search"
        for start, end in self.month_windows(period_start, period_end):
            body: dict[str, Any] = {"period_start": start, "period_end": end}
            if version:
                body["version"] = version
            if programs:
                body["programs"] = list(dict.fromkeys(programs))
            if filters:
                body["filters"] = list(dict.fromkeys(filters))
            yield from self._iter_token_pages(path, body, key, model, page_size, lazy=lazy)

    def iter_revenue(
        self, aggregation: str, period_start: str, period_end: str, **kw: Any
    ) -> Iterator[RawModel]:
        """Every row of a revenue aggregation search; invalid rows go to `on_bad`, or raise."""
        on_bad = kw.pop("on_bad", None)
        pages = self.iter_revenue_pages(aggregation, period_start, period_end, **kw)
        return self._flatten(pages, on_bad)

    def _iter_token_pages(
        self,
        path: str,
        body: dict[str, Any],
        key: str,
        model: type[T],
        page_size: int,
        *,
        lazy: bool = False,
        envelope: type[Any] = RevenueSearchPage,
        query: str = "",
    ) -> Iterator[Page[T]]:
        """Page through a settlement search whose token comes back as `page_token`."""
        token: str | None = None
        number = 0
        while True:
            number += 1
            request = {**body, "page_size": page_size}
            if token:
                request["page_token"] = token
            data = self._send("POST", path + query, json_body=request, page_token=token)
            parsed = self._envelope(envelope, data, "POST", path)
            items = getattr(parsed, key) or []
            next_token = parsed.page_token or None
            if lazy:
                yield RawPage(  # type: ignore[misc]
                    self, model, items, number=number, next_page_token=next_token, path=path
                )
            else:
                yield self._page(model, items, number=number, next_page_token=next_token, path=path)
            del parsed, data, items
            if not next_token:
                break
            self._check_progress(path, token, next_token)
            token = next_token

    @staticmethod
    def _query(**params: Any) -> str:
        """`?a=1&b=x,y` for the parameters that are set (lists comma-separated, as Leap wants)."""
        pairs = []
        for name, value in params.items():
            if value is None:
                continue
            if isinstance(value, list | tuple):
                if not value:
                    continue
                value = ",".join(str(v) for v in value)
            pairs.append((name, str(value)))
        return "?" + urlencode(pairs) if pairs else ""

    def get_revenue_report(
        self,
        period_start: str,
        period_end: str,
        *,
        version: str | None = None,
        programs: Iterable[str] | None = None,
    ) -> PeriodicReport:
        """`GET /v1.1/revenue/periodic/reports`: the figures and statuses of a period's reports."""
        _month_index(period_start), _month_index(period_end)
        path = "/v1.1/revenue/periodic/reports"
        query = self._query(
            period_start=period_start,
            period_end=period_end,
            version=version,
            programs=list(programs) if programs else None,
        )
        return self._parse_one(PeriodicReport, self._send("GET", path + query), "GET", path)

    def list_report_versions(
        self, period_start: str, period_end: str, *, programs: Iterable[str] | None = None
    ) -> list[ReportVersion]:
        """`GET /v1.1/revenue/periodic/versions`: every version of the period's reports."""
        _month_index(period_start), _month_index(period_end)
        path = "/v1.1/revenue/periodic/versions"
        query = self._query(
            period_start=period_start,
            period_end=period_end,
            programs=list(programs) if programs else None,
        )
        data = self._send("GET", path + query)
        if data is None:
            return []
        if not isinstance(data, list):
            error = LeapBadPayload(
                "the report versions answer is not a list", raw=data, model="ReportVersion"
            )
            error.method, error.path = "GET", path
            self.stats.record_error(error)
            raise error
        return [self._parse_one(ReportVersion, raw, "GET", path) for raw in data]

    def get_yearly_overview(
        self,
        year: int,
        *,
        transmission_regions: Iterable[str] | None = None,
        programs: Iterable[str] | None = None,
        report_statuses: Iterable[str] | None = None,
    ) -> YearlyOverview:
        """`GET /v1.1/revenue/yearly/{year}`: the year's totals, sources, regions and reports."""
        if not 2000 <= int(year) <= 9999:
            raise ValueError(f"not a plausible year: {year!r}")
        path = f"/v1.1/revenue/yearly/{int(year)}"
        query = self._query(
            transmission_regions=list(transmission_regions) if transmission_regions else None,
            programs=list(programs) if programs else None,
            report_statuses=list(report_statuses) if report_statuses else None,
        )
        return self._parse_one(YearlyOverview, self._send("GET", path + query), "GET", path)

    def iter_unresponsive_pages(
        self,
        year_month: str,
        *,
        historical_responsiveness: Iterable[str] | None = None,
        programs: Iterable[str] | None = None,
        transmission_regions: Iterable[str] | None = None,
        page_size: int = MAX_REVENUE_PAGE_SIZE,
        include_summary: bool = False,
        lazy: bool = False,
    ) -> Iterator[Page[UnresponsiveMeter]]:
        """Stream `POST /v1.1/performance/diagnosis/monthly/unresponsive/meters` for one month."""
        _month_index(year_month)
        if not 1 <= page_size <= MAX_REVENUE_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_REVENUE_PAGE_SIZE}")
        body: dict[str, Any] = {"year_month": year_month}
        if historical_responsiveness:
            kinds = list(dict.fromkeys(historical_responsiveness))
            unknown = set(kinds) - set(HISTORICAL_RESPONSIVENESS)
            if unknown:
                raise ValueError(f"unknown historical responsiveness: {sorted(unknown)}")
            body["historical_responsiveness"] = kinds
        if programs:
            body["programs"] = list(dict.fromkeys(programs))
        if transmission_regions:
            body["transmission_regions"] = list(dict.fromkeys(transmission_regions))
        path = "/v1.1/performance/diagnosis/monthly/unresponsive/meters"
        query = "?include_summary=true" if include_summary else ""
        return self._iter_token_pages(
            path,
            body,
            "meters",
            UnresponsiveMeter,
            page_size,
            lazy=lazy,
            envelope=UnresponsivePage,
            query=query,
        )


def _month_index(value: str) -> int:
    """Months since year 0 of a `YYYY-MM` string; ValueError for anything else."""
    if not isinstance(value, str) or len(value) != 7 or value[4] != "-":
        raise ValueError(f"a month is YYYY-MM, got {value!r}")
    year, month = int(value[:4]), int(value[5:])
    if not 1 <= month <= 12:
        raise ValueError(f"a month is YYYY-MM, got {value!r}")
    return year * 12 + month - 1


def _month_text(index: int) -> str:
    """`YYYY-MM` of a month index (see _month_index)."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"
