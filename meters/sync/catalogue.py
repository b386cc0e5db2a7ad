"""The market groups and reason codes enrollments name, created while a page is planned.

Rows written later (programs, actions, group assignments) point at them, so they exist before
the page is written; they stay if its write fails. The run's context remembers the ones known.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from meters.models import MarketGroup, ReasonCode
from meters.sync.context import Context
from meters.sync.snapshot import EnrollmentSnapshot


def ensure_reason_codes(ctx: Context, snapshots: Iterable[EnrollmentSnapshot]) -> None:
    """A code or action type never seen before gets a catalogue row marked as lacking guidance."""
    new: dict[str, ReasonCode] = {}
    for snap in snapshots:
        for action in snap.actions.values():
            for code, kind in (
                (action.code, ReasonCode.Kind.ACTION_CODE),
                (action.action_type, ReasonCode.Kind.ACTION_TYPE),
            ):
                if code and code not in ctx.known_codes and code not in new:
                    new[code] = ReasonCode(
                        code=code,
                        kind=kind,
                        who_acts=action.side if kind == ReasonCode.Kind.ACTION_CODE else "unknown",
                        needs_guidance=True,
                        example_description=action.description[:2000],
                        first_seen_at=ctx.now,
                    )
    if new:
        ReasonCode.objects.bulk_create(new.values(), ignore_conflicts=True)
        ctx.known_codes |= set(new)


def ensure_groups(
    ctx: Context, region_of: dict[uuid.UUID, str], snaps: dict[uuid.UUID, EnrollmentSnapshot]
) -> None:
    """Create or rename the market groups the enrollments name (before rows point at them)."""
    wanted: dict[uuid.UUID, tuple[str, str, str]] = {}
    for meter_id, snap in snaps.items():
        for row in snap.programs.values():
            if row.market_group_id:
                wanted[row.market_group_id] = (
                    row.market_group_name,
                    region_of.get(meter_id, ""),
                    row.program_identifier,
                )
    missing = [g for g in wanted if g not in ctx.known_groups]
    if missing:
        for group_id, name, region, program in MarketGroup.objects.filter(
            market_group_id__in=missing
        ).values_list("market_group_id", "name", "region", "program_identifier"):
            ctx.known_groups[group_id] = (name, region, program)
    stale = []
    for group_id, (name, region, program) in wanted.items():
        known = ctx.known_groups.get(group_id)
        merged = (
            name or (known[0] if known else ""),
            region or (known[1] if known else ""),
            program or (known[2] if known else ""),
        )
        if known != merged:
            stale.append(
                MarketGroup(
                    market_group_id=group_id,
                    name=merged[0],
                    region=merged[1],
                    program_identifier=merged[2],
                    first_seen_at=ctx.now,
                    updated_at=ctx.now,
                )
            )
            ctx.known_groups[group_id] = merged
    if stale:
        MarketGroup.objects.bulk_create(
            stale,
            update_conflicts=True,
            unique_fields=["market_group_id"],
            update_fields=["name", "region", "program_identifier", "updated_at"],
        )
