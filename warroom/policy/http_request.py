"""An HTTP catalog entry: its template, checked when the runbook loads, and its rendering.

A runbook names a request (a feature-flag kill switch, a traffic shift) as a template:

    method: POST
    url: "https://flags.internal/api/v1/flags/{flag}/kill?env={env}"
    body: {"flag": "{flag}", "percent": "{percent}"}
    credential: flags-admin          # the NAME of a secret the worker holds, never the secret

Placeholders may sit only in path segments and query values; the origin (scheme, host, port) is
fixed text. Rendering percent-encodes every value and refuses a value that could move the request
(a `/`, `..`, `?`, `#`, a control character), so a rendered URL always keeps the template's origin
and its path up to the first placeholder: parameters choose WHICH flag, never WHICH server. In the
body a string that is exactly "{param}" becomes the typed value (an int stays an int).

Pure: no I/O. The rendered request is the contract's `HttpStepRequest` (defined here, re-exported
by `warroom.contracts.steps`), so a workflow renders and previews without an activity.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Annotated, Any, Literal, TypedDict
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, model_validator

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
Credential = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Value = str | int | bool

VALUE_MAX = 256
"""Characters of one rendered parameter value; the catalog's string parameters are no longer."""
TEXT_MAX = 8000
"""The preview's request text, as `warroom.contracts.steps.PREVIEW_TEXT_MAX` (a test pins them equal)."""

_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]{0,39})\}")
"""`{name}`: a catalog parameter's name (1-40 of a-z, 0-9 and _, starting with a letter)."""
_BRACES = re.compile(r"[{}]")
_UNSAFE_URL_TEXT = re.compile(r"[\x00-\x20\x7f\\]")
_FORBIDDEN = re.compile(r"[/\\?#\x00-\x1f\x7f]")
"""In a URL value: anything that could end a segment or the query, or split a header line."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HttpStepRequest(_Model):
    """A rendered, allow-listed HTTP request (a feature-flag kill switch, a traffic shift).

    The URL comes from the runbook's template with each parameter validated and percent-encoded;
    `credential` names a secret the worker holds (an `Authorization` header), never the secret.
    """

    method: HttpMethod
    url: Annotated[str, StringConstraints(max_length=2048)]
    body: Any = None
    credential: Credential | None = None
    timeout_seconds: float = Field(10.0, gt=0, le=120)
    idempotency_key: str | None = None


class HttpTemplate(_Model):
    """A catalog entry's request. Validate with `context={"params": names}` (`HttpTemplate.load`) to
    check every placeholder against the entry's parameters; without it only the shape is checked."""

    method: HttpMethod
    url: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    body: Any = Field(None, description="a JSON value; strings may hold {param} placeholders")
    credential: Credential | None = None
    timeout_seconds: float = Field(10.0, gt=0, le=120)

    @classmethod
    def load(cls, data: Mapping[str, Any], params: Collection[str]) -> HttpTemplate:
        """The runbook's template, refused unless every placeholder is one of `params`."""
        return cls.model_validate(dict(data), context={"params": list(params)})

    @model_validator(mode="after")
    def _shape(self, info: ValidationInfo) -> HttpTemplate:
        names = _url_placeholders(self.url) | _body_placeholders(self.body)
        context = info.context if isinstance(info.context, Mapping) else {}
        if "params" in context:
            unknown = sorted(names - set(context["params"]))
            if unknown:
                raise ValueError(f"the template names {', '.join(unknown)}, which the entry's params do not")
        return self

    def placeholders(self) -> set[str]:
        return _url_placeholders(self.url) | _body_placeholders(self.body)

    def fixed_prefix(self) -> str:
        """Origin and path up to the first placeholder: what every rendering starts with."""
        parts = urlsplit(self.url)
        path = parts.path.split("{", 1)[0]
        return f"{parts.scheme}://{parts.netloc}{path}"


def _url_placeholders(url: str) -> set[str]:
    """Check the URL template's shape; return the placeholders it names."""
    if _UNSAFE_URL_TEXT.search(url):
        raise ValueError("the url holds whitespace, a backslash or a control character")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("the url must be http:// or https://")
    if _BRACES.search(parts.scheme + parts.netloc):
        raise ValueError("the url's scheme, host and port are fixed text: no placeholder there")
    if "@" in parts.netloc:
        raise ValueError("the url may not carry a user or password (name a credential instead)")
    if not parts.hostname:
        raise ValueError("the url names no host")
    try:
        parts.port  # noqa: B018 - raises on a port that is no number
    except ValueError:
        raise ValueError("the url's port is not a number") from None
    if parts.fragment or url.endswith("#"):
        raise ValueError("the url may not have a #fragment")
    names: set[str] = set()
    for segment in parts.path.split("/"):
        if segment in (".", ".."):
            raise ValueError("the url's path may not hold . or .. segments")
        names |= _names_in(segment, "a path segment")
    for pair in parts.query.split("&") if parts.query else ():
        key, _, value = pair.partition("=")
        if _BRACES.search(key):
            raise ValueError("query keys are fixed text: placeholders go in query values only")
        names |= _names_in(value, "a query value")
    return names


