"""The `Notifier` the worker uses: each notification goes to the adapters configured for its channel.

    incident      Slack, else Mattermost, else the webhook, else the local sink
    page          PagerDuty, else the chat adapter, else the local sink
    status_page   Atlassian Statuspage and/or the built-in status page (default: built-in)
    stakeholders  the chat adapter, else the local sink
    email         SMTP, else the local sink
    ticket        Jira Cloud, else GitHub Issues, else a local ticket file (the local sink's)

(`WARROOM_ROUTES` overrides any line.) A channel with no adapter falls back to the local sink.
After a successful delivery the message is also appended to the local channel log, so
`.warroom/channels/<incident>.log` stays the complete record of what warroom said. When the
incident channel announces the resolution and PagerDuty pages, the page is resolved too.

Failures leave as Temporal `ApplicationError`s: non-retryable when a retry cannot help (4xx, bad
credentials, no recipients), retryable (with the server's Retry-After) otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from activities.channels._http import ChannelError, DeliveryRetry, HttpClient, Sleep
from activities.channels.email import SmtpMailer
from activities.channels.github import GitHubTickets
from activities.channels.jira import JiraTickets
from activities.channels.mattermost import MattermostChannel
from activities.channels.pagerduty import PagerDutyPager
from activities.channels.settings import ChannelSettings
from activities.channels.slack import SlackChannel
from activities.channels.status_subscribers import SubscriberFanout, SubscriberMail
from activities.channels.statuspage_io import AtlassianStatuspage
from activities.channels.webhook import WebhookChannel
from activities.notify import LocalSink, Notifier
from activities.tickets import TicketRecords
from warroom.contracts.errors import boundary
from warroom.models import Notification
from warroom.statuspage.store import StatusStore
from warroom.statuspage.subscribers import SubscriberStore

if TYPE_CHECKING:  # httpx loads when first used: a worker with no HTTP integration never imports it
    import httpx

log = logging.getLogger("warroom.channels")
RESOLVE_PAGE_ON = frozenset({"resolved"})
"""Incident-channel templates that also resolve the PagerDuty alert."""


class ChannelRouter:
    def __init__(
        self,
        routes: Mapping[str, Sequence[Notifier]],
        fallback: LocalSink,
        *,
        local_copy: bool = True,
        pager: PagerDutyPager | None = None,
        http: HttpClient | None = None,
        names: Mapping[str, str] | None = None,
        clients: Sequence[HttpClient | SubscriberFanout] = (),
    ) -> None:
        self.routes = {channel: list(adapters) for channel, adapters in routes.items() if adapters}
        self.fallback = fallback
        self.local_copy = local_copy
        self.pager = pager
        self.http = http
        self.clients = [c for c in (http, *clients) if c is not None]
        self.names = dict(names or {})

    async def deliver(self, notification: Notification, text: str) -> str:
        adapters = self.routes.get(notification.channel)
        if not adapters:
            return await self.fallback.deliver(notification, text)
        destinations = []
        with boundary():  # a ChannelError leaves as the Temporal failure it describes
            try:
                for adapter in adapters:
                    destinations.append(await adapter.deliver(notification, text))
            except ChannelError as err:
                log.warning(
                    "%s %s (%s) not delivered: %s",
                    notification.incident_id,
                    notification.channel,
                    notification.template,
                    err,
                )
                raise
        if self.local_copy and not any(isinstance(a, LocalSink) for a in adapters):
            await self.fallback.append(notification, text)  # the log only (a ticket copy is no second ticket)
        if notification.channel == "incident" and notification.template in RESOLVE_PAGE_ON and self.pager:
            destinations.append(await self._resolve_page(notification.incident_id))
        return "; ".join(destinations)

    async def _resolve_page(self, incident_id: str) -> str:
        """Best effort: the resolution already went out; raising would post it twice on retry."""
        try:
            return await self.pager.resolve(incident_id)  # type: ignore[union-attr]
        except ChannelError as err:
            log.error("%s: the PagerDuty alert could not be resolved, resolve it by hand: %s", incident_id, err)
            return f"pagerduty resolve failed ({err.type})"

    def describe(self) -> dict[str, str]:
        """channel → adapter names, for the worker's start-up line."""
        return {
            channel: self.names.get(channel, "local")
            for channel in ("incident", "page", "status_page", "stakeholders", "email", "ticket")
        }

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


