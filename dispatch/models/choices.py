"""Choices several dispatch models share: the level Leap addresses, how a notification came,
a recheck's state."""

from __future__ import annotations

from django.db import models


class Level(models.TextChoices):
    """Leap dispatches either single meters or whole market groups."""

    METER = "meter", "Meter"
    GROUP = "group", "Group"


class Source(models.TextChoices):
    """How a notification reached us."""

    WEBHOOK = "webhook", "Webhook"
    POLL = "poll", "Poll (reconcile)"
    TEST = "test", "Test"


RECHECK_CHOICES = [
    ("pending", "Waiting for Leap's search"),
    ("confirmed", "Leap lists it active: brought back"),
    ("refused", "Leap lists it cancelled: stays cancelled"),
    ("not_listed", "Leap does not list it: stays cancelled"),
    ("failed", "Leap unreachable: stays cancelled, reconcile retries"),
]
