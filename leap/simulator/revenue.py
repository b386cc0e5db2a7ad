"""Leap's revenue & analytics (settlement.yml v1.1), computed from the simulator's portfolio.

A meter's monthly revenue follows its enrollment and its dispatches:
- it has a row for each month since it was created (`history="full"`: for every month, as a
  portfolio migrated from another aggregator would; the benchmark uses it);
- ACTIVE in its main program and in that program's season: capacity and energy revenue, by its
  nomination, its response to events (the month's generated events plus every dispatch the
  simulator holds for it in that month) and its data coverage; a meter idled or dis-enrolled
  by its participation preferences for the month earns nothing (NO_CAPACITY_REVENUE);
- ELIGIBLE or PENDING: potential revenue missed for want of enrollment
  (MISSED_ENROLLMENT_CAPACITY); INELIGIBLE, NOT_PARTICIPATING or archived: nothing.
Each meter has a responsiveness (never, rarely, normally responds; new meters are NEW_METER) that
fixes its response percentage, and some meters have poor data coverage.

Reports are monthly. Month M's V1 (PRELIMINARY) is published on the 5th of M+1, its V2
(FINALIZED: late meter data arrives, adjustments are paid) on the 20th of M+2; `revise(month)`
publishes one more FINALIZED version now (a true-up), changing a few meters' figures. Every
figure is a pure function of (seed, meter, month, version), so paging and repeated calls agree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import revenue_reports
from .revenue_figures import (
    CAPACITY_PRICES,
    DEFAULT_PRICE,
    ENERGY_PRICE_KWH,
    HISTORY_MONTHS,
    RESPONSIVENESS,
    Facts,
    Version,
    add_months,
    draws,
    earnings,
    later_versions,
    matches_filters,
    month_index,
    month_start,
    month_text,
    parse_time,
    program_of,
    response_percentage,
    with_labels,
)

if TYPE_CHECKING:
    from .simulator import Simulator


class RevenueBook:
    """The simulator's revenue reports: versions, meter rows, aggregations, diagnosis."""

    def __init__(self, sim: Simulator, *, history: str = "created") -> None:
        if history not in ("created", "full"):
            raise ValueError("history is 'created' or 'full'")
        self.sim = sim
        self.history = history
        self.revisions: dict[int, list[datetime]] = defaultdict(list)
        self._facts: dict[int, Facts] = {}
        self._events: tuple[int, dict[tuple[str, int], int]] | None = None
        self.invalid_rows: dict[tuple[int, str], dict[str, Any]] = {}  # (month, meter) -> fields

    # --- versions --------------------------------------------------------------------------------

    def versions(self, month: int, now: datetime | None = None) -> list[Version]:
        """The versions of a month's report published by `now` (oldest first)."""
        now = now or self.sim.now
        current = now.year * 12 + now.month - 1
        if not current - HISTORY_MONTHS <= month < current:
            return []
        start = month_start(month)
        times = [
            add_months(start, 1) + timedelta(days=4, hours=10),
            add_months(start, 2) + timedelta(days=19, hours=10),
            *self.revisions.get(month, []),
        ]
        return [
            Version(month, number, when)
            for number, when in enumerate(times, start=1)
            if when <= now
        ]

    def latest(self, month: int) -> Version | None:
        """The newest published version of a month, or None."""
        found = self.versions(month)
        return found[-1] if found else None

    def version(self, month: int, name: str | None) -> Version | None:
        """A named version (or the latest) of a month's report."""
        if name is None:
            return self.latest(month)
        return next((v for v in self.versions(month) if v.name == name), None)

    def revise(self, month: str) -> str:
        """Publish a new FINALIZED version of a month now (a true-up); returns its name."""
        index = month_index(month)
        if not self.versions(index):
            raise ValueError(f"no report of {month} is published yet")
        self.revisions[index].append(self.sim.now)
        return self.versions(index)[-1].name

    # --- meters ----------------------------------------------------------------------------------

    def facts(self, index: int) -> Facts | None:
        """A meter's facts (cached until the meter changes); None for a removed meter."""
        portfolio = self.sim.portfolio
        if index in portfolio.removed or index >= portfolio.next_index:
            return None
        cached = self._facts.get(index)
        overlay = portfolio.overlay.get(index)
        if cached is not None and (overlay is None or cached.stamp == overlay.updated_at):
            return cached  # a generated meter never changes until it moves into the overlay
        state = overlay or portfolio.get(index)
        details = state.details
        customer = details.get("customer") or {}
        utility = (details.get("utility") or {}).get("utility_name")
        main = next((r for r in state.programs if r["enrollment_status"] == "ACTIVE"), None)
        main = main or (state.programs[0] if state.programs else None)
        program = main["program_identifier"] if main else None
        season: set[int] = set()
        if main is not None:
            for start_month, length in program_of(program).periods:
                season.update((start_month - 1 + k) % 12 + 1 for k in range(length))
        devices = (details.get("site") or {}).get("site_devices", [])
        power = sum(d.get("power_capacity_kw", 0) for d in devices)
        commercial = state.customer_classification == "COMMERCIAL"
        nomination = round(max(power * 0.8, 40.0 if commercial else 4.0), 2)
        draw = draws("facts", self.sim.seed, state.meter_id)
        responsiveness = RESPONSIVENESS[0 if draw[0] < 0.07 else 1 if draw[0] < 0.18 else 2]
        idle = tuple(
            (start, parse_time(p.get("end_time")))
            for p in state.participation
            if p["participation_preference"] in ("IDLE", "DISENROLL")
            and (start := parse_time(p["start_time"])) is not None
        )
        facts = Facts(
            index=index,
            meter_id=state.meter_id,
            partner_reference=state.partner_reference,
            region=state.region,
            utility=utility,
            customer=customer.get("end_customer_company_name") or customer.get("end_customer_name"),
            customer_group=state.customer_group or None,
            load_types=tuple(state.load_types),
            status=state.global_status,
            archived=state.is_archived,
            program=program,
            market_group=main.get("market_group_name") if main else None,
            season=frozenset(season),
            created=state.created_at.year * 12 + state.created_at.month - 1,
            nomination_kw=nomination,
            responsiveness=responsiveness,
            low_coverage=draw[1] < 0.08,
            idle=idle,
            stamp=state.updated_at,
        )
        self._facts[index] = facts
        return facts

    def _dispatch_counts(self) -> dict[tuple[str, int], int]:
        """Events per (meter, month) of the dispatches the simulator holds (cached per change)."""
        key = sum(e.version for e in self.sim.dispatches.values()) + len(self.sim.dispatches)
        if self._events is not None and self._events[0] == key:
            return self._events[1]
        counts: dict[tuple[str, int], int] = defaultdict(int)
        for event in self.sim.dispatches.values():
            if event.slot.get("cancelled") or event.communication_test:
                continue
            start = event.slot["start_time"]
            month = start.year * 12 + start.month - 1
            members = [event.target_id] if event.level == "meter" else event.meter_ids
            for meter_id in members:
                counts[(meter_id, month)] += 1
        self._events = (key, dict(counts))
        return self._events[1]

    def meter_rows(
        self,
        month: int,
        version: Version,
        offset: int = 0,
        limit: int | None = None,
        *,
        broken: bool = False,
    ) -> tuple[list[dict[str, Any]], int]:
        """Rows of a month from portfolio position `offset`; returns them and the next position.

        `broken`: with the rows `break_row` spoiled (what the meter search sends); sums and
        aggregations are computed from the sound figures.
        """
        rows: list[dict[str, Any]] = []
        end = self.sim.portfolio.next_index
        position = offset
        counts = self._dispatch_counts()
        while position < end and (limit is None or len(rows) < limit):
            facts = self.facts(position)
            position += 1
            if facts is None:
                continue
            row = self.row(facts, month, version, counts)
            if row is not None:
                if broken:
                    spoiled = self.invalid_rows.get((month, facts.meter_id))
                    if spoiled is not None:
                        row = {**row, **spoiled}
                rows.append(row)
        return rows, position

    def row(
        self,
        facts: Facts,
        month: int,
        version: Version,
        counts: dict[tuple[str, int], int] | None = None,
    ) -> dict[str, Any] | None:
        """One meter's row of a month's report at a version (None: no row that month)."""
        if self.history == "created" and facts.created > month:
            return None
        if facts.program is None:
            return None
        counts = counts if counts is not None else self._dispatch_counts()
        seed = self.sim.seed
        draw = draws("row", seed, facts.meter_id, month)
        calendar_month = month % 12 + 1
        in_season = calendar_month in facts.season
        price = CAPACITY_PRICES.get(facts.program, DEFAULT_PRICE)
        start, end = month_start(month), month_start(month + 1)
        idled = any(s < end and (e is None or e > start) for s, e in facts.idle)
        dispatched = counts.get((facts.meter_id, month), 0)
        events = (int(draw[0] * 5) + dispatched) if in_season else dispatched
        new_meter = self.history == "created" and month - facts.created < 2
        history = "NEW_METER" if new_meter else facts.responsiveness
        response = response_percentage(history, draw[1])
        coverage = round(40 + draw[2] * 34, 1) if facts.low_coverage else round(92 + draw[2] * 8, 1)
        coverage, payment_adjustment = later_versions(seed, facts, month, version, coverage)
        nomination_kw = facts.nomination_kw
        status = "NOT_PARTICIPATING" if facts.archived else facts.status
        earned = earnings(
            status,
            in_season,
            idled,
            nomination_kw * price,
            nomination_kw,
            events,
            response,
            coverage,
        )
        revenue_type, events, response = earned.revenue_type, earned.events, earned.response
        capacity_potential, energy_potential = earned.capacity_potential, earned.energy_potential
        capacity, energy, penalty = earned.capacity, earned.energy, earned.penalty
        potential = round(capacity_potential + energy_potential, 2)
        capacity, energy = round(capacity, 2), round(energy, 2)
        total = round(capacity + energy - penalty + payment_adjustment, 2)
        text = month_text(month)
        row: dict[str, Any] = {
            "meter_id": facts.meter_id,
            "nomination_w": round(nomination_kw * 1000, 2),
            "capacity_revenue": capacity,
            "capacity_price": price,
            "energy_revenue": energy,
            "delivery_start_date": text,
            "delivery_end_date": text,
            "monetized_w": round(nomination_kw * 1000 * (response / 100 if events else 1), 2),
            "total_revenue": total,
            "capacity_earned_w": round(nomination_kw * 1000 * response / 100, 2),
            "energy_earned_wh": round(events * 2 * nomination_kw * 1000 * response / 100, 2),
            "capacity_performance_percentage": response if events else 100.0,
            "energy_performance_percentage": response,
            "revenue_type": revenue_type,
            "potential_revenue": potential,
            "payment_adjustment": payment_adjustment,
            "penalty": penalty,
            "performance_adjustment": round(capacity - capacity_potential, 2),
            "data_coverage_percentage": coverage,
            "program": facts.program,
            "load_types": list(facts.load_types),
            "performance_factor": round(response / 100, 3),
            "missed_revenue": round(max(potential - total, 0.0), 2),
            "version": version.name,
            "energy_price_kwh": ENERGY_PRICE_KWH,
            "dispatch_event_response_percentage": response,
            "total_number_of_events": events,
            "diagnosis": "UNRESPONSIVE"
            if events and history in ("NEVER_RESPONDS", "RARELY_RESPONDS")
            else "NOT_APPLICABLE",
            "historical_responsiveness": history,
        }
        return with_labels(row, facts)

    def all_rows(self, months: list[int], version_name: str | None) -> Iterator[dict[str, Any]]:
        """Every row of these months (each at `version_name`, or its latest)."""
        for month in months:
            version = self.version(month, version_name)
            if version is None:
                continue
            rows, _ = self.meter_rows(month, version)
            yield from rows

    def break_row(self, month: str, meter_id: str, **fields: Any) -> None:
        """Make one meter's row of a month invalid from now on (tests of bad input)."""
        self.invalid_rows[(month_index(month), str(meter_id))] = fields

    # --- aggregations and reports (leap/simulator/revenue_reports.py) ----------------------------

    def aggregate(self, kind: str, rows: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
        """Leap's customer / market-group / load-type / utility aggregations of meter rows."""
        return revenue_reports.aggregate(kind, rows)

    def report(self, months: list[int], version_name: str | None) -> dict[str, Any] | None:
        """The PeriodicReportResponse over these months (None when none is published)."""
        return revenue_reports.report(self, months, version_name)

    def yearly(self, year: int, regions: set[str], statuses: set[str]) -> dict[str, Any]:
        """The YearlyOverview of a year (the latest version of each published month)."""
        return revenue_reports.yearly(self, year, regions, statuses)

    def unresponsive(
        self, month: int, filters: dict[str, Any], offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int, dict[str, Any]]:
        """Diagnosis rows of a month (meters with events) from position `offset`."""
        version = self.latest(month)
        found: list[dict[str, Any]] = []
        summary = {"number_of_meters": 0, "missed_revenue": 0.0, "response": 0.0}
        if version is None:
            return found, self.sim.portfolio.next_index, summary
        counts = self._dispatch_counts()
        position = offset
        end = self.sim.portfolio.next_index
        while position < end and len(found) < limit:
            facts = self.facts(position)
            position += 1
            if facts is None:
                continue
            row = self.row(facts, month, version, counts)
            if row is None or not row["total_number_of_events"]:
                continue
            item = {
                "meter_id": facts.meter_id,
                "transmission_region": facts.region,
                "program": facts.program,
                "missed_revenue": row["missed_revenue"],
                "nomination_w": row["nomination_w"],
                "response_percentage": row["dispatch_event_response_percentage"],
                "number_of_events": row["total_number_of_events"],
                "historical_responsiveness": row["historical_responsiveness"],
            }
            if facts.partner_reference:
                item["partner_reference"] = facts.partner_reference
            if facts.customer:
                item["customer_name"] = facts.customer
            if facts.customer_group:
                item["customer_group"] = facts.customer_group
            if not matches_filters(item, filters):
                continue
            found.append(item)
        return found, position, summary
