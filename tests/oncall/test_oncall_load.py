"""Loading WARROOM_ONCALL: the example file, feeds from files and a real local HTTP server,
Backstage ownership, and hostile files refused with one line per problem naming file and field."""

from __future__ import annotations

import http.server
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from warroom.errors import ConfigInvalid
from warroom.oncall.backstage import owners_from_catalog
from warroom.oncall.coverage import coverage_gaps
from warroom.oncall.load import OncallError, load_directory, parse_oncall
from warroom.oncall.models import OncallInputError
from warroom.oncall.resolve import resolve_roles

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "oncall.example.yaml"
FEEDS = Path(__file__).parent / "feeds"
ROLES = ["on-call-engineer", "engineering-team-lead", "engineering-manager", "incident-commander"]


def example() -> dict[str, Any]:
    data = yaml.safe_load(EXAMPLE.read_text())
    assert isinstance(data, dict)
    return data


def write(folder: Path, data: dict[str, Any] | str, name: str = "oncall.yaml") -> Path:
    path = folder / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def error_of(path: Path, **kwargs: Any) -> str:
    with pytest.raises(OncallError) as caught:
        load_directory(path, **kwargs)
    return str(caught.value)


# --- the example -------------------------------------------------------------------------------


def test_the_example_loads_with_its_feed_and_catalog_and_has_no_gap_in_14_days() -> None:
    directory = load_directory(EXAMPLE)
    assert set(directory.feeds) == {"platform-pagerduty-export"}
    assert directory.feeds["platform-pagerduty-export"].unmatched == []
    # the teams' services, then the catalog's for services no team lists; the file wins on checkout
    assert directory.owners == {
        "checkout": "payments",
        "payments-api": "payments",
        "kube-infra": "platform",
        "ledger": "payments",
        "ingress-gateway": "platform",
    }
    assert directory.team_for("ledger") == "payments" and directory.team_for("unknown-svc") == "platform"
    at = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    for team in ("payments", "platform"):
        paged, gaps = resolve_roles(directory, [], team, ROLES, at)
        assert gaps == [] and all(r.person for r in paged), paged
    start = datetime(2026, 12, 7, tzinfo=UTC)
    assert coverage_gaps(directory, [], ROLES, start, datetime(2026, 12, 21, tzinfo=UTC)) == []


def test_the_example_file_feed_path_is_relative_to_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("oncall.example.yaml", "oncall-feed.ics", "catalog-info.yaml"):
        shutil.copy(EXAMPLE.parent / name, tmp_path / name)
    monkeypatch.chdir(ROOT)  # the working directory does not matter
    assert set(load_directory(tmp_path / "oncall.example.yaml").feeds) == {"platform-pagerduty-export"}


# --- feeds over HTTP, from a real local server ---------------------------------------------------


@pytest.fixture
def feed_server() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            if self.path == "/pd.ics":
                body = (FEEDS / "pagerduty-payments-primary.ics").read_bytes()
            elif self.path == "/huge.ics":
                body = b"BEGIN:VCALENDAR\r\n" + b"X" * 6_000_000
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def url_config(url: str) -> dict[str, Any]:
    data = example()
    data["backstage"] = []
    data["schedules"][-1]["ical"] = {"url": url}
    return data


def test_a_feed_is_read_from_a_url(tmp_path: Path, feed_server: str) -> None:
    directory = load_directory(write(tmp_path, url_config(f"{feed_server}/pd.ics")))
    feed = directory.feeds["platform-pagerduty-export"]
    assert feed.source == f"{feed_server}/pd.ics"
    shift = feed.shift_at(datetime(2026, 1, 6, tzinfo=UTC))
    assert shift is not None and shift.person == "alice"


def test_a_missing_or_oversized_url_feed_is_an_error_naming_the_schedule(tmp_path: Path, feed_server: str) -> None:
    missing = error_of(write(tmp_path, url_config(f"{feed_server}/nope.ics")))
    assert "schedules.2.ical (platform-pagerduty-export)" in missing and "404" in missing
    huge = error_of(write(tmp_path, url_config(f"{feed_server}/huge.ics")))
    assert "larger than" in huge and "huge.ics" in huge


def test_fetch_can_be_given(tmp_path: Path) -> None:
    asked: list[str] = []

    def fetch(url: str) -> str:
        asked.append(url)
        return (FEEDS / "opsgenie-payments.ics").read_text()

    directory = load_directory(write(tmp_path, url_config("https://feeds.example/og.ics")), fetch=fetch)
    assert asked == ["https://feeds.example/og.ics"] and "platform-pagerduty-export" in directory.feeds


