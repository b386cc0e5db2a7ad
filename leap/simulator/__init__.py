"""A local Leap: the partner API served from one generated portfolio (docs/contracts.md §2)."""

from __future__ import annotations

from .dispatches import DispatchEvent
from .faults import Faults
from .simulator import DEFAULT_ADMIN_TOKEN, DEFAULT_API_KEY, RequestLog, Simulator

__all__ = [
    "DEFAULT_ADMIN_TOKEN",
    "DEFAULT_API_KEY",
    "DispatchEvent",
    "Faults",
    "RequestLog",
    "Simulator",
]
