"""The drift watch in each environment's template (the session's one synth): a schedule at cdk.json's interval
that sends the migration function exactly {"action": "drift"}, and the Drift alarms to the on-call topic."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from migrator.aws import metrics
from stacks.config.environment import DEFAULT_DRIFT_WATCH_MINUTES, parse_environment
from tests.cdk.synth import context, only, resources

ENVIRONMENTS: dict[str, dict[str, Any]] = context()["environments"]


def _minutes(env: str) -> int:
    return parse_environment(env, ENVIRONMENTS[env]).drift_watch_minutes


def _on_event(template: Template) -> str:
    (found,) = [k for k, v in resources(template, "AWS::Lambda::Function").items() if "on_event" in str(v)]
    return found


def _drift_alarms(template: Template) -> dict[str, dict[str, Any]]:
    return {
        props["MetricName"]: props
        for props in (a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm").values())
        if str(props.get("MetricName", "")).startswith("Drift")
    }


def test_dev_has_no_schedule_and_the_default_is_every_15_minutes() -> None:
    assert _minutes("dev") == 0
    unset = {k: v for k, v in ENVIRONMENTS["staging"].items() if k != "driftWatchMinutes"}
    assert parse_environment("staging", unset).drift_watch_minutes == DEFAULT_DRIFT_WATCH_MINUTES == 15


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_schedule_sends_the_drift_action_to_the_migration_function(
    templates: dict[str, Template], env: str
) -> None:
    template, minutes = templates[env], _minutes(env)
    rules = [  # the rehearsal sweeper has a schedule of its own, with no input
        r
        for r in resources(template, "AWS::Events::Rule").values()
        if any("Input" in t for t in r["Properties"]["Targets"])
    ]
    if not minutes:
        assert rules == [] and _drift_alarms(template) == {}
        return
    (rule,) = rules
    assert rule["Properties"]["ScheduleExpression"] == f"rate({minutes} minutes)"
    (target,) = rule["Properties"]["Targets"]
    assert json.loads(target["Input"]) == {"action": "drift"}, "EventBridge delivers this input as the whole event"
    assert target["Arn"] == {"Fn::GetAtt": [_on_event(template), "Arn"]}
    permissions = [p["Properties"] for p in resources(template, "AWS::Lambda::Permission").values()]
    assert any(
        p["Principal"] == "events.amazonaws.com" and p["FunctionName"] == {"Fn::GetAtt": [_on_event(template), "Arn"]}
        for p in permissions
    )


LAMBDA_QUEUE_MAX_AGE_S = 6 * 3600  # Lambda's asynchronous queue keeps an event at most 6 hours (its default too)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_late_or_failed_check_is_dropped_by_lambdas_own_queue(templates: dict[str, Template], env: str) -> None:
    """EventBridge invokes the function asynchronously: its RetryPolicy bounds only the delivery. Once Lambda
    accepted the event, Lambda's own queue retries a function error (a timeout) twice and a throttled event for up
    to 6 hours (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html): checks hours
    late, piling onto the deploys they were meant to stay out of. The function's EventInvokeConfig applies to
    asynchronous invocations only; the Provider framework invokes it synchronously, so deploys are unaffected."""
    template, minutes = templates[env], _minutes(env)
    configs = [
        c["Properties"]
        for c in resources(template, "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": _on_event(template)}
    ]
    if not minutes:
        assert configs == []
        return
    (config,) = configs
    assert config["MaximumRetryAttempts"] == 0, "the next scheduled check is the retry"
    assert config["MaximumEventAgeInSeconds"] == min(minutes * 60, LAMBDA_QUEUE_MAX_AGE_S)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_drift_alarms_reach_the_on_call_topic(templates: dict[str, Template], env: str) -> None:
    template, minutes = templates[env], _minutes(env)
    alarmed = "alarms" in ENVIRONMENTS[env]
    alarms = _drift_alarms(template)
    if not (minutes and alarmed):
        assert alarms == {}
        return
    topic, _ = only(template, "AWS::SNS::Topic")
    assert set(alarms) == {metrics.DRIFT_DIFFERENCES, metrics.DRIFT_CHECK_FAILED}
    for alarm in alarms.values():
        assert alarm["Namespace"] == metrics.NAMESPACE and alarm["Period"] == minutes * 60
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and alarm["Threshold"] == 1
        assert alarm["AlarmActions"] == [{"Ref": topic}]
    differences, failed = alarms[metrics.DRIFT_DIFFERENCES], alarms[metrics.DRIFT_CHECK_FAILED]
    assert differences["EvaluationPeriods"] == 1 and differences["TreatMissingData"] == "ignore", (
        "no datapoint while a deploy is in flight: the alarm keeps its state"
    )
    assert failed["EvaluationPeriods"] == 2 and failed["TreatMissingData"] == "notBreaching", (
        "emitted only by a failed check: two in a row page, recovery clears it"
    )


def _dashboard_widgets(template: Template) -> list[dict[str, Any]]:
    _, dashboard = only(template, "AWS::CloudWatch::Dashboard")
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]  # strings, and Refs inside JSON strings
    body = json.loads("".join(p if isinstance(p, str) else json.dumps(p).replace('"', "'") for p in parts))
    return [w["properties"] for w in body["widgets"]]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_dashboard_shows_what_each_drift_check_found(templates: dict[str, Template], env: str) -> None:
    widgets = _dashboard_widgets(templates[env])
    graphs = [w for w in widgets if str(w.get("title", "")).startswith("Drift: ")]
    if not _minutes(env):
        assert graphs == [], "no schedule, no drift row"
        return
    (graph,) = graphs
    assert [(m[0], m[1]) for m in graph["metrics"]] == [
        (metrics.NAMESPACE, metrics.DRIFT_DIFFERENCES),
        (metrics.NAMESPACE, metrics.DRIFT_CHECK_FAILED),
    ]
    assert [m[-1].get("period") for m in graph["metrics"]] == [_minutes(env) * 60] * 2
    assert graph["metrics"][1][-1]["yAxis"] == "right"
    alarm_names = [w["alarms"] for w in widgets if w.get("title") == "Drift alarms"]
    assert len(alarm_names) == ("alarms" in ENVIRONMENTS[env]), "the Drift alarms' state beside it where alarmed"
    if alarm_names:
        arns = json.dumps(alarm_names[0])
        assert all(name in arns for name in ("DriftDifferences", "DriftCheckFailed"))
