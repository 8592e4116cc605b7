"""What the lifecycle needs from the synthesized template, read the way CloudFormation reads it.

Everything comes from the template: which Lambda backs the custom resource's ServiceToken, every
function's handler, Timeout and Environment, the waiter state machine's definition, the stack
Outputs that read the custom resource's attributes. Intrinsics (Ref, Fn::GetAtt, Fn::Join) are
resolved against stand-in values: fake ARNs for the functions and the state machine, and the test's
own emulated database, secret and instance for the resources the custom resource points at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.aws import REGION
from tests.e2e.templates import STACK, Assembly

ACCOUNT = "123456789012"
STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/0b7c3e70-cd5e-11f0-9a5b-0a1b2c3d4e5f"
CUSTOM_RESOURCE_TYPE = "Custom::SchemaMigration"
LAMBDA_DEFAULT_TIMEOUT_S = 3  # CloudFormation's default when a function has no Timeout
LAMBDA_DEFAULT_MEMORY_MB = 128
LAMBDA_TASK_ROOT = "/var/task/"


def function_arn(logical_id: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{STACK}-{logical_id}"


def state_machine_arn(logical_id: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{logical_id}"


class References:
    """Resolves Ref / Fn::GetAtt / Fn::Join against stand-ins; an unknown reference fails loudly."""

    def __init__(self, values: dict[str, dict[str, str]]) -> None:
        self._values = values  # logical id -> {"Ref": ..., "<attribute>": ...}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return self._lookup(value["Ref"], "Ref")
        if set(value) == {"Fn::GetAtt"}:
            target, attribute = _get_att(value["Fn::GetAtt"])
            return self._lookup(target, attribute)
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return str(separator).join(str(self.resolve(p)) for p in parts)
        return {k: self.resolve(v) for k, v in value.items()}

    def _lookup(self, logical_id: str, attribute: str) -> str:
        try:
            return self._values[logical_id][attribute]
        except KeyError:
            raise LookupError(f"the lifecycle has no stand-in for {logical_id}.{attribute}") from None


def _get_att(value: Any) -> tuple[str, str]:
    """Fn::GetAtt as a list [resource, attribute] or as the short string "resource.attribute"."""
    if isinstance(value, str):
        target, attribute = value.split(".", 1)
        return target, attribute
    return str(value[0]), str(value[1])


@dataclass(frozen=True)
class Function:
    """One AWS::Lambda::Function as Lambda would run it."""

    logical_id: str
    arn: str
    handler: str  # "framework.onEvent", "migrator.aws.handler.on_event"
    runtime: str
    timeout_s: int
    memory_mb: int
    environment: dict[str, str]
    asset: Path

    @property
    def name(self) -> str:
        return self.arn.rsplit(":", 1)[-1]

    @property
    def entry(self) -> str:
        """The exported name after the module: what `Handler` calls."""
        return self.handler.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class StackModel:
    """The custom resource, the functions and waiter behind it, and the outputs that read it."""

    assembly: Assembly
    references: References
    resource_id: str  # the custom resource's logical id
    template_properties: dict[str, Any]  # as in the template, intrinsics unresolved
    functions: dict[str, Function]  # by ARN
    state_machines: dict[str, dict[str, Any]]  # ARN -> parsed definition
    outputs: dict[str, str]  # output name -> attribute of the custom resource it reads

    @property
    def service_token(self) -> str:
        return str(self.references.resolve(self.template_properties["ServiceToken"]))

    @property
    def service_timeout_s(self) -> int:
        """How long CloudFormation waits for a response (3600 s when the template does not say)."""
        return int(self.template_properties.get("ServiceTimeout", 3600))

    def function(self, arn: str) -> Function:
        try:
            return self.functions[arn]
        except KeyError:
            raise LookupError(f"no function with ARN {arn} in {STACK}") from None

    def resolved_properties(self) -> dict[str, Any]:
        """The custom resource's properties as CloudFormation would send them (ServiceToken included)."""
        return dict(self.references.resolve(self.template_properties))


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _stand_ins(template: dict[str, Any], resource_id: str, targets: dict[str, str]) -> dict[str, dict[str, str]]:
    """Fake ARNs for functions, state machines and buckets; `targets` (property -> value) for what it names."""
    values: dict[str, dict[str, str]] = {}
    for logical_id in _resources(template, "AWS::Lambda::Function"):
        arn = function_arn(logical_id)
        values[logical_id] = {"Ref": arn.rsplit(":", 1)[-1], "Arn": arn}
    for logical_id in _resources(template, "AWS::StepFunctions::StateMachine"):
        arn = state_machine_arn(logical_id)
        values[logical_id] = {"Ref": arn, "Arn": arn}
    for logical_id in _resources(template, "AWS::S3::Bucket"):  # the rehearsal reports' bucket: named, never read
        name = logical_id.lower()
        values[logical_id] = {"Ref": name, "Arn": f"arn:aws:s3:::{name}"}
    properties = template["Resources"][resource_id]["Properties"]
    for name, value in targets.items():
        reference = properties.get(name)
        if not (isinstance(reference, dict) and set(reference) == {"Ref"}):
            raise LookupError(f"{resource_id}.{name} is {reference!r}, not a Ref the lifecycle can stand in for")
        values[str(reference["Ref"])] = {"Ref": value}
    return values


