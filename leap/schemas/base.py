"""Field types and the base models every Leap payload model builds on."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from leap.errors import LeapBadPayload


def empty_to_none(value: Any) -> Any:
    """Leap sends "" and null interchangeably for absent optional strings."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _as_utc(value: datetime) -> datetime:
    """Aware UTC from whatever offset Leap used; a naive datetime is read as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _as_utc_or_none(value: datetime | None) -> datetime | None:
    """_as_utc for optional datetimes."""
    return None if value is None else _as_utc(value)


def none_to_list(value: Any) -> Any:
    """Leap sends null for an empty list in places (`market_group_event_ids: null`)."""
    return [] if value is None else value


OptStr = Annotated[str | None, BeforeValidator(empty_to_none)]
StrList = Annotated[list[str], BeforeValidator(none_to_list)]
UUIDList = Annotated[list[UUID], BeforeValidator(none_to_list)]


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
OptDatetime = Annotated[
    datetime | None, BeforeValidator(empty_to_none), AfterValidator(_as_utc_or_none)
]
OptDate = Annotated[date | None, BeforeValidator(empty_to_none)]


class LeapModel(BaseModel):
    """Base of every Leap payload model: keeps unknown fields, tolerant of Leap's drift."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=False)

    @property
    def extra_fields(self) -> dict[str, Any]:
        """Fields Leap sent that this model does not know (kept, for storage and diagnostics)."""
        return dict(self.__pydantic_extra__ or {})


class RawModel(LeapModel):
    """A top-level Leap object: `.raw` is the exact dict Leap sent."""

    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_raw(cls, data: Any, handler: Any) -> Any:
        """Keep the dict Leap sent on the object after validating it."""
        obj = handler(data)
        if isinstance(data, dict):
            # The private-attribute dict directly: pydantic's __setattr__/__getattr__ for a
            # private name showed in the sync's profile (every object, read several times).
            obj.__pydantic_private__["_raw"] = data
        return obj

    @property
    def raw(self) -> dict[str, Any]:
        """The dict exactly as Leap sent it (not a copy: do not mutate)."""
        private = self.__pydantic_private__
        assert private is not None  # always a dict: _raw has a default factory
        raw: dict[str, Any] = private["_raw"]
        return raw

    @classmethod
    def parse(cls, raw: Any) -> Any:
        """Validate one object from Leap, raising LeapBadPayload (with the raw object) on failure."""
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise bad_payload(cls, raw, exc) from exc


def bad_payload(model: type[BaseModel], raw: Any, exc: ValidationError) -> LeapBadPayload:
    """A LeapBadPayload describing why `raw` failed to validate as `model`."""
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    summary = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(object)'}: {e['msg']}" for e in errors[:5]
    )
    ident = raw.get("meter_id") if isinstance(raw, dict) else None
    label = f" {ident}" if isinstance(ident, str) else ""
    return LeapBadPayload(
        f"{model.__name__}{label} does not validate: {summary}",
        raw=raw,
        errors=errors,
        model=model.__name__,
    )
