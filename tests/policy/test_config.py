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


def test_the_matrix_customer_comms_decide_the_status_page_and_the_customer_email(runbook):
    """The seed's matrix: P1 required (status page + email), P2 status page update, P3 optional."""
    assert [runbook.severity_matrix[s].customer_comms for s in Severity] == ["required", "status_page", "optional"]
    assert runbook.comms.status_page_for == [Severity.P1, Severity.P2]
    assert runbook.comms.customer_email_for == [Severity.P1]


@pytest.mark.parametrize(
    ("old", "new", "status_page_for", "customer_email_for"),
    [
        ("customer_comms: status_page", "customer_comms: optional", ["P1"], ["P1"]),
        ("customer_comms: status_page", "customer_comms: required", ["P1", "P2"], ["P1", "P2"]),
        ("customer_comms: optional", "customer_comms: status_page", ["P1", "P2", "P3"], ["P1"]),
        ("customer_comms: required", "customer_comms: status_page", ["P1", "P2"], []),
    ],
)
def test_a_changed_customer_comms_changes_who_gets_the_status_page_and_email(
    tmp_path, old, new, status_page_for, customer_email_for
):
    loaded = load_runbook(write(tmp_path, edited(old, new)))
    assert loaded.comms.status_page_for == status_page_for
    assert loaded.comms.customer_email_for == customer_email_for


def test_a_file_listing_the_comms_lists_against_its_matrix_fails_with_both_fields(tmp_path):
    text = edited("customer_comms: status_page", "customer_comms: optional").replace(
        "initial_status_page_within:", "status_page_for: [P1, P2]\n  initial_status_page_within:"
    )
    with pytest.raises(RunbookError) as caught:
        load_runbook(write(tmp_path, text))
    assert str(caught.value).splitlines()[1:] == [
        "  severity_matrix.P2.customer_comms: optional, but comms.status_page_for lists P2"
    ]


def test_a_file_from_before_with_both_lists_and_the_matrix_still_loads_the_same(tmp_path, runbook):
    text = DEFAULT_TEXT.replace(
        "initial_status_page_within:",
        "status_page_for: [P1, P2]\n  customer_email_for: [P1]\n  initial_status_page_within:",
    )
    assert load_runbook(write(tmp_path, text)) == runbook


def test_rows_that_state_no_customer_comms_keep_the_comms_defaults(tmp_path):
    text = "\n".join(line for line in DEFAULT_TEXT.splitlines() if "customer_comms:" not in line)
    loaded = load_runbook(write(tmp_path, text))
    assert loaded.comms.status_page_for == [Severity.P1, Severity.P2]
    assert loaded.comms.customer_email_for == [Severity.P1]
    assert [loaded.severity_matrix[s].customer_comms for s in Severity] == [None, None, None]


def test_a_running_incident_s_runbook_loads_even_where_its_lists_and_matrix_disagree(runbook):
    """Incidents carry their runbook in their input: the model never refuses what it accepted before."""
    data = runbook.model_dump(mode="json")
    data["severity_matrix"]["P2"]["customer_comms"] = "optional"  # the old default, with P2 in status_page_for
    carried = type(runbook).model_validate(data)
    assert carried.comms.status_page_for == [Severity.P1, Severity.P2]
    assert carried.customer_comms_conflicts() == [
        "severity_matrix.P2.customer_comms: optional, but comms.status_page_for lists P2"
    ]


def test_the_status_page_deadlines_are_the_seed_s(runbook):
    assert runbook.comms.initial_status_page_within == timedelta(minutes=5)
    assert runbook.comms.resolved_notice_within == timedelta(hours=1)