def _names_in(text: str, where: str) -> set[str]:
    """The placeholders in one segment or value; a stray brace is an error, not text."""
    if _BRACES.search(_PLACEHOLDER.sub("", text)):
        raise ValueError(f"{where} holds a brace that is no {{param}} placeholder: {text[:60]!r}")
    return set(_PLACEHOLDER.findall(text))


def _body_placeholders(body: Any) -> set[str]:
    if isinstance(body, str):
        return _names_in(body, "a body string")
    if isinstance(body, list):
        return set().union(*(_body_placeholders(item) for item in body))
    if isinstance(body, dict):
        for key in body:
            if not isinstance(key, str) or _BRACES.search(key):
                raise ValueError("body keys are fixed text: placeholders go in values only")
        return set().union(*(_body_placeholders(item) for item in body.values()))
    if body is None or isinstance(body, (bool, int, float)):
        return set()
    raise ValueError(f"the body is not a JSON value ({type(body).__name__})")


# --- Rendering -----------------------------------------------------------------------------------


def _text(name: str, value: Value) -> str:
    """A parameter as text: bools as JSON spells them; refused when too long or holding a control character."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise ValueError(f"parameter {name}: not a string, integer or boolean")
    if len(text) > VALUE_MAX:
        raise ValueError(f"parameter {name}: longer than {VALUE_MAX} characters")
    if "\x00" in text:
        raise ValueError(f"parameter {name}: contains NUL")
    return text


def _url_value(name: str, value: Value) -> str:
    """A value for a URL: refused if it could leave its segment or query value, else percent-encoded."""
    text = _text(name, value)
    if not text:
        raise ValueError(f"parameter {name}: empty, which would change the URL's shape")
    if _FORBIDDEN.search(text) or ".." in text or text == ".":
        raise ValueError(f"parameter {name}: holds /, \\, ?, #, .. or a control character; refused in a URL")
    return quote(text, safe="")


def _fill_url(url: str, params: Mapping[str, Value]) -> str:
    parts = urlsplit(url)

    def sub(text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: _url_value(m.group(1), params[m.group(1)]), text)

    path = "/".join(sub(segment) for segment in parts.path.split("/"))
    query = "&".join(
        f"{key}={sub(value)}" if sep else key for key, sep, value in (p.partition("=") for p in parts.query.split("&"))
    )
    return f"{parts.scheme}://{parts.netloc}{path}" + (f"?{query}" if parts.query else "")


def _fill_body(body: Any, params: Mapping[str, Value]) -> Any:
    if isinstance(body, str):
        whole = _PLACEHOLDER.fullmatch(body)
        if whole:
            name = whole.group(1)
            _text(name, params[name])  # the same bounds as in a URL
            return params[name]
        return _PLACEHOLDER.sub(lambda m: _text(m.group(1), params[m.group(1)]), body)
    if isinstance(body, list):
        return [_fill_body(item, params) for item in body]
    if isinstance(body, dict):
        return {key: _fill_body(item, params) for key, item in body.items()}
    return body


def render(template: HttpTemplate, params: Mapping[str, Value]) -> HttpStepRequest:
    """The request for these (catalog-validated) parameters; ValueError naming the parameter if a
    value is missing or could change where the request goes."""
    missing = sorted(template.placeholders() - set(params))
    if missing:
        raise ValueError(f"parameter {', '.join(missing)}: missing")
    url = _fill_url(template.url, params)
    if len(url) > 2048:
        raise ValueError("the rendered url is longer than 2048 characters")
    return HttpStepRequest(
        method=template.method,
        url=url,
        body=_fill_body(template.body, params),
        credential=template.credential,
        timeout_seconds=template.timeout_seconds,
    )


# --- Preview -------------------------------------------------------------------------------------


class HttpPreview(TypedDict):
    """A `StepPreview`'s fields for an HTTP step: `StepPreview(**preview(req))`."""

    summary: str
    request: str
    would_change: bool


def preview(req: HttpStepRequest) -> HttpPreview:
    """The request as it will be sent, headers included; the credential by name only."""
    lines = [f"{req.method} {req.url}"]
    if req.body is not None:
        lines.append("Content-Type: application/json")
    if req.idempotency_key:
        lines.append(f"Idempotency-Key: {req.idempotency_key}")
    if req.credential:
        lines.append(f'Authorization: <secret "{req.credential}">')
    text = "\n".join(lines)
    if req.body is not None:
        text += "\n\n" + json.dumps(req.body, indent=2, ensure_ascii=False, sort_keys=True)
    if len(text) > TEXT_MAX:
        text = text[: TEXT_MAX - 1] + "…"
    summary = f"{req.method} {req.url}"
    if len(summary) > 300:
        summary = summary[:299] + "…"
    return HttpPreview(summary=summary, request=text, would_change=True)
