"""Leap dispatch events: the raw inbox, timeslots and their versions."""

from __future__ import annotations
