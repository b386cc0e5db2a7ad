"""The id_url template filter: the URL {% url %} gives, reversed once per page pattern."""

from __future__ import annotations

import uuid

from django.template import Context, Template
from django.test import override_settings
from django.urls import reverse


def render(text: str, **context: object) -> str:
    return Template("{% load links %}" + text).render(Context(context))


def test_id_url_gives_the_same_address_as_the_url_tag_for_uuids_and_integers():
    meter, event = uuid.uuid4(), uuid.uuid4()
    assert render("{{ m|id_url:'meters:detail' }}", m=meter) == reverse(
        "meters:detail", args=[meter]
    )
    assert render("{{ e|id_url:'dispatch:event' }}", e=event) == reverse(
        "dispatch:event", args=[event]
    )
    for pk in (0, 7, 123456):
        assert render("{{ pk|id_url:'ops:action' }}", pk=pk) == reverse("ops:action", args=[pk])


def test_id_url_follows_a_script_prefix_set_after_first_use():
    meter = uuid.uuid4()
    render("{{ m|id_url:'meters:detail' }}", m=meter)
    with override_settings(FORCE_SCRIPT_NAME="/portal/"):
        from django.urls import set_script_prefix

        set_script_prefix("/portal/")
        try:
            assert render("{{ m|id_url:'meters:detail' }}", m=meter) == f"/portal/meters/{meter}/"
        finally:
            set_script_prefix("/")
