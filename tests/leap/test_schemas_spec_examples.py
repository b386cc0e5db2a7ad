"""Every example in Leap's specs parses with the client's models (the contract, checked in CI).

Walks the meters, enrollments, dispatching and webhooks specs for every `example` / `examples`
(response bodies, request bodies, component schemas and their properties, parameters) and the
webhook event payloads of the AsyncAPI catalogue, and parses each with the model the client uses
for that place. An example at a place no model is mapped to fails the test: a new spec version
must be looked at, not silently skipped. Leap's own defective examples (in its specs:
duplicate `connection_references`, `generator_fuel_type: ""`) must parse too.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

import pytest
from pydantic import BaseModel, TypeAdapter

from leap import specs
from leap.errors import parse_error_body
from leap.schemas import (
    Address,
    Audit,
    CommunicationTestRequest,
    CommunicationTestResult,
    Customer,
    Device,
    DispatchNotification,
    DispatchSearchPage,
    DispatchSearchRequest,
    DispatchTimeslot,
    DispatchWebhookConfig,
    EnrollmentDeadline,
    GroupDispatch,
    GroupIntegrationTestRequest,
    Header,
    IntegrationTestResult,
    LeapModel,
    MeterDetail,
    MeterDetailPage,
    MeterDispatch,
    MeterEnrollment,
    MeterEnrollmentPage,
    MeterIntegrationTestRequest,
    MeterSearchRequest,
    ProgramEnrollment,
    RawModel,
    RequiredAction,
    RequiredActions,
    Site,
    SiteDevice,
    SuccessMessage,
    Utility,
    Webhook,
    WebhookEvent,
    WebhookIdResponse,
    WebhookList,
    WebhookPayload,
    WebhookRequest,
    WebhookTestResult,
)

SPECS = ("meters", "enrollments", "dispatching", "webhooks")
ERROR = "error"  # marker: an error body, checked with parse_error_body


def _page(envelope: type[LeapModel], item: type[RawModel], key: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        page = envelope.model_validate(value)
        return [item.parse(raw) for raw in getattr(page, key)]

    parse.__name__ = f"{envelope.__name__}[{item.__name__}]"
    return parse


# (spec, component schema) -> what parses an example of it. A schema name alone applies to every
# spec. Mixins (AssetIdentifiers, CommonUtility, PublicProgram...) map to the model that holds
# their fields, for their property examples.
SCHEMA_PARSERS: dict[tuple[str | None, str], Any] = {
    # meters v2
    (None, "MeterDetailsResponse"): MeterDetail,
    (None, "ReadMeter"): MeterDetail,
    (None, "AssetIdentifiers"): MeterDetail,
    (None, "ExtendedMeterIdentifiers"): MeterDetail,
    (None, "MeterId"): MeterDetail,
    (None, "ListMeterDetailsResponse"): _page(MeterDetailPage, MeterDetail, "meters"),
    (None, "MeterFilterRequest"): MeterSearchRequest,
    (None, "Customer"): Customer,
    (None, "Customer_billing"): Address,
    (None, "Device"): Device,
    (None, "DeviceInfo"): SiteDevice,
    (None, "Site"): Site,
    (None, "Caiso"): dict[str, Any],
    (None, "Isone"): dict[str, Any],
    (None, "Nyiso"): dict[str, Any],
    (None, "CommonUtility"): Utility,
    (None, "ReadUtility_utility"): Utility,
    (None, "AuditInfo_audit"): Audit,
    (None, "ErrorResponse"): ERROR,
    # enrollments v2
    (None, "MeterEnrollmentResponse"): MeterEnrollment,
    (None, "MeterEnrollmentFields"): MeterEnrollment,
    (None, "searchMeterEnrollments_200_response"): _page(
        MeterEnrollmentPage, MeterEnrollment, "meters"
    ),
    (None, "ProgramEnrollment"): ProgramEnrollment,
    (None, "EnrollmentDeadline"): EnrollmentDeadline,
    (None, "RequiredActions"): RequiredActions,
    (None, "PartnerRequiredActions"): RequiredActions,
    (None, "LeapRequiredActions"): RequiredActions,
    (None, "RequiredAction"): RequiredAction,
    (None, "PublicProgram"): RequiredAction,
    (None, "DeliveryPeriod"): RequiredAction,
    # dispatch v2
    (None, "BaseDispatchEventTimeslot"): DispatchTimeslot,
    (None, "SearchMeterDispatchEventRequest"): DispatchSearchRequest,
    (None, "SearchGroupDispatchEventRequest"): DispatchSearchRequest,
    (None, "SearchMeterDispatchEventResponse"): _page(DispatchSearchPage, MeterDispatch, "results"),
    (None, "SearchGroupDispatchEventResponse"): _page(DispatchSearchPage, GroupDispatch, "results"),
    ("dispatching", "Webhook"): DispatchWebhookConfig,
    (None, "WebhookMeterDispatchIntegrationTestRequest"): MeterIntegrationTestRequest,
    (None, "WebhookGroupDispatchIntegrationTestRequest"): GroupIntegrationTestRequest,
    (None, "WebhookIntegrationTestResponse"): IntegrationTestResult,
    (None, "CommunicationTestMeterDispatchRequest"): CommunicationTestRequest,
    (None, "CommunicationTestMeterDispatchResponse"): CommunicationTestResult,
    # webhook platform v1.1
    ("webhooks", "Webhook"): Webhook,
    (None, "WebhookListResponse"): _page(WebhookList, Webhook, "webhooks"),
    (None, "WebhookRequest"): WebhookRequest,
    (None, "WebhookResponse"): WebhookIdResponse,
    (None, "SuccessResponse"): SuccessMessage,
    (None, "TestWebhookResponse"): WebhookTestResult,
    (None, "Header"): Header,
    (None, "WebhookPayload"): WebhookEvent,
    (None, "WebhookEventTypeDiscriminator"): WebhookPayload,
    (None, "MeterCreatedEventV1"): WebhookPayload,
    (None, "MeterEnrollmentGlobalStatusUpdatedV1"): WebhookPayload,
    (None, "MeterEnrollmentParticipationStatusUpdatedV1"): WebhookPayload,
    (None, "MeterEnrollmentPartnerRequiredActionsUpdatedV1"): WebhookPayload,
    (None, "MeterEnrollmentGroupUpdatedV1"): WebhookPayload,
    (None, "ConnectSessionUpdatedEventV1"): WebhookPayload,
    (None, "ConnectSessionAuthorizationUpdatedEventV1"): WebhookPayload,
    # Named scalars: the models keep them as plain strings / UUIDs.
    (None, "transmission_region"): str,
    (None, "EnrollmentStatus"): str,
    (None, "action_type"): str,
    (None, "load_type"): str,
    (None, "utility"): str,
    (None, "DeviceType"): str,
    (None, "program_identifier"): str,
    (None, "PartnerReference"): str,
    (None, "meter_id"): UUID,
    (None, "WebhookEventId"): UUID,
    (None, "WebhookId"): UUID,
}


@dataclass(frozen=True)
class Example:
    """One example found in a spec, with where it was and what must parse it."""

    spec: str
    where: str
    value: Any
    parser: Any  # a model class, a type, a callable, ERROR, or None when unmapped
    field: str | None = None  # for property examples: the property name
    status: str | None = None  # for response examples: the HTTP status

    @property
    def id(self) -> str:
        return f"{self.spec}:{self.where}"


def _schema_parser(spec: str, name: str) -> Any:
    return SCHEMA_PARSERS.get((spec, name), SCHEMA_PARSERS.get((None, name)))


def _media_parser(spec: dict[str, Any], spec_name: str, media: dict[str, Any]) -> Any:
    schema = media.get("schema") or {}
    if "$ref" in schema:
        return _schema_parser(spec_name, schema["$ref"].rsplit("/", 1)[-1])
    if schema.get("type") == "string":
        return str
    return None


def _media_examples(
    spec: dict[str, Any], media: dict[str, Any], referenced: set[str]
) -> Iterator[tuple[str, Any]]:
    if media.get("example") is not None:
        yield "example", media["example"]
    for name, example in (media.get("examples") or {}).items():
        if "$ref" in example:
            referenced.add(example["$ref"].rsplit("/", 1)[-1])
            example = specs.resolve_ref(spec, example["$ref"])
        yield f"examples/{name}", example.get("value")


def _schema_examples(node: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    """(path, example) for every `example` under a schema node; property names are kept."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "example" and not (path and path[-1] == "properties"):
                yield path, value
            elif isinstance(value, dict | list):
                yield from _schema_examples(value, [*path, str(key)])
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _schema_examples(value, [*path, str(index)])


