"""Our dispatch enumerations (leap.schemas) hold every value Leap's published specs allow.

dispatch/incoming.py refuses a timeslot whose program, compensation cap or event type is outside
them, so a value the specs allow and we lack would wrongly refuse real events.
"""

from __future__ import annotations

from leap.schemas import DISPATCH_EVENT_TYPES, DISPATCH_PROGRAMS, PERFORMANCE_CAPS
from leap.specs import load_spec, missing_specs_message, specs_available
from tests.conftest import skip_or_fail


def _enum(spec: dict, name: str) -> set[str]:
    return set(spec["components"]["schemas"][name]["enum"])


def _program_enums(node: object) -> list[set[str]]:
    """Every `program_identifier` enum anywhere in a spec."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "program_identifier" and isinstance(value, dict) and "enum" in value:
                found.append(set(value["enum"]))
            found += _program_enums(value)
    elif isinstance(node, list):
        for value in node:
            found += _program_enums(value)
    return found


def test_our_dispatch_enums_cover_the_specs():
    if not specs_available():
        skip_or_fail(missing_specs_message())
    dispatching = load_spec("dispatching")
    schemas = dispatching["components"]["schemas"]
    caps = next(set(s["enum"]) for s in schemas.values() if "up-to-nomination" in s.get("enum", []))
    assert caps == PERFORMANCE_CAPS
    assert _enum(dispatching, "DispatchEventType") <= DISPATCH_EVENT_TYPES
    programs = _program_enums(dispatching) + _program_enums(load_spec("enrollments"))
    assert programs, "no program enum found in the specs"
    for allowed in programs:
        assert allowed <= DISPATCH_PROGRAMS, sorted(allowed - DISPATCH_PROGRAMS)
