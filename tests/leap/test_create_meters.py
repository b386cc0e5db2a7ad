"""The create-meters field catalogue (leap/create_meters.py) against Leap's spec itself."""

from __future__ import annotations

import pytest

from leap import create_meters as cm
from leap.specs import load_spec, missing_specs_message, specs_available
from tests.conftest import skip_or_fail


@pytest.fixture(scope="module")
def schemas():
    if not specs_available():
        skip_or_fail(missing_specs_message())
    return load_spec("create-meters")["components"]["schemas"]


def _resolve(schemas, node):
    """A schema with $ref and allOf merged (properties and required lists)."""
    if "$ref" in node:
        return _resolve(schemas, schemas[node["$ref"].rsplit("/", 1)[1]])
    if "allOf" in node:
        merged = {
            "properties": {},
            "required": [],
            **{k: v for k, v in node.items() if k != "allOf"},
        }
        for part in node["allOf"]:
            part = _resolve(schemas, part)
            merged["properties"].update(part.get("properties", {}))
            merged["required"] = merged["required"] + list(part.get("required", []))
            for key in (
                "type",
                "enum",
                "pattern",
                "minLength",
                "maxLength",
                "minimum",
                "maximum",
                "items",
                "format",
            ):
                if key in part and key not in merged:
                    merged[key] = part[key]
        return merged
    return node


def _field_schema(schemas, path):
    node = _resolve(schemas, schemas["CreateMeter"])
    for part in path.split("."):
        node = _resolve(schemas, node["properties"][part])
    return node


def test_every_catalogued_field_has_the_specs_constraints(schemas):
    for field in cm.FIELDS:
        spec = _field_schema(schemas, field.path)
        if field.kind == "enum":
            assert tuple(spec["enum"]) == field.enum, field.path
        elif field.kind == "enum_list":
            assert tuple(_resolve(schemas, spec["items"])["enum"]) == field.enum, field.path
            assert spec.get("minItems") == 1
        elif field.kind == "bool":
            assert spec["type"] == "boolean", field.path
        elif field.kind in ("int", "number"):
            assert spec["type"] == ("integer" if field.kind == "int" else "number"), field.path
            assert (spec.get("minimum"), spec.get("maximum")) == (field.minimum, field.maximum)
        elif field.kind == "date":
            assert spec.get("format") == "date", field.path
        else:
            assert spec["type"] == "string", field.path
            assert spec.get("minLength") == field.min_length, field.path
            assert spec.get("maxLength") == field.max_length, field.path
            if "pattern" in spec:
                assert field.pattern is not None, field.path
                import re

                # Same language: what the spec's pattern accepts, ours does, on samples.
                for sample in (
                    "132 My Street",
                    "Apt #3",
                    "94103",
                    "94103-1234",
                    "New York",
                    "a/b",
                    "x?",
                ):
                    assert bool(re.match(spec["pattern"], sample)) == bool(
                        re.match(field.pattern, sample)
                    ), (field.path, sample)


def test_the_specs_required_fields_are_the_catalogues(schemas):
    top = _resolve(schemas, schemas["CreateMeter"])
    customer = _resolve(schemas, schemas["Customer"])
    spec_required = set(top["required"]) - {"customer"} | {
        f"customer.{name}" for name in customer["required"]
    }
    assert spec_required == set(cm.REQUIRED)


def test_the_status_enums_are_the_specs(schemas):
    assert tuple(schemas["JobStatus"]["enum"]) == cm.JOB_STATUSES
    assert tuple(schemas["ProvisionalAssetStatus"]["enum"]) == cm.ASSET_STATUSES
    detail = schemas["AssetUploadStatus_status_detail"]["properties"]["name"]["enum"]
    assert tuple(detail) == cm.STATUS_DETAILS


def test_cells_become_json_values_or_a_reason():
    f = cm.BY_PATH
    assert cm.parse_text(f["load_types"], "hvac; ev_charging") == (["HVAC", "EV_CHARGING"], None)
    assert cm.parse_text(f["site.number_of_devices"], "2") == (2, None)
    assert cm.parse_text(f["site.number_of_devices"], "two")[1] == "'two' is not a whole number"
    assert cm.parse_text(f["caiso.is_receiving_sgip_funding"], "Yes") == (True, None)
    assert cm.parse_text(f["device.install_date"], "2024-13-01")[1].endswith("(YYYY-MM-DD)")
    assert cm.check_value(f["site.number_of_devices"], 100) == "must be at most 99"
    assert cm.check_value(f["customer.postal_code"], "9410")