def build_router(
    settings: ChannelSettings | None = None,
    *,
    sink: LocalSink | None = None,
    data_dir: Path | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep | None = None,
) -> ChannelRouter:
    """The router for these settings; `transport`/`sleep` let tests put local servers behind it."""
    settings = settings or ChannelSettings()
    root = Path(data_dir or settings.data_dir)
    sink = sink or LocalSink(root)
    http = HttpClient(
        timeout=settings.http_timeout,
        connect_timeout=settings.http_connect_timeout,
        retry=DeliveryRetry(
            attempts=settings.http_attempts,
            backoff=settings.http_backoff,
            max_retry_after=settings.http_max_retry_after,
        ),
        transport=transport,
        sleep=sleep,
    )
    built: dict[str, Notifier] = {"local": sink}
    pager: PagerDutyPager | None = None
    if settings.slack_token:
        built["slack"] = SlackChannel(
            http,
            settings.slack_token,
            api_url=str(settings.slack_api_url),
            private=settings.slack_private_channels,
            pin_templates=frozenset(settings.slack_pin_templates),
        )
    if settings.mattermost_token and settings.mattermost_url and settings.mattermost_team:
        built["mattermost"] = MattermostChannel(
            http,
            settings.mattermost_token,
            api_url=str(settings.mattermost_url),
            team=settings.mattermost_team,
            action_url=str(settings.mattermost_action_url) if settings.mattermost_action_url else None,
            action_secret=settings.mattermost_action_secret,
            private=settings.mattermost_private_channels,
        )
    if settings.webhook_url:
        built["webhook"] = WebhookChannel(http, settings.webhook_url, settings.webhook_secret)
    if settings.pagerduty_routing_key:
        pager = PagerDutyPager(
            http,
            settings.pagerduty_routing_key,
            events_url=str(settings.pagerduty_events_url),
            source=settings.pagerduty_source,
        )
        built["pagerduty"] = pager
    if settings.statuspage_api_key and settings.statuspage_page_id:
        built["statuspage"] = AtlassianStatuspage(
            http,
            settings.statuspage_api_key,
            settings.statuspage_page_id,
            data_dir=root,
            component_id=settings.statuspage_component_id,
            api_url=str(settings.statuspage_api_url),
            component_impact=settings.statuspage_component_impact,
            deliver_notifications=settings.statuspage_deliver_notifications,
        )
    mailer = build_mailer(settings)
    if mailer is not None:
        built["email"] = mailer
    once = _ticket_adapters(settings, built, root, http, transport, sleep)
    store: Notifier = StatusStore(root)
    fanout = _subscribers(settings, root, built.get("email"))
    store = fanout or store
    built["builtin"] = store

    routes: dict[str, list[Notifier]] = {}
    names: dict[str, str] = {}
    for channel, adapter in settings.route_table().items():
        chain = [built[adapter]]
        label: str = adapter
        if channel == "status_page" and adapter == "statuspage" and settings.builtin_status_page:
            chain.append(store)  # the built-in page mirrors what was published (the vendor first)
            label = "statuspage+builtin"
        routes[channel] = [] if adapter == "local" else chain
        names[channel] = label
    pages_on_pagerduty = "pagerduty" in settings.route_table().values()
    return ChannelRouter(
        routes,
        sink,
        local_copy=settings.local_copy,
        pager=pager if pages_on_pagerduty else None,
        http=http,
        names=names,
        clients=[c for c in (once, fanout) if c is not None],
    )


def build_mailer(settings: ChannelSettings) -> SmtpMailer | None:
    """The SMTP adapter of WARROOM_SMTP_*, if configured (the router's, and the status page's confirmation mails)."""
    if not (settings.smtp_host and settings.smtp_from):
        return None
    return SmtpMailer(
        settings.smtp_host,
        settings.smtp_port,
        sender=settings.smtp_from,
        recipients=settings.smtp_to,
        audiences=settings.smtp_audiences,
        username=settings.smtp_user,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls and not settings.smtp_ssl,
        implicit_tls=settings.smtp_ssl,
        ca_file=settings.smtp_ca_file,
        timeout=settings.smtp_timeout,
    )


def _subscribers(settings: ChannelSettings, root: Path, mailer: Notifier | None) -> SubscriberFanout | None:
    """The built-in page with its subscribers, when WARROOM_STATUS_SUBSCRIPTIONS is on."""
    if not settings.subscribers.status_subscriptions:
        return None
    mail = SubscriberMail(mailer, settings.subscribers) if isinstance(mailer, SmtpMailer) else None
    return SubscriberFanout(
        StatusStore(root), SubscriberStore.open(settings.subscribers, root), settings.subscribers, mail=mail
    )


def _ticket_adapters(
    settings: ChannelSettings,
    built: dict[str, Notifier],
    root: Path,
    http: HttpClient,
    transport: httpx.AsyncBaseTransport | None,
    sleep: Sleep | None,
) -> HttpClient | None:
    """Add the configured ticket systems to `built`; return their send-once client, if any.

    Creating a ticket or a comment is sent once per activity attempt (no in-activity retry): an
    answer lost on the way back must not open a second ticket, and the next attempt looks first."""
    if not (settings.jira_api_token or settings.github_token):
        return None
    once = HttpClient(
        timeout=settings.http_timeout,
        connect_timeout=settings.http_connect_timeout,
        retry=DeliveryRetry(attempts=1),
        transport=transport,
        sleep=sleep,
    )
    records = TicketRecords(root)
    if settings.jira_api_token and settings.jira_url and settings.jira_email and settings.jira_project:
        built["jira"] = JiraTickets(
            http,
            once,
            str(settings.jira_url),
            settings.jira_email,
            settings.jira_api_token,
            settings.jira_project,
            records=records,
            issue_type=settings.jira_issue_type,
            labels=settings.ticket_labels,
        )
    if settings.github_token and settings.github_repo:
        built["github"] = GitHubTickets(
            http,
            once,
            settings.github_repo,
            settings.github_token,
            records=records,
            api_url=str(settings.github_api_url),
            labels=settings.ticket_labels,
            close_on_resolve=settings.github_close_on_resolve,
        )
    return once
