"""`cdk synth` through the pinned npm CLI on the project-local Node 22:
no AWS credentials, no Docker."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from tests.cdk.synth import context
from tests.support.project import PROJECT

pytestmark = pytest.mark.slow  # each test is a full `cdk synth` through Node (about 15 s)

BIN = PROJECT / "node_modules" / ".bin"


def run_cdk(*args: str, cwd: Path = PROJECT) -> subprocess.CompletedProcess[str]:
    assert (BIN / "cdk").exists(), "node_modules is missing: `make setup` installs the pinned CDK CLI"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env |= {
        "PATH": f"{BIN}:{PROJECT / '.venv' / 'bin'}:{env.get('PATH', '')}",
        "AWS_EC2_METADATA_DISABLED": "true",
        "CDK_DISABLE_VERSION_CHECK": "1",
        "DOCKER_HOST": "unix:///nonexistent/docker.sock",
    }
    return subprocess.run(
        [str(BIN / "cdk"), *args, "--no-notices"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def stacks_in(assembly: Path) -> set[str]:
    manifest = json.loads((assembly / "manifest.json").read_text())
    return {name for name, artifact in manifest["artifacts"].items() if artifact["type"] == "aws:cloudformation:stack"}


def user_project(tmp_path: Path, environments: dict[str, Any]) -> Path:
    """A folder holding only a cdk.json as a user would edit it; the app and its code stay in the project."""
    project = tmp_path / "project"
    project.mkdir()
    cdk_json = json.loads((PROJECT / "cdk.json").read_text())
    cdk_json["app"] = f"{PROJECT / '.venv' / 'bin' / 'python'} {PROJECT / 'app.py'}"
    cdk_json["context"]["environments"] = environments
    (project / "cdk.json").write_text(json.dumps(cdk_json))
    return project


def test_cdk_cli_synthesizes_every_environment_without_credentials_or_docker(tmp_path: Path) -> None:
    done = run_cdk("synth", "--all", "--quiet", "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert stacks_in(tmp_path) == {"AalapVma-dev", "AalapVma-staging", "AalapVma-prod"}
    for stack in ("AalapVma-staging", "AalapVma-prod"):
        policy = json.loads((tmp_path / f"{stack}.stack-policy.json").read_text())
        assert [s["Action"] for s in policy["Statement"] if s["Effect"] == "Deny"] == [
            ["Update:Replace", "Update:Delete"]
        ]
    assert "end-of-life" not in done.stderr, "jsii ran on the machine's Node 20, not the project's Node 22"


def test_cdk_cli_synthesizes_a_restore_from_snapshot_pinned_to_an_account_never_seen(tmp_path: Path) -> None:
    """Pinned as the first-deploy steps say, with no credentials and no cdk.context.json: no lookup is needed (the
    zones are CloudFormation's Fn::GetAZs unless cdk.json names them)."""
    environments = context()["environments"]
    environments["staging"] |= {
        "account": "444455556666",
        "region": "eu-central-1",
        "restoreSnapshotId": "premigrate-x-v007-to-v008-20261127t191500z",
        "allowDatabaseReplacement": True,  # restoring replaces the instance: the stack policy must allow it
    }
    out = tmp_path / "cdk.out"
    done = run_cdk("synth", "-c", "env=staging", "--quiet", "-o", str(out), cwd=user_project(tmp_path, environments))
    assert done.returncode == 0, done.stderr[-3000:]
    assert stacks_in(out) == {"AalapVma-staging"}
    assert "missing" not in json.loads((out / "manifest.json").read_text()), "a context lookup was needed"
    template = json.loads((out / "AalapVma-staging.template.json").read_text())
    zones = [
        r["Properties"]["AvailabilityZone"] for r in template["Resources"].values() if r["Type"] == "AWS::EC2::Subnet"
    ]
    assert zones == [{"Fn::Select": [i, {"Fn::GetAZs": ""}]} for i in range(2)]
    (instance,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::RDS::DBInstance"]
    assert instance["Properties"]["DBSnapshotIdentifier"] == "premigrate-x-v007-to-v008-20261127t191500z"
    policy = json.loads((out / "AalapVma-staging.stack-policy.json").read_text())
    assert [s["Effect"] for s in policy["Statement"]] == ["Allow"]
    assert "allowDatabaseReplacement is on for staging" in done.stdout + done.stderr


EXISTING_VPC_CONTEXT = Path(__file__).with_name("existing_vpc_context.json")


def test_cdk_cli_synthesizes_into_an_existing_vpc_from_committed_lookups(tmp_path: Path) -> None:
    """vpcId without our endpoints: the lookup comes from cdk.context.json (no credentials), and the
    function may reach AWS APIs over HTTPS through the VPC's own endpoints or NAT."""
    lookups = json.loads(EXISTING_VPC_CONTEXT.read_text())
    (key,) = lookups
    account, vpc_id, region = (part.split("=")[1] for part in key.split(":")[1:4])
    environments = context()["environments"]
    environments["staging"] |= {
        "account": account,
        "region": region,
        "vpcId": vpc_id,
        "createVpcEndpoints": False,
        "rotateSecret": True,
    }
    project = user_project(tmp_path, environments)
    (project / "cdk.context.json").write_text(json.dumps(lookups))
    out = tmp_path / "cdk.out"
    done = run_cdk("synth", "-c", "env=staging", "--quiet", "-o", str(out), cwd=project)
    assert done.returncode == 0, done.stderr[-3000:]
    template = Template.from_json(json.loads((out / "AalapVma-staging.template.json").read_text()))
    template.resource_count_is("AWS::EC2::VPC", 0)
    template.resource_count_is("AWS::EC2::VPCEndpoint", 0)
    groups = template.find_resources("AWS::EC2::SecurityGroup")
    (function_group,) = [g["Properties"] for name, g in groups.items() if name.startswith("SchemaMigrationFunction")]
    assert function_group["VpcId"] == vpc_id
    https = [
        (r["CidrIp"], r["IpProtocol"], r["FromPort"], r["ToPort"])
        for r in function_group["SecurityGroupEgress"]
        if r.get("FromPort") == 443
    ]
    assert https == [("0.0.0.0/0", "tcp", 443, 443)], "Secrets Manager and the RDS API are reached over HTTPS"
    assert "Secrets Manager" in function_group["GroupDescription"] and "RDS API" in function_group["GroupDescription"]
    (rotation_group,) = [g["Properties"] for name, g in groups.items() if "Rotation" in name]
    assert [(r["CidrIp"], r["FromPort"]) for r in rotation_group["SecurityGroupEgress"]] == [("0.0.0.0/0", 443)]
    (function,) = [
        f["Properties"]
        for f in template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "migrator.aws.handler.on_event"
    ]
    assert set(function["VpcConfig"]["SubnetIds"]) == {"subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"}