# --- Backstage -------------------------------------------------------------------------------


def test_backstage_components_map_to_teams_and_other_kinds_are_skipped() -> None:
    text = (EXAMPLE.parent / "catalog-info.yaml").read_text()
    assert owners_from_catalog(text, "catalog-info.yaml") == {
        "ledger": "payments",
        "ingress-gateway": "platform",
        "checkout": "payments",
    }
    refs = "\n---\n".join(
        f"kind: Component\nmetadata: {{name: svc-{i}}}\nspec: {{owner: '{ref}'}}"
        for i, ref in enumerate(["payments", "group:payments", "group:default/payments", "Group:team-a/payments"])
    )
    assert set(owners_from_catalog(refs, "c.yaml").values()) == {"payments"}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "kind: Component\nmetadata: {name: svc}\nspec: {owner: 'user:default/alice'}",
            ["c.yaml", "svc", "not a group reference"],
        ),
        ("kind: Component\nmetadata: {name: svc}\nspec: {}", ["c.yaml", "spec.owner is missing"]),
        (
            "kind: Component\nmetadata: {name: 'Bad Name!'}\nspec: {owner: payments}",
            ["c.yaml", "metadata.name is not a service name"],
        ),
        (
            "kind: Component\nmetadata: {name: svc}\nspec: {owner: 'payments\\nBcc: evil'}",
            ["c.yaml", "not a group reference"],
        ),
        ("kind: Component\nmetadata: {name: svc}\nspec: {owner: '../../etc'}", ["c.yaml", "spec.owner"]),
        ("- just\n- a list", ["c.yaml", "document 1 is not a mapping"]),
        ("kind: Component\n  bad: [indent", ["c.yaml", "not YAML"]),
        ("[" * 100_000, ["c.yaml"]),
        ("x: " + "y" * 3_000_000, ["c.yaml", "larger than"]),
        (
            "kind: Component\nmetadata: {name: a}\nspec: {owner: t1}\n---\nkind: Component\nmetadata: {name: a}\nspec: {owner: t2}",
            ["owned by both t1 and t2"],
        ),
    ],
)
def test_hostile_catalogs_are_refused_naming_the_file(text: str, words: list[str]) -> None:
    with pytest.raises(OncallInputError) as caught:
        owners_from_catalog(text, "c.yaml")
    for word in words:
        assert word in str(caught.value), str(caught.value)


def test_a_catalog_owner_that_is_not_a_team_is_an_error(tmp_path: Path) -> None:
    data = example()
    data["schedules"] = data["schedules"][:2]
    data["teams"][1]["roles"]["on-call-engineer"] = {"person": "gus"}
    (tmp_path / "catalog-info.yaml").write_text(
        "kind: Component\nmetadata: {name: search}\nspec: {owner: group:default/search-team}\n"
    )
    message = error_of(write(tmp_path, data))
    assert "backstage.0" in message and "search-team" in message and "search" in message


# --- hostile on-call files -----------------------------------------------------------------------


def test_every_problem_is_one_line_naming_its_field() -> None:
    data = example()
    data["people"][0]["contacts"]["email"] = "alice@x.com\nBcc: evil@evil.example"
    data["people"][1]["timezone"] = "Mars/Olympus_Mons"
    data["schedules"][0]["layers"][0]["members"].append("mallory")
    data["teams"][0]["roles"]["on-call-engineer"] = {"schedule": "nope"}
    with pytest.raises(OncallError) as caught:
        parse_oncall(yaml.safe_dump(data), "oncall.yaml")
    lines = str(caught.value).splitlines()
    assert lines[0] == "invalid on-call file oncall.yaml:"
    assert any(line.startswith("  people.0.contacts.email:") and "not an e-mail address" in line for line in lines), (
        lines
    )
    assert any(line.startswith("  people.1.timezone:") and "Mars/Olympus_Mons" in line for line in lines), lines
    assert isinstance(caught.value, ConfigInvalid)


