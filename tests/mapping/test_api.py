from __future__ import annotations

import json
import uuid

import pytest
from django.utils import timezone

from mapping.actions import set_mapping
from mapping.models import ApiToken, MappingChange, MeterMapping
from meters.models import Meter

PAGE = MappingChange.Source.PAGE


@pytest.fixture
def make_token(db):
    def make(name="billing", can_write=False):
        token = ApiToken(name=name, can_write=can_write)
        secret = token.issue()
        token.save()
        return token, secret

    return make


@pytest.fixture
def reader(make_token):
    return make_token("billing")[1]


@pytest.fixture
def writer(make_token):
    return make_token("crm", can_write=True)[1]


def auth(secret):
    return {"Authorization": f"Bearer {secret}"}


def put(client, meter_id, body, secret):
    return client.put(
        f"/api/meters/{meter_id}/mapping",
        json.dumps(body),
        content_type="application/json",
        headers=auth(secret),
    )


def test_only_a_hash_of_the_token_is_stored(make_token):
    token, secret = make_token()
    assert secret.startswith(f"lpt_{token.key_prefix}_") and len(secret) > 40
    assert secret not in (token.digest, token.key_prefix) and token.digest == ApiToken.hash(secret)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic dXNlcjpwdw=="},
        {"Authorization": "Bearer "},
    ],
)
def test_a_missing_or_wrong_token_gets_401(client, db, headers):
    response = client.get("/api/meters/", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] and response["WWW-Authenticate"].startswith("Bearer")


def test_a_logged_in_session_is_not_a_token(admin_client):
    assert admin_client.get("/api/meters/").status_code == 401


def test_a_revoked_token_gets_401(client, make_token):
    token, secret = make_token()
    assert client.get("/api/meters/", headers=auth(secret)).status_code == 200
    token.revoked_at = timezone.now()
    token.save()
    assert client.get("/api/meters/", headers=auth(secret)).status_code == 401


def test_meters_are_listed_with_their_mapping_paginated_and_filtered(
    client, reader, make_meter, admin_user, django_assert_max_num_queries
):
    meters = sorted((make_meter(f"ref-{i}") for i in range(5)), key=lambda m: m.pk)
    set_mapping(
        meters[0].pk,
        customer_id="cust-0",
        site_id="S0",
        label="Zero",
        reason="setup",
        actor=admin_user,
        source=PAGE,
    )

    with django_assert_max_num_queries(6):
        first = client.get("/api/meters/", {"page_size": 2}, headers=auth(reader)).json()
    assert first["count"] == 5 and len(first["results"]) == 2 and "page=2" in first["next"]
    assert first["results"][0] == {
        "meter_id": str(meters[0].pk),
        "partner_reference": meters[0].partner_reference,
        "in_leap": True,
        "is_archived": False,
        "mapping": {
            "customer_id": "cust-0",
            "site_id": "S0",
            "label": "Zero",
            "updated_at": MeterMapping.objects.get().updated_at.isoformat(),
            "updated_by": "alice",
        },
        "flags": [],  # refIds are not our customer ids here: no mismatch warning (issue 16)
    }
    last = client.get(first["next"], headers=auth(reader)).json()
    assert last["page"] == 2 and len(last["results"]) == 2
    by_customer = client.get("/api/meters/", {"customer_id": "cust-0"}, headers=auth(reader)).json()
    assert [r["meter_id"] for r in by_customer["results"]] == [str(meters[0].pk)]
    by_ref = client.get(
        "/api/meters/", {"partner_reference": "ref-3,ref-4"}, headers=auth(reader)
    ).json()
    assert by_ref["count"] == 2
    by_id = client.get("/api/meters/", {"meter_id": str(meters[2].pk)}, headers=auth(reader)).json()
    assert by_id["results"][0]["mapping"] is None and by_id["results"][0]["flags"] == ["unmapped"]


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ({"meter_id": "nope"}, 400, "UUID"),
        ({"page_size": "1000"}, 400, "between 1 and 500"),
        ({"page": "x"}, 400, "whole numbers"),
        ({"page": "9"}, 404, "does not exist"),
        ({"customer": "x"}, 400, "unknown parameter"),
    ],
)
def test_bad_list_parameters_get_a_clear_error(client, reader, make_meter, query, status, words):
    make_meter()
    response = client.get("/api/meters/", query, headers=auth(reader))
    assert response.status_code == status and words in response.json()["error"]


