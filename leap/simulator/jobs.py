"""Create-meters jobs in the simulator (create-meters.yml v1.1: POST /v1.1/jobs/meters, then poll).

A job is accepted at once (201 `{job_id}`) with every asset PROCESSING, and processed when the
simulator's clock has moved `job_seconds` past its creation (on the next read of the job, the
next listing, or `advance()`): then each asset gets its own outcome from its data:

- a partner_reference given twice in one job: MULTIPLE_PARTNER_REFERENCE for the later ones;
- a field with a format Leap refuses (postal code, e-mail, ...): FAILED / VALIDATION_ERROR,
  with the fields in `failed_fields`;
- a street without a house number: FAILED / ADDRESS_INCOMPLETE; a state the transmission region
  does not serve: FAILED / UNSUPPORTED_ADDRESS; a postal code the simulator's address book does
  not know for that state (its first two digits): FAILED / ADDRESS_NOT_FOUND;
- a partner_reference a meter already has: DUPLICATE / DUPLICATE_REF_ID, unless the job was sent
  with `update_existing`, which updates that meter (COMPLETED / METER_UPDATED);
- otherwise a new meter joins the portfolio (COMPLETED / METER_CREATED, with its meter_id) and
  `meter.created` is sent to the webhook subscribers, so the partner's meter sync picks it up.

The job then reads COMPLETED, COMPLETED_WITH_ERRORS (some assets failed) or FAILED (all did).
Missing required fields, wrong types and values outside an enum refuse the whole batch with a 400
whose `details` is an array (the schema says object), as Leap's example shows.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from leap import create_meters as cm

from . import catalog
from .meter_state import iso

if TYPE_CHECKING:
    from .meter_state import MeterState
    from .simulator import Simulator

# Which states each region's utilities serve, and the postal-code prefixes known per state.
REGION_STATES: dict[str, set[str]] = {}
STATE_PREFIXES: dict[str, set[str]] = {}
for _region in catalog.REGIONS:
    for _utility in _region.utilities:
        for _city, _state, _postal in _utility.cities:
            REGION_STATES.setdefault(_region.code, set()).add(_state)
            STATE_PREFIXES.setdefault(_state, set()).add(_postal[:2])
FAILED_STATUSES = ("FAILED", "DUPLICATE", "MULTIPLE_PARTNER_REFERENCE")


@dataclass
class JobAsset:
    """One asset of a job as Leap tracks it (a provisional asset)."""

    data: dict[str, Any]
    created_at: datetime
    status: str = "PROCESSING"
    detail: dict[str, Any] = field(default_factory=dict)
    meter_id: str | None = None

    def json(self, job_id: str, *, with_data: bool = False) -> dict[str, Any]:
        """The `AssetUploadStatus` (or `ProvisionalAsset` with data) object."""
        out: dict[str, Any] = {
            "partner_reference": str(self.data.get("partner_reference") or ""),
            "status": self.status,
            "status_detail": dict(self.detail),
            "created_at": iso(self.created_at, millis=True),
        }
        if self.meter_id:
            out["meter_id"] = self.meter_id
        if with_data:
            out["job_id"] = job_id
            out["data"] = self.data
        return out


@dataclass
class Job:
    """A create-meters job."""

    job_id: str
    file_name: str
    update_existing: bool
    created_at: datetime
    due: datetime
    assets: list[JobAsset]
    status: str = "PROCESSING"
    updated_at: datetime | None = None
    created: int = 0
    updated: int = 0
    failed: int = 0

    def json(self, *, with_assets: bool) -> dict[str, Any]:
        """The `Job` (or `JobAndAssets`) object."""
        regions = sorted({str(a.data.get("transmission_region")) for a in self.assets})
        out: dict[str, Any] = {
            "job_id": self.job_id,
            "status": self.status,
            "file_name": self.file_name,
            "assets_count": len(self.assets),
            "assets_created_count": self.created,
            "assets_updated_count": self.updated,
            "assets_failed_count": self.failed,
            "transmission_regions": [r for r in regions if r in cm.TRANSMISSION_REGIONS],
            "created_at": iso(self.created_at, millis=True),
            "updated_at": iso(self.updated_at or self.created_at, millis=True),
        }
        if with_assets:
            out["assets"] = [a.json(self.job_id) for a in self.assets]
        return out


class BatchRefused(Exception):
    """The whole batch is refused (400): `details` as Leap's array."""

    def __init__(self, title: str, details: list[dict[str, Any]]) -> None:
        super().__init__(title)
        self.title = title
        self.details = details


def _detail(name: str, description: str, failed: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "description": description}
    if failed:
        out["failed_fields"] = failed
    return out


