"""Signals the meters app sends for other apps (it imports none of them)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after a sync wrote new device capability figures for meters (or an admin changed their
# override), with `meter_ids`: the dispatch planner re-plans their upcoming events.
capability_changed = Signal()
