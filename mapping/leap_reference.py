"""Pushing our customer id to Leap as the meter's partner_reference: not available.

Leap's sync guide says partners will be able to edit partner_reference "coming soon", and Leap's
reference pages list `PATCH /v1.1/meters/{meter_id}/partner_meter_ref` (and a bulk
`PATCH /v1.1/meters/partner_meter_ref`), but none of Leap's published OpenAPI specs defines
either path or its request body (see docs/mapping.md). We do not guess a body
for a write to Leap, so the action is shown as unavailable with this reason.
tests/mapping/test_leap_reference.py fails once a published spec defines the path: then implement
it in leap/client.py (docs/contracts.md) and put it behind a confirmation here.
"""

from __future__ import annotations

from dataclasses import dataclass

from leap.specs import openapi_dir

PATHS = ("/v1.1/meters/{meter_id}/partner_meter_ref", "/v1.1/meters/partner_meter_ref")


@dataclass(frozen=True)
class PushStatus:
    """Whether the push is offered, and why not."""

    available: bool
    reason: str


PUSH_STATUS = PushStatus(
    available=False,
    reason=(
        "Not possible from here yet: Leap does not let partners change a meter's "
        "partner_reference through its API. Leap keeps the reference it took from the Connect "
        "refId; to change it, ask Leap support. Our own customer and site ids are kept here."
    ),
)


def specs_defining_push() -> list[str]:
    """The spec files (if any) that define one of PATHS."""
    found = []
    for spec in sorted(openapi_dir().glob("*.y*ml")):
        text = spec.read_text(encoding="utf-8")
        if any(f"{p}:" in text for p in PATHS):
            found.append(spec.name)
    return found
