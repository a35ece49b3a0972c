"""Decoded runbooks are shared (#18, memory): every incident's input and every phase's carry the whole
runbook (about 30 KiB decoded); identical ones decode to one frozen object per worker process."""

from __future__ import annotations

from datetime import timedelta

from warroom.client import DATA_CONVERTER
from warroom.enums import Severity
from warroom.models import IncidentInput
from warroom.runbook import load_runbook


def incident(runbook: object, incident_id: str) -> IncidentInput:
    return IncidentInput.model_validate(
        {
            "incident_id": incident_id,
            "service": "order-api",
            "summary": "Order API returning 503s",
            "runbook": runbook,
            "severity": Severity.P2,
            "declared": True,
            "declared_by": "alice",
            "commander": "alice",
        }
    )


def decoded(inp: IncidentInput) -> IncidentInput:
    converter = DATA_CONVERTER.payload_converter
    (out,) = converter.from_payloads(converter.to_payloads([inp]), [IncidentInput])
    assert isinstance(out, IncidentInput)
    return out


def test_identical_runbooks_decode_to_one_object() -> None:
    runbook = load_runbook()
    a, b = decoded(incident(runbook, "inc-1")), decoded(incident(runbook, "inc-2"))
    assert a.runbook is b.runbook
    assert a.runbook == runbook
    assert a.incident_id != b.incident_id


def test_another_runbook_is_another_object() -> None:
    """The control: a runbook that differs in one value decodes to its own object, with that value."""
    runbook = load_runbook()
    ack = runbook.acknowledgement.model_copy(update={"repage_after": timedelta(minutes=7)})
    other = runbook.model_copy(update={"acknowledgement": ack})
    a, b = decoded(incident(runbook, "inc-1")), decoded(incident(other, "inc-2"))
    assert a.runbook is not b.runbook
    assert b.runbook.acknowledgement.repage_after == timedelta(minutes=7)
    assert a.runbook.acknowledgement.repage_after != timedelta(minutes=7)
