"""Chat configuration, from WARROOM_* (the same variables the worker's channel adapters read).

Every credential is a SecretStr and may hold several comma-separated values, so it can be rotated
without downtime. A platform is served only when its verification secret is set: without
WARROOM_SLACK_SIGNING_SECRET, `/slack/*` answers 403 and sends nothing anywhere.
"""

from __future__ import annotations

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from warroom.validation import sendable_secret


def secret_values(value: SecretStr | None) -> list[bytes]:
    """The comma-separated values of one secret variable, as bytes, blanks dropped."""
    if value is None:
        return []
    return [part.strip().encode() for part in value.get_secret_value().split(",") if part.strip()]


class ChatSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WARROOM_", extra="ignore")

    # Slack: requests are verified with the signing secret; replies use the bot token.
    slack_signing_secret: SecretStr | None = Field(
        None, description="the Slack app's signing secret (Basic Information → App Credentials)"
    )
    slack_token: SecretStr | None = Field(None, description="the bot token (xoxb-…): chat.update, views.open")
    slack_api_url: AnyHttpUrl = AnyHttpUrl("https://slack.com/api")

    # Mattermost: slash commands carry a token; buttons carry a context warroom signed.
    mattermost_command_token: SecretStr | None = Field(None, description="the /incident slash command's token")
    mattermost_action_secret: SecretStr | None = Field(
        None, description="signs the context of warroom's buttons and dialogs (any long random string)"
    )
    mattermost_url: AnyHttpUrl | None = Field(None, description="https://chat.example.com: dialogs are opened here")
    mattermost_token: SecretStr | None = Field(None, description="a bot's access token (dialogs, post updates)")

    _sendable = field_validator("*", mode="after")(sendable_secret)

    @property
    def slack(self) -> bool:
        return bool(secret_values(self.slack_signing_secret))

    @property
    def mattermost(self) -> bool:
        return bool(secret_values(self.mattermost_command_token) or secret_values(self.mattermost_action_secret))
