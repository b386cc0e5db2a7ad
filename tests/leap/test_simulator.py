"""The simulator's portfolio and searches: determinism, paging, tokens, errors, auth, changes.

Deliveries, the other endpoints and the scenarios are in
test_simulator_{deliveries,endpoints,scenarios}.py.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest

from leap.simulator import Simulator
from tests.leap.simulator_fakes import BASE, NOW, all_pages, http


def test_the_portfolio_is_deterministic_for_seed_and_size():
    first = Simulator(seed=3, meters=60, now=NOW)
    again = Simulator(seed=3, meters=60, now=NOW)
    other = Simulator(seed=4, meters=60, now=NOW)
    ids = first.meter_ids()
    assert ids == again.meter_ids() and len(set(ids)) == 60
    assert set(ids).isdisjoint(other.meter_ids())
    assert first.meter(ids[17]).detail_json() == again.meter(ids[17]).detail_json()
    assert first.meter(ids[17]).enrollment_json() == again.meter(ids[17]).enrollment_json()


def test_searches_page_through_every_meter_exactly_once(sim):
    client = http(sim)
    pages = all_pages(client, "/v2/meters/search", {"page_size": 60})
    assert [len(p) for p in pages] == [60, 60, 60, 20]
    ids = [m["meter_id"] for page in pages for m in page]
    assert ids == sim.meter_ids()
    enrollment_ids = [
        m["meter_id"]
        for page in all_pages(client, "/v2/meters/enrollments/search", {"page_size": 500})
        for m in page
    ]
    assert enrollment_ids == ids


def test_page_tokens_are_opaque_bound_to_their_filters_and_expire(sim):
    client = http(sim)
    first = client.post("/v2/meters/search", json={"page_size": 10}).json()
    token = first["next_page_token"]
    assert "=" not in token and not token.isdigit()
    other_filter = client.post(
        "/v2/meters/search", json={"page_size": 10, "page_token": token, "exclude_archived": True}
    )
    assert other_filter.status_code == 400
    assert "page_token" in other_filter.json()["details"]
    garbage = client.post("/v2/meters/search", json={"page_token": "not-a-token"})
    assert garbage.status_code == 400
    sim.advance(minutes=61, changes=0)
    expired = client.post("/v2/meters/search", json={"page_size": 10, "page_token": token})
    assert expired.status_code == 400
    assert "expired" in expired.json()["details"]["page_token"]


@pytest.mark.parametrize(
    "body",
    [
        {"page_size": 501},
        {"page_size": 0},
        {"page_size": "10"},
        {"transmission_region": "MARS"},
        {"meter_ids": ["not-a-uuid"]},
        {"global_enrollment_statuses": []},
        {"last_modified_date_time": "yesterday"},
        {"last_modified_date_time": "2026-01-01T00:00:00"},
        {"exclude_archived": "yes"},
        [],
    ],
)
def test_bad_search_bodies_get_400_in_the_meters_envelope(sim, body):
    answer = http(sim).post("/v2/meters/search", json=body)
    assert answer.status_code == 400
    data = answer.json()
    assert data["status"] == 400 and data["title"] == "Bad Request"
    assert isinstance(data["details"], dict) and data["details"]


def test_get_meter_errors_follow_leap(sim):
    client = http(sim)
    bad = client.get("/v2/meters/not-a-uuid")
    assert bad.status_code == 400 and bad.json()["details"] == {"meter_id": "not-a-uuid"}
    missing_id = "00000000-0000-4000-8000-000000000000"
    missing = client.get(f"/v2/meters/{missing_id}/enrollments")
    assert missing.status_code == 404
    assert missing.json() == {
        "title": "Meter not found",
        "status": 404,
        "details": {"meter_id": missing_id},
    }
    assert client.get("/v1/meters/search").status_code == 410
    assert client.post(f"/v2/meters/{sim.meter_ids(1)[0]}").status_code == 405


@pytest.mark.parametrize(
    ("method", "path", "envelope"),
    [
        ("GET", "/v2/meters/00000000-0000-4000-8000-000000000000", {"title", "status", "details"}),
        ("POST", "/v2/meters/enrollments/search", {"title", "status", "details"}),
        ("POST", "/v2/dispatch/meter/search", {"code", "message", "error_code"}),
        ("GET", "/v1.1/webhooks", {"error", "message"}),
    ],
)
def test_auth_is_401_without_a_bearer_header_and_403_for_an_unknown_key(
    sim, method, path, envelope
):
    for key, status in ((None, 401), ("Token abc", 401), ("wrong-key", 403)):
        if key == "Token abc":
            client = httpx.Client(
                base_url=BASE, transport=sim.transport(), headers={"Authorization": key}
            )
        else:
            client = http(sim, key)
        answer = client.request(method, path, json={})
        assert answer.status_code == status
        assert set(answer.json()) == envelope


def test_filters_are_anded_and_match_a_brute_force_reading(sim):
    client = http(sim)
    everything = [sim.meter(m) for m in sim.meter_ids()]
    cutoff = sorted(m.created_at for m in everything)[120]
    cases = {
        "region": ({"transmission_region": "CAISO"}, lambda m: m.region == "CAISO"),
        "statuses": (
            {"global_enrollment_statuses": ["ELIGIBLE", "PENDING"]},
            lambda m: m.global_status in ("ELIGIBLE", "PENDING"),
        ),
        "actions and not archived": (
            {"partner_action_required": True, "exclude_archived": True},
            lambda m: bool(m.partner_actions) and not m.is_archived,
        ),
        "created window": (
            {
                "created_after_date_time": "2025-01-01T00:00:00Z",
                "created_before_date_time": cutoff.isoformat(),
            },
            lambda m: datetime(2025, 1, 1, tzinfo=UTC) < m.created_at < cutoff,
        ),
        "load types and meter types": (
            {
                "load_types": ["HVAC"],
                "meter_types": ["UTILITY_METER"],
                "customer_classification": "RESIDENTIAL",
            },
            lambda m: (
                "HVAC" in m.load_types
                and m.meter_type == "UTILITY_METER"
                and m.customer_classification == "RESIDENTIAL"
            ),
        ),
        "action type": (
            {"action_type": ["IS_ASSIGNED_TO_A_RESOURCE"]},
            lambda m: any(
                a["action_type"] == "IS_ASSIGNED_TO_A_RESOURCE"
                for a in m.partner_actions + m.leap_actions
            ),
        ),
        "tags": ({"tags": ["pilot"]}, lambda m: "pilot" in m.tags),
    }
    for name, (body, predicate) in cases.items():
        expected = [m.meter_id for m in everything if predicate(m)]
        got = [
            m["meter_id"]
            for page in all_pages(client, "/v2/meters/search", {**body, "page_size": 37})
            for m in page
        ]
        assert got == expected, name
        assert expected, f"{name}: the portfolio should hold some such meters"
    some = sim.meter_ids()[5:9]
    refs = [sim.meter(m).partner_reference for m in some if sim.meter(m).partner_reference]
    by_ids = client.post(
        "/v2/meters/search", json={"meter_ids": [s.upper() for s in reversed(some)]}
    ).json()
    assert [m["meter_id"] for m in by_ids["meters"]] == some
    by_refs = client.post("/v2/meters/enrollments/search", json={"partner_references": refs}).json()
    assert {m["partner_reference"] for m in by_refs["meters"]} == set(refs)


def test_the_portfolio_looks_like_a_real_one():
    sim = Simulator(seed=11, meters=2000, now=NOW)
    meters = [sim.meter(m) for m in sim.meter_ids()]
    regions = Counter(m.region for m in meters)
    assert {"CAISO", "ERCOT", "NYISO", "ISONE", "PJM"} <= set(regions)
    with_actions = sum(1 for m in meters if m.partner_actions) / len(meters)
    assert 0.06 <= with_actions <= 0.16  # about one meter in ten
    codes = {a["action_code"] for m in meters for a in m.partner_actions}
    assert {"AUTH_0001", "SERV_0002", "SERV_0005", "MRKT_0002", "XYZ_0042"} <= codes
    assert any(a["action_code"] == "LEAP_0001" for m in meters for a in m.leap_actions)
    ends = {p.get("end_time") for m in meters for p in m.participation}
    assert "9000-12-31T23:59:59.999999999Z" in ends
    assert any(m.is_archived for m in meters) and any(not m.is_archived for m in meters)
    assert any(m.partner_reference is None for m in meters)
    assert any(m.partner_reference for m in meters)
    rows_per_meter = [len(m.programs) for m in meters]
    assert min(rows_per_meter) >= 2 and max(rows_per_meter) >= 4
    group_sizes = Counter(
        r["market_group_id"] for m in meters for r in m.programs if r.get("market_group_id")
    )
    assert max(group_sizes.values()) < 600 and len(group_sizes) > 5
    for m in meters[:50]:
        utility = m.details["utility"]["utility_name"]
        assert m.details["customer"]["postal_code"][:5].isdigit()
        if m.region == "CAISO":
            assert utility in ("PGE", "SCE", "SDGE")
        if m.region == "ERCOT":
            assert m.details["customer"]["state_or_province_code"] == "TX"


def test_a_large_portfolio_is_lazy():
    sim = Simulator(seed=1, meters=200_000, now=NOW)
    assert len(sim.portfolio) == 200_000 and not sim.portfolio.overlay
    client = http(sim)
    page = client.post("/v2/meters/search", json={"page_size": 500}).json()
    assert len(page["meters"]) == 500 and page["next_page_token"]
    last_id = sim.portfolio.generator.meter_id(199_999)
    assert client.get(f"/v2/meters/{last_id}/enrollments").status_code == 200


def test_changes_move_last_modified_and_show_in_searches(sim):
    client = http(sim)
    before = sim.now
    sim.advance(minutes=5, changes=0)
    target = sim.meter_ids()[3]
    sim.set_global_status(target, "INELIGIBLE")
    newer = client.post(
        "/v2/meters/enrollments/search", json={"last_modified_date_time": before.isoformat()}
    ).json()
    assert [m["meter_id"] for m in newer["meters"]] == [target]
    assert newer["meters"][0]["global_enrollment_status"] == "INELIGIBLE"
    assert newer["meters"][0]["audit"]["updated_at"].startswith(sim.now.strftime("%Y-%m-%dT%H:%M"))
    sim.open_action(target, "XYZ_0042")
    actions = client.get(f"/v2/meters/{target}/enrollments").json()["required_actions"]["partner"]
    assert [a["action_code"] for a in actions][-1] == "XYZ_0042"
    sim.resolve_action(target, "XYZ_0042")
    assert "XYZ_0042" not in json.dumps(client.get(f"/v2/meters/{target}/enrollments").json())
    sim.archive(target)
    kept = client.post(
        "/v2/meters/search", json={"meter_ids": [target], "exclude_archived": True}
    ).json()
    assert kept["meters"] == []
    added = sim.add_meter(region="ERCOT")
    assert client.get(f"/v2/meters/{added.meter_id}").json()["transmission_region"] == "ERCOT"
    sim.remove_meter(added.meter_id)
    assert client.get(f"/v2/meters/{added.meter_id}").status_code == 404


def test_advance_makes_random_changes_reproducibly():
    runs = []
    for _ in range(2):
        sim = Simulator(seed=5, meters=100, now=NOW, changes_per_hour=6)
        runs.append(sim.advance(hours=2))
    assert runs[0] == runs[1] and len(runs[0]) >= 6
    assert {c["change"] for c in runs[0]} & {"status", "action_opened", "action_resolved"}


def test_a_full_search_renders_each_generated_meter_once_and_changes_afresh(sim, monkeypatch):
    """A full sync's search (no filter) is served from each generated meter's JSON, made once."""
    client = http(sim)
    ids = sim.meter_ids()
    details = [m for p in all_pages(client, "/v2/meters/search", {"page_size": 60}) for m in p]
    enrollments = [
        m for p in all_pages(client, "/v2/meters/enrollments/search", {"page_size": 70}) for m in p
    ]
    # The same objects as each meter's own rendering (and GET) gives.
    assert details == [sim.meter(i).detail_json() for i in ids]
    assert enrollments == [sim.meter(i).enrollment_json() for i in ids]
    assert client.get(f"/v2/meters/{ids[5]}").json() == details[5]

    # Read again, nothing is generated: every page comes from what was rendered.
    def no_generating(*args, **kwargs):
        raise AssertionError("a generated meter was built again")

    monkeypatch.setattr(sim.portfolio.generator, "build", no_generating)
    assert [m for p in all_pages(client, "/v2/meters/search", {"page_size": 60}) for m in p] == (
        details
    )
    monkeypatch.undo()

    # A changed, a removed and an added meter show in the next full search.
    sim.set_global_status(ids[3], "INELIGIBLE")
    sim.remove_meter(ids[4])
    added = sim.add_meter(region="ERCOT")
    again = [
        m for p in all_pages(client, "/v2/meters/enrollments/search", {"page_size": 70}) for m in p
    ]
    assert [m["meter_id"] for m in again] == [*ids[:4], *ids[5:], added.meter_id]
    assert again[3]["global_enrollment_status"] == "INELIGIBLE"
    assert again[3] == client.get(f"/v2/meters/{ids[3]}/enrollments").json()
    assert again[:3] == enrollments[:3] and again[4:-1] == enrollments[5:]


def test_a_meter_handed_out_and_changed_in_place_is_read_as_it_now_is(sim):
    """Tests change the state Simulator.meter returns in place; a full search must show it."""
    client = http(sim)
    ids = sim.meter_ids()
    details = [m for p in all_pages(client, "/v2/meters/search", {"page_size": 60}) for m in p]
    handed_out = sim.meter(ids[7])
    handed_out.tags = ["changed-in-place"]
    sim._touch(handed_out)
    in_place = [m for p in all_pages(client, "/v2/meters/search", {"page_size": 60}) for m in p]
    assert in_place[7]["tags"] == ["changed-in-place"]
    assert in_place[7]["audit"]["updated_at"] != details[7]["audit"]["updated_at"]
    assert in_place[:7] == details[:7] and in_place[8:] == details[8:]


def test_a_full_search_read_twice_serves_the_same_pages_and_keeps_each_meter_once(sim):
    client = http(sim)
    first = all_pages(client, "/v2/meters/search", {"page_size": 60})
    assert all_pages(client, "/v2/meters/search", {"page_size": 60}) == first
    assert [m["meter_id"] for p in first for m in p] == sim.meter_ids()
    assert {sum(b is not None for b in kept) for kept in sim.portfolio._rendered.values()} == {
        len(sim.meter_ids())
    }


def test_every_search_filter_is_known_to_the_full_search_shortcut():
    """A filter missing from FILTER_FIELDS would be ignored by the unfiltered path."""
    from leap.simulator import validate
    from leap.simulator.meter_search import FILTER_FIELDS

    fields = set(validate.meter_filter({})) - {"page_size", "page_token", "meter_ids"}
    assert fields == set(FILTER_FIELDS)