def test_one_meter_and_a_mapping_whose_meter_is_gone(client, reader, make_meter, admin_user):
    meter = make_meter("r")
    set_mapping(
        meter.pk,
        customer_id="r",
        site_id="",
        label="",
        reason="setup",
        actor=admin_user,
        source=PAGE,
    )
    assert client.get(f"/api/meters/{meter.pk}/", headers=auth(reader)).json()["flags"] == []
    Meter.objects.filter(pk=meter.pk).delete()
    gone = client.get(f"/api/meters/{meter.pk}/", headers=auth(reader)).json()
    assert (
        gone["in_leap"] is False
        and gone["flags"] == ["missing"]
        and gone["mapping"]["customer_id"] == "r"
    )
    assert client.get(f"/api/meters/{uuid.uuid4()}/", headers=auth(reader)).status_code == 404


def test_a_write_token_updates_through_the_same_rules_and_audit(client, writer, make_meter):
    meter = make_meter("ref-1")

    response = put(
        client,
        meter.pk,
        {"customer_id": "ref-1", "site_id": "S1", "label": "L", "reason": "from CRM"},
        writer,
    )

    assert response.status_code == 200
    assert response.json()["mapping"]["site_id"] == "S1" and response.json()["changed"] is True
    change = MappingChange.objects.get()
    assert (change.source, change.actor_name, change.actor_token.name, change.reason) == (
        "api",
        "api:crm",
        "crm",
        "from CRM",
    )
    again = put(
        client,
        meter.pk,
        {"customer_id": "ref-1", "site_id": "S1", "label": "L", "reason": "from CRM"},
        writer,
    )
    assert again.json()["changed"] is False and MappingChange.objects.count() == 1

    deleted = client.delete(
        f"/api/meters/{meter.pk}/mapping",
        json.dumps({"reason": "customer left"}),
        content_type="application/json",
        headers=auth(writer),
    )
    assert deleted.status_code == 200 and deleted.json()["mapping"] is None
    assert MappingChange.objects.filter(source="api").count() == 2


def test_a_read_token_cannot_write(client, reader, make_meter):
    meter = make_meter()
    response = put(client, meter.pk, {"customer_id": "c", "reason": "try it"}, reader)
    assert response.status_code == 403 and not MeterMapping.objects.exists()


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"customer_id": "c"}, 400, "reason"),
        ({"customer_id": "has space", "reason": "because"}, 400, "may only contain"),
        (
            {"customer_id": "c", "reason": "because", "colour": "red"},
            400,
            "unknown field(s): colour",
        ),
        ({"customer_id": 7, "reason": "because"}, 400, "must be strings"),
        (["c"], 400, "JSON object"),
    ],
)
def test_bad_updates_are_refused_and_change_nothing(
    client, writer, make_meter, body, status, words
):
    meter = make_meter()
    response = put(client, meter.pk, body, writer)
    assert response.status_code == status and words in json.dumps(response.json())
    assert not MeterMapping.objects.exists() and not MappingChange.objects.exists()


def test_update_refusals_say_what_kind(client, writer, make_meter, admin_user):
    a, b = make_meter(), make_meter()
    set_mapping(
        a.pk, customer_id="c", site_id="S", label="", reason="setup", actor=admin_user, source=PAGE
    )
    assert (
        put(
            client, b.pk, {"customer_id": "c", "site_id": "S", "reason": "because"}, writer
        ).status_code
        == 409
    )
    assert (
        put(client, uuid.uuid4(), {"customer_id": "c", "reason": "because"}, writer).status_code
        == 404
    )
    bad_json = client.put(
        f"/api/meters/{b.pk}/mapping",
        "{nope",
        content_type="application/json",
        headers=auth(writer),
    )
    assert bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["error"]
    form = client.put(
        f"/api/meters/{b.pk}/mapping",
        "customer_id=c",
        content_type="application/x-www-form-urlencoded",
        headers=auth(writer),
    )
    assert form.status_code == 415


def test_an_admin_creates_a_token_in_the_admin_and_sees_it_once(admin_client):
    response = admin_client.post(
        "/admin/mapping/apitoken/add/", {"name": "warehouse", "can_write": "on"}, follow=True
    )

    token = ApiToken.objects.get(name="warehouse")
    shown = [str(m) for m in response.context["messages"]]
    secret = next(word for m in shown for word in m.split() if word.startswith("lpt_"))
    assert ApiToken.hash(secret) == token.digest and token.can_write
    assert (
        secret
        not in admin_client.get(f"/admin/mapping/apitoken/{token.pk}/change/").content.decode()
    )