def collect(spec_name: str, referenced: set[str]) -> Iterator[Example]:
    """Every example of one spec, each paired with its parser."""
    spec = specs.load_spec(spec_name)
    components = spec.get("components") or {}

    def media_of(where: str, content: dict[str, Any], status: str | None) -> Iterator[Example]:
        for media_type, media in (content or {}).items():
            parser = _media_parser(spec, spec_name, media)
            for name, value in _media_examples(spec, media, referenced):
                is_error = status is not None and (status[0] in "45" or status == "default")
                yield Example(
                    spec_name,
                    f"{where}/{media_type}/{name}",
                    value,
                    ERROR if is_error else parser,
                    status=status,
                )

    for path, item in (spec.get("paths") or {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            where = f"{method.upper()} {path}"
            for parameter in operation.get("parameters") or []:
                schema = parameter.get("schema") or {}
                if schema.get("example") is not None:
                    kind = UUID if schema.get("format") == "uuid" else str
                    yield Example(
                        spec_name, f"{where} ?{parameter['name']}", schema["example"], kind
                    )
            body = operation.get("requestBody") or {}
            if "$ref" in body:
                continue  # a shared body: checked once under components/requestBodies
            yield from media_of(f"{where} request", body.get("content"), None)
            for status, response in (operation.get("responses") or {}).items():
                if "$ref" in response:
                    continue  # checked under components/responses
                yield from media_of(f"{where} {status}", response.get("content"), str(status))

    for name, body in (components.get("requestBodies") or {}).items():
        yield from media_of(f"requestBodies/{name}", body.get("content"), None)
    for name, response in (components.get("responses") or {}).items():
        content = response.get("content") or {}
        schemas = [m.get("schema", {}).get("$ref", "") for m in content.values()]
        status = str(name) if str(name)[0].isdigit() else None
        if status is None and any(ref.endswith("/ErrorResponse") for ref in schemas):
            status = "4XX"
        yield from media_of(f"responses/{name}", content, status)
    for name, parameter in (components.get("parameters") or {}).items():
        schema = parameter.get("schema") or {}
        if schema.get("example") is not None:
            kind = UUID if schema.get("format") == "uuid" else str
            yield Example(spec_name, f"parameters/{name}", schema["example"], kind)

    for name, schema in (components.get("schemas") or {}).items():
        parser = _schema_parser(spec_name, name)
        for path, value in _schema_examples(schema, []):
            if value is None:
                continue  # `example: null` means "no example"
            props = [path[i + 1] for i in range(len(path) - 1) if path[i] == "properties"]
            where = f"schemas/{name}/" + "/".join(path) if path else f"schemas/{name}"
            if props:
                yield Example(spec_name, where, value, parser, field=props[-1])
            else:
                yield Example(spec_name, where, value, parser)


def all_examples() -> tuple[list[Example], set[str], set[str]]:
    """(examples, component example names referenced, component example names defined)."""
    examples: list[Example] = []
    referenced: set[str] = set()
    defined: set[str] = set()
    for name in SPECS:
        found: set[str] = set()
        examples.extend(collect(name, found))
        referenced |= {f"{name}:{n}" for n in found}
        defined |= {
            f"{name}:{n}"
            for n in ((specs.load_spec(name).get("components") or {}).get("examples") or {})
        }
    return examples, referenced, defined


def _field_type(model: type[BaseModel], prop: str) -> Any:
    """The annotated type of the model field that reads JSON property `prop` (aliases too)."""
    for name, info in model.model_fields.items():
        aliases = {name}
        alias = info.validation_alias
        if isinstance(alias, str):
            aliases.add(alias)
        elif alias is not None and hasattr(alias, "choices"):
            aliases |= {c for c in alias.choices if isinstance(c, str)}
        if prop in aliases:
            return (
                Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
            )
    return None


def check(example: Example) -> Any:
    """Parse one example with its parser; return what was parsed."""
    parser, value = example.parser, example.value
    if parser is None:
        raise AssertionError(f"no model is mapped to {example.id}: add it to SCHEMA_PARSERS")
    if parser == ERROR:
        text = value if isinstance(value, str) else json.dumps(value)
        status = int(example.status) if example.status and example.status.isdigit() else 500
        message, _code = parse_error_body(text, status)
        assert message and not re.fullmatch(r"HTTP \d+", message), (example.id, message)
        return message
    if example.field is not None and isinstance(parser, type) and issubclass(parser, BaseModel):
        field_type = _field_type(parser, example.field)
        if field_type is None:
            # A property our model does not name is kept as an extra field: that must work too.
            parsed = parser.model_construct()
            assert parser.model_config.get("extra") == "allow", example.id
            return parsed
        adapter = TypeAdapter(field_type)
        try:
            return adapter.validate_python(value)
        except Exception:
            # An item-level example (`items: {example: ...}`) of a list field.
            return adapter.validate_python([value])
    if example.field is not None:
        # A property of a schema kept as a plain mapping (caiso / isone / nyiso).
        return TypeAdapter(parser).validate_python({example.field: value})
    if isinstance(parser, type) and issubclass(parser, RawModel):
        parsed = parser.parse(value)
        assert parsed.raw is value
        return parsed
    if isinstance(parser, type) and issubclass(parser, BaseModel):
        return parser.model_validate(value)
    if callable(parser) and not isinstance(parser, type):
        return parser(value)
    return TypeAdapter(parser).validate_python(value)


def _require_specs() -> None:
    if (
        not specs.specs_available()
        or not (specs.openapi_dir().parent / specs.ASYNCAPI_FILE).is_file()
    ):
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {specs.missing_specs_message()}")
        pytest.skip(specs.missing_specs_message())


EXAMPLES, REFERENCED, DEFINED = all_examples() if specs.specs_available() else ([], set(), set())


@pytest.mark.contract
@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_spec_example_parses(example):
    check(example)


@pytest.mark.contract
def test_every_spec_example_was_found_and_checked():
    _require_specs()
    # A walk that finds nothing would pass vacuously; Leap's four specs hold well over 200.
    assert len(EXAMPLES) > 200, len(EXAMPLES)
    assert {e.spec for e in EXAMPLES} == set(SPECS)
    unmapped = [e.id for e in EXAMPLES if e.parser is None]
    assert unmapped == []
    assert DEFINED - REFERENCED == set(), "component examples nobody references were not checked"
    kinds = {
        type(e.parser).__name__ if not isinstance(e.parser, type) else "model" for e in EXAMPLES
    }
    assert "model" in kinds and "str" in kinds  # models and error bodies were both exercised


@pytest.mark.contract
def test_leaps_defective_meter_example_still_parses():
    _require_specs()
    spec = specs.load_spec("meters")
    raw = spec["components"]["schemas"]["MeterDetailsResponse"]["example"]
    assert raw["connection_references"][0] == raw["connection_references"][1]
    assert raw["site"]["generator_fuel_type"] == ""
    meter = MeterDetail.parse(raw)
    assert meter.connection_references == raw["connection_references"]
    assert meter.site.generator_fuel_type is None
    # S-MET device names on site devices arrive under the newer names.
    assert meter.site.site_devices[0].battery_max_discharge_rate_kw == 7.5
    assert meter.site.site_devices[0].is_connected_to_solar is True


@pytest.mark.contract
def test_enrollment_search_example_with_nine_digit_sentinels_parses():
    _require_specs()
    spec = specs.load_spec("enrollments")
    page = spec["components"]["examples"]["enrollment-search"]["value"]
    enrollments = [MeterEnrollment.parse(raw) for raw in page["meters"]]
    ends = {p.end_time.year for e in enrollments for p in e.participation_preferences}
    assert ends == {9000}
    assert enrollments[0].required_actions.leap[0].action_code == "LEAP_0001"


# --- the webhook event catalogue (AsyncAPI) ------------------------------------------------------

_OPENAPI_FOR = {
    "leap-webhooks-openapi-original.yml": "webhooks",
    "leap-dispatching-openapi-original.yml": "dispatching",
}


def asyncapi_messages() -> list[tuple[str, dict[str, Any]]]:
    if not specs.specs_available():
        return []
    try:
        catalogue = specs.load_asyncapi()
    except FileNotFoundError:
        return []
    return sorted((catalogue.get("components") or {}).get("messages", {}).items())


MESSAGES = asyncapi_messages()


@pytest.mark.contract
def test_the_event_catalogue_was_found():
    _require_specs()
    assert len(MESSAGES) >= 9, [name for name, _ in MESSAGES]


@pytest.mark.contract
@pytest.mark.parametrize(("name", "message"), MESSAGES, ids=[name for name, _ in MESSAGES])
def test_webhook_event_payload_of_the_catalogue_parses(name, message):
    payload = message["payload"]
    file_name, pointer = payload["x-openapi-schema"].split("#", 1)
    spec = specs.load_spec(_OPENAPI_FOR[file_name.rsplit("/", 1)[-1]])
    schema = specs.resolve_ref(spec, f"#{pointer}")
    sample = specs.sample_from_schema(spec, schema)
    const = (payload.get("properties") or {}).get("webhook_event_type", {}).get("const")

    if const is not None:
        # Webhook platform: Leap wraps every payload in {webhook_event_id, payload}.
        sample["webhook_event_type"] = const
        event = WebhookEvent.parse(
            {"webhook_event_id": "31f6b61a-712e-42e7-83af-ea441777a32f", "payload": sample}
        )
        assert event.payload.webhook_event_type == message["name"] == const
        # Every field of the event landed on a named model field, none only as an extra.
        assert event.payload.extra_fields == {}, event.payload.extra_fields
        for field_name in sample:
            assert getattr(event.payload, field_name) not in (None, []), field_name
    else:
        # Dispatch: the catalogue shows the bare item; Leap documents it inside the wrapper.
        level = "meter_dispatches" if "meter_id" in sample else "group_dispatches"
        item = (MeterDispatch if level == "meter_dispatches" else GroupDispatch).parse(sample)
        assert item.timeslots and item.timeslots[0].event_id
        wrapped = DispatchNotification.parse(
            {"integration_test_notification": False, "communication_test": False, level: [sample]}
        )
        assert len(getattr(wrapped, level)) == 1
