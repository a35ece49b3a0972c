"""The HTTP catalog entry: its template is checked at load, and rendering cannot move the request."""

from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from warroom.contracts.steps import PREVIEW_TEXT_MAX, HttpStepRequest, StepPreview
from warroom.policy.http_request import TEXT_MAX, HttpTemplate, preview, render

KILL = {
    "method": "POST",
    "url": "https://flags.internal/api/v1/flags/{flag}/kill?env={env}&reason=incident",
    "body": {"flag": "{flag}", "percent": "{percent}", "note": "killed by {who} in {env}", "dry": False},
    "credential": "flags-admin",
}
PARAMS = ("flag", "env", "percent", "who")


def kill_switch() -> HttpTemplate:
    return HttpTemplate.load(KILL, PARAMS)


def test_the_rendered_request_keeps_typed_body_values_and_encodes_the_url() -> None:
    req = render(kill_switch(), {"flag": "new checkout", "env": "prod", "percent": 0, "who": "alice"})
    assert req == HttpStepRequest(
        method="POST",
        url="https://flags.internal/api/v1/flags/new%20checkout/kill?env=prod&reason=incident",
        body={"flag": "new checkout", "percent": 0, "note": "killed by alice in prod", "dry": False},
        credential="flags-admin",
    )
    assert render(kill_switch(), {"flag": "f", "env": True, "percent": 5, "who": "x"}).url.endswith(
        "env=true&reason=incident"
    )


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://flags.internal/{flag}", "http:// or https://"),
        ("file:///etc/{flag}", "http:// or https://"),
        ("https://{flag}.internal/kill", "fixed text"),
        ("https://flags.internal:{flag}/kill", "fixed text"),
        ("https://admin:pw@flags.internal/{flag}", "user or password"),
        ("https://flags.internal/{flag}#top", "fragment"),
        ("https://flags.internal/kill?{flag}=1", "query keys"),
        ("https://flags.internal/{Flag}/kill", "brace"),
        ("https://flags.internal/{flag/kill", "brace"),
        ("https://flags.internal/a/../{flag}", ". or .."),
        ("https://flags.internal/a b/{flag}", "whitespace"),
        ("https:///{flag}", "no host"),
        ("https://flags.internal:99x/{flag}", "port"),
    ],
)
def test_a_template_that_could_move_the_request_is_refused_at_load(url: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        HttpTemplate.load({**KILL, "url": url, "body": None}, PARAMS)


def test_every_placeholder_must_be_one_of_the_entry_s_params() -> None:
    with pytest.raises(ValidationError, match="names percent, who"):
        HttpTemplate.load(KILL, ["flag", "env"])
    with pytest.raises(ValidationError, match="body keys"):
        HttpTemplate.load({**KILL, "body": {"{flag}": 1}}, PARAMS)
    with pytest.raises(ValidationError):  # a credential is a name, never a header value
        HttpTemplate.load({**KILL, "credential": "Bearer abc"}, PARAMS)
    with pytest.raises(ValidationError):
        HttpTemplate.load({**KILL, "method": "TRACE"}, PARAMS)
    assert kill_switch().placeholders() == set(PARAMS)
    assert kill_switch().fixed_prefix() == "https://flags.internal/api/v1/flags/"


@pytest.mark.parametrize(
    "value",
    ["a/b", "..", ".", "a..b", "x?admin=1", "x#y", "a\\b", "a\r\nX-Evil: 1", "nul\x00", "", "x" * 257, "%2e%2e/../"],
)
def test_a_hostile_value_is_refused_naming_its_parameter(value: str) -> None:
    with pytest.raises(ValueError, match="parameter flag"):
        render(kill_switch(), {"flag": value, "env": "prod", "percent": 1, "who": "a"})


def test_a_missing_parameter_is_named_and_a_body_value_is_bounded_too() -> None:
    with pytest.raises(ValueError, match="parameter env, who: missing"):
        render(kill_switch(), {"flag": "f", "percent": 1})
    with pytest.raises(ValueError, match="parameter who"):
        render(kill_switch(), {"flag": "f", "env": "p", "percent": 1, "who": "x" * 100_000})


def test_percent_sequences_are_encoded_not_decoded() -> None:
    req = render(kill_switch(), {"flag": "%2F%2e", "env": "a&b=c", "percent": 1, "who": "a"})
    assert req.url == "https://flags.internal/api/v1/flags/%252F%252e/kill?env=a%26b%3Dc&reason=incident"


def test_the_preview_shows_the_request_with_the_credential_by_name_only() -> None:
    req = render(kill_switch(), {"flag": "checkout", "env": "prod", "percent": 0, "who": "alice"})
    req = req.model_copy(update={"idempotency_key": "INC-7/kill-flag"})
    shown = StepPreview(**preview(req))
    head, _, body = shown.request.partition("\n\n")
    assert head.splitlines() == [
        "POST https://flags.internal/api/v1/flags/checkout/kill?env=prod&reason=incident",
        "Content-Type: application/json",
        "Idempotency-Key: INC-7/kill-flag",
        'Authorization: <secret "flags-admin">',
    ]
    assert '"percent": 0' in body and '"dry": false' in body
    assert shown.summary == "POST https://flags.internal/api/v1/flags/checkout/kill?env=prod&reason=incident"
    assert shown.would_change
    bare = StepPreview(**preview(HttpStepRequest(method="DELETE", url="http://x/y")))
    assert bare.request == "DELETE http://x/y"
    assert TEXT_MAX == PREVIEW_TEXT_MAX


def test_a_huge_body_is_cut_to_the_preview_bound() -> None:
    big = HttpStepRequest(method="PUT", url="http://x/y", body=["v" * 200] * 100)
    assert len(StepPreview(**preview(big)).request) == PREVIEW_TEXT_MAX


values: st.SearchStrategy[Any] = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.sampled_from("./\\?#%&=:@ \r\n\x00abc{}"), max_size=12),
    st.integers(min_value=-(10**300), max_value=10**300),
    st.booleans(),
)


@settings(max_examples=400)
@given(flag=values, env=values)
def test_render_either_refuses_or_keeps_the_origin_and_path_prefix(flag: Any, env: Any) -> None:
    template = kill_switch()
    try:
        req = render(template, {"flag": flag, "env": env, "percent": 1, "who": "a"})
    except ValueError:
        return
    got, want = urlsplit(req.url), urlsplit(template.url)
    assert (got.scheme, got.netloc, got.fragment) == (want.scheme, want.netloc, "")
    assert req.url.startswith(template.fixed_prefix())
    segments = got.path.split("/")
    assert len(segments) == len(want.path.split("/")) and segments[-1] == "kill"
    normal = posixpath.normpath(unquote(got.path))
    assert normal.startswith("/api/v1/flags/") and normal.count("/") == got.path.count(
        "/"
    )  # decoded, still one segment
    assert [pair.split("=")[0] for pair in got.query.split("&")] == ["env", "reason"]
    assert not any(c in req.url for c in "\r\n\x00 ")


def test_placeholders_are_spelt_as_catalog_parameter_names() -> None:
    assert HttpTemplate.load(
        {**KILL, "url": "https://f.internal/{flag_2}", "body": None}, ["flag_2"]
    ).placeholders() == {"flag_2"}
    for bad in ("{_flag}", "{2flag}", "{flag-name}", "{" + "f" * 41 + "}"):
        with pytest.raises(ValidationError, match="brace"):
            HttpTemplate.load({**KILL, "url": f"https://f.internal/{bad}", "body": None}, [bad.strip("{}")])
