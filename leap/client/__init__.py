"""LeapClient: the only code that speaks HTTP to Leap.

Every request goes through `ClientCore._send` (leap/client/core.py), which adds auth and
User-Agent, logs the call, counts it in `stats`, classifies failures once (leap.errors) and
retries transient ones with exponential backoff and full jitter, bounded by `max_retries` and
`max_total_wait`. Each of Leap's services is a module of its own, its calls a part of the client:
`meters` (meters and enrollments v2), `dispatch` (dispatch v2), `webhooks` (webhook platform
v1.1), `revenue` (revenue and analytics v1.1), `create_meters` (create meters v1.1).

Paths are full service paths, each service versioned on its own: /v2/meters..., /v2/dispatch/...,
/v1.1/webhooks.
No Meters v1 call exists here: v1 is past its end of life.
"""

from __future__ import annotations

from leap.client.core import (
    MAX_PAGE_SIZE,
    TRANSIENT_STATUSES,
    USER_AGENT,
    ClientCore,
    Level,
    retry_after_seconds,
)
from leap.client.create_meters import CreateMetersAPI
from leap.client.dispatch import MAX_DISPATCH_WINDOW, DispatchAPI
from leap.client.meters import MetersAPI
from leap.client.pages import OnBad, Page, RawPage
from leap.client.revenue import (
    HISTORICAL_RESPONSIVENESS,
    MAX_REVENUE_MONTHS,
    MAX_REVENUE_PAGE_SIZE,
    REVENUE_AGGREGATIONS,
    RevenueAPI,
)
from leap.client.stats import ClientStats
from leap.client.webhooks import WebhooksAPI

__all__ = [
    "HISTORICAL_RESPONSIVENESS",
    "MAX_DISPATCH_WINDOW",
    "MAX_PAGE_SIZE",
    "MAX_REVENUE_MONTHS",
    "MAX_REVENUE_PAGE_SIZE",
    "REVENUE_AGGREGATIONS",
    "TRANSIENT_STATUSES",
    "USER_AGENT",
    "ClientCore",
    "ClientStats",
    "LeapClient",
    "Level",
    "OnBad",
    "Page",
    "RawPage",
    "retry_after_seconds",
]


class LeapClient(MetersAPI, DispatchAPI, WebhooksAPI, RevenueAPI, CreateMetersAPI):
    """A client for Leap's partner API (meters v2, enrollments v2, dispatch v2, webhooks v1.1,
    revenue v1.1, create meters v1.1)."""
