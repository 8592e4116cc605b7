"""The AWS actions the migration functions are granted: exactly those their recorded calls need."""

from __future__ import annotations

_CALLS = {
    "secretsmanager:GetSecretValue",  # three secrets: hand-over as the master (both roles), migrations as the role
    "rds:DescribeDBInstances",  # is the instance available for a snapshot?
    "rds:DescribeDBSnapshots",  # our snapshot's status; and listing ours to prune
    "rds:CreateDBSnapshot",  # on_event, or is_complete when the instance was busy
    "rds:AddTagsToResource",  # CreateDBSnapshot with Tags is authorised for it too
    "rds:ListTagsForResource",  # tags of ours when a description lacks them
    "rds:DeleteDBSnapshot",  # pruning (is_complete; on_event at the snapshot quota)
    "codebuild:BatchGetBuilds",  # a build found again by its MIGRATOR_REQUEST variable, polled
    "codebuild:ListBuildsForProject",
}
GRANTED = {
    "on_event": _CALLS | {"codebuild:StopBuild"},  # stops builds of earlier requests (a rollback, a Delete)
    "is_complete": _CALLS
    | {
        "codebuild:StartBuild",
        "codebuild:StopBuild",
        "logs:GetLogEvents",
    },  # its own build: starts it, stops it when superseded; a failed build's log
}
