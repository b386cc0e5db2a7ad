"""Where Leap's published specs are, and how to read them safely.

The specs are Leap's and are never committed here: they are found through the setting
`LEAP_OPENAPI_DIR` (default `../shared/leap-api/openapi` next to the repository). Tests that need
them skip with `MISSING_SPECS` when the folder is absent, and fail under CI=true.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import yaml

MISSING_SPECS = (
    "Leap's OpenAPI specs are not at {path}. Get them from the team share (shared/leap-api/openapi, "
    "Leap publishes them at https://developer.leap.energy/) and point LEAP_OPENAPI_DIR at the folder."
)

# The specs this project reads (file stem -> what it covers).
SPEC_NAMES = ("meters", "enrollments", "dispatching", "webhooks", "create-meters", "settlement")
ASYNCAPI_FILE = "webhook-events-asyncapi.yml"


class SpecLoader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver.

    Unquoted `2024-01-01T00:00:11Z` stays a string, as it is on the wire, instead of becoming a
    datetime that then breaks json.dumps and hides Leap's exact spelling (nine-digit fractions).
    """


SpecLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def openapi_dir() -> Path:
    """The folder holding Leap's OpenAPI specs (setting LEAP_OPENAPI_DIR, else the default)."""
    configured: str | os.PathLike[str] | None = None
    try:
        # Imported here, not at the top: leap/ is usable without Django (the simulator loads the
        # specs standalone); the setting is read when Django is there and configured.
        from django.conf import settings

        if settings.configured:
            configured = getattr(settings, "LEAP_OPENAPI_DIR", None)
            base = Path(settings.BASE_DIR)
        else:  # pragma: no cover - only outside Django
            base = Path(__file__).resolve().parent.parent
    except ImportError:  # pragma: no cover - Django is always installed here
        base = Path(__file__).resolve().parent.parent
    configured = configured or os.environ.get("LEAP_OPENAPI_DIR")
    path = Path(configured) if configured else base.parent / "shared" / "leap-api" / "openapi"
    if not path.is_absolute():
        path = base / path
    return path.resolve()


def specs_available() -> bool:
    """True when the specs folder exists and holds the specs this project reads."""
    folder = openapi_dir()
    return all((folder / f"{name}.yml").is_file() for name in SPEC_NAMES)


def missing_specs_message() -> str:
    """The message tests skip (or fail, under CI) with when the specs are absent."""
    return MISSING_SPECS.format(path=openapi_dir())


def load_yaml(path: Path) -> Any:
    """Parse one YAML file with SpecLoader."""
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=SpecLoader)  # noqa: S506 - SpecLoader is a SafeLoader


@functools.cache
def _load_cached(path: str) -> dict[str, Any]:
    """Parse a spec file once per process."""
    spec: dict[str, Any] = load_yaml(Path(path))
    return spec


def load_spec(name: str) -> dict[str, Any]:
    """One of Leap's specs by stem ("meters", "dispatching", ...) as a dict (cached; do not mutate).

    Raises FileNotFoundError with `missing_specs_message()` when it is absent.
    """
    stem = name.removesuffix(".yml").removesuffix(".yaml")
    path = openapi_dir() / f"{stem}.yml"
    if not path.is_file():
        raise FileNotFoundError(missing_specs_message())
    return _load_cached(str(path))


def load_asyncapi() -> dict[str, Any]:
    """The webhook event catalogue (AsyncAPI) that sits next to the OpenAPI folder."""
    path = openapi_dir().parent / ASYNCAPI_FILE
    if not path.is_file():
        raise FileNotFoundError(missing_specs_message())
    return _load_cached(str(path))


def resolve_ref(spec: dict[str, Any], ref: str) -> Any:
    """The node a local `$ref` ("#/components/schemas/X") points at."""
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs are supported, got {ref!r}")
    node: Any = spec
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


_SAMPLE_FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "uuid": "00000000-0000-4000-8000-000000000001",
    "uri": "https://example.com/leap",
    "email": "someone@example.com",
}


def sample_from_schema(spec: dict[str, Any], schema: dict[str, Any], *, depth: int = 0) -> Any:
    """A value that fits `schema`, built from its examples, enums and formats.

    Used where Leap publishes a schema but no example (the webhook event payloads): every
    property, optional or not, is filled, so that parsing the sample exercises every field.
    """
    if depth > 12:
        return None
    if "$ref" in schema:
        return sample_from_schema(spec, resolve_ref(spec, schema["$ref"]), depth=depth + 1)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = sample_from_schema(spec, part, depth=depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        if "properties" in schema:
            merged.update(
                sample_from_schema(spec, {"properties": schema["properties"]}, depth=depth + 1)
            )
        return merged
    for key in ("oneOf", "anyOf"):
        if key in schema and schema[key]:
            return sample_from_schema(spec, schema[key][0], depth=depth + 1)
    if schema.get("example") is not None:
        return schema["example"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {
            name: sample_from_schema(spec, prop, depth=depth + 1)
            for name, prop in (schema.get("properties") or {}).items()
        }
    if kind == "array":
        return [sample_from_schema(spec, schema.get("items") or {}, depth=depth + 1)]
    if kind == "string":
        return _SAMPLE_FORMATS.get(schema.get("format", ""), "sample")
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return float(max(1, schema.get("minimum", 1)))
    if kind == "boolean":
        return True
    return None
