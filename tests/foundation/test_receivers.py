"""The webhook inbox base (leapportal.receivers) on its own, with a receiver made for the test."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.http import JsonResponse
from django.test import RequestFactory, override_settings

from leapportal import receivers
from leapportal.models import WebhookAuthFailure

HEADER = "x-leapportal-secret"
SECRETS = ["the-new-secret-0000000001", "the-old-secret-0000000002"]


class RecordingInbox(receivers.Inbox):
    """Answers what it was handed, so a test sees exactly what the base passed on."""

    secrets_setting = "TEST_INBOX_SECRETS"
    max_bytes_setting = "TEST_INBOX_MAX_BYTES"
    refusals = WebhookAuthFailure

    def __init__(self, receiver: str = "test") -> None:
        super().__init__(receiver)
        self.calls: list[tuple[str, Any]] = []

    def decode(self, raw: bytes) -> str:
        return raw.decode("utf-8", errors="replace")

    def reject(self, request, body, status, error, *, truncated=False) -> JsonResponse:
        self.calls.append(("reject", (body, status, error, truncated)))
        return JsonResponse({"error": error}, status=status)

    def accept(self, request, body, data) -> JsonResponse:
        self.calls.append(("accept", (body, data)))
        return JsonResponse({"status": "received"}, status=202)


@pytest.fixture(autouse=True)
def inbox_settings(settings):
    settings.LEAP_WEBHOOK_HEADER = HEADER
    settings.TEST_INBOX_SECRETS = SECRETS
    settings.TEST_INBOX_MAX_BYTES = 64


def request(body: bytes = b"{}", *, secret: str | None = SECRETS[0], **headers: str):
    extra = {HEADER: secret} if secret is not None else {}
    return RequestFactory().post(
        "/inbox",
        body,
        content_type=headers.pop("content_type", "application/json"),
        headers={**extra, **headers},
        REMOTE_ADDR="192.0.2.7",
    )


# --- the secret ----------------------------------------------------------------------------------


def test_any_of_the_accepted_secrets_matches_and_nothing_else_does():
    assert receivers.secret_matches(SECRETS[0], SECRETS)
    assert receivers.secret_matches(SECRETS[1], SECRETS)
    assert not receivers.secret_matches(SECRETS[0] + "x", SECRETS)
    assert not receivers.secret_matches(SECRETS[0][:-1], SECRETS)
    assert not receivers.secret_matches("", SECRETS)
    assert not receivers.secret_matches("", [""])  # an empty secret never authenticates
    assert not receivers.secret_matches(SECRETS[0], [])


def test_every_accepted_secret_is_compared_even_after_a_match(monkeypatch):
    compared = []
    real = receivers.hmac.compare_digest

    def counting(a, b):
        compared.append(b)
        return real(a, b)

    monkeypatch.setattr(receivers.hmac, "compare_digest", counting)
    assert receivers.secret_matches(SECRETS[0], SECRETS)
    # The time taken must not tell which secret matched: no short-circuit on the first.
    assert compared == [s.encode() for s in SECRETS]


# --- the headers kept ----------------------------------------------------------------------------


def test_the_stored_headers_leave_out_the_secret_and_whatever_authenticates():
    kept = receivers.stored_headers(
        request(
            Authorization="Bearer abc",
            Cookie="sessionid=1",
            **{"Proxy-Authorization": "Basic x", "X-Request-Id": "r-1"},
        )
    )

    lowered = {k.lower(): v for k, v in kept.items()}
    assert lowered["x-request-id"] == "r-1"
    assert lowered["content-type"] == "application/json"
    assert not {HEADER, "authorization", "cookie", "proxy-authorization"} & set(lowered)
    assert SECRETS[0] not in json.dumps(kept)


# --- the refusal counter -------------------------------------------------------------------------


@pytest.mark.django_db
def test_refusals_are_counted_per_day_and_receiver_with_the_last_reason():
    receivers.count_refusal(WebhookAuthFailure, "a", reason="missing secret", remote_addr=None)
    receivers.count_refusal(WebhookAuthFailure, "a", reason="wrong secret", remote_addr="192.0.2.1")
    receivers.count_refusal(WebhookAuthFailure, "b", reason="wrong secret", remote_addr=None)

    a = WebhookAuthFailure.objects.get(level="a")
    assert (a.count, a.last_reason, a.last_remote_addr) == (2, "wrong secret", "192.0.2.1")
    assert WebhookAuthFailure.objects.get(level="b").count == 1


# --- reading -------------------------------------------------------------------------------------


def test_a_body_is_read_up_to_the_limit_and_the_flag_says_whether_there_was_more():
    assert receivers.read_bounded(request(b"x" * 64), 64) == (b"x" * 64, False)
    assert receivers.read_bounded(request(b"x" * 65), 64) == (b"x" * 64, True)


def test_a_declared_length_over_the_limit_counts_as_too_big_even_if_the_body_is_short():
    short = request(b"{}")
    short.META["CONTENT_LENGTH"] = "1000"
    assert receivers.read_bounded(short, 64)[1] is True


@pytest.mark.parametrize(
    ("content_type", "ok"),
    [
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("text/plain", False),
        ("application/x-www-form-urlencoded", False),
    ],
)
def test_only_json_is_taken(content_type, ok):
    problem = receivers.content_type_problem(request(content_type=content_type))
    assert (problem is None) is ok
    if not ok:
        assert problem == f"Content-Type must be application/json, got {content_type}"


# --- the whole receive ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("secret", "reason"), [(None, "missing secret"), ("nope", "wrong secret")])
def test_an_unauthenticated_request_is_counted_answered_401_and_not_handed_on(secret, reason):
    inbox = RecordingInbox()
    sent = request(b'{"a": 1}', secret=secret)

    response = inbox.receive(sent)

    assert response.status_code == 401
    assert json.loads(response.content) == {"error": "missing or wrong webhook secret"}
    assert inbox.calls == []
    counter = WebhookAuthFailure.objects.get(level="test")
    assert (counter.count, counter.last_reason) == (1, reason)
    assert counter.last_remote_addr == "192.0.2.7"
    assert sent.read() == b'{"a": 1}'  # the body was never read


def test_a_good_request_is_handed_on_decoded_and_parsed():
    inbox = RecordingInbox()

    response = inbox.receive(request(b'{"a": [1, "\xc3\xa9"]}'))

    assert response.status_code == 202
    assert inbox.calls == [("accept", ('{"a": [1, "\u00e9"]}', {"a": [1, "\u00e9"]}))]


def test_the_secrets_and_the_limit_are_read_on_each_request():
    inbox = RecordingInbox()
    with override_settings(TEST_INBOX_SECRETS=["rotated-secret-000000003"]):
        assert inbox.receive(request(secret="rotated-secret-000000003")).status_code == 202
    with override_settings(TEST_INBOX_MAX_BYTES=1):
        assert inbox.receive(request(b"{}")).status_code == 413


def test_an_oversized_body_is_rejected_413_with_its_first_bytes():
    inbox = RecordingInbox()
    body = json.dumps({"padding": "x" * 100}).encode()

    response = inbox.receive(request(body))

    assert response.status_code == 413
    ((kind, (kept, status, error, truncated)),) = inbox.calls
    assert (kind, status, truncated) == ("reject", 413, True)
    assert kept == body[:64].decode()
    assert error == "body larger than 64 bytes; the first 64 bytes were kept"


def test_a_wrong_content_type_is_rejected_415_before_the_size_and_says_if_it_was_cut():
    inbox = RecordingInbox()

    response = inbox.receive(request(b"y" * 100, content_type="text/plain"))

    assert response.status_code == 415
    ((kind, (kept, status, error, truncated)),) = inbox.calls
    assert (kind, status, truncated) == ("reject", 415, True)
    assert kept == "y" * 64
    assert error == "Content-Type must be application/json, got text/plain"


@pytest.mark.parametrize("body", [b'{"a": ', b"\xff\xfe{}"])
def test_a_body_that_does_not_parse_is_rejected_400(body):
    inbox = RecordingInbox()

    response = inbox.receive(request(body))

    assert response.status_code == 400
    ((kind, (kept, status, error, truncated)),) = inbox.calls
    assert (kind, status, truncated) == ("reject", 400, False)
    assert kept == body.decode("utf-8", errors="replace")
    assert error.startswith("invalid JSON: ")


def test_by_default_the_body_is_handed_on_as_the_bytes_that_came():
    class Raw(RecordingInbox):
        decode = receivers.Inbox.decode

    inbox = Raw()
    inbox.receive(request(b'{"b": 2}'))
    assert inbox.calls == [("accept", (b'{"b": 2}', {"b": 2}))]
