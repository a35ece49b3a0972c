"""Chat user → person: who may act from chat is the roster (`WARROOM_ONCALL`'s people).

A Slack user id maps through `contacts.slack_id`, a Mattermost user id through
`contacts.mattermost_id`. Names typed in chat are never trusted: a user the roster does not list
gets "you are not in the roster" and changes nothing.
"""

from __future__ import annotations

from pathlib import Path

from warroom.contracts.chat import ChatUser
from warroom.oncall.models import OncallConfig

NOT_IN_ROSTER = (
    "You are not in warroom's roster, so you cannot act on incidents from chat. "
    "Ask whoever keeps the on-call file (WARROOM_ONCALL) to add your {platform} id ({user_id}) "
    "to your entry's contacts, or use the CLI."
)


class ChatRoster:
    """The roster's chat identities, looked up by platform and user id."""

    def __init__(self, config: OncallConfig | None) -> None:
        self._people: dict[tuple[str, str], str] = {}
        for person in config.people if config else []:
            if person.contacts.slack_id:
                self._people[("slack", person.contacts.slack_id)] = person.name
            if person.contacts.mattermost_id:
                self._people[("mattermost", person.contacts.mattermost_id)] = person.name

    @classmethod
    def from_file(cls, path: Path | None) -> ChatRoster:
        """The roster file's people (feeds are not read: identities live in the file itself).
        Raises OncallInputError naming the file and the field."""
        if path is None:
            return cls(None)
        from warroom.oncall.load import parse_oncall

        return cls(parse_oncall(path.read_text(encoding="utf-8"), str(path)))

    def person(self, user: ChatUser) -> str | None:
        return self._people.get((user.platform, user.user_id))

    def refusal(self, user: ChatUser) -> str:
        return NOT_IN_ROSTER.format(platform=user.platform.title(), user_id=user.user_id)

    def __len__(self) -> int:
        return len(self._people)
