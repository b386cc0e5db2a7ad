"""leapportal: the operations dashboard for our Leap virtual power plant."""

from __future__ import annotations

from leapportal.celery import app as celery_app

__all__ = ["celery_app"]
__version__ = "0.1.0"
