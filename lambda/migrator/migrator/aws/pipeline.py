"""`python -m migrator --env ENV apply --change-set NAME`: migrations longer than CloudFormation's hour.

Pipeline mode (cdk.json `runner: "pipeline"`). Nothing inside a custom resource outlives an hour, so the
deploy workflow prepares the change set (`cdk deploy --method=prepare-change-set`), runs this command
with the deploy role's credentials, and executes the change set only when it succeeded; the custom
resource then verifies that nothing is pending. This command:
1. reads the change set's template: the next asset's location (the runner project's source there), the
   newest migration version it brings, the deploy token, the snapshot retention and the build timeout;
2. reads the database's version through the deployed migration function (its status action);
3. takes the pre-migration snapshot and waits until it is available (as long as it takes);
4. starts the CodeBuild runner on the next asset and waits for it (pipelineTimeoutMinutes). Run again for the
   same synth (even through a new change set), it finds that build instead of starting another (a CI job
   cut short re-attaches); while another deploy's build runs, it starts none;
5. prunes our snapshots beyond the retention.

Operator-side only: it never ships in the Lambda asset.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from migrator.aws import budget, codebuild, rehearsal
from migrator.aws.contract import KEYS, RUNNER_PIPELINE, ContractError, StepProperties, stack_name
from migrator.aws.operations import Aws, Deployed, remote_status, resolve
from migrator.aws.snapshots import WAITING_STATES, Snapshots, snapshot_id, version_tags
from migrator.errors import InvalidInput, MigratorError, SnapshotError

_SUB = re.compile(r"\$\{([^}!]+)\}")


@dataclass(frozen=True)
class Next:
    """What the prepared change set will deploy, as far as migrations are concerned."""

    project_logical_id: str
    source: str  # bucket/key of the next asset
    newest_version: str
    stamp: str
    snapshot_retention: int
    take_snapshots: bool
    timeout_minutes: int
    runner: str
    gate: StepProperties | None = None  # the step's rehearsal gate when it is on (its bucket: a Ref, resolved later)
    gate_bucket_logical_id: str | None = None


def resolve_intrinsics(value: Any, pseudo: Mapping[str, str]) -> str:
    """The string a template value stands for, where it needs only pseudo parameters (what CDK writes for
    an asset's location: Fn::Join of an Fn::Sub bucket name and a literal key)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and len(value) == 1:
        (name, argument), *_ = value.items()
        if name == "Fn::Join" and isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], list):
            separator, parts = argument
            return str(separator).join(resolve_intrinsics(part, pseudo) for part in parts)
        if name == "Fn::Sub" and isinstance(argument, str):  # ${!Name} is the literal ${Name}
            return _SUB.sub(lambda m: _pseudo(m.group(1), pseudo), argument).replace("${!", "${")
        if name == "Ref" and argument in pseudo:
            return pseudo[str(argument)]
    raise InvalidInput(f"cannot resolve {json.dumps(value)[:200]} from the change set's template")


def _pseudo(name: str, pseudo: Mapping[str, str]) -> str:
    if name not in pseudo:
        raise InvalidInput(f"the change set's template refers to ${{{name}}}, which this command cannot resolve")
    return pseudo[name]


def pseudo_parameters(stack_id: str) -> dict[str, str]:
    """AWS::Partition, AWS::Region and AWS::AccountId from a stack's ARN (no further AWS call)."""
    parts = stack_id.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        raise MigratorError(f"unexpected stack id {stack_id!r}")
    suffix = "amazonaws.com.cn" if parts[1] == "aws-cn" else "amazonaws.com"
    return {"AWS::Partition": parts[1], "AWS::Region": parts[3], "AWS::AccountId": parts[4], "AWS::URLSuffix": suffix}


