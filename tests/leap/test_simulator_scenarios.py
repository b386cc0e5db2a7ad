"""The simulator's dispatch scenarios and forged notifications."""

from __future__ import annotations

from leap.simulator import Simulator
from leap.simulator.scenarios import SCENARIOS
from tests.leap.simulator_fakes import NOW, Inbox


def test_every_dispatch_scenario_sends_what_it_promises():
    sim = Simulator(seed=8, meters=2000, now=NOW, changes_per_hour=0)
    sim.set_dispatch_webhook("meter", "https://portal.test/m", {"X-Secret": "right"})
    sim.set_dispatch_webhook("group", "https://portal.test/g", {"X-Secret": "right"})
    inbox = Inbox()
    sim.deliver_to = inbox
    seen = {}
    for name in SCENARIOS:
        inbox.got.clear()
        result = sim.run_scenario(name)
        sim.deliver_due()
        seen[name] = [body for _, _, body in inbox.got]
        assert result["event_ids"] and seen[name], name

    def slots(bodies):
        return [t for b in bodies for d in b.get("meter_dispatches", []) for t in d["timeslots"]]

    assert (
        len(seen["exact_redelivery"]) == 2
        and seen["exact_redelivery"][0] == seen["exact_redelivery"][1]
    )
    assert [t.get("energy_kw") for t in slots(seen["update_kw_and_window"])][1] == 4.25
    assert slots(seen["cancellation"])[-1]["cancelled"] is True
    assert all(t["energy_kw"] is None for t in slots(seen["null_energy"]))
    assert {t["priority"] for t in slots(seen["overlapping_priorities"])} == {1, 3}
    assert "group_dispatches" in seen["group_dispatch"][0]
    assert slots(seen["day_ahead_changed_hour_ahead"])[1]["dispatch_event_types"] == ["hour-ahead"]
    assert slots(seen["real_time_event"])[0]["dispatch_event_types"] == ["5m"]
    assert seen["communication_test"][0]["communication_test"] is True
    updated, created = slots(seen["out_of_order_update"])
    assert updated["energy_kw"] == 1.5 and updated["meter_event_id"] == created["meter_event_id"]
    late = slots(seen["late_cancellation"])
    assert late[-1]["cancelled"] is True and late[-1]["end_time"] < iso_now(sim)


def iso_now(sim):
    return sim.now.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_forged_notification_carries_the_wrong_secret():
    sim = Simulator(seed=8, meters=100, now=NOW)
    sim.set_dispatch_webhook("meter", "https://portal.test/m", {"X-Secret": "right"})
    inbox = Inbox()
    sim.deliver_to = inbox
    sim.run_scenario("bad_secret")
    sim.deliver_due()
    [(url, headers, body)] = inbox.got
    assert url == "https://portal.test/m" and headers["x-secret"] != "right"
    assert body["meter_dispatches"][0]["timeslots"]
