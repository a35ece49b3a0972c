"""The escalation matrix from the default runbook, and its special cases (combinable)."""

from datetime import timedelta

from warroom.enums import Severity
from warroom.models import ImpactSignals
from warroom.policy import EscalationPlan, Notice, TimedEscalation, escalation_plan
from warroom.policy.escalation import severity_change, special_case_notices
from warroom.runbook import DEFAULT_RUNBOOK, load_runbook

RUNBOOK = load_runbook(DEFAULT_RUNBOOK)


def plan(severity: Severity, **signals) -> EscalationPlan:
    return escalation_plan(severity, ImpactSignals(**signals), RUNBOOK)


def test_p1_notifies_em_and_pm_then_team_lead_at_30m_then_vp_at_60m():
    p1 = plan(Severity.P1)
    assert p1.immediate == [
        Notice(audience=["engineering-manager", "product-manager"], reason="P1 declared: notify at start")
    ]
    assert p1.timed == [
        TimedEscalation(
            kind="escalate",
            after=timedelta(minutes=30),
            to=["engineering-team-lead"],
            unless="mitigated",
            reason="P1: 30m without mitigation",
        ),
        TimedEscalation(
            kind="vp_notice",
            after=timedelta(minutes=60),
            to=["vp-engineering"],
            unless="mitigated",
            reason="P1: 1h without mitigation",
        ),
    ]
    assert (p1.public_details, p1.hand_off_to, p1.require_vendor_ticket) == (True, None, False)


def test_p2_notifies_em_then_team_lead_at_60m_and_no_vp():
    p2 = plan(Severity.P2)
    assert [n.audience for n in p2.immediate] == [["engineering-manager"]]
    assert [(t.kind, t.after, t.to, t.unless) for t in p2.timed] == [
        ("escalate", timedelta(minutes=60), ["engineering-team-lead"], "mitigated"),
    ]


def test_p3_notifies_nobody_at_start_and_escalates_after_4h_without_resolution():
    p3 = plan(Severity.P3)
    assert p3.immediate == []
    assert [(t.kind, t.after, t.to, t.unless, t.reason) for t in p3.timed] == [
        ("escalate", timedelta(hours=4), ["engineering-team-lead"], "resolved", "P3: 4h without resolution"),
    ]


def test_data_loss_notifies_em_legal_and_executives_at_once_and_skips_p_level_timers():
    dl = plan(Severity.P2, data_loss=True)
    assert [n.audience for n in dl.immediate] == [["engineering-manager", "legal-privacy"], ["executive-team"]]
    assert dl.timed == []


def test_data_loss_does_not_notify_the_em_twice():
    dl = plan(Severity.P1, data_loss=True)
    audiences = [n.audience for n in dl.immediate]
    assert audiences == [["engineering-manager", "legal-privacy"], ["executive-team"], ["product-manager"]]
    assert dl.timed == []


def test_security_hands_off_and_keeps_details_out_of_public_channels():
    sec = plan(Severity.P2, security=True)
    assert sec.hand_off_to == "security-team"
    assert sec.public_details is False
    assert ["security-team"] in [n.audience for n in sec.immediate]
    assert [t.kind for t in sec.timed] == ["escalate"]  # the P-level timers still run


def test_a_runbook_may_allow_public_details_for_security_incidents():
    special = RUNBOOK.special_cases.model_copy(
        update={
            "security_incident": RUNBOOK.special_cases.security_incident.model_copy(update={"public_details": True}),
        }
    )
    runbook = RUNBOOK.model_copy(update={"special_cases": special})
    assert escalation_plan(Severity.P1, ImpactSignals(security=True), runbook).public_details is True


def test_third_party_vendor_requires_a_vendor_ticket():
    assert plan(Severity.P3, third_party_vendor=True).require_vendor_ticket is True
    assert plan(Severity.P3).require_vendor_ticket is False


def test_special_cases_combine():
    combined = plan(Severity.P1, data_loss=True, security=True, third_party_vendor=True)
    assert combined.timed == []
    assert combined.hand_off_to == "security-team"
    assert combined.public_details is False
    assert combined.require_vendor_ticket is True
    assert [n.audience for n in combined.immediate][:3] == [
        ["engineering-manager", "legal-privacy"],
        ["executive-team"],
        ["security-team"],
    ]


def test_special_case_notices_are_what_declaring_with_the_case_sends():
    assert special_case_notices("data_loss", RUNBOOK) == plan(Severity.P3, data_loss=True).immediate
    assert special_case_notices("security", RUNBOOK) == plan(Severity.P3, security=True).immediate
    assert [n.audience for n in special_case_notices("security", RUNBOOK)] == [["security-team"]]


