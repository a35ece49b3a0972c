"""Comms adapters behind the `Notifier` protocol: Slack, a generic webhook, PagerDuty, Atlassian
Statuspage, SMTP e-mail, the incident ticket in Jira Cloud or GitHub Issues, and the router that
picks them per channel (local sink by default).

    router = build_router(ChannelSettings(), sink=LocalSink(data_dir))
"""

from activities.channels._http import (
    ChannelAuthError,
    ChannelConfigError,
    ChannelError,
    ChannelRateLimited,
    ChannelRejected,
    ChannelUnavailable,
    DeliveryRetry,
    HttpClient,
)
from activities.channels.router import ChannelRouter, build_router
from activities.channels.settings import ChannelSettings

__all__ = [
    "ChannelAuthError",
    "ChannelConfigError",
    "ChannelError",
    "ChannelRateLimited",
    "ChannelRejected",
    "ChannelRouter",
    "ChannelSettings",
    "ChannelUnavailable",
    "HttpClient",
    "DeliveryRetry",
    "build_router",
]
