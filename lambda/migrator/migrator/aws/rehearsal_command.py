"""`python -m migrator --env ENV rehearse --change-set NAME`: rehearse the next deploy on a restored copy.

The prepared change set names what is about to be deployed: its asset (the runner's source there) and its bundle
fingerprint. This command starts the environment's CodeBuild runner in rehearsal mode on that asset (it restores the
newest restorable point, applies the pending files to the copy measured, writes the report to S3 and deletes the
copy), waits for it, and prints the report. The migration step's gate (cdk.json `rehearsal.required`) then finds a
passing report of the same fingerprint. Operator-side only: it never ships in the Lambda asset.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from migrator.aws import codebuild
from migrator.aws.contract import (
    ENV_FINGERPRINT,
    ENV_REHEARSAL_CLASS,
    ENV_REHEARSAL_ENV,
    ENV_REPORT_BUCKET,
    ENV_RUNNER_MODE,
    KEYS,
    MODE_REHEARSE,
    stack_name,
)
from migrator.aws.operations import Aws
from migrator.aws.pipeline import physical_id, pseudo_parameters, resolve_intrinsics
from migrator.aws.rehearsal import BUILD_HOURS, DEFAULT_CLASS, Reports, full_class
from migrator.errors import MigratorError

BUILD_MINUTES = BUILD_HOURS * 60  # the copy's expiry is an hour later: the sweeper takes only a killed build's copy


@dataclass(frozen=True)
class NextBundle:
    """What the change set deploys, as far as a rehearsal needs: the runner project, its source, the fingerprint and
    the report bucket (logical ids: the deployed stack gives their names)."""

    project_logical_id: str
    source: str
    fingerprint: str
    bucket_logical_id: str


def _ref(value: Any, what: str) -> str:
    if isinstance(value, Mapping) and isinstance(value.get("Ref"), str):
        return str(value["Ref"])
    raise MigratorError(f"the change set's migration step has no {what} (a Ref), got {value!r}")


def next_bundle(template: Mapping[str, Any], pseudo: Mapping[str, str]) -> NextBundle:
    resources: Mapping[str, Any] = template.get("Resources") or {}
    step = next(
        (r.get("Properties") or {} for r in resources.values() if r.get("Type") == "Custom::SchemaMigration"), None
    )
    if step is None:
        raise MigratorError("the change set's template has no migration step (Custom::SchemaMigration)")
    project = _ref(step.get(KEYS["runner_project"]), KEYS["runner_project"])
    bucket = _ref(step.get(KEYS["rehearsal_bucket"]), KEYS["rehearsal_bucket"])
    fingerprint = step.get(KEYS["fingerprint"])
    if not isinstance(fingerprint, str) or not fingerprint:
        raise MigratorError(f"the change set's migration step has no {KEYS['fingerprint']}")
    source = resolve_intrinsics(resources[project]["Properties"]["Source"]["Location"], pseudo)
    return NextBundle(project, source, fingerprint, bucket)


def _physical(cfn: Any, stack: str, logical: str) -> str:
    hint = "deploy this stack version once with nothing pending (rehearsal.required false), then rehearse"
    return physical_id(cfn, stack, logical, "no rehearsal can run", hint)


@dataclass(frozen=True)
class Rehearse:
    aws: Aws
    say: Callable[[str], None]
    poll_seconds: float = 30.0

    def run(self, env: str, change_set: str, instance_class: str = DEFAULT_CLASS) -> tuple[int, dict[str, Any]]:
        """(exit status, report): 0 the rehearsal passed, 1 it failed or left no report."""
        cfn = self.aws.client("cloudformation")
        stack = stack_name(env)
        described = cfn.describe_change_set(StackName=stack, ChangeSetName=change_set)
        body = cfn.get_template(StackName=stack, ChangeSetName=change_set, TemplateStage="Original")["TemplateBody"]
        upcoming = next_bundle(
            body if isinstance(body, Mapping) else _json(body), pseudo_parameters(described["StackId"])
        )
        project = codebuild.Project(self.aws.client("codebuild"), _physical(cfn, stack, upcoming.project_logical_id))
        bucket = _physical(cfn, stack, upcoming.bucket_logical_id)
        build = self._start(project, env, upcoming, bucket, full_class(instance_class))
        self.say(f"rehearsing bundle {upcoming.fingerprint[:12]} of {env} in CodeBuild runner {build.id}")
        while build.status == codebuild.RUNNING:
            time.sleep(self.poll_seconds)
            build = project.find(build.request) or build
            self.say(f"CodeBuild runner {build.id}: {build.phase}")
        report = Reports(self.aws.client("s3"), bucket).get(env, upcoming.fingerprint)
        if report is None:
            lines = codebuild.log_tail(self.aws.client("logs"), build)
            raise codebuild.failure(build, lines, "nothing (a rehearsal changes no environment)")
        return (0 if report.get("passed") else 1), report

    def _start(
        self, project: codebuild.Project, env: str, upcoming: NextBundle, bucket: str, instance_class: str
    ) -> codebuild.Build:
        request = f"rehearsal:{upcoming.fingerprint[:16]}:{time.time():.0f}"
        variables = {
            codebuild.REQUEST_VARIABLE: request,
            ENV_RUNNER_MODE: MODE_REHEARSE,
            ENV_REHEARSAL_ENV: env,
            ENV_FINGERPRINT: upcoming.fingerprint,
            ENV_REPORT_BUCKET: bucket,
            ENV_REHEARSAL_CLASS: instance_class,
        }
        response = project.client.start_build(
            projectName=project.name,
            environmentVariablesOverride=[{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in variables.items()],
            timeoutInMinutesOverride=BUILD_MINUTES,
            sourceTypeOverride="S3",
            sourceLocationOverride=upcoming.source,
        )
        return codebuild.Build.of(response["build"])


def _json(body: str) -> Mapping[str, Any]:
    import json

    found = json.loads(body)
    if not isinstance(found, Mapping):
        raise MigratorError("the change set's template is not a JSON object")
    return found


def report_lines(report: Mapping[str, Any]) -> list[str]:
    """The operator's summary; the measurement itself is the local rehearsal's report (`--json` prints it all)."""
    restore = report.get("restore") or {}
    verdict = "passed" if report.get("passed") else f"FAILED: {report.get('error')}"
    cost = report.get("estimated_cost_usd")
    lines = [
        f"rehearsal of {report.get('environment')} bundle {str(report.get('fingerprint'))[:12]}: {verdict}",
        f"  restore: {restore.get('instance')} ({restore.get('instance_class')}) from {restore.get('restore_point')},"
        f" available after {restore.get('seconds')} s; deleted: {'yes' if restore.get('deleted') else 'NO'}",
        f"  whole rehearsal: {report.get('seconds')} s, estimated cost"
        f" {'unknown' if cost is None else f'${cost:.2f}'} (instance-hours x the class price)",
    ]
    for item in (report.get("measurement") or {}).get("files", []):
        locks = ", ".join(
            f"{lock.get('mode')} on {lock.get('table')} {lock.get('held_ms')} ms" for lock in item.get("locks", [])
        )
        rewritten = ", ".join(item.get("rewritten", [])) or "-"
        lines.append(f"  {item.get('name')}: {item.get('seconds')} s; rewritten {rewritten}; locks {locks or '-'}")
    return lines + [f"  note: {note}" for note in report.get("notes", [])]
