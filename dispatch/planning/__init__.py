"""The plan: what each meter is told to do for each timeslot, interval by interval.

Each (meter, timeslot) gets a DispatchAllocation:
- its share of the timeslot (a meter-level timeslot's whole `energy_kw`; a group-level one split
  over the `meter_ids` Leap listed by settings.DISPATCH_GROUP_SPLIT, default `equal_share`: the
  same share for every member that can take part, ACTIVE and ours; if none can, every member);
- the kW it will deliver (`planned_kw`) and the limit that set it (`bound_by`, BOUNDS): Leap's
  award, capped by the compensation cap (`up-to-nomination` never beyond the nomination;
  `up-to-site-load` not beyond our figure of the site load, never exporting; `grid-exports-allowed`
  may export) and by what the meter's devices can do (discharge rate, usable battery energy over
  the event). A null `energy_kw` ("as much as you can") is planned as the meter's capability;
  with no capability known, as the nomination;
- the intervals it runs (`segments`). A timeslot is planned from its start, or from when it
  reached us if it had already started; one that had ended is stored and never planned.

Where a meter's live, uncancelled timeslots overlap, each interval goes to the best-ranked one:
1. the lower `priority` number (1 is the highest);
2. mandatory (`is_voluntary` false) before voluntary;
3. the larger award for this meter (its share of `energy_kw`; null, "as much as you can",
   counts as the largest);
4. the earlier `start_time`;
5. the event id, only so that the order is total.
The other timeslot keeps the rest of its window; one that loses every interval is not followed.
Integration-test timeslots are planned only among themselves; cancelled ones are never followed.
"""

from dispatch.planning.intervals import iso, rank, resolve
from dispatch.planning.replan import conflicts, replan_meters, replan_timeslots, save_plans
from dispatch.planning.shares import (
    BOUNDS,
    METER_PLAN_COLUMNS,
    Member,
    SplitRule,
    equal_share,
    load_meters,
    members_of,
    plan_kw,
    split_rule,
)

# The planner is split by step: shares.py (who a timeslot addresses, shares, planned kW),
# intervals.py (which timeslot holds each interval), reads.py (what a change can reach, raw
# SQL), replan.py (the entry point). settings.DISPATCH_GROUP_SPLIT names `equal_share` here.
__all__ = [
    "BOUNDS",
    "METER_PLAN_COLUMNS",
    "Member",
    "SplitRule",
    "conflicts",
    "equal_share",
    "iso",
    "load_meters",
    "members_of",
    "plan_kw",
    "rank",
    "replan_meters",
    "replan_timeslots",
    "resolve",
    "save_plans",
    "split_rule",
]