def next_deploy(template: Mapping[str, Any], pseudo: Mapping[str, str]) -> Next:
    """What the change set's template says about the migration step and its runner."""
    resources: Mapping[str, Any] = template.get("Resources") or {}
    project_key = KEYS["runner_project"]
    raw = next(
        (r.get("Properties") or {} for r in resources.values() if project_key in (r.get("Properties") or {})),
        None,
    )
    if raw is None:
        raise MigratorError("the change set's template has no migration step with a runner project")
    project = raw[project_key]
    logical = project.get("Ref") if isinstance(project, Mapping) else None
    if not logical or logical not in resources:
        raise MigratorError(f"the migration step's {project_key} is not a Ref to the template's project: {project}")
    source = resources[logical]["Properties"]["Source"]["Location"]
    literal = {key: value for key, value in raw.items() if isinstance(value, str | list)}  # not Refs and Joins
    try:
        step = StepProperties.parse(literal, required=False)
    except ContractError as exc:
        raise MigratorError(f"the change set's migration step: {exc}") from None
    return Next(
        project_logical_id=str(logical),
        source=resolve_intrinsics(source, pseudo),
        newest_version=step.newest_version,
        stamp=step.stamp("pipeline"),
        snapshot_retention=step.snapshot_retention,
        take_snapshots=step.take_snapshots,
        timeout_minutes=step.pipeline_timeout_minutes or budget.PIPELINE_TIMEOUT_MINUTES,
        runner=step.runner,
        gate=step if step.rehearsal_required else None,
        gate_bucket_logical_id=(raw.get(KEYS["rehearsal_bucket"]) or {}).get("Ref")
        if isinstance(raw.get(KEYS["rehearsal_bucket"]), Mapping)
        else None,
    )


def read_change_set(cfn: Any, stack: str, change_set: str) -> Next | None:
    """The prepared change set's Next; None when it changes nothing (CloudFormation marks such a set FAILED)."""
    described = cfn.describe_change_set(StackName=stack, ChangeSetName=change_set)
    status, reason = described.get("Status"), str(described.get("StatusReason") or "")
    if status == "FAILED" and ("didn't contain changes" in reason or "No updates" in reason):
        return None
    if status != "CREATE_COMPLETE":
        raise MigratorError(
            f"change set {change_set} of {stack} is {status}: {reason or 'not ready'}",
            hint="prepare it with `cdk deploy --method=prepare-change-set --change-set-name NAME` and wait for it",
        )
    body = cfn.get_template(StackName=stack, ChangeSetName=change_set, TemplateStage="Original")["TemplateBody"]
    template = json.loads(body) if isinstance(body, str) else body
    return next_deploy(template, pseudo_parameters(str(described["StackId"])))