class Jobs:
    """The create-meters side of one simulator."""

    def __init__(self, sim: Simulator, job_seconds: float) -> None:
        self.sim = sim
        self.job_delay = timedelta(seconds=job_seconds)
        self.jobs: dict[str, Job] = {}
        self.order: list[str] = []
        self.tokens: dict[str, dict[str, Any] | None] = {}  # onboarding token -> its result
        self._references: dict[str, str] | None = None  # partner_reference -> meter_id

    # --- partner references ---------------------------------------------------------------------

    def _reference_index(self) -> dict[str, str]:
        if self._references is None:
            portfolio = self.sim.portfolio
            gen = portfolio.generator
            index: dict[str, str] = {}
            for i in range(portfolio.base_size):
                core = gen.core(i)
                if core.has_reference and i not in portfolio.overlay:
                    ref = f"{core.region.code[:2]}-{core.utility.code}-{i:07d}"
                    index[ref] = gen.meter_id(i)
            for state in portfolio.overlay.values():
                if state.partner_reference:
                    index[state.partner_reference] = state.meter_id
            self._references = index
        return self._references

    def meter_for_reference(self, reference: str) -> str | None:
        """The meter holding a partner_reference, None if none does."""
        meter_id = self._reference_index().get(reference)
        if meter_id is None or self.sim.portfolio.index_of(meter_id) is None:
            return None
        state = self.sim.portfolio.get_by_id(meter_id)
        if state is None or state.partner_reference != reference:
            return None
        return meter_id

    # --- accepting ------------------------------------------------------------------------------

    @staticmethod
    def check_batch(body: Any) -> list[dict[str, Any]]:
        """The assets of a batch body, or BatchRefused with Leap's details array."""
        if not isinstance(body, dict) or not isinstance(body.get("assets"), list):
            raise BatchRefused(
                "Invalid request body",
                [{"message": "The body must be a JSON object with an assets array"}],
            )
        assets: list[dict[str, Any]] = body["assets"]
        if not assets:
            raise BatchRefused(
                "Invalid request body",
                [{"message": "assets must hold at least one asset", "problem_field": "assets"}],
            )
        if len(assets) > cm.MAX_JOB_ASSETS:
            raise BatchRefused(
                "Too many assets",
                [
                    {
                        "message": f"A job holds at most {cm.MAX_JOB_ASSETS} assets, "
                        f"got {len(assets)}",
                        "problem_field": "assets",
                    }
                ],
            )
        details = []
        for position, asset in enumerate(assets):
            for problem in cm.structural_problems(asset):
                item: dict[str, Any] = {"message": problem.message, "json_index": position}
                if problem.field:
                    item["problem_field"] = problem.field
                details.append(item)
        if details:
            raise BatchRefused("Invalid assets", details)
        return assets

    def create(
        self, assets: list[dict[str, Any]], *, update_existing: bool, file_name: str | None
    ) -> Job:
        """Accept a batch: a new job, every asset PROCESSING."""
        now = self.sim.now
        job_id = self.sim._next_id("meter-job")
        job = Job(
            job_id=job_id,
            file_name=file_name or f"{job_id}.json",
            update_existing=update_existing,
            created_at=now,
            due=now + self.job_delay,
            assets=[JobAsset(copy.deepcopy(a), now) for a in assets],
        )
        self.jobs[job_id] = job
        self.order.append(job_id)
        return job

    # --- processing -----------------------------------------------------------------------------

    def process_due(self) -> int:
        """Process every job whose time has come; returns how many were."""
        now = self.sim.now
        done = 0
        for job_id in self.order:
            job = self.jobs[job_id]
            if job.status == "PROCESSING" and job.due <= now:
                self._process(job)
                done += 1
        return done

    def _process(self, job: Job) -> None:
        seen: set[str] = set()
        for asset in job.assets:
            self._outcome(asset, job.update_existing, seen)
        job.created = sum(1 for a in job.assets if a.detail.get("name") == "METER_CREATED")
        job.updated = sum(1 for a in job.assets if a.detail.get("name") == "METER_UPDATED")
        job.failed = sum(1 for a in job.assets if a.status in FAILED_STATUSES)
        if job.failed == len(job.assets):
            job.status = "FAILED"
        elif job.failed:
            job.status = "COMPLETED_WITH_ERRORS"
        else:
            job.status = "COMPLETED"
        job.updated_at = self.sim.now

    def _outcome(self, asset: JobAsset, update_existing: bool, seen: set[str]) -> None:
        data = asset.data
        reference = str(data.get("partner_reference"))
        if reference in seen:
            asset.status = "MULTIPLE_PARTNER_REFERENCE"
            asset.detail = _detail(
                "DUPLICATE_REF_ID",
                f"Partner reference {reference} appears more than once in this job; "
                "only its first asset was processed.",
                {"partner_reference": "given more than once in this job"},
            )
            return
        seen.add(reference)
        problems = cm.field_problems(data)
        if problems:
            asset.status = "FAILED"
            asset.detail = _detail(
                "VALIDATION_ERROR",
                "Some fields have a format Leap does not accept.",
                {p.field: p.message for p in problems},
            )
            return
        address = self._address_problem(data)
        if address is not None:
            asset.status = "FAILED"
            asset.detail = address
            return
        existing = self.meter_for_reference(reference)
        if existing is not None:
            if not update_existing:
                asset.status = "DUPLICATE"
                asset.detail = _detail(
                    "DUPLICATE_REF_ID",
                    f"Partner reference ID found on meter ID {existing}. "
                    "A unique reference ID is required.",
                    {"partner_reference": f"already used by meter {existing}"},
                )
                return
            self._update_meter(existing, data)
            asset.status, asset.meter_id = "COMPLETED", existing
            asset.detail = _detail("METER_UPDATED", "The existing meter was updated.")
            return
        state = self.create_meter(data)
        asset.status, asset.meter_id = "COMPLETED", state.meter_id
        asset.detail = _detail("METER_CREATED", "A new meter was created.")

    @staticmethod
    def _address_problem(data: dict[str, Any]) -> dict[str, Any] | None:
        customer = data.get("customer") or {}
        street = str(customer.get("street_1") or "")
        if not any(ch.isdigit() for ch in street):
            return _detail(
                "ADDRESS_INCOMPLETE",
                "The street address has no house number.",
                {"customer.street_1": "no house number"},
            )
        region = str(data.get("transmission_region"))
        state = str(customer.get("state_or_province_code") or "").upper()
        if state not in REGION_STATES.get(region, set()):
            return _detail(
                "UNSUPPORTED_ADDRESS",
                f"{state} is not served in {region}.",
                {"customer.state_or_province_code": f"not in {region}"},
            )
        postal = str(customer.get("postal_code") or "")
        if postal[:2] not in STATE_PREFIXES.get(state, set()):
            return _detail(
                "ADDRESS_NOT_FOUND",
                f"No address found for postal code {postal} in {state}.",
                {"customer.postal_code": "address not found"},
            )
        return None

    def create_meter(self, data: dict[str, Any]) -> MeterState:
        """A new meter from an asset's data (PENDING in its region's programs); meter.created."""
        sim = self.sim
        state = sim.add_meter(
            region=str(data["transmission_region"]),
            partner_reference=str(data["partner_reference"]),
            status="PENDING",
            emit=False,
        )
        with sim.lock:
            self._apply(state, data)
            self._reference_index()[str(data["partner_reference"])] = state.meter_id
            sim._emit("meter.created", state, {})
        return state

    def _update_meter(self, meter_id: str, data: dict[str, Any]) -> None:
        with self.sim.lock:
            state = self.sim.portfolio.materialise(meter_id)
            self._apply(state, data)
            self.sim._touch(state)

    @staticmethod
    def _apply(state: MeterState, data: dict[str, Any]) -> None:
        state.customer_classification = str(data["customer_classification"])
        state.load_types = list(data["load_types"])
        state.meter_type = str(data["meter_type"])
        if data.get("customer_group"):
            state.customer_group = str(data["customer_group"])
        details = copy.deepcopy(state.details)
        customer = dict(details.get("customer") or {})
        for key, value in (data.get("customer") or {}).items():
            if cm.BY_PATH.get(f"customer.{key}") is not None and key != "billing":
                customer[key] = value
        details["customer"] = customer
        if isinstance(data.get("device"), dict):
            device = dict(details.get("device") or {})
            device.update({k: v for k, v in data["device"].items() if f"device.{k}" in cm.BY_PATH})
            details["device"] = device
        if isinstance(data.get("utility"), dict) and details.get("utility") is not None:
            details["utility"].update(
                {k: v for k, v in data["utility"].items() if f"utility.{k}" in cm.BY_PATH}
            )
        state.details_ = details

    # --- single create with an onboarding token ---------------------------------------------------

    def issue_token(self) -> str:
        """A new onboarding token (what Leap's onboarding service hands the partner)."""
        token = "onb." + uuid.uuid4().hex
        self.tokens[token] = None
        return token

    def create_single(
        self, token: str, asset: dict[str, Any], *, update_existing: bool
    ) -> dict[str, Any]:
        """Process one asset now; the same token again answers the same provisional asset."""
        previous = self.tokens[token]
        if previous is not None:
            return previous
        job = self.create([asset], update_existing=update_existing, file_name=None)
        job.due = self.sim.now
        self._process(job)
        result = job.assets[0].json(job.job_id, with_data=True)
        self.tokens[token] = result
        return result

    # --- reading --------------------------------------------------------------------------------

    def provisional_assets(self) -> list[dict[str, Any]]:
        """Every asset of every job, newest job first."""
        out: list[dict[str, Any]] = []
        for job_id in reversed(self.order):
            job = self.jobs[job_id]
            out.extend(a.json(job_id, with_data=True) for a in job.assets)
        return out
