"""The suite-wide secrets scan: every workflow history the suite writes is searched for every secret
the suite configures (intake tokens and signing secrets, channel credentials, database passwords,
codec keys). Payloads are decoded first, so a secret inside a JSON argument is found too.

Histories are scanned where they would otherwise vanish: when a test harness stops (time-skipping
servers die with their test) and, for the shared dev server, all of them at the end of the session.
`conftest.py` fails the run if anything is found.
"""

from __future__ import annotations

import base64
import importlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import PayloadCodec
from temporalio.service import RPCError

from warroom.compression import ChainCodec, CompressionCodec

# (module, attribute): where the suite keeps the secrets it configures.
SOURCES = [
    ("tests.intake.support", "CREDENTIALS"),
    ("tests.comms.fakes", "SECRETS"),
    ("tests.ansible.support", "PG_PASSWORD"),
    ("tests.reliability.test_secrets_scan", "SECRETS"),
]
MIN_LENGTH = 8  # shorter test values ("k", "u") would match ordinary text


class SecretSourceMissing(LookupError):
    """A source in SOURCES is gone (module or attribute renamed): the scan would be blind to it."""


def suite_secrets() -> dict[str, str]:
    found: dict[str, str] = {}
    for module_name, attribute in SOURCES:
        try:
            value = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise SecretSourceMissing(
                f"secret source {module_name}.{attribute} is gone ({exc}); point SOURCES in "
                "tests/history_scan.py at where those secrets live now"
            ) from None
        items = (
            list(value.items())
            if isinstance(value, dict)
            else [("0", value)]
            if isinstance(value, str)
            else [(str(i), v) for i, v in enumerate(value)]
        )
        for key, secret in items:
            if "user" in key:
                continue  # a user name ("opsgenie") is not a secret, and names the source everywhere
            if isinstance(secret, str) and len(secret) >= MIN_LENGTH:
                found[f"{module_name}.{attribute}[{key}]"] = secret
    return found


def _texts(node: Any) -> Iterator[str]:
    """Every string of a history's JSON, with payload data base64-decoded."""
    if isinstance(node, dict):
        if "data" in node and "metadata" in node and isinstance(node["data"], str):
            try:
                yield base64.b64decode(node["data"]).decode("utf-8", "replace")
            except ValueError:
                yield node["data"]
        for value in node.values():
            yield from _texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _texts(value)
    elif isinstance(node, str):
        yield node


def _payload_nodes(node: Any) -> Iterator[dict[str, Any]]:
    """The JSON objects of a history that are payloads (`metadata` and base64 `data`)."""
    if isinstance(node, dict):
        if "metadata" in node and isinstance(node.get("data"), str):
            yield node
            return
        for value in node.values():
            yield from _payload_nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _payload_nodes(value)


IN_CLEAR = (".searchAttributes.", ".markerRecordedEventAttributes.details.patch-data.")
"""Payloads Temporal keeps in clear whatever the codec: search attributes (indexed for queries) and
the SDK's own `workflow.patched` markers. A scan reads them as they are."""


def payload_encodings(history: WorkflowHistory) -> list[bytes]:
    """The `encoding` of every payload the data converter wrote into a history (IN_CLEAR left out)."""

    def walk(node: Any, path: str) -> Iterator[bytes]:
        if isinstance(node, dict):
            if "metadata" in node and isinstance(node.get("data"), str):
                if not any(part in path for part in IN_CLEAR):
                    yield base64.b64decode(node["metadata"].get("encoding", ""))
                return
            for key, value in node.items():
                yield from walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for value in node:
                yield from walk(value, path)

    return list(walk(json.loads(history.to_json()), ""))


async def history_text(history: WorkflowHistory, codec: PayloadCodec | None = None) -> str:
    """Every string of a history, payloads base64-decoded after warroom's compression is undone (a
    secret in a compressed payload is still found); with `codec`, encoded payloads (an encrypted
    one, say) are first decoded by it, as the Web UI's codec server would show them."""
    document = json.loads(history.to_json())
    decoder = ChainCodec([CompressionCodec(), *([codec] if codec is not None else [])])
    nodes = list(_payload_nodes(document))
    payloads = [json_format.ParseDict(node, Payload()) for node in nodes]
    for node, decoded in zip(nodes, await decoder.decode(payloads), strict=True):
        node.clear()
        node.update(json_format.MessageToDict(decoded))
    return "\n".join(_texts(document))


@dataclass
class Ledger:
    scanned: set[tuple[str, str]] = field(default_factory=set)
    events: int = 0
    hits: list[str] = field(default_factory=list)

    async def scan(self, client: Client, workflow_ids: Iterable[str]) -> None:
        secrets = suite_secrets()
        for workflow_id in workflow_ids:
            try:
                history = await client.get_workflow_handle(workflow_id).fetch_history()
            except RPCError:
                continue  # never started (a phase that did not run)
            run_id = history.run_id
            if (workflow_id, run_id) in self.scanned:
                continue
            self.scanned.add((workflow_id, run_id))
            self.events += len(history.events)
            text = await history_text(history)
            self.hits += [f"{name} in {workflow_id}" for name, secret in secrets.items() if secret in text]

    async def scan_all(self, client: Client) -> None:
        await self.scan(client, [w.id async for w in client.list_workflows()])

    def summary(self) -> str:
        return (
            f"[secrets] {len(self.scanned)} histories, {self.events} events scanned for "
            f"{len(suite_secrets())} configured secrets: {len(self.hits)} found"
        )


LEDGER = Ledger()
