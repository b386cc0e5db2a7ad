"""Create meters v1.1: create-meters jobs, their listings, and creating one meter."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any
from uuid import UUID

from leap.client.core import MAX_PAGE_SIZE, ClientCore, T
from leap.create_meters import MAX_JOB_ASSETS
from leap.schemas import (
    CreateMeterJobResponse,
    FilterOptions,
    MeterJob,
    MeterJobDetail,
    MeterJobPage,
    ProvisionalAsset,
    ProvisionalAssetPage,
)


class CreateMetersAPI(ClientCore):
    """Create meters v1.1."""

    def create_meter_job(
        self,
        assets: list[dict[str, Any]],
        *,
        update_existing: bool = False,
        file_name: str | None = None,
    ) -> UUID:
        """`POST /v1.1/jobs/meters`: start a create-meters job; returns its job id.

        Not idempotent (Leap has no idempotency keys): only failures that prove Leap did not
        act are retried here. A caller that gets LeapUnavailable must find out whether the job
        exists (`find_meter_jobs(file_name=...)`) before sending it again. A 400 raises
        LeapRejected whose `details` lists `{message, json_index, problem_field}` per problem.
        """
        if not assets:
            raise ValueError("a create-meters job needs at least one asset")
        if len(assets) > MAX_JOB_ASSETS:
            raise ValueError(f"at most {MAX_JOB_ASSETS} assets per job, got {len(assets)}")
        params: dict[str, str] = {"update_existing": "true" if update_existing else "false"}
        if file_name is not None:
            if (
                not re.fullmatch(r"[a-zA-Z0-9._\s-]+\.[a-zA-Z0-9]+", file_name)
                or len(file_name) > 255
            ):
                raise ValueError(f"file_name {file_name!r} does not match Leap's file name rule")
            params["file_name"] = file_name
        path = "/v1.1/jobs/meters"
        data = self._send(
            "POST", path, json_body={"assets": assets}, params=params, idempotent=False
        )
        return self._envelope(CreateMeterJobResponse, data, "POST", path).job_id

    def get_meter_job(self, job_id: UUID | str) -> MeterJobDetail:
        """`GET /v1.1/jobs/meters/{job_id}`: the job's status and every asset's outcome."""
        path = f"/v1.1/jobs/meters/{UUID(str(job_id))}"
        return self._parse_one(MeterJobDetail, self._send("GET", path), "GET", path)

    @staticmethod
    def _filter_params(
        filters: dict[str, Iterable[str]] | None,
        search_query: str | None,
        search_fields: Iterable[str] | None,
        page_size: int,
    ) -> list[tuple[str, str]]:
        """Query parameters of Leap's listing endpoints: `filter=key:v1,v2` (AND across keys,
        IN within one), free-text search and paging."""
        params: list[tuple[str, str]] = []
        for key, values in (filters or {}).items():
            values = [str(v) for v in values]
            if values:
                params.append(("filter", f"{key}:{','.join(values)}"))
        if search_query:
            fields = list(search_fields or ())
            if not fields:
                raise ValueError("search_fields are required with search_query")
            params.append(("search_query", search_query))
            params.extend(("search_fields", f) for f in fields)
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        params.append(("page_size", str(page_size)))
        return params

    def _iter_listing(
        self,
        path: str,
        envelope: type[Any],
        key: str,
        model: type[T],
        params: list[tuple[str, str]],
    ) -> Iterator[T]:
        """Every object of a GET listing paged with `page_token` query parameters."""
        token: str | None = None
        while True:
            query = params + ([("page_token", token)] if token else [])
            data = self._send("GET", path, params=query, page_token=token)
            parsed = self._envelope(envelope, data, "GET", path)
            for raw in getattr(parsed, key):
                yield self._parse_one(model, raw, "GET", path)
            next_token = parsed.next_page_token or None
            if not next_token:
                return
            self._check_progress(path, token, next_token)
            token = next_token

    def iter_meter_jobs(
        self,
        filters: dict[str, Iterable[str]] | None = None,
        *,
        search_query: str | None = None,
        search_fields: Iterable[str] | None = None,
        page_size: int = 100,
    ) -> Iterator[MeterJob]:
        """`GET /v1.1/jobs/meters`: every job matching the filters (keys from
        `meter_job_filters()`: status, transmission_region, file_name)."""
        params = self._filter_params(filters, search_query, search_fields, page_size)
        return self._iter_listing("/v1.1/jobs/meters", MeterJobPage, "jobs", MeterJob, params)

    def find_meter_jobs(self, file_name: str) -> list[MeterJob]:
        """The jobs Leap holds under exactly this file name (how a lost job id is recovered)."""
        return [
            job
            for job in self.iter_meter_jobs({"file_name": [file_name]})
            if job.file_name == file_name
        ]

    def meter_job_filters(self) -> dict[str, list[str]]:
        """`GET /v1.1/jobs/meter-job-filters`: filter key -> the values it accepts."""
        path = "/v1.1/jobs/meter-job-filters"
        parsed = self._envelope(FilterOptions, self._send("GET", path), "GET", path)
        return {option.key: list(option.values) for option in parsed.filter_options}

    def iter_provisional_assets(
        self,
        filters: dict[str, Iterable[str]] | None = None,
        *,
        search_query: str | None = None,
        search_fields: Iterable[str] | None = None,
        page_size: int = 100,
    ) -> Iterator[ProvisionalAsset]:
        """`GET /v1.1/provisional-assets`: the assets of every job (filters: status,
        transmission_region, partner_reference, job_id)."""
        params = self._filter_params(filters, search_query, search_fields, page_size)
        return self._iter_listing(
            "/v1.1/provisional-assets",
            ProvisionalAssetPage,
            "provisional_assets",
            ProvisionalAsset,
            params,
        )

    def create_meter(
        self, onboarding_token: str, asset: dict[str, Any], *, update_existing: bool = False
    ) -> ProvisionalAsset:
        """`POST /v1.1/meters`: create one meter synchronously with a Leap onboarding token.

        The token carries Leap's de-duplication key, so sending the same token again is safe;
        it is still retried only when Leap provably did not act. A 200 may describe a failure
        (`status` FAILED/DUPLICATE); a 400 raises LeapRejected with `details` = Leap's `errors`.
        """
        if not onboarding_token:
            raise ValueError("an onboarding token is required")
        path = "/v1.1/meters"
        data = self._send(
            "POST",
            path,
            json_body={"onboarding_token": onboarding_token, "provisional_asset": asset},
            params={"update_existing": "true" if update_existing else "false"},
            idempotent=False,
        )
        return self._parse_one(ProvisionalAsset, data, "POST", path)
