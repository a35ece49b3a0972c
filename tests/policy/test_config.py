"""The shipped runbook matches the seed, and a bad runbook file fails loudly with the field and problem."""

from datetime import timedelta
from pathlib import Path

import pytest

from warroom.enums import Severity
from warroom.runbook import DEFAULT_RUNBOOK, RUNBOOK_ENV, RunbookError, load_runbook, parse_runbook

DEFAULT_TEXT = DEFAULT_RUNBOOK.read_text(encoding="utf-8")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "runbook.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def edited(old: str, new: str) -> str:
    assert old in DEFAULT_TEXT, old
    return DEFAULT_TEXT.replace(old, new, 1)


@pytest.fixture
def runbook(monkeypatch):
    monkeypatch.delenv(RUNBOOK_ENV, raising=False)
    return load_runbook()


def test_the_default_escalation_matrix_matches_the_seed(runbook):
    p1, p2, p3 = (runbook.severity_matrix[s] for s in Severity)
    assert (p1.escalate_after, p1.notify_vp_after) == (timedelta(minutes=30), timedelta(minutes=60))
    assert p1.notify_at_start == ["engineering-manager", "product-manager"]
    assert (p2.escalate_after, p2.notify_vp_after) == (timedelta(minutes=60), None)
    assert p2.notify_at_start == ["engineering-manager"]
    assert (p3.escalate_after, p3.escalate_unless) == (timedelta(hours=4), "resolved")


def test_the_default_timers_match_the_seed(runbook):
    comms = runbook.comms
    assert comms.internal_update_every == timedelta(minutes=15)
    assert comms.external_update_every == timedelta(minutes=30)
    assert comms.silence_max == timedelta(minutes=30)
    assert runbook.resolve.clean_window == timedelta(minutes=5)
    assert runbook.rollback.deploy_within == timedelta(hours=2)
    assert runbook.rollback.contraindications == ["db_migration_applied"]
    assert runbook.retrospective.due_business_days == 5
    assert runbook.declare.user_error_ratio_above == 0.01
    assert (runbook.declare.burn_rate_above, runbook.declare.burn_sustained_for) == (5.0, timedelta(minutes=5))


def test_the_default_file_is_the_same_as_the_model_defaults_where_both_exist(runbook):
    assert runbook.declare == type(runbook.declare)()
    assert runbook.comms == type(runbook.comms)()
    assert runbook.special_cases == type(runbook.special_cases)()


def test_the_env_var_chooses_the_runbook(tmp_path, monkeypatch):
    path = write(tmp_path, edited("clean_window: 5m", "clean_window: 7m"))
    monkeypatch.setenv(RUNBOOK_ENV, str(path))
    assert load_runbook().resolve.clean_window == timedelta(minutes=7)


def test_an_explicit_path_wins_over_the_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv(RUNBOOK_ENV, str(tmp_path / "missing.yaml"))
    path = write(tmp_path, edited("deploy_within: 2h", "deploy_within: 1h30m"))
    assert load_runbook(path).rollback.deploy_within == timedelta(hours=1, minutes=30)


def test_an_unreadable_path_is_a_clear_error(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(RunbookError, match=r"cannot read runbook .*nope\.yaml: No such file"):
        load_runbook(missing)


def test_a_directory_is_a_clear_error(tmp_path):
    with pytest.raises(RunbookError, match="cannot read runbook"):
        load_runbook(tmp_path)


@pytest.mark.parametrize(
    ("old", "new", "where", "problem"),
    [
        (
            "    escalate_after: 30m\n",
            "    escalate_after: soon\n",
            "severity_matrix.P1.escalate_after",
            "'soon' is not a duration",
        ),
        ("silence_max: 30m", "silence_max: 0s", "comms", "silence_max must be longer than 0s"),
        ("version: 1", "version: 1\nescalation: {}", "escalation", "Extra inputs are not permitted"),
        (
            "  burn_rate_above: 5.0",
            "  burn_rate_above: 5.0\n  burn_rate_over: 6",
            "declare.burn_rate_over",
            "Extra inputs are not permitted",
        ),
        (
            "user_error_ratio_above: 0.01",
            "user_error_ratio_above: 2",
            "declare.user_error_ratio_above",
            "less than or equal to 1",
        ),
        (
            "due_business_days: 5",
            "due_business_days: 0",
            "retrospective.due_business_days",
            "greater than or equal to 1",
        ),
        (
            "escalate_unless: resolved",
            "escalate_unless: never",
            "severity_matrix.P3.escalate_unless",
            "'mitigated' or 'resolved'",
        ),
    ],
)
def test_a_bad_field_is_named_with_its_problem(tmp_path, old, new, where, problem):
    path = write(tmp_path, edited(old, new))
    with pytest.raises(RunbookError) as caught:
        load_runbook(path)
    message = str(caught.value)
    assert str(path) in message
    assert f"{where}: " in message
    assert problem in message


def test_a_missing_severity_row_is_named(tmp_path):
    start = DEFAULT_TEXT.index("  P3:\n    initial_responder")
    end = DEFAULT_TEXT.index("special_cases:")
    path = write(tmp_path, DEFAULT_TEXT[:start] + "\n" + DEFAULT_TEXT[end:])
    with pytest.raises(RunbookError, match="severity_matrix has no entry for P3"):
        load_runbook(path)


def test_not_yaml_and_not_a_mapping_are_errors():
    with pytest.raises(RunbookError, match="not YAML"):
        parse_runbook("severity: [", "broken.yaml")
    with pytest.raises(RunbookError, match="expected a mapping"):
        parse_runbook("- just\n- a list\n", "list.yaml")


def test_the_runbook_round_trips_through_json(runbook):
    """It travels inside workflow inputs, so JSON out and back must give the same thresholds."""
    assert type(runbook).model_validate_json(runbook.model_dump_json()) == runbook


def test_the_decision_tree_s_immediate_rollback_window_is_the_seed_s_30_minutes(runbook):
    assert runbook.rollback.immediate_deploy_window == timedelta(minutes=30)
    assert runbook.rollback == type(runbook.rollback)()


def test_a_runbook_from_before_the_immediate_window_loads_with_the_seed_value(tmp_path):
    old = edited("  immediate_deploy_window: 30m\n", "")
    assert load_runbook(write(tmp_path, old)).rollback.immediate_deploy_window == timedelta(minutes=30)
