"""Guards against the expensive mistakes: deleting a stack, replacing the database by an update,
deploying an environment into the wrong account."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match, Template

from migrator.aws.contract import stack_name
from stacks.config import ConfigError, parse_app_config
from tests.cdk.synth import context, only, stack_artifacts


@pytest.mark.parametrize(("env", "protected"), [("dev", False), ("staging", True), ("prod", True)])
def test_staging_and_prod_stacks_have_termination_protection(cdk_assembly: Path, env: str, protected: bool) -> None:
    assert stack_artifacts(cdk_assembly)[env]["properties"].get("terminationProtection", False) is protected


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_stack_policy_denies_replacing_or_deleting_the_database_by_an_update(
    cdk_assembly: Path, templates: dict[str, Template], env: str
) -> None:
    instance_id, _ = only(templates[env], "AWS::RDS::DBInstance")
    policy = json.loads((cdk_assembly / f"AalapVma-{env}.stack-policy.json").read_text())  # as synth writes it
    assert {"Effect": "Allow", "Action": "Update:*", "Principal": "*", "Resource": "*"} in policy["Statement"]
    assert {
        "Effect": "Deny",
        "Action": ["Update:Replace", "Update:Delete"],
        "Principal": "*",
        "Resource": f"LogicalResourceId/{instance_id}",
    } in policy["Statement"]


def test_allow_database_replacement_lifts_the_deny_and_warns() -> None:
    from stacks.database_stack import stack_policy

    environments = context()["environments"]
    environments["staging"] |= {"allowDatabaseReplacement": True, "restoreSnapshotId": "premigrate-x-v007-to-v008-1"}
    app = cdk.App(context={"environments": environments, "env": "staging"})
    from app import build

    (stack,) = build(app)
    assert stack_policy(stack)["Statement"] == [
        {"Effect": "Allow", "Action": "Update:*", "Principal": "*", "Resource": "*"}
    ]
    warnings = Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp("allowDatabaseReplacement"))
    assert len(warnings) == 1


def test_allow_database_replacement_must_be_a_bool() -> None:
    environments = context()["environments"]
    environments["prod"] |= {"allowDatabaseReplacement": "yes"}
    with pytest.raises(ConfigError, match=r"environments\.prod\.allowDatabaseReplacement must be a bool"):
        parse_app_config({"environments": environments}, "prod", None)
    assert parse_app_config(context(), "prod", None).environments[0].allow_database_replacement is False


def test_synth_writes_each_stack_policy_into_the_assembly(cdk_assembly: Path) -> None:
    stacks = {stack_name(env) for env in stack_artifacts(cdk_assembly)}
    assert {p.name.removesuffix(".stack-policy.json") for p in cdk_assembly.glob("*.stack-policy.json")} == stacks


@pytest.mark.parametrize(
    ("pinned", "credentials", "refused"),
    [
        ("111111111111", "222222222222", True),
        ("111111111111", "111111111111", False),
        ("111111111111", None, False),  # no credentials: offline synth only
        (None, "222222222222", False),
    ],
)
def test_a_pinned_account_refuses_other_credentials(pinned: str | None, credentials: str | None, refused: bool) -> None:
    environments = context()["environments"]
    environments["prod"] |= {"onCall": {"emails": ["db-oncall@aalap.co.in"]}}  # not the placeholder
    if pinned:
        environments["prod"] |= {"account": pinned}
    if refused:
        with pytest.raises(ConfigError, match=r"environments\.prod\.account is 111111111111.*222222222222"):
            parse_app_config({"environments": environments}, "prod", None, credentials, "eu-west-1")
    else:
        (config,) = parse_app_config({"environments": environments}, "prod", None, credentials).environments
        assert config.account == (pinned or credentials)


def test_synth_for_the_wrong_account_ends_with_one_error_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import app

    environments = context()["environments"]
    environments["prod"] |= {"account": "111111111111"}
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", "222222222222")
    with pytest.raises(SystemExit) as exited:
        app.main(cdk.App(outdir=str(tmp_path), context={"environments": environments, "env": "prod"}))
    message = str(exited.value.code)
    assert message.startswith("error: cdk.json context environments.prod.account is 111111111111")
    assert "\n" not in message
