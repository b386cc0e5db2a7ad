"""The meter sync: Leap's meter details and enrollments into our tables.

- `engine`: the runs (full, incremental, one meter, a list of meters), step by step.
- `holds`: approving a held full sync; failing runs whose worker died.
- `context`: what every page of a run shares (`Context`, `SeenSet`, failures, `PagePlan`).
- `details`, `enrollments`: plan one page against what is stored, and write it;
  `meter_rows` (what both share) and `catalogue` (market groups and reason codes named).
- `snapshot`: Leap's objects flattened into column values (pure functions, no database).
- `searches`: Leap's two meter searches and how their objects are prepared.
- `speed`: the only package that knows about threads, the fetch process, pickling and the
  paused collector (reading searches ahead, writing pages on writer threads).
- `child`: the fetch process's entry point, `python -m meters.sync.child`.

This module imports nothing: the fetch process imports `meters.sync.child` before Django is set
up, and with it this package.
"""
