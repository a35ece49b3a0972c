"""The incident ticket's contract: the notify activity on the `ticket` channel, and what it answers.

A ticket is one more message about the incident — its description at declaration, its timeline at
resolution — so it travels as a `Notification` through the channel router, which already picks an
adapter per channel (Jira Cloud, GitHub Issues, else the local sink), retries and reports failures
as typed errors. A ticket activity of its own would be a new wire name for nothing. What is
particular to tickets is written here, once, for both sides:

- `TICKET`: the same `notify` activity with a shorter retry, so a ticket system that is down holds
  its phase up for about a minute, not the several minutes a page is worth trying for;
- the templates: `ticket_opened` (first line the title, the rest the description) and
  `ticket_timeline` (the comment added at resolution);
- `TicketRef`: the ticket's system, key and URL. The adapter answers with it as the delivery's
  destination (`ticket jira OPS-7 https://acme.atlassian.net/browse/OPS-7`) and the workflow reads
  it back, records it on the timeline and posts the link to the incident channel.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio.common import RetryPolicy

from warroom.contracts.notify import NOTIFY

CHANNEL: Literal["ticket"] = "ticket"
OPEN = "ticket_opened"
"""Open the incident's ticket, or find the one an earlier attempt opened (the adapters' dedup key)."""
TIMELINE = "ticket_timeline"
"""Add the timeline to the incident's ticket once (opening the ticket first if it has none)."""

TICKET_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=20),
    maximum_attempts=3,
)
"""Three tries, the first retry after 5 s: a retried creation looks the ticket up by its label
before it creates one, and Jira's search can take a few seconds to see an issue just created."""

TICKET = replace(NOTIFY, retry=TICKET_RETRY)
"""The notify activity (same wire name, types and timeout) with the ticket's retry policy."""

PREFIX = "ticket"
TicketSystem = Literal["jira", "github", "local"]


class TicketRef(BaseModel):
    """Where the incident's ticket is: `system`, its `key` (OPS-7, acme/shop#42) and a `url` to open."""

    # Python's re, not pydantic's Rust engine: the latter compiles `\S{1,2040}` (a Unicode class repeated
    # 2,040 times) into about 8 MiB held by every process that imports this module. `\Z`, not `$`:
    # Python's `$` also matches before a final newline.
    model_config = ConfigDict(extra="forbid", frozen=True, regex_engine="python-re")

    system: TicketSystem
    key: str = Field(..., pattern=r"^[A-Za-z0-9#/._-]{1,200}\Z")
    url: str = Field(..., pattern=r"^(https?|file)://\S{1,2040}\Z")

    def destination(self) -> str:
        """What a ticket adapter returns as the delivery's destination."""
        return f"{PREFIX} {self.system} {self.key} {self.url}"

    @classmethod
    def parse(cls, destination: str) -> TicketRef | None:
        """The ticket a delivery's destination names; None when it names none (a sink that only logs)."""
        parts = destination.split("; ", 1)[0].split(" ")
        if len(parts) != 4 or parts[0] != PREFIX:
            return None
        try:
            return cls.model_validate({"system": parts[1], "key": parts[2], "url": parts[3]})
        except ValidationError:
            return None
