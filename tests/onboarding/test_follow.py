"""Follow-through: created meters reach us through the meter webhook, get linked to our
customer/site, and are followed submitted -> created -> ELIGIBLE -> ACTIVE; stuck ones queue up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from mapping.models import MappingChange, MeterMapping
from onboarding import follow, tasks
from onboarding.models import Asset, ProgramStep
from tests.onboarding.helpers import assert_funnel_sums_fresh, row
from tests.onboarding.test_jobs import poll_round, submit

SECRET = "dev-meter-webhook-secret-0001"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.leap_sim(changes_per_hour=0)
def test_created_meters_are_linked_and_followed_to_active_and_stuck_ones_queue_up(
    client, make_user, leap_sim, leap_sim_django_sender, django_capture_on_commit_callbacks,
    settings,
):  # fmt: skip
    settings.LEAP_METER_WEBHOOK_SECRETS = [SECRET]
    settings.ONBOARDING_STUCK_DAYS = 10
    leap_sim.deliver_to = leap_sim_django_sender(client)
    call_command("register_leap_webhooks", "--no-test")
    client.force_login(make_user("operator", username="olga"))

    def deliver():
        with django_capture_on_commit_callbacks(execute=True):
            outcomes = leap_sim.deliver_due()
        assert all(o.status == 202 for _, o in outcomes), outcomes
        return tasks.follow_meters.apply().get()

    job = submit(client, [row(1), row(2, site_id="")], programs=["ELRP"])
    leap_sim.advance(minutes=1)
    poll_round()
    first, second = job.assets.order_by("line")
    assert first.stage == second.stage == "created"

    # meter.created reaches our receiver; the meter sync stores the meters; we link them.
    assert deliver() == {"moved": 0, "linked": 2, "refused": 0}
    mapping = MeterMapping.objects.get(pk=first.meter_id)
    assert (mapping.customer_id, mapping.site_id) == ("cust-1", "site-1")
    change = MappingChange.objects.get(meter_id=first.meter_id)
    assert change.source == "onb" and change.actor_name == "olga"
    assert change.reason == f"onboarding job #{job.pk}, line 2"

    # Leap moves the meter on in the job's program (the global status follows and is sent).
    leap_sim.set_program_status(str(first.meter_id), "ELRP", "ELIGIBLE")
    assert deliver()["moved"] == 1
    leap_sim.set_program_status(str(first.meter_id), "ELRP", "ACTIVE")
    assert deliver()["moved"] == 1
    first.refresh_from_db()
    assert first.stage == "active" and first.eligible_at <= first.active_at
    assert list(first.steps.values_list("program", "stage")) == [("ELRP", "active")]

    # The second meter waits on its customer: past the set number of days it is stuck.
    leap_sim.open_action(str(second.meter_id), "AUTH_0001")
    deliver()
    Asset.objects.filter(pk=second.pk).update(stage_since=timezone.now() - timedelta(days=11))
    ProgramStep.objects.filter(asset=second).update(stage_since=timezone.now() - timedelta(days=11))
    follow.refresh_funnel([job.pk])  # the days went by without a write: recount the job
    lane = client.get("/onboarding/stuck/").content.decode()
    assert "onb-00002" in lane and "AUTH_0001" in lane and "onb-00001" not in lane
    queue = client.get("/actions/").content.decode()
    assert 'id="queue-tab-onboarding"' in queue and "Onboarding stuck" in queue

    funnel = client.get("/onboarding/funnel/").content.decode()
    assert 'data-count="submitted">2<' in funnel and 'data-count="active">1<' in funnel
    assert 'data-count="stuck">1<' in funnel
    assert 'href="/onboarding/stuck/?program=ELRP">1</a>' in funnel
    assert "<td>ELRP</td>" in funnel and f'href="/onboarding/jobs/{job.pk}/"' in funnel
    assert_funnel_sums_fresh()
