"""The migration step's Data: what on_event hands is_complete through the Provider, and what every answer
carries for the template's Fn::GetAtt. CloudFormation sees only strings; the keys and the phases are
defined here, once (this module imports nothing of the engine, so metrics can read it too)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypedDict, cast, get_args

Phase = Literal["snapshot", "apply", "done"]
PHASES: tuple[str, ...] = get_args(Phase)
NONE = "none"


class StepData(TypedDict, total=False):
    Phase: Phase
    StartedAt: str  # epoch seconds of on_event's start: every deadline of the step counts from it
    FromVersion: str
    ToVersion: str
    SchemaVersion: str
    SnapshotId: str
    Applied: str  # versions, comma-separated
    Pruned: str
    PruneError: str
    Note: str
    RunsIn: str  # "codebuild" when this request runs in the CodeBuild runner
    RunnerReason: str
    RunnerBuild: str
    Claim: str  # this request's claim on the database (migrator.claim), written by on_event
    LockRetries: str  # lock waits retried by this deploy's apply
    LongestLockHold: str  # seconds: the longest a blocking lock on an existing table was held
    FileSeconds: str  # each applied file's duration (migrator.aws.predictions); the handler never answers it


# Every attribute a template may read with Fn::GetAtt: each answer of a Create or Update carries all
# of them, non-empty, or CloudFormation fails the stack (a rollback would end UPDATE_ROLLBACK_FAILED).
ATTRIBUTES = ("SchemaVersion", "SnapshotId", "FromVersion", "ToVersion", "Applied", "Pruned", "Note")
_KEYS = frozenset(StepData.__annotations__)


def answer(data: StepData) -> StepData:
    """`data` with every attribute present and non-empty ('none' where there is nothing to say)."""
    filled: dict[str, Any] = {key: data.get(key) or NONE for key in ATTRIBUTES}
    filled |= {key: value for key, value in data.items() if key not in ATTRIBUTES and value}
    return cast(StepData, filled)


def from_event(raw: Mapping[str, Any] | None) -> StepData:
    """The Data the Provider hands back: our keys as strings; an unknown phase is a bug, said plainly."""
    data = {key: str(value) for key, value in (raw or {}).items() if key in _KEYS}
    if "Phase" in data and data["Phase"] not in PHASES:
        raise ValueError(f"unknown migration step phase {data['Phase']!r}")
    return cast(StepData, data)
