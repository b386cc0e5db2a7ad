from __future__ import annotations

import os

import pytest

from leap.specs import missing_specs_message, specs_available
from mapping import leap_reference


def test_leaps_published_specs_do_not_define_the_partner_reference_update():
    """The push is shown as unavailable because of this; when Leap publishes it, implement it."""
    if not specs_available():
        if os.environ.get("CI") == "true":
            pytest.fail(missing_specs_message())
        pytest.skip(missing_specs_message())
    assert leap_reference.specs_defining_push() == [], (
        "a Leap spec now defines PATCH .../partner_meter_ref: implement it in leap/client.py "
        "(docs/contracts.md) and offer it behind a confirmation in mapping/"
    )
    assert not leap_reference.PUSH_STATUS.available
