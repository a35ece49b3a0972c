"""Every workflow type the worker registers; the audit's replay checks histories against the same list."""

from __future__ import annotations

from workflows.command import CommandPhase
from workflows.declare import DeclarePhase
from workflows.detection import DetectionPhase
from workflows.incident import IncidentWorkflow
from workflows.resolve import ResolvePhase
from workflows.retrospective import RetrospectivePhase
from workflows.roster import RosterWorkflow
from workflows.sequence import ChannelSequenceWorkflow

WORKFLOWS = [
    IncidentWorkflow,
    DetectionPhase,
    DeclarePhase,
    CommandPhase,
    ResolvePhase,
    RetrospectivePhase,
    ChannelSequenceWorkflow,
    RosterWorkflow,
]