@dataclass(frozen=True)
class Operator:
    """One run of the command: the clients, where to report progress, and how often to poll."""

    aws: Aws
    say: Callable[[str], None]
    poll_seconds: float = 30.0

    def run(self, env: str, change_set: str, wait: bool = True) -> tuple[int, str]:
        """(exit status, final line): 0 applied or nothing to apply, 3 still running (without --wait)."""
        cfn = self.aws.client("cloudformation")
        stack = stack_name(env)
        if not _stack_exists(cfn, stack):
            return 0, f"{stack} does not exist yet: its first deploy creates the database and migrates it itself"
        upcoming = read_change_set(cfn, stack, change_set)
        if upcoming is None:
            return 0, f"change set {change_set} changes nothing: no migration to apply"
        deployed = resolve(env, cfn)
        current = remote_status(self.aws.client("lambda"), deployed.function_name).get("current_version")
        if not _behind(current, upcoming.newest_version):
            return 0, f"{deployed.instance} is at version {current}: nothing to apply before change set {change_set}"
        self.say(f"{deployed.instance}: version {current} -> {upcoming.newest_version} (change set {change_set})")
        self._gate(env, cfn, stack, upcoming)
        if upcoming.runner != RUNNER_PIPELINE:
            self.say(f"note: the change set's runner is {upcoming.runner}, not pipeline; applying before it anyway")
        self._snapshot(deployed, upcoming, current)
        project = codebuild.Project(self.aws.client("codebuild"), _physical(cfn, stack, upcoming.project_logical_id))
        build = self._build(project, upcoming)
        if not wait and build.status == codebuild.RUNNING:
            return 3, f"CodeBuild runner {build.id} is running; run this command again to wait for it"
        build = self._wait(project, build)
        lines = codebuild.log_tail(self.aws.client("logs"), build)
        if build.status != "SUCCEEDED":
            raise codebuild.failure(build, lines, self._committed(deployed, current))
        self._prune(deployed, upcoming)
        return 0, codebuild.final_line(lines) or f"CodeBuild runner {build.id} succeeded"

    def _gate(self, env: str, cfn: Any, stack: str, upcoming: Next) -> None:
        """The custom resource would find nothing pending here: the rehearsal gate is checked before applying."""
        if upcoming.gate is None:
            return
        gate = upcoming.gate
        if not gate.rehearsal_bucket and upcoming.gate_bucket_logical_id:
            bucket = _physical(cfn, stack, upcoming.gate_bucket_logical_id, "rehearsal reports' bucket")
            gate = replace(gate, rehearsal_bucket=bucket)
        rehearsal.require(gate, env, self.aws.client)

    def _snapshot(self, deployed: Deployed, upcoming: Next, current: str | None) -> None:
        if not upcoming.take_snapshots:
            return
        ident = snapshot_id(deployed.instance, current, upcoming.newest_version, upcoming.stamp)
        tags = version_tags(current, upcoming.newest_version)
        snapshots = Snapshots(self.aws.client("rds"), deployed.instance)
        status = snapshots.ensure_pruning(ident, tags, upcoming.snapshot_retention)
        while status in WAITING_STATES:
            self.say(f"pre-migration snapshot {ident}: {status}")
            time.sleep(self.poll_seconds)
            status = snapshots.ensure_pruning(ident, tags, upcoming.snapshot_retention)
        if status != "available":
            raise SnapshotError(f"pre-migration snapshot {ident} is {status}; nothing was applied")
        self.say(f"pre-migration snapshot {ident}: available")

    def _build(self, project: codebuild.Project, upcoming: Next) -> codebuild.Build:
        request = f"pipeline:{upcoming.stamp}"  # the synth's: a re-run job (a new change set) finds the same build
        found = project.find(request)
        if found is not None:
            self.say(f"CodeBuild runner {found.id} of this deploy is {found.status}: not starting another")
            return found
        others = [b.id for b in project.builds() if b.status == codebuild.RUNNING]
        if others:
            raise MigratorError(
                f"CodeBuild runner {others[0]} of another deploy is still running; nothing was started",
                hint=f"wait for it, or stop it (aws codebuild stop-build --id {others[0]}) and run this again",
            )
        deadline = budget.pipeline_deadline(time.time(), upcoming.timeout_minutes)
        build = project.start(request, deadline, upcoming.timeout_minutes, source=upcoming.source)
        self.say(f"started the CodeBuild runner {build.id} on {upcoming.source} ({upcoming.timeout_minutes} min)")
        return build

    def _wait(self, project: codebuild.Project, build: codebuild.Build) -> codebuild.Build:
        phase = ""
        while build.status == codebuild.RUNNING:
            if build.phase != phase:
                phase = build.phase
                self.say(f"CodeBuild runner {build.id}: {phase}")
            time.sleep(self.poll_seconds)
            build = project.find(build.request) or build
        return build

    def _committed(self, deployed: Deployed, before: str | None) -> str:
        """What the failed build left applied, read back through the function (a no-transaction file commits)."""
        try:
            after = remote_status(self.aws.client("lambda"), deployed.function_name).get("current_version")
        except MigratorError as exc:
            return f"unknown (cannot read the status: {exc.message[:200]})"
        if after == before:
            return f"nothing (the database is still at version {before})"
        return f"the database is now at version {after} (it was {before})"

    def _prune(self, deployed: Deployed, upcoming: Next) -> None:
        if not upcoming.take_snapshots:
            return
        try:
            pruned = Snapshots(self.aws.client("rds"), deployed.instance).prune(upcoming.snapshot_retention)
        except Exception as exc:  # housekeeping: the migration succeeded, say so and go on
            self.say(f"could not prune old pre-migration snapshots: {type(exc).__name__}: {exc}")
            return
        if pruned:
            self.say(f"pruned {', '.join(pruned)}")


def _stack_exists(cfn: Any, stack: str) -> bool:
    try:
        found = cfn.describe_stacks(StackName=stack)["Stacks"]
    except Exception as exc:
        if "does not exist" in str(exc):
            return False
        raise
    return bool(found) and found[0].get("StackStatus") != "REVIEW_IN_PROGRESS"


def physical_id(cfn: Any, stack: str, logical: str, missing: str, hint: str) -> str:
    """The deployed resource's physical id; a resource the stack does not have yet is `missing` (one line)."""
    try:
        found = cfn.describe_stack_resource(StackName=stack, LogicalResourceId=logical)["StackResourceDetail"]
    except Exception as exc:
        if "does not exist" not in str(exc):
            raise
        raise MigratorError(f"{stack} has no {logical} yet, so {missing}", hint=hint) from None
    return str(found["PhysicalResourceId"])


_FIRST_DEPLOY_HINT = "deploy this stack version once with nothing pending (it creates the {what}), then the migrations"


def _physical(cfn: Any, stack: str, logical: str, what: str = "runner project") -> str:
    missing = "nothing can run before the change set"
    return physical_id(cfn, stack, logical, missing, _FIRST_DEPLOY_HINT.format(what=what))


def _behind(current: str | None, newest: str) -> bool:
    if not newest.isdigit():
        raise MigratorError(f"the change set's migration step has no {KEYS['newest_version']} ({newest!r})")
    return current is None or not current.isdigit() or int(current) < int(newest)


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
