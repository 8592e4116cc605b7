"""The CodeBuild path's decisions (migrator.aws.codebuild): where a deploy runs, which build is this request's,
and how a failed build is told; no CodeBuild client is called."""

from __future__ import annotations

import pytest

from migrator.aws.codebuild import (
    PREFIX,
    RUNNING,
    Build,
    failure,
    final_line,
    pipeline_command,
    request_key,
    route,
)
from migrator.aws.contract import StepProperties
from migrator.errors import MigratorError, PendingInPipeline
from migrator.files import NO_TRANSACTION_MARK, RUNNER_MARKER, Migration
from tests.unit.builders import folder, migration, plan_of

PROJECT = {"RunnerProject": "aalap-dev-runner"}


def props(raw: dict[str, str]) -> StepProperties:
    return StepProperties.parse(raw, required=False)


# --- runs_in_codebuild: the marker among the leading comments -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "marked"),
    [
        (f"{RUNNER_MARKER}\nCREATE INDEX i ON t (c);\n", True),
        (f"{NO_TRANSACTION_MARK}\n{RUNNER_MARKER}\nCREATE INDEX CONCURRENTLY i ON t (c);\n", True),
        (f"-- backfill: hours on prod\n--\n   {RUNNER_MARKER}   \nUPDATE t SET c = 1;\n", True),
        (f"\ufeff{RUNNER_MARKER}\nSELECT 1;\n", True),
        (f"SELECT 1;\n{RUNNER_MARKER}\n", False),
        (f"-- header\n\n{RUNNER_MARKER}\nSELECT 1;\n", True),
        ("-- migrate:runner=lambda\nSELECT 1;\n", False),
        (f"{RUNNER_MARKER} please\nSELECT 1;\n", False),
        ("", False),
    ],
    ids=[
        "first",
        "after-no-transaction",
        "third-comment",
        "bom",
        "after-sql",
        "after-blank",
        "other",
        "suffix",
        "empty",
    ],
)
def test_the_marker_counts_only_on_a_leading_comment_line_of_its_own(text: str, marked: bool) -> None:
    assert migration("001", "a", body=text).runs_in_codebuild is marked


# --- route ---------------------------------------------------------------------------------------------------------


def marked(version: str) -> Migration:
    return migration(version, f"long_{version}", body=f"{RUNNER_MARKER}\nUPDATE t SET c = 1;\n")


def test_nothing_to_do_stays_in_the_lambda_whatever_the_runner() -> None:
    done = plan_of(folder("001"), applied_count=1)
    for runner in ("lambda", "codebuild", "pipeline"):
        assert route(props({"Runner": runner}), done) == {}


def test_plain_pending_files_run_in_the_lambda() -> None:
    plan = plan_of(folder("001", "002"), applied_count=1)
    assert route(props({}), plan) == {}
    assert route(props({"Runner": "lambda"} | PROJECT), plan) == {}


def test_the_environments_codebuild_runner_moves_every_deploy() -> None:
    plan = plan_of(folder("001", "002"), applied_count=1)
    assert route(props({"Runner": "codebuild"} | PROJECT), plan) == {
        "RunsIn": "codebuild",
        "RunnerReason": "the environment's runner is codebuild",
    }


def test_one_marked_pending_file_moves_the_whole_deploy() -> None:
    files = [*folder("001", "002"), marked("003"), *folder("004")]
    plan = plan_of(files, applied_count=1)
    assert route(props({"Runner": "lambda"} | PROJECT), plan) == {
        "RunsIn": "codebuild",
        "RunnerReason": f"003_long_003.sql marked {RUNNER_MARKER}",
    }


def test_a_marked_file_already_applied_moves_nothing() -> None:
    files = [marked("001"), *folder("002")]
    assert route(props(PROJECT), plan_of(files, applied_count=1)) == {}


def test_marked_files_recorded_by_the_schema_move_nothing() -> None:
    files = [marked("001"), *folder("002")]
    plan = plan_of(files, schema_version="001")
    assert route(props(PROJECT), plan) == {}


def test_codebuild_without_a_runner_project_is_refused() -> None:
    plan = plan_of([*folder("001"), marked("002")], applied_count=1)
    with pytest.raises(MigratorError, match=r"must run in CodeBuild \(002_long_002.sql marked .*no runner project"):
        route(props({}), plan)
    with pytest.raises(MigratorError, match="environment's runner is codebuild"):
        route(props({"Runner": "codebuild", "RunnerProject": ""}), plan_of(folder("001", "002"), applied_count=1))


