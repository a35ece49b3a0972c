"""A generic JSON webhook for the incident channel (Mattermost, Teams workflows, Slack incoming webhooks,
or your own relay).

POST <url> with a JSON body whose `text` is the rendered message (what most chat webhooks read)
plus the fields a relay needs to route it. With a secret configured, the body is signed:
`X-Warroom-Timestamp: <unix seconds>` and `X-Warroom-Signature: sha256=<hex HMAC of "<ts>.<body>">`.
The URL itself is treated as a secret: it appears in no error, log line or return value.

`Idempotency-Key: <key>` names the message (`activities.delivery`): a retry after a lost worker sends
the same key again, so a relay that remembers keys can drop the copy; a webhook can't be asked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from pydantic import SecretStr

from activities.channels._http import HttpClient
from activities.delivery import delivery_key
from warroom.models import Notification

SERVICE = "webhook"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookChannel:
    def __init__(self, http: HttpClient, url: SecretStr, secret: SecretStr | None = None) -> None:
        self.http = http
        self._url = url
        self._secret = secret

    async def deliver(self, notification: Notification, text: str) -> str:
        channel = notification.context.get("channel")
        payload: dict[str, object] = {
            "text": text,
            "incident_id": notification.incident_id,
            "kind": notification.channel,
            "template": notification.template,
            "audience": notification.audience,
            "channel": channel if isinstance(channel, str) else "",
        }
        if notification.recipients:  # who the roster named, with how to reach them
            payload["recipients"] = [r.model_dump(mode="json", exclude_none=True) for r in notification.recipients]
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        key = delivery_key()
        if key is not None:
            headers["Idempotency-Key"] = key
        import httpx

        url = httpx.URL(self._url.get_secret_value())
        secrets = [str(url), url.path if len(url.path) > 8 else None, url.query.decode() or None]
        if self._secret is not None:
            stamp = str(int(time.time()))
            headers["X-Warroom-Timestamp"] = stamp
            headers["X-Warroom-Signature"] = sign(self._secret.get_secret_value(), stamp, body)
            secrets.append(self._secret.get_secret_value())
        response = await self.http.request(
            SERVICE,
            "webhook POST",
            "POST",
            self._url.get_secret_value(),
            content=body,
            headers=headers,
            secrets=secrets,
        )
        return f"webhook (HTTP {response.status_code})"