def _function(assembly: Assembly, references: References, logical_id: str, resource: dict[str, Any]) -> Function:
    props = resource["Properties"]
    asset = assembly.asset_dir(logical_id)
    variables = references.resolve(props.get("Environment", {}).get("Variables", {}))
    environment = {  # a path inside the deployment package points into the asset it came from
        k: str(asset / v.removeprefix(LAMBDA_TASK_ROOT)) if str(v).startswith(LAMBDA_TASK_ROOT) else str(v)
        for k, v in variables.items()
    }
    return Function(
        logical_id=logical_id,
        arn=function_arn(logical_id),
        handler=str(props["Handler"]),
        runtime=str(props["Runtime"]),
        timeout_s=int(props.get("Timeout", LAMBDA_DEFAULT_TIMEOUT_S)),
        memory_mb=int(props.get("MemorySize", LAMBDA_DEFAULT_MEMORY_MB)),
        environment=environment,
        asset=asset,
    )


def _definition(references: References, resource: dict[str, Any]) -> dict[str, Any]:
    """A state machine's definition: DefinitionString (string or Fn::Join), or Definition + substitutions."""
    props = resource["Properties"]
    if "DefinitionString" in props:
        definition: dict[str, Any] = json.loads(str(references.resolve(props["DefinitionString"])))
        return definition
    text = json.dumps(props["Definition"])
    for name, value in references.resolve(props.get("DefinitionSubstitutions", {})).items():
        text = text.replace("${" + name + "}", str(value))
    substituted: dict[str, Any] = json.loads(text)
    return substituted


def _outputs(template: dict[str, Any], resource_id: str) -> dict[str, str]:
    """Outputs that read an attribute of the custom resource (the only ones its response can break)."""
    found: dict[str, str] = {}
    for name, output in template.get("Outputs", {}).items():
        value = output["Value"]
        if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
            target, attribute = _get_att(value["Fn::GetAtt"])
            if target == resource_id:
                found[name] = attribute
                continue
        if resource_id in json.dumps(value):
            raise NotImplementedError(f"output {name} uses {resource_id} in a way the stand-in does not resolve")
    return found


def stack_model(assembly: Assembly, targets: dict[str, str]) -> StackModel:
    """Read the stack; `targets` maps the custom resource's Ref-valued properties to the test's values."""
    template = assembly.template
    (resource_id,) = _resources(template, CUSTOM_RESOURCE_TYPE)
    references = References(_stand_ins(template, resource_id, targets))
    functions = {
        function_arn(logical_id): _function(assembly, references, logical_id, resource)
        for logical_id, resource in _resources(template, "AWS::Lambda::Function").items()
        if "Handler" in resource["Properties"] and "S3Key" in resource["Properties"].get("Code", {})
    }
    machines = {
        state_machine_arn(logical_id): _definition(references, resource)
        for logical_id, resource in _resources(template, "AWS::StepFunctions::StateMachine").items()
    }
    return StackModel(
        assembly=assembly,
        references=references,
        resource_id=resource_id,
        template_properties=dict(template["Resources"][resource_id]["Properties"]),
        functions=functions,
        state_machines=machines,
        outputs=_outputs(template, resource_id),
    )
