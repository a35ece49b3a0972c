"""On-call resolution and the coverage check (issue 14), each against a baseline measured in the same run.

    python bench/oncall_bench.py [--teams 50] [--instants 400] [--days 14]

50 teams, each with a 3-layer primary schedule (a weekly rotation under a follow-the-sun pair of
daily layers restricted to weekdays in Europe/Berlin and America/New_York), a daily secondary
schedule for the team lead and a fixed engineering manager; every layer started years ago.

1. Resolve every role of a team at an instant: `resolve_roles` (the models, the override check,
   rrule occurrences around the instant, restrictions, contacts) per team, p50 and p99 over random
   instants, vs a bare evaluation of the same rotations: a hand-rolled index computation (local
   time, one division, the weekday/time test of each restriction) with no models and no rrule.
   The bare answer is checked to be the same person. Goal: p99 within a small multiple.
2. `coverage_gaps` for `--days` days, every team, the three roles: wall time. Goal: under 10 s on
   2 cores (it runs on one).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from warroom.oncall.coverage import coverage_gaps  # noqa: E402
from warroom.oncall.directory import Directory  # noqa: E402
from warroom.oncall.models import WEEKDAYS, Layer, OncallConfig  # noqa: E402
from warroom.oncall.resolve import resolve_roles  # noqa: E402

ROLES = ["on-call-engineer", "engineering-team-lead", "engineering-manager"]
WORKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def build(teams: int) -> OncallConfig:
    people: list[dict[str, Any]] = []
    schedules: list[dict[str, Any]] = []
    team_entries: list[dict[str, Any]] = []
    for t in range(teams):
        names = [f"p{t}-{i}" for i in range(6)]
        people += [{"name": n, "timezone": "Europe/Berlin", "contacts": {"email": f"{n}@example.com"}} for n in names]
        first = (date(2021, 1, 4) + timedelta(days=t)).isoformat()
        schedules.append(
            {
                "name": f"t{t}-primary",
                "layers": [
                    {
                        "name": "weekly",
                        "rotation": "weekly",
                        "timezone": "Europe/Berlin",
                        "start": first,
                        "members": names[:4],
                    },
                    {
                        "name": "emea",
                        "rotation": "daily",
                        "handoff": "07:00",
                        "timezone": "Europe/Berlin",
                        "start": first,
                        "members": names[0:2],
                        "restrictions": [{"days": WORKDAYS, "start": "07:00", "end": "19:00"}],
                    },
                    {
                        "name": "americas",
                        "rotation": "daily",
                        "handoff": "13:00",
                        "timezone": "America/New_York",
                        "start": first,
                        "members": names[2:4],
                        "restrictions": [{"days": WORKDAYS, "start": "13:00", "end": "01:00"}],
                    },
                ],
            }
        )
        schedules.append(
            {
                "name": f"t{t}-secondary",
                "layers": [
                    {
                        "name": "daily",
                        "rotation": "daily",
                        "timezone": "Europe/Dublin",
                        "start": first,
                        "members": names[4:6],
                    }
                ],
            }
        )
        team_entries.append(
            {
                "name": f"team-{t}",
                "roles": {
                    "on-call-engineer": {"schedule": f"t{t}-primary"},
                    "engineering-team-lead": {"schedule": f"t{t}-secondary"},
                    "engineering-manager": {"person": names[5]},
                },
            }
        )
    return OncallConfig.model_validate({"people": people, "schedules": schedules, "teams": team_entries})


class Bare:
    """The same rotations, evaluated by hand: what resolution would cost without the library."""

    def __init__(self, config: OncallConfig) -> None:
        self.people = {p.name for p in config.people}
        schedules = {s.name: s for s in config.schedules}
        self.teams: dict[str, list[tuple[str, list[Layer] | None, str | None]]] = {}
        for team in config.teams:
            self.teams[team.name] = [
                (role, list(schedules[t.schedule].layers) if t.schedule else None, t.person)
                for role, t in team.roles.items()
            ]

    @staticmethod
    def member(layer: Layer, at: datetime) -> str | None:
        zone = ZoneInfo(layer.timezone)
        local = at.astimezone(zone).replace(tzinfo=None)
        if layer.restrictions:
            inside = False
            for r in layer.restrictions:
                for back in (0, 1):
                    day = local.date() - timedelta(days=back)
                    if WEEKDAYS[day.weekday()] not in r.days:
                        continue
                    begin = datetime.combine(day, r.start)
                    end = datetime.combine(day + timedelta(days=1) if r.end <= r.start else day, r.end)
                    inside = inside or begin.replace(tzinfo=zone) <= at < end.replace(tzinfo=zone)
            if not inside:
                return None
        origin = datetime.combine(layer.start, layer.handoff)
        index = (local - origin) // layer.shift_length
        if index < 0:
            return None
        return layer.members[index % len(layer.members)]

    def resolve(self, team: str, at: datetime) -> list[str | None]:
        out: list[str | None] = []
        for _, layers, person in self.teams[team]:
            if layers is None:
                out.append(person)
                continue
            found = None
            for layer in reversed(layers):
                if (found := self.member(layer, at)) is not None:
                    break
            out.append(found)
        return out


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teams", type=int, default=50)
    parser.add_argument("--instants", type=int, default=400, help="random instants for the resolution samples")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    config = build(args.teams)
    directory = Directory.of(config)
    bare = Bare(config)
    rng = random.Random(args.seed)
    base = datetime(2026, 12, 7, tzinfo=UTC)
    instants = [base + timedelta(seconds=rng.randrange(0, 365 * 86400)) for _ in range(args.instants)]
    team_names = [t.name for t in config.teams]

    lib: list[float] = []
    hand: list[float] = []
    for at in instants:
        for team in team_names:  # alternate within each pair so drift hits both sides alike
            started = time.perf_counter()
            paged, _ = resolve_roles(directory, [], team, ROLES, at)
            lib.append(time.perf_counter() - started)
            started = time.perf_counter()
            expected = bare.resolve(team, at)
            hand.append(time.perf_counter() - started)
            got = [r.person for r in paged]
            if got != expected:
                print(f"MISMATCH {team} {at.isoformat()}: {got} vs {expected}")
                return 1
    print(f"1. resolve every role of one team ({len(ROLES)} roles, {args.teams} teams x {args.instants} instants):")
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        a, b = percentile(lib, q), percentile(hand, q)
        print(f"   {name}: resolve_roles {a * 1e6:8.1f} us   bare index {b * 1e6:8.1f} us   ratio {a / b:5.2f}x")
    print(
        f"   mean: resolve_roles {statistics.fmean(lib) * 1e6:8.1f} us   bare index {statistics.fmean(hand) * 1e6:8.1f} us"
    )
    print(f"   all {args.teams} teams at one instant: {statistics.fmean(lib) * args.teams * 1e3:.2f} ms")

    started = time.perf_counter()
    gaps = coverage_gaps(directory, [], ROLES, base, base + timedelta(days=args.days))
    wall = time.perf_counter() - started
    print(f"2. coverage_gaps, {args.days} days, {args.teams} teams x 3 layers, roles {', '.join(ROLES)}:")
    print(f"   {wall:.2f} s wall (goal < 10 s), {len(gaps)} gaps (the fixture has none by design)")
    return 0 if wall < 10 and not gaps else 1


if __name__ == "__main__":
    sys.exit(main())