def test_cross_reference_problems_each_get_a_line() -> None:
    data = example()
    data["schedules"][0]["layers"][0]["members"].append("mallory")
    data["teams"][0]["roles"]["on-call-engineer"] = {"schedule": "nope"}
    with pytest.raises(OncallError) as caught:
        parse_oncall(yaml.safe_dump(data), "oncall.yaml")
    lines = str(caught.value).splitlines()
    assert any("unknown people ['mallory']" in line for line in lines) and any(
        "unknown schedule 'nope'" in line for line in lines
    )
    assert len(lines) == 3


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (
            lambda d: d["schedules"][0]["layers"][0].update(timezone="../../etc/passwd"),
            ["schedules.0.layers.0.timezone", "not a time zone"],
        ),
        (
            lambda d: d["schedules"][0]["layers"][0].update(rotation="custom", length="1m"),
            ["schedules.0.layers.0", "between 1h and 366d"],
        ),
        (lambda d: d["schedules"][0]["layers"][0].update(members=["alice"] * 500), ["schedules.0.layers.0.members"]),
        (lambda d: d["people"][0]["contacts"].update(phone="+49 151 evil"), ["people.0.contacts.phone", "E.164"]),
        (lambda d: d["people"][0]["contacts"].update(slack_id="U123\nBcc: x"), ["people.0.contacts.slack_id"]),
        (lambda d: d["teams"][0].update(services=["../etc"]), ["teams.0.services.0"]),
        (lambda d: d.update(surprise=1), ["surprise", "Extra inputs"]),
    ],
)
def test_hostile_fields_are_refused_by_field(mutate: Any, words: list[str]) -> None:
    data = example()
    mutate(data)
    with pytest.raises(OncallError) as caught:
        parse_oncall(yaml.safe_dump(data), "oncall.yaml")
    for word in words:
        assert word in str(caught.value), str(caught.value)


def test_huge_nested_and_binary_files_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("people: []\n# " + "x" * 10_000_000)
    assert "larger than" in error_of(big) and "big.yaml" in error_of(big)
    with pytest.raises(OncallError, match="larger than"):
        parse_oncall("x" * 2_000_001, "s.yaml")
    with pytest.raises(OncallError, match="s.yaml"):
        parse_oncall("a: " + "[" * 50_000 + "]" * 50_000, "s.yaml")
    with pytest.raises(OncallError, match="NUL"):
        parse_oncall("people: []\x00", "s.yaml")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    assert "not UTF-8" in error_of(binary)
    assert "cannot read" in error_of(tmp_path / "absent.yaml")
    with pytest.raises(OncallError, match="top level"):
        parse_oncall("- a list", "s.yaml")


def test_a_billion_laughs_does_not_expand(tmp_path: Path) -> None:
    laughs = ["a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']"]
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        laughs.append(
            f"{level}: &{level} [*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous}]"
        )
    started = perf_counter()
    with pytest.raises(OncallError, match="Extra inputs"):
        parse_oncall("\n".join(laughs), "lol.yaml")
    with pytest.raises(OncallError, match="people"):
        parse_oncall(
            "\n".join(laughs[:-1]).replace(": &", ": &").replace("a: &a", "x-a: &a") + "\npeople: *h", "lol.yaml"
        )
    with pytest.raises(OncallInputError):
        owners_from_catalog("\n".join(laughs) + "\nkind: Component\nmetadata: {name: *i}\nspec: {owner: x}", "lol.yaml")
    assert perf_counter() - started < 5  # 9**9 strings if anything walked or printed the tree


def test_feed_and_catalog_paths_cannot_climb_out_and_bad_feeds_name_the_schedule(tmp_path: Path) -> None:
    data = example()
    data["schedules"][-1]["ical"] = {"file": "../../etc/passwd"}
    assert "no '..'" in error_of(write(tmp_path, data))
    shutil.copy(EXAMPLE.parent / "oncall-feed.ics", tmp_path / "oncall-feed.ics")
    data = example()
    data["backstage"] = ["../catalog-info.yaml"]
    assert "backstage.0" in error_of(write(tmp_path, data))
    data = example()
    (tmp_path / "evil.ics").write_text(
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:20200101T000000Z\r\nRRULE:FREQ=SECONDLY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    data["schedules"][-1]["ical"] = {"file": "evil.ics"}
    data["backstage"] = []
    message = error_of(write(tmp_path, data))
    assert (
        "schedules.2.ical (platform-pagerduty-export)" in message
        and "FREQ=SECONDLY" in message
        and "evil.ics" in message
    )


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_is_a_config_or_a_clear_error(text: str) -> None:
    try:
        parse_oncall(text, "fuzz.yaml")
    except OncallError as exc:
        assert str(exc).startswith("invalid on-call file fuzz.yaml")
