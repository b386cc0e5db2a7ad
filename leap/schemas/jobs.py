"""Create meters v1.1: jobs and provisional assets."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import Field, field_validator

from leap.schemas.base import (
    LeapModel,
    OptDatetime,
    OptStr,
    RawModel,
    StrList,
    empty_to_none,
    none_to_list,
)


def _str_map(value: Any) -> Any:
    """`failed_fields` as {field: message}; null becomes {}, non-string messages become text."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}
    return value


class StatusDetail(LeapModel):
    """Why an asset ended as it did: `name` (METER_CREATED, ADDRESS_NOT_FOUND...) and text."""

    name: OptStr = None
    description: OptStr = None
    failed_fields: dict[str, str] = Field(default_factory=dict)

    _maps = field_validator("failed_fields", mode="before")(_str_map)


class AssetUploadStatus(RawModel):
    """One asset of a create-meters job (`AssetUploadStatus`)."""

    partner_reference: OptStr = None
    status: str
    status_detail: StatusDetail = Field(default_factory=StatusDetail)
    created_at: OptDatetime = None
    meter_id: UUID | None = None

    _empty_ids = field_validator("meter_id", mode="before")(empty_to_none)
    _empty_detail = field_validator("status_detail", mode="before")(
        lambda v: {} if v is None else v
    )


class MeterJob(RawModel):
    """A create-meters job as listed (`Job`)."""

    job_id: UUID
    status: str
    file_name: OptStr = None
    assets_count: int | None = None
    assets_created_count: int | None = None
    assets_updated_count: int | None = None
    assets_failed_count: int | None = None
    transmission_regions: StrList = Field(default_factory=list)
    created_at: OptDatetime = None
    updated_at: OptDatetime = None


class MeterJobDetail(MeterJob):
    """`GET /v1.1/jobs/meters/{job_id}`: the job and each asset's outcome (`JobAndAssets`)."""

    assets: list[AssetUploadStatus] = Field(default_factory=list)

    _none_lists = field_validator("assets", mode="before")(none_to_list)


class ProvisionalAsset(AssetUploadStatus):
    """An asset of any job, with the data it was sent with (`ProvisionalAsset`)."""

    job_id: UUID | None = None
    data: dict[str, Any] | None = None


class MeterJobPage(LeapModel):
    """A page of `GET /v1.1/jobs/meters`."""

    jobs: list[dict[str, Any]] = Field(default_factory=list)
    next_page_token: OptStr = None

    _none_lists = field_validator("jobs", mode="before")(none_to_list)


class ProvisionalAssetPage(LeapModel):
    """A page of `GET /v1.1/provisional-assets`."""

    provisional_assets: list[dict[str, Any]] = Field(default_factory=list)
    next_page_token: OptStr = None

    _none_lists = field_validator("provisional_assets", mode="before")(none_to_list)


class FilterOption(LeapModel):
    """One filter key and its values (`KeyValueFilter`)."""

    key: str
    values: StrList = Field(default_factory=list)


class FilterOptions(LeapModel):
    """`GET /v1.1/jobs/meter-job-filters` and `/v1.1/provisional-assets-filters`."""

    filter_options: list[FilterOption] = Field(default_factory=list)

    _none_lists = field_validator("filter_options", mode="before")(none_to_list)


class CreateMeterJobResponse(LeapModel):
    """`{job_id}` answered by `POST /v1.1/jobs/meters` (201)."""

    job_id: UUID
