"""The filters of the simulator's meter and enrollment searches: two predicates and a time window."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base_times import TimeWindow


def time_window(query: dict[str, Any]) -> TimeWindow:
    """The search's time filters, which `Portfolio.scan` uses to skip meters that cannot pass."""
    return TimeWindow(
        modified_after=query["last_modified_date_time"],
        created_after=query["created_after_date_time"],
        created_before=query["created_before_date_time"],
    )


# The query's fields that narrow a search (meter_ids aside, which the search handles itself).
FILTER_FIELDS = (
    "transmission_region", "global_enrollment_statuses", "partner_action_required",
    "exclude_archived", "last_modified_date_time", "created_after_date_time",
    "created_before_date_time", "customer_classification", "partner_references", "meter_types",
    "load_types", "customer_groups", "tags", "connection_reference_ids", "action_type",
)  # fmt: skip


def unfiltered(query: dict[str, Any]) -> bool:
    """Whether the search asks for every meter (a full sync's search): no filter, no meter ids."""
    return not query["meter_ids"] and not any(query[name] for name in FILTER_FIELDS)


def meter_predicates(
    query: dict[str, Any],
) -> tuple[Callable[[Any], bool] | None, Callable[[Any], bool]]:
    """(prefilter on the cheap Core of a generated meter, full check on a MeterState)."""
    region = query["transmission_region"]
    statuses = set(query["global_enrollment_statuses"] or ())
    action_required = query["partner_action_required"]
    exclude_archived = query["exclude_archived"]
    modified = query["last_modified_date_time"]
    after, before = query["created_after_date_time"], query["created_before_date_time"]
    classification = query["customer_classification"]
    refs = set(query["partner_references"] or ())
    meter_types = set(query["meter_types"] or ())
    load_types = set(query["load_types"] or ())
    groups = set(query["customer_groups"] or ())
    tags = set(query["tags"] or ())
    connections = set(query["connection_reference_ids"] or ())
    action_types = set(query["action_type"] or ())

    def prefilter(core: Any) -> bool:
        if region and core.region.code != region:
            return False
        if statuses and ("NOT_PARTICIPATING" if core.archived else core.status) not in statuses:
            return False
        if action_required and not core.partner_actions:
            return False
        if exclude_archived and core.archived:
            return False
        if refs and not core.has_reference:
            return False
        if modified and not core.updated_at > modified:
            return False
        if after and not core.created_at > after:
            return False
        return not (before and not core.created_at < before)

    def accept(state: Any) -> bool:
        # AND across fields, IN within a list (Leap does not say; the natural reading).
        checks = (
            not region or state.region == region,
            not statuses or state.global_status in statuses,
            not action_required or bool(state.partner_actions),
            not exclude_archived or not state.is_archived,
            not modified or state.updated_at > modified,
            not after or state.created_at > after,
            not before or state.created_at < before,
            not classification or state.customer_classification == classification,
            not refs or state.partner_reference in refs,
            not meter_types or state.meter_type in meter_types,
            not load_types or bool(load_types.intersection(state.load_types)),
            not groups or state.customer_group in groups,
            not tags or bool(tags.intersection(state.tags)),
            not connections or bool(connections.intersection(state.connection_references)),
            not action_types
            or any(
                a["action_type"] in action_types for a in state.partner_actions + state.leap_actions
            ),
        )
        return all(checks)

    return prefilter, accept
