"""Property: whatever an authenticated sender posts to any endpoint, the intake never answers 5xx,
and a request it refuses (4xx) reaches Temporal not at all.

Bodies are arbitrary JSON, arbitrary bytes, and the vendors' documented examples with one value
replaced or removed at a random path (the mutations that get past the first schema checks).
Requests carry valid credentials and signatures so that the payload handling is what is tested.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SOURCES = ("alertmanager", "pagerduty", "opsgenie", "grafana", "generic")
DELETE = object()

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*prefix, index))
    return found


def _mutate(document: Any, path: tuple[Any, ...], replacement: Any) -> Any:
    copy = json.loads(json.dumps(document))
    parent = copy
    for step in path[:-1]:
        parent = parent[step]
    if replacement is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return copy


@st.composite
def bodies(draw: st.DrawFn, source: str, example: dict[str, Any]) -> bytes:
    kind = draw(st.sampled_from(["mutated", "mutated", "json", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    path = draw(st.sampled_from(_paths(example)))
    replacement = draw(st.one_of(st.just(DELETE), json_values))
    return json.dumps(_mutate(example, path, replacement)).encode()


@pytest.mark.parametrize("source", SOURCES)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_no_input_gets_a_5xx_or_reaches_temporal_unless_accepted(module_intake, payload, source, data):
    body = data.draw(bodies(source, payload(source)))
    before = len(module_intake.calls)

    response = await module_intake.post(source, body)

    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert len(module_intake.calls) == before, f"{response.status_code} after a Temporal call"
        assert response.json()["detail"]
    else:
        assert response.status_code == 200
