"""Where each kind of message goes, from the environment (WARROOM_*). Nothing set: everything local.

    WARROOM_SLACK_TOKEN                 bot token (xoxb-...): incident channel on Slack
    WARROOM_MATTERMOST_URL / _TOKEN / _TEAM   incident channel on Mattermost (if no Slack)
    WARROOM_MATTERMOST_ACTION_URL / _ACTION_SECRET   buttons: the intake's /mattermost/actions, signing
    WARROOM_WEBHOOK_URL                 generic JSON webhook for the incident channel (if no chat)
    WARROOM_PAGERDUTY_ROUTING_KEY       Events API v2 integration key: pages
    WARROOM_STATUSPAGE_API_KEY / _PAGE_ID / _COMPONENT_ID   Atlassian Statuspage
    WARROOM_SMTP_HOST / _PORT / _USER / _PASSWORD / _FROM / _TO   e-mail (STARTTLS + AUTH)
    WARROOM_STATUS_SUBSCRIPTIONS / _SIGNING_KEY / _PUBLIC_URL, WARROOM_DATABASE_URL   the built-in
                                        page's e-mail and webhook subscribers (warroom.statuspage.subscribers)
    WARROOM_JIRA_URL / _EMAIL / _API_TOKEN / _PROJECT    the incident ticket in Jira Cloud
    WARROOM_GITHUB_REPO / _TOKEN                         the incident ticket in GitHub Issues

Secrets are `SecretStr` (never printed); every base URL can be pointed at a local server.
Values are checked when the worker starts, before it connects: JSON that does not parse, a
Statuspage id that is not a plain id (it becomes part of an API path), or a control character in
anything that ends up in a mail header is refused with the variable named.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BeforeValidator,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from warroom.statuspage.subscribers import SubscriberSettings
from warroom.validation import ConfigPath, Text, json_object, no_control, sendable_secret

Adapter = Literal[
    "slack", "mattermost", "webhook", "pagerduty", "statuspage", "builtin", "email", "jira", "github", "local"
]
ComponentImpact = Literal["degraded_performance", "partial_outage", "major_outage"]
CHANNELS = ("incident", "page", "status_page", "stakeholders", "email", "ticket")
TICKET_ADAPTERS = ("jira", "github", "local")
"""The ticket channel takes only a ticket system; no other channel takes one."""
StatuspageId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,64}$")]
"""Atlassian ids are short alphanumerics; they are interpolated into `/pages/<id>/incidents`."""
JsonDict = BeforeValidator(json_object)
JiraProject = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{0,49}$")]
"""A Jira project key (OPS, SRE_2): it is written into the JQL that finds an incident's ticket."""
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]{1,64}@[^@\s]{1,189}$")]
TicketLabel = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,49}$")]
"""A label both Jira (no spaces) and GitHub (at most 50 characters) accept."""


def _github_repo(value: str) -> str:
    """`owner/name` as GitHub spells them; it becomes part of every API path, so `..` is no name."""
    owner, _, name = value.partition("/")
    if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})", owner) or not re.fullmatch(
        r"[A-Za-z0-9._-]{1,100}", name
    ):
        raise ValueError("must be owner/name, e.g. acme/shop")
    if name in (".", ".."):
        raise ValueError("must be owner/name, e.g. acme/shop")
    return value


MattermostTeam = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{1,63}$")]
"""A team's name (its URL slug): it is interpolated into `/teams/name/<team>`."""
GitHubRepo = Annotated[str, StringConstraints(max_length=140), AfterValidator(_github_repo)]


