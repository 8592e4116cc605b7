"""With kmsKey, every role that may read one of the stack's secrets may also decrypt it: Secrets Manager
decrypts with the caller's own permissions, so a reader without kms:Decrypt fails at GetSecretValue (the
CodeBuild runner's role did: every CodeBuild and pipeline-mode migration failed). Judged on the staging
stack with a key it creates (tests/support/cdk_envs.OPTIONS): identity policies and the key policy alike."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Template

from tests.aws import REGION
from tests.cdk.synth import only
from tests.iam.emulated import handler_function
from tests.support.iam import (
    ACCOUNT,
    Decision,
    Request,
    Scope,
    decide,
    kms_decision,
    resolve,
    secrets_manager_decrypt,
    statements_of_role,
)

KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"


class _Placeholders(dict[Any, str]):
    """Refs and attributes a test does not judge (subnets, log groups, the asset bucket) stand for their names."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: Any) -> str:
        return f"<{'.'.join(key) if isinstance(key, tuple) else key}>"


def _secret_arn(logical_id: str) -> str:
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{logical_id}-AbCdEf"


def _role_arn(logical_id: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{logical_id}"


def _scope(template: Template) -> Scope:
    resources = template.to_json()["Resources"]
    refs, attributes = _Placeholders(), _Placeholders()
    for name, resource in resources.items():
        if resource["Type"] == "AWS::SecretsManager::Secret":
            refs[name] = _secret_arn(name)
        elif resource["Type"] == "AWS::IAM::Role":
            attributes[(name, "Arn")] = _role_arn(name)
        elif resource["Type"] == "AWS::KMS::Key":
            attributes[(name, "Arn")] = KEY_ARN
    for name, resource in resources.items():
        if resource["Type"] == "AWS::SecretsManager::SecretTargetAttachment":  # its Ref is its secret's ARN
            refs[name] = refs[resource["Properties"]["SecretId"]["Ref"]]
    return Scope(region=REGION, refs=refs, attributes=attributes, stack_name="AalapVma-staging")


def _role_of(template: Template, logical_id: str, role_property: str) -> str:
    role = template.to_json()["Resources"][logical_id]["Properties"][role_property]
    return str(role["Fn::GetAtt"][0])


def test_every_reader_of_a_secret_may_decrypt_it_with_the_stacks_key(options: Template) -> None:
    scope = _scope(options)
    key_id, key = only(options, "AWS::KMS::Key")
    key_policy = [dict(resolve(s, scope)) for s in key["Properties"]["KeyPolicy"]["Statement"]]
    secrets = options.find_resources("AWS::SecretsManager::Secret")
    assert secrets and all(s["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]} for s in secrets.values())
    runner, _ = only(options, "AWS::CodeBuild::Project")
    must_read = {
        _role_of(options, handler_function(options, "on_event"), "Role"),
        _role_of(options, handler_function(options, "is_complete"), "Role"),
        _role_of(options, runner, "ServiceRole"),
    }
    readers, denied = set(), []
    resources = options.to_json()["Resources"]
    for role in options.find_resources("AWS::IAM::Role"):
        identity = statements_of_role(resources, role, scope, aws_managed=False)
        for secret in secrets:
            if decide(identity, Request("secretsmanager:GetSecretValue", _secret_arn(secret))) is not Decision.ALLOW:
                continue
            readers.add(role)
            request = secrets_manager_decrypt(KEY_ARN, scope)
            decision = kms_decision(key_policy, identity, _role_arn(role), request, scope)
            if decision is not Decision.ALLOW:
                denied.append(f"{role} reads {secret} but {request.action} on its key is {decision.value}")
    assert must_read <= readers, f"expected readers {sorted(must_read)}, found {sorted(readers)}"
    assert denied == []


def test_the_key_decrypts_for_no_one_outside_secrets_manager(options: Template) -> None:
    """The grant is kms:ViaService-bound: the same role calling KMS itself is refused."""
    scope = _scope(options)
    _, key = only(options, "AWS::KMS::Key")
    key_policy = [dict(resolve(s, scope)) for s in key["Properties"]["KeyPolicy"]["Statement"]]
    runner, _ = only(options, "AWS::CodeBuild::Project")
    role = _role_of(options, runner, "ServiceRole")
    identity = statements_of_role(options, role, scope, aws_managed=False)
    direct = Request("kms:Decrypt", KEY_ARN, {"kms:CallerAccount": ACCOUNT}, "called directly")
    assert kms_decision(key_policy, identity, _role_arn(role), direct, scope) is Decision.IMPLICIT_DENY