def test_pipeline_mode_refuses_pending_work_naming_the_command() -> None:
    plan = plan_of(folder(*(f"{n:03d}" for n in range(1, 9))), applied_count=1)
    with pytest.raises(PendingInPipeline) as refused:
        route(props({"Runner": "pipeline"} | PROJECT), plan, env="staging")
    message = refused.value.message
    assert message.startswith("pipeline mode: 002_change_002.sql, 003_change_003.sql,")
    assert "006_change_006.sql still pending" in message and "007_change_007.sql" not in message, "five named"
    assert pipeline_command("staging") in refused.value.hint
    assert pipeline_command(None) == "python -m migrator --env ENV apply --change-set NAME"


def test_pipeline_mode_lets_a_fresh_database_migrate_in_the_custom_resource() -> None:
    fresh = plan_of(folder("001", "002"))
    assert route(props({"Runner": "pipeline"} | PROJECT), fresh, fresh=True) == {}
    with_marker = plan_of([*folder("001"), marked("002")])
    assert route(props({"Runner": "pipeline"} | PROJECT), with_marker, fresh=True)["RunsIn"] == "codebuild"


# --- request_key ---------------------------------------------------------------------------------------------------


def test_the_request_is_cloudformations_request_id() -> None:
    event = {"RequestId": "7f1c-42"}
    assert request_key(event, props({"DeployToken": "20261127T191500Z"}), {"StartedAt": "1800000000"}) == "7f1c-42"


def test_without_a_request_id_the_token_and_start_time_identify_it() -> None:
    key = request_key({}, props({"DeployToken": "20261127T191500Z"}), {"StartedAt": "1800000000"})
    assert key == "20261127T191500Z@1800000000"
    assert request_key({"RequestId": ""}, props({}), {}) == "manual@0"


# --- Build.of ------------------------------------------------------------------------------------------------------


def test_a_build_is_read_with_its_request_and_logs() -> None:
    raw = {
        "id": "runner:1",
        "buildStatus": "FAILED",
        "currentPhase": "BUILD",
        "environment": {
            "environmentVariables": [
                {"name": "MIGRATOR_DEADLINE", "value": "1800000000"},
                {"name": "MIGRATOR_REQUEST", "value": "7f1c-42"},
            ]
        },
        "logs": {"groupName": "/aws/codebuild/runner", "streamName": "abc"},
    }
    assert Build.of(raw) == Build(
        id="runner:1",
        status="FAILED",
        phase="BUILD",
        request="7f1c-42",
        log_group="/aws/codebuild/runner",
        log_stream="abc",
    )


def test_a_just_started_build_lacks_most_fields() -> None:
    assert Build.of({"id": "runner:2", "logs": "not a mapping"}) == Build(
        id="runner:2", status=RUNNING, phase="?", request="", log_group=None, log_stream=None
    )


# --- failure / final_line ------------------------------------------------------------------------------------------

BUILD = Build(id="runner:3", status="FAILED", phase="BUILD", request="7f1c-42", log_group="g", log_stream="s")


def test_the_runners_verdict_leads_the_failure_and_is_not_repeated() -> None:
    verdict = f"{PREFIX} failed at 004_x.sql:3: division by zero"
    lines = ["[Container] start", f"{PREFIX} an earlier line", verdict, "[Container] Phase complete: BUILD"]
    assert final_line(lines) == verdict
    message = failure(BUILD, lines, "003").message
    assert message.startswith(f"{verdict}; CodeBuild runner runner:3 ended FAILED in phase BUILD; committed: 003;")
    assert message.endswith(f"{PREFIX} an earlier line | [Container] Phase complete: BUILD")
    assert message.count(verdict) == 1


def test_without_a_verdict_or_a_log_the_failure_says_so() -> None:
    assert final_line(["no verdict here"]) is None
    message = failure(BUILD, [], "nothing (the batch rolled back)").message
    assert message == (
        "CodeBuild runner runner:3 ended FAILED in phase BUILD; committed: nothing (the batch rolled back);"
        " log tail: (none)"
    )


def test_a_long_log_keeps_its_last_600_characters() -> None:
    lines = [f"line {n:04d} " + "x" * 40 for n in range(100)]
    tail = failure(BUILD, lines, "003").message.split("log tail: ", 1)[1]
    assert len(tail) == 600
    assert tail.endswith(lines[-1]) and lines[0] not in tail
