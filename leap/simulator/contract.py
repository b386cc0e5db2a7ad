"""Checks that what the simulator answers is what Leap's OpenAPI specs promise (openapi-core).

Used by the `leap_sim` pytest fixture (a validating transport wrapper) and the contract tests.
Needs the test extras (openapi-core) and Leap's specs (leap.specs.openapi_dir()).
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass
from typing import Any

import httpx

from leap.specs import load_spec

# The spec's servers are Leap's hosts; dispatch's server URL already ends in /v2, its paths do not.
HOST = "https://api.staging.leap.energy"
# Faulted replies are deliberately off-contract (plain-text 500, torn JSON, explicit null token).
UNCHECKED_FAULTS = {"429", "500", "torn", "drop", "null_page_token", "expired_token"}
SPEC_FILES = ("meters", "enrollments", "dispatching", "webhooks", "settlement", "create-meters")
CREATE_METERS_PREFIXES = ("/v1.1/jobs", "/v1.1/meters", "/v1.1/provisional-assets")


def spec_for(path: str) -> str | None:
    """Which of Leap's specs describes a path (None: not Leap's, e.g. /_sim)."""
    if path.startswith("/v2/dispatch/"):
        return "dispatching"
    if path.startswith("/v1.1/webhooks"):
        return "webhooks"
    if path.startswith(("/v1.1/revenue/", "/v1.1/performance/")):
        return "settlement"
    if path.startswith(CREATE_METERS_PREFIXES):
        return "create-meters"
    if path.startswith("/v2/meters/enrollments/") or (
        path.startswith("/v2/meters/") and path.endswith("/enrollments")
    ):
        return "enrollments"
    if path.startswith("/v2/meters"):
        return "meters"
    return None


@functools.cache
def _openapi(name: str) -> Any:
    # openapi-core and jsonschema, here and below, are imported where used, not at the top: they
    # are test extras (`.[test]`, the tests alone check contracts), and this module is part of
    # the `leap` package that production installs without them.
    from openapi_core import Config, OpenAPI

    # The shipped specs validate (the one known spec problem is in nominations.yml, which the
    # simulator does not serve); skipping the spec validator saves seconds per session.
    return OpenAPI.from_dict(load_spec(name), config=Config(spec_validator_cls=None))


@functools.cache
def _error_schema(name: str) -> Any:
    """The service's own error envelope, for statuses its spec does not declare."""
    from jsonschema import Draft4Validator  # a test extra (see _openapi)

    schemas = load_spec(name)["components"]["schemas"]
    # settlement.yml names its envelope per status; every one has the same shape.
    schema = schemas.get("ErrorResponse") or schemas["ErrorResponseBadRequest"]
    return Draft4Validator(schema)


@dataclass
class _Request:
    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str

    def __post_init__(self) -> None:
        from openapi_core.datatypes import RequestParameters  # a test extra (see _openapi)

        self.parameters = RequestParameters()


@dataclass
class _Response:
    status_code: int
    content_type: str
    headers: dict[str, str]
    data: bytes


def check(method: str, path: str, status: int, headers: dict[str, str], body: bytes) -> list[str]:
    """Problems of one response against Leap's specs ([] when it conforms or is not Leap's)."""
    # test extras (see _openapi)
    from openapi_core.templating.paths.exceptions import PathError
    from openapi_core.templating.responses.exceptions import ResponseNotFound

    name = spec_for(path)
    lowered = {k.lower(): v for k, v in headers.items()}
    if name is None or lowered.get("x-simulator-fault") in UNCHECKED_FAULTS:
        return []
    if name == "settlement" and lowered.get("x-simulator-fault") == "extra_fields":
        # settlement.yml forbids additional properties everywhere, yet Leap adds fields without
        # a version bump: a reply with deliberate extra fields cannot conform.
        return []
    if name == "create-meters" and status == 400:
        array = _batch_details_problems(method, path, body)
        if array is not None:
            return array
    request = _Request(HOST, path, method.lower(), None, "application/json")
    response = _Response(status, lowered.get("content-type", "application/json"), lowered, body)
    try:
        _openapi(name).validate_response(request, response)
    except PathError:
        if status in (404, 405, 410):
            return _check_error(name, body, method, path, status)
        return [f"{method} {path} -> {status}: no such operation in {name}.yml"]
    except ResponseNotFound:
        return _check_error(name, body, method, path, status)
    except Exception as exc:  # noqa: BLE001 - every validation error is reported, not raised
        detail = "; ".join(str(e) for e in getattr(exc, "schema_errors", ()) or ()) or str(exc)
        return [f"{method} {path} -> {status}: {type(exc).__name__}: {detail}"[:2000]]
    return []


def _batch_details_problems(method: str, path: str, body: bytes) -> list[str] | None:
    """A create-meters batch 400 whose `details` is an array, checked item by item.

    Leap's own example of this 400 has `details` as an array of `ValidationError`, while the
    schema it points at (`ErrorResponse`) says object: the simulator sends
    what Leap sends, and each item must then be a ValidationError, the rest an ErrorResponse.
    None when the body is not that case (the normal check applies).
    """
    from jsonschema import Draft4Validator  # a test extra (see _openapi)

    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not (isinstance(data, dict) and isinstance(data.get("details"), list)):
        return None
    schemas = load_spec("create-meters")["components"]["schemas"]
    problems = [
        f"{method} {path} -> 400: {e.message}"
        for e in _error_schema("create-meters").iter_errors(
            {k: v for k, v in data.items() if k != "details"}
        )
    ]
    item_schema = Draft4Validator(schemas["ValidationError"])
    for index, item in enumerate(data["details"]):
        problems.extend(
            f"{method} {path} -> 400: details[{index}]: {e.message}"
            for e in item_schema.iter_errors(item)
        )
    return problems


def _check_error(name: str, body: bytes, method: str, path: str, status: int) -> list[str]:
    if status < 400:
        return [f"{method} {path} -> {status}: status not declared in {name}.yml"]
    try:
        data = json.loads(body)
    except ValueError:
        return [f"{method} {path} -> {status}: error body is not JSON"]
    errors = [e.message for e in _error_schema(name).iter_errors(data)]
    return [f"{method} {path} -> {status}: {e}" for e in errors]


class ValidatingTransport(httpx.BaseTransport):
    """Wraps a transport; every response is checked against the specs, problems collected."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.failures: list[str] = []
        self.checked = 0
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Forward, then check the response."""
        response = self.inner.handle_request(request)
        content = response.read()
        problems = check(
            request.method, request.url.path, response.status_code, dict(response.headers), content
        )
        with self._lock:
            self.checked += 1
            self.failures.extend(problems)
        return response