def _split(value: Any) -> Any:
    """Comma-separated lists from env (`a@x.org,b@x.org`); JSON lists and Python lists pass through."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            try:
                return json.loads(text)
            except ValueError as exc:
                raise ValueError(f"not valid JSON: {exc}") from None
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class ChannelSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WARROOM_", extra="ignore")

    data_dir: Path = Field(Path(".warroom"), description="local sink logs, built-in status page, Statuspage ids")

    # Routing: computed from what is configured unless set (JSON: {"stakeholders": "email"}).
    routes: Annotated[dict[str, Adapter], NoDecode, JsonDict] = Field(
        default_factory=dict, description="channel → adapter overrides"
    )
    local_copy: bool = Field(True, description="also append every delivered message to the local channel log")
    builtin_status_page: bool = Field(True, description="record status page posts for warroom's own /status")
    subscribers: SubscriberSettings = Field(
        default_factory=SubscriberSettings, description="the built-in page's subscribers (WARROOM_STATUS_*)"
    )

    # Shared HTTP behaviour.
    http_timeout: float = Field(10.0, gt=0)
    http_connect_timeout: float = Field(5.0, gt=0)
    http_attempts: int = Field(3, ge=1, le=10)
    http_backoff: float = Field(0.5, ge=0)
    http_max_retry_after: float = Field(15.0, ge=0, description="wait at most this long in-activity for Retry-After")

    # Slack Web API.
    slack_token: SecretStr | None = None
    slack_api_url: AnyHttpUrl = AnyHttpUrl("https://slack.com/api")
    slack_private_channels: bool = False
    slack_pin_templates: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["channel_opened"])

    # Mattermost REST API v4 (buttons need the intake's public /mattermost/actions URL and the secret).
    mattermost_url: AnyHttpUrl | None = Field(None, description="https://chat.example.com")
    mattermost_token: SecretStr | None = Field(None, description="a bot account's access token")
    mattermost_team: MattermostTeam | None = Field(None, description="the team (its name) incident channels open in")
    mattermost_private_channels: bool = False
    mattermost_action_url: AnyHttpUrl | None = Field(None, description="https://intake.example.com/mattermost/actions")
    mattermost_action_secret: SecretStr | None = Field(
        None, description="signs each button's context; the intake checks it (comma-separated: rotation)"
    )

    # Generic webhook.
    webhook_url: SecretStr | None = Field(None, description="the URL is a secret: it usually embeds a token")
    webhook_secret: SecretStr | None = Field(None, description="signs each body: X-Warroom-Signature: sha256=<hmac>")

    # PagerDuty Events API v2.
    pagerduty_routing_key: SecretStr | None = None
    pagerduty_events_url: AnyHttpUrl = AnyHttpUrl("https://events.pagerduty.com/v2/enqueue")
    pagerduty_source: Text = "warroom"

    # Atlassian Statuspage.
    statuspage_api_key: SecretStr | None = None
    statuspage_page_id: StatuspageId | None = None
    statuspage_component_id: StatuspageId | None = None
    statuspage_api_url: AnyHttpUrl = AnyHttpUrl("https://api.statuspage.io/v1")
    statuspage_component_impact: ComponentImpact = "partial_outage"
    statuspage_deliver_notifications: bool = True

    # SMTP.
    smtp_host: Text | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_user: Text | None = None
    smtp_password: SecretStr | None = None
    smtp_from: Text | None = None
    smtp_to: Annotated[list[Text], NoDecode] = Field(default_factory=list, description="default recipients")
    smtp_audiences: Annotated[dict[str, list[Text]], NoDecode, JsonDict] = Field(
        default_factory=dict, description='audience → addresses, e.g. {"customers": ["..."]}'
    )
    smtp_starttls: bool = Field(True, description="require STARTTLS before AUTH and DATA")
    smtp_ssl: bool = Field(False, description="implicit TLS (usually port 465) instead of STARTTLS")
    smtp_ca_file: ConfigPath | None = Field(
        None, description="CA bundle to verify the SMTP server (private CAs, tests)"
    )
    smtp_timeout: float = Field(20.0, gt=0)

    # The incident ticket: Jira Cloud (REST v3, basic auth with an API token), else GitHub Issues.
    jira_url: AnyHttpUrl | None = Field(None, description="https://<site>.atlassian.net")
    jira_email: Email | None = Field(None, description="the Atlassian account the API token belongs to")
    jira_api_token: SecretStr | None = None
    jira_project: JiraProject | None = None
    jira_issue_type: Text = Field("Task", description="an issue type of the project (Task, Bug, Incident...)")
    github_repo: GitHubRepo | None = Field(None, description="owner/name of the repository that gets the issues")
    github_token: SecretStr | None = Field(None, description="a token that may write issues (fine-grained: Issues)")
    github_api_url: AnyHttpUrl = AnyHttpUrl("https://api.github.com")
    github_close_on_resolve: bool = Field(True, description="close the issue once the timeline is added")
    ticket_labels: Annotated[list[TicketLabel], NoDecode] = Field(
        default_factory=lambda: ["incident"], description="labels every ticket gets (besides incident-<id>)"
    )

    _split_lists = field_validator("smtp_to", "slack_pin_templates", "ticket_labels", mode="before")(_split)
    # A token with a newline would only fail at the first send, in the middle of an incident.
    _sendable_secrets = field_validator("*", mode="after")(sendable_secret)

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, value: SecretStr | None) -> SecretStr | None:
        # Checked here rather than typed AnyHttpUrl: the URL is a secret and must not be echoed.
        if value is not None:
            url = value.get_secret_value()
            no_control(url)
            if not url.startswith(("https://", "http://")) or " " in url or len(url) > 2048:
                raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("routes")
    @classmethod
    def _known_channels(cls, value: dict[str, Adapter]) -> dict[str, Adapter]:
        unknown = sorted(set(value) - set(CHANNELS))
        if unknown:
            raise ValueError(f"unknown channel(s) {unknown}: use {', '.join(CHANNELS)}")
        for channel, adapter in value.items():
            if adapter != "local" and (channel == "ticket") != (adapter in TICKET_ADAPTERS):
                raise ValueError(f"route {channel} → {adapter}: tickets go to jira, github or local, and only tickets")
        return value

    @model_validator(mode="after")
    def _complete(self) -> ChannelSettings:
        if self.statuspage_api_key and not self.statuspage_page_id:
            raise ValueError("WARROOM_STATUSPAGE_API_KEY needs WARROOM_STATUSPAGE_PAGE_ID")
        if self.smtp_host:
            if not self.smtp_from:
                raise ValueError("WARROOM_SMTP_HOST needs WARROOM_SMTP_FROM")
            if (self.smtp_user is None) != (self.smtp_password is None):
                raise ValueError("WARROOM_SMTP_USER and WARROOM_SMTP_PASSWORD go together: set both or neither")
        jira = {
            "WARROOM_JIRA_URL": self.jira_url,
            "WARROOM_JIRA_EMAIL": self.jira_email,
            "WARROOM_JIRA_API_TOKEN": self.jira_api_token,
            "WARROOM_JIRA_PROJECT": self.jira_project,
        }
        if any(v is not None for v in jira.values()) and not all(v is not None for v in jira.values()):
            missing = ", ".join(name for name, v in jira.items() if v is None)
            raise ValueError(f"Jira tickets need WARROOM_JIRA_URL, _EMAIL, _API_TOKEN and _PROJECT: {missing} not set")
        mattermost = (self.mattermost_url, self.mattermost_token, self.mattermost_team)
        if any(v is not None for v in mattermost) and not all(v is not None for v in mattermost):
            raise ValueError("Mattermost needs WARROOM_MATTERMOST_URL, _TOKEN and _TEAM: set all three or none")
        if (self.mattermost_action_url is None) != (self.mattermost_action_secret is None):
            raise ValueError(
                "WARROOM_MATTERMOST_ACTION_URL and WARROOM_MATTERMOST_ACTION_SECRET go together: set both or neither"
            )
        if (self.github_repo is None) != (self.github_token is None):
            raise ValueError("WARROOM_GITHUB_REPO and WARROOM_GITHUB_TOKEN go together: set both or neither")
        configured = self.configured()
        for channel, adapter in self.routes.items():
            if adapter not in configured and adapter not in ("local", "builtin"):
                raise ValueError(f"route {channel} → {adapter}, but {adapter} is not configured")
        return self

    def configured(self) -> set[str]:
        """The vendor adapters with credentials."""
        have = set()
        if self.slack_token:
            have.add("slack")
        if self.mattermost_token and self.mattermost_url and self.mattermost_team:
            have.add("mattermost")
        if self.webhook_url:
            have.add("webhook")
        if self.pagerduty_routing_key:
            have.add("pagerduty")
        if self.statuspage_api_key:
            have.add("statuspage")
        if self.smtp_host:
            have.add("email")
        if self.jira_api_token:
            have.add("jira")
        if self.github_token:
            have.add("github")
        return have

    def route_table(self) -> dict[str, Adapter]:
        """channel → adapter: the explicit `routes`, else the best configured adapter, else local."""
        have = self.configured()
        chats: tuple[Adapter, ...] = ("slack", "mattermost", "webhook")
        chat: Adapter = next((a for a in chats if a in have), "local")
        table: dict[str, Adapter] = {
            "incident": chat,
            "page": "pagerduty" if "pagerduty" in have else chat,
            "status_page": "statuspage"
            if "statuspage" in have
            else ("builtin" if self.builtin_status_page else "local"),
            "stakeholders": chat,
            "email": "email" if "email" in have else "local",
            "ticket": "jira" if "jira" in have else "github" if "github" in have else "local",
        }
        table.update(self.routes)
        return table