def test_data_loss_raised_after_declaration_keeps_the_matrix_timers():
    late = escalation_plan(Severity.P1, ImpactSignals(data_loss=True), RUNBOOK, raised_late=["data_loss"])
    assert late.timed == plan(Severity.P1).timed
    assert [t.kind for t in late.timed] == ["escalate", "vp_notice"]
    # Only data loss itself counts: security raised late does not bring the timers back.
    other = escalation_plan(Severity.P1, ImpactSignals(data_loss=True), RUNBOOK, raised_late=["security"])
    assert other.timed == []


def test_p2_to_p1_notifies_the_pm_and_asks_for_a_comms_lead():
    up = severity_change(Severity.P2, Severity.P1, RUNBOOK)
    assert up.upgrade and up.notify == ["product-manager"]
    assert (up.ask_comms_lead, up.post_status_initial) == (True, False)  # the page is already in use at P2
    assert up.starts == [
        "vp-engineering notice after 1h without mitigation",
        "a Communications Lead",
        "a customer e-mail within 1d of resolution",
    ]
    assert up.stops == []
    assert up.changes == [
        "escalation to engineering-team-lead after 30m without mitigation (was 1h without mitigation)"
    ]


def test_an_upgrade_asks_only_for_what_is_missing():
    up = severity_change(Severity.P2, Severity.P1, RUNBOOK, told=["product-manager"], comms_lead_assigned=True)
    assert (up.notify, up.ask_comms_lead) == ([], False)


def test_p3_to_p2_posts_the_initial_status_page_unless_something_public_went_out():
    up = severity_change(Severity.P3, Severity.P2, RUNBOOK)
    assert (up.notify, up.post_status_initial, up.ask_comms_lead) == (["engineering-manager"], True, False)
    assert up.starts == ["status page updates every 30m (and 'still investigating' after 30m of silence)"]
    assert severity_change(Severity.P3, Severity.P2, RUNBOOK, posted_publicly=True).post_status_initial is False
    assert severity_change(Severity.P3, Severity.P1, RUNBOOK).post_status_initial is True


def test_a_downgrade_says_what_stops_and_starts_nothing():
    down = severity_change(Severity.P1, Severity.P3, RUNBOOK)
    assert not down.upgrade
    assert (down.notify, down.ask_comms_lead, down.post_status_initial, down.starts) == ([], False, False, [])
    assert down.stops == [
        "vp-engineering notice after 1h without mitigation",
        "status page updates every 30m (and 'still investigating' after 30m of silence)",
        "a Communications Lead",
        "a customer e-mail within 1d of resolution",
    ]
    assert down.changes == [
        "escalation to engineering-team-lead after 4h without resolution (was 30m without mitigation)"
    ]
    assert severity_change(Severity.P2, Severity.P3, RUNBOOK).stops == [
        "status page updates every 30m (and 'still investigating' after 30m of silence)"
    ]


def test_p1_to_p2_says_the_vp_notice_the_comms_lead_and_the_customer_email_stop():
    down = severity_change(Severity.P1, Severity.P2, RUNBOOK, told=["engineering-manager", "product-manager"])
    assert not down.upgrade
    assert (down.notify, down.ask_comms_lead, down.post_status_initial, down.starts) == ([], False, False, [])
    assert down.stops == [
        "vp-engineering notice after 1h without mitigation",
        "a Communications Lead",
        "a customer e-mail within 1d of resolution",
    ]  # the status page cadence goes on: P2 posts to it too
    assert down.changes == [
        "escalation to engineering-team-lead after 1h without mitigation (was 30m without mitigation)"
    ]


def test_p3_to_p1_runs_every_start_action_p3_did_not():
    up = severity_change(Severity.P3, Severity.P1, RUNBOOK)
    assert up.upgrade and up.notify == ["engineering-manager", "product-manager"]
    assert (up.ask_comms_lead, up.post_status_initial) == (True, True)
    assert up.stops == [] and len(up.starts) == 4


def test_an_upgrade_to_a_severity_whose_actions_the_old_one_already_took_asks_for_nothing():
    # The boundary is the runbook's lists: a Comms Lead already required at P2 is not asked for again at P1.
    roles = RUNBOOK.roles.model_copy(update={"communications_lead_required_for": [Severity.P1, Severity.P2]})
    runbook = RUNBOOK.model_copy(update={"roles": roles})
    up = severity_change(Severity.P2, Severity.P1, runbook)
    assert (up.ask_comms_lead, up.post_status_initial) == (False, False)
    assert "a Communications Lead" not in up.starts
    assert severity_change(Severity.P3, Severity.P2, runbook).ask_comms_lead is True


def test_the_same_severity_changes_nothing():
    same = severity_change(Severity.P2, Severity.P2, RUNBOOK)
    assert (same.notify, same.ask_comms_lead, same.post_status_initial) == ([], False, False)
    assert same.starts == same.stops == same.changes == []
