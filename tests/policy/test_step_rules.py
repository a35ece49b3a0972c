"""The step catalog's rules: typed parameters (hostile values refused by name), approval policies,
the two-person rule, preview digests and the decision deadlines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from warroom.catalog import BUILTIN, StepCatalog
from warroom.config import DatabaseTarget as DatabaseTarget_
from warroom.config import RunbookConfig
from warroom.enums import Phase, Role, Severity
from warroom.models import DeploymentTarget, IncidentState, ProposeStep, Step, StepDecision
from warroom.policy import authority, steps
from warroom.policy.authority import Rejected
from warroom.runbook import load_runbook, parse_runbook
from warroom.step_models import StepApproval, StepPreview

AT = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)
RUNBOOK = load_runbook()
TARGET = DeploymentTarget(namespace="shop", deployment="order-api")
CATALOG = RUNBOOK.steps


def parse(name: str, runbook: RunbookConfig = RUNBOOK, **raw: Any) -> dict[str, Any]:
    entry = runbook.steps.entry(name)
    assert entry is not None
    return steps.parse_params(entry, raw, target=TARGET, runbook=runbook, service="order-api")


def refusal(name: str, **raw: Any) -> str:
    with pytest.raises(steps.ParamError) as caught:
        parse(name, **raw)
    return str(caught.value)


# --- The catalog -----------------------------------------------------------------------------------


def test_the_builtin_entries_are_on_by_default() -> None:
    assert [e.name for e in CATALOG.all()] == [
        "rollback",
        "restart",
        "scale",
        "pause-rollout",
        "resume-rollout",
        "page",
        "escalate",
        "pg-cancel-long-queries",  # declared by the default runbook
    ]


def test_a_database_parameter_is_a_database_of_the_runbook() -> None:
    databases = RUNBOOK.database_checks.model_copy(
        update={
            "databases": {"orders-db": DatabaseTarget_(host="db-1.internal")},
            "services": {"order-api": "orders-db"},
        }
    )
    runbook = RUNBOOK.model_copy(update={"database_checks": databases})
    assert parse("pg-cancel-long-queries", runbook) == {
        "database": "orders-db",
        "older_than_minutes": 5,
        "max_queries": 20,
    }
    with pytest.raises(steps.ParamError, match="'billing-db' is not a database of the runbook"):
        parse("pg-cancel-long-queries", runbook, database="billing-db")
    assert "required" in refusal("pg-cancel-long-queries")  # the default runbook maps no service to a database


def test_the_default_runbook_decides_within_10_minutes_on_p1_and_20_on_p2() -> None:
    assert steps.approve_within(RUNBOOK, Severity.P1) == timedelta(minutes=10)
    assert steps.approve_within(RUNBOOK, Severity.P2) == timedelta(minutes=20)
    assert steps.approve_within(RUNBOOK, Severity.P3) is None


def test_a_runbook_entry_replaces_a_builtin_and_disabled_ones_are_gone() -> None:
    catalog = StepCatalog.model_validate(
        {
            "disabled": ["pause-rollout"],
            "entries": [{"name": "restart", "kind": "kubernetes", "action": "restart", "description": "mine"}],
        }
    )
    names = [e.name for e in catalog.all()]
    assert "pause-rollout" not in names and names.count("restart") == 1
    assert catalog.entry("restart").description == "mine"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"name": "Bad Name", "kind": "page", "description": "x"}, "step name"),
        ({"name": "k", "kind": "kubernetes", "description": "x"}, "needs `action`"),
        ({"name": "p", "kind": "playbook", "description": "x"}, "needs `playbook`"),
        ({"name": "p", "kind": "playbook", "playbook": "../etc/passwd", "description": "x"}, "pattern"),
        ({"name": "e", "kind": "page", "description": "x", "params": [{"name": "x", "type": "enum"}]}, "choices"),
        (
            {
                "name": "i",
                "kind": "page",
                "description": "x",
                "params": [{"name": "n", "type": "int", "min": 5, "max": 1}],
            },
            "min 5 > max 1",
        ),
    ],
)
def test_a_broken_entry_is_refused_at_start(entry: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        StepCatalog.model_validate({"entries": [entry]})


def test_disabling_a_step_that_is_not_built_in_is_an_error() -> None:
    with pytest.raises(ValidationError, match="no built-in step: nuke"):
        StepCatalog.model_validate({"disabled": ["nuke"]})


def test_the_runbook_yaml_takes_a_steps_section() -> None:
    text = "\n".join(
        [
            "steps:",
            "  approve_within: {P1: 5m}",
            "  scale_bounds_by_service: {order-api: {min: 2, max: 8}}",
            "  entries:",
            "    - name: pg-cancel",
            "      kind: playbook",
            "      playbook: pg_cancel_long_queries",
            "      description: cancel long queries",
            "      approval: {default: two_person}",
            "      params: [{name: older_than_minutes, type: int, min: 1, max: 1440, default: 5}]",
        ]
    )
    base = RUNBOOK.model_dump(mode="json", exclude={"steps"})
    import yaml

    runbook = parse_runbook(yaml.safe_dump(base) + text)
    assert runbook.steps.approve_within == {Severity.P1: timedelta(minutes=5)}
    assert runbook.steps.entry("pg-cancel").approval.default == "two_person"  # type: ignore[union-attr]
    assert parse("pg-cancel", runbook) == {"older_than_minutes": 5}
    with pytest.raises(steps.ParamError, match="outside 2..8"):
        parse("scale", runbook, replicas="9")


# --- Parameters --------------------------------------------------------------------------------------


def test_kubernetes_steps_default_to_the_incidents_deployment() -> None:
    assert parse("restart") == {"namespace": "shop", "deployment": "order-api"}
    assert parse("rollback") == {"namespace": "shop", "deployment": "order-api", "to_revision": 0}
    assert parse("scale", replicas="6", deployment="cart") == {"namespace": "shop", "deployment": "cart", "replicas": 6}


def test_scale_stays_within_the_runbooks_bounds_on_both_sides() -> None:
    assert parse("scale", replicas="50")["replicas"] == 50
    assert "50" in refusal("scale", replicas="51")
    assert parse("scale", replicas="1")["replicas"] == 1
    assert "outside 1..50" in refusal("scale", replicas="0")


def test_a_missing_or_unknown_parameter_is_named() -> None:
    assert refusal("scale") == "parameter 'replicas': required by scale (int)"
    assert refusal("restart", replica="3").startswith("parameter 'replica': restart takes no such parameter")
    assert "who" in refusal("page")


@pytest.mark.parametrize(
    "value",
    ["6; rm -rf /", "$(reboot)", "`id`", "6 && true", "../../etc", "a\x00b", "x" * 100_000, "a/b", "Order", " "],
)
def test_hostile_values_are_refused_by_name(value: str) -> None:
    assert refusal("scale", replicas=value).startswith("parameter 'replicas'")
    assert refusal("restart", deployment=value).startswith("parameter 'deployment'")
    assert refusal("page", who=value).startswith("parameter 'who'")


@pytest.mark.parametrize("value", ["-1", "1e3", "0x10", "6.5", "True", "99999999999"])
def test_a_number_is_a_plain_bounded_integer(value: str) -> None:
    assert refusal("scale", replicas=value).startswith("parameter 'replicas'")


@given(st.text(max_size=300))
def test_any_text_is_a_dns_label_or_refused(value: str) -> None:
    try:
        out = parse("restart", namespace=value)
    except steps.ParamError as err:
        assert err.name == "namespace"
        return
    label = str(out["namespace"])
    assert label == value.strip() and len(label) <= 63
    assert set(label) <= set("abcdefghijklmnopqrstuvwxyz0123456789-") and ".." not in label


@given(st.one_of(st.integers(), st.text(max_size=20), st.booleans()))
def test_any_replicas_value_is_a_bounded_int_or_refused(value: Any) -> None:
    try:
        out = parse("scale", replicas=value)
    except steps.ParamError as err:
        assert err.name == "replicas"
        return
    assert isinstance(out["replicas"], int) and not isinstance(out["replicas"], bool)
    assert 1 <= out["replicas"] <= 50


def test_the_cli_checks_types_before_it_knows_the_incident() -> None:
    entry = CATALOG.entry("scale")
    assert entry is not None
    partial = steps.parse_params(entry, {"replicas": "99"}, target=None, runbook=RUNBOOK, service="", partial=True)
    assert partial == {"replicas": 99}  # the incident checks its service's bounds
    with pytest.raises(steps.ParamError, match="whole number"):
        steps.parse_params(entry, {"replicas": "six"}, target=None, runbook=RUNBOOK, service="", partial=True)


def test_legacy_proposals_map_onto_the_catalog() -> None:
    assert steps.legacy_params("rollback", "deployment/order-api") == ("rollback", {"deployment": "order-api"})
    assert steps.legacy_params("rollback", "shop/order-api") == (
        "rollback",
        {"namespace": "shop", "deployment": "order-api"},
    )
    assert steps.legacy_params("page", "dba-oncall") == ("page", {"who": "dba-oncall"})
    assert steps.legacy_params("escalate", "anything") == ("escalate", {})


# --- Approval ------------------------------------------------------------------------------------------


def test_the_strictest_approval_rule_wins() -> None:
    catalog = StepCatalog.model_validate(
        {
            "entries": [
                {
                    "name": "restart",
                    "kind": "kubernetes",
                    "action": "restart",
                    "description": "x",
                    "approval": {"default": "auto", "severities": {"P1": "ic"}, "services": {"payments": "two_person"}},
                }
            ]
        }
    )
    entry = catalog.entry("restart")
    assert entry is not None
    assert entry.approval.for_incident(Severity.P2, "order-api") == "auto"
    assert entry.approval.for_incident(Severity.P1, "order-api") == "ic"
    assert entry.approval.for_incident(Severity.P1, "payments") == "two_person"


def test_a_rollback_obeys_the_rollback_rules_explicit_approvals() -> None:
    builtin = CATALOG.entry("rollback")
    assert builtin is not None
    auto_entry = builtin.model_copy(update={"approval": builtin.approval.model_copy(update={"default": "auto"})})
    assert steps.approval_policy(auto_entry, RUNBOOK, Severity.P1, "order-api") == "auto"
    rule = RUNBOOK.rollback.model_copy(
        update={
            "require_approval_for": RUNBOOK.rollback.require_approval_for.model_copy(
                update={"severities": [Severity.P1]}
            )
        }
    )
    strict = RUNBOOK.model_copy(update={"rollback": rule})
    assert steps.approval_policy(auto_entry, strict, Severity.P1, "order-api") == "ic"
    assert steps.approval_policy(auto_entry, strict, Severity.P2, "order-api") == "auto"


def state_with(step: Step, **changes: Any) -> IncidentState:
    state = IncidentState(
        incident_id="order-api-1",
        service="order-api",
        summary="x",
        opened_at=AT,
        declared_at=AT,
        severity=Severity.P2,
        phase=Phase.COMMAND,
        roles={Role.INCIDENT_COMMANDER: "alice", Role.OPERATIONS_LEAD: "bob", Role.COMMUNICATIONS_LEAD: "carol"},
        on_call="dave",
        steps=[step],
    )
    return state.model_copy(update=changes)


PREVIEW = StepPreview(summary="scale deployment/order-api from 3 to 6 replicas", observed="revision=3")
DIGEST = steps.preview_digest(PREVIEW)


def catalog_step(policy: str = "ic", proposed_by: str = "bob", **fields: Any) -> Step:
    base: dict[str, Any] = dict(
        step_id="s1",
        action="scale",
        target="shop/order-api",
        proposed_by=proposed_by,
        proposed_at=AT,
        entry="scale",
        params={"namespace": "shop", "deployment": "order-api", "replicas": 6},
        policy=policy,
        preview=PREVIEW,
        preview_digest=DIGEST,
    )
    return Step(**{**base, **fields})


def approve(state: IncidentState, by: str, preview: str | None = DIGEST) -> None:
    authority.may_approve_step(state, StepDecision(step_id="s1", by=by, reason="go", preview=preview))


def refused(state: IncidentState, by: str, preview: str | None = DIGEST) -> tuple[str, str]:
    with pytest.raises(Rejected) as caught:
        approve(state, by, preview)
    return caught.value.kind, str(caught.value)


def test_the_ic_approves_the_preview_they_saw_by_its_digest() -> None:
    approve(state_with(catalog_step()), "alice")
    kind, message = refused(state_with(catalog_step()), "alice", preview=None)
    assert kind == "PreviewRequired" and f"--preview {DIGEST}" in message
    kind, message = refused(state_with(catalog_step()), "alice", preview="0123456789ab")
    assert kind == "PreviewChanged" and f"now {DIGEST}" in message
    kind, _ = refused(state_with(catalog_step(preview=None, preview_digest=None)), "alice")
    assert kind == "PreviewNotReady"
    assert refused(state_with(catalog_step()), "bob")[0] == "NotIncidentCommander"


def test_the_digest_changes_with_what_the_preview_shows() -> None:
    assert steps.preview_digest(PREVIEW) == DIGEST and len(DIGEST) == 12
    assert steps.preview_digest(PREVIEW.model_copy(update={"observed": "revision=4"})) != DIGEST


def test_two_people_approve_a_two_person_step_neither_the_proposer() -> None:
    step = catalog_step("two_person", proposed_by="bob")
    assert refused(state_with(step), "bob")[0] == "NotApprover"  # the proposer
    approve(state_with(step), "alice")  # the IC, first
    first = step.model_copy(update={"approvals": [StepApproval(by="alice", at=AT, preview=DIGEST)]})
    kind, message = refused(state_with(first), "alice")
    assert kind == "NotApprover" and "second, different approver" in message
    approve(state_with(first), "carol")  # the second: not the proposer, not the first
    assert refused(state_with(first), "mallory")[0] == "NotAResponder"


def test_under_the_two_person_rule_the_ic_is_one_of_the_three() -> None:
    step = catalog_step("two_person", proposed_by="bob")
    first = step.model_copy(update={"approvals": [StepApproval(by="carol", at=AT, preview=DIGEST)]})
    kind, message = refused(state_with(first), "dave")
    assert kind == "NotApprover" and "Incident Commander (alice)" in message
    by_ic = catalog_step("two_person", proposed_by="alice")
    first = by_ic.model_copy(update={"approvals": [StepApproval(by="carol", at=AT, preview=DIGEST)]})
    approve(state_with(first), "dave")  # the IC proposed it: two others approve


def test_a_step_outside_the_catalog_keeps_the_ic_rule() -> None:
    manual = Step(step_id="s1", action="custom", target="flush the CDN", proposed_by="bob", proposed_at=AT)
    approve(state_with(manual), "alice", preview=None)


def test_proposals_are_checked_against_the_catalog() -> None:
    state = state_with(catalog_step(), target=TARGET)

    def propose(**fields: Any) -> tuple[str, str]:
        with pytest.raises(Rejected) as caught:
            authority.may_propose_step(state, ProposeStep(by="bob", **fields), RUNBOOK)
        return caught.value.kind, str(caught.value)

    authority.may_propose_step(state, ProposeStep(by="bob", step="scale", params={"replicas": 6}), RUNBOOK)
    authority.may_propose_step(state, ProposeStep(by="bob", action="custom", target="flush the CDN"), RUNBOOK)
    assert propose(step="nuke")[0] == "UnknownStep"
    kind, message = propose(step="scale", params={"replicas": "6;reboot"})
    assert kind == "InvalidParameter" and "'replicas'" in message
    assert propose(action="rollback", target="deployment/../x")[0] == "InvalidParameter"


def test_cancel_is_for_the_ic_or_the_proposer_while_the_step_is_open() -> None:
    from warroom.models import CancelStep

    authority.may_cancel_step(state_with(catalog_step()), CancelStep(step_id="s1", by="bob", reason="wrong one"))
    authority.may_cancel_step(state_with(catalog_step()), CancelStep(step_id="s1", by="alice", reason="no"))
    with pytest.raises(Rejected, match="only the Incident Commander or bob"):
        authority.may_cancel_step(state_with(catalog_step()), CancelStep(step_id="s1", by="carol", reason="no"))
    with pytest.raises(Rejected, match="already done"):
        authority.may_cancel_step(
            state_with(catalog_step(status="done")), CancelStep(step_id="s1", by="bob", reason="x")
        )


def test_the_decision_deadlines_are_one_and_two_approve_within_after_the_preview() -> None:
    assert steps.decision_deadlines(AT, timedelta(minutes=10)) == (
        AT + timedelta(minutes=10),
        AT + timedelta(minutes=20),
    )


def test_the_next_escalation_is_the_team_lead_then_the_vp() -> None:
    state = state_with(catalog_step(), severity=Severity.P1)
    assert steps.next_escalation(state, RUNBOOK) == "engineering-team-lead"
    state.escalated_to.append("engineering-team-lead")
    assert steps.next_escalation(state, RUNBOOK) == "vp-engineering"


def test_every_builtin_is_a_valid_entry() -> None:
    assert len({e.name for e in BUILTIN}) == len(BUILTIN)
