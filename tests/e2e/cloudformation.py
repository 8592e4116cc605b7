"""CloudFormation's side of a custom resource, for the one Custom::SchemaMigration of the stack.

It sends the requests CloudFormation sends (Create; Update with OldResourceProperties; the rollback
Update after a failed one, with the earlier properties; the Delete after a failed Create; Delete),
reads the answer from the response URL as CloudFormation does (one JSON object under 4 KB, in time,
for this request), cancels a running Update when another resource of the same update fails (the rollback
Update goes out at once; the cancelled request's waiter is not stopped, and its late answer is ignored), and
resolves the stack Outputs that read the resource's attributes: a missing
attribute fails the operation, and during a rollback leaves the stack UPDATE_ROLLBACK_FAILED.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from tests.aws import REGION
from tests.e2e.lambdas import VirtualClock
from tests.e2e.template_model import CUSTOM_RESOURCE_TYPE, STACK_ID, StackModel

RESPONSE_LIMIT = 4096  # bytes: CloudFormation rejects a longer custom resource response
RESPONSE_HOST = f"cloudformation-custom-resource-response-{REGION.replace('-', '')}.s3.{REGION}.amazonaws.com"


class NoChanges(Exception):
    """CloudFormation refuses an update that changes nothing ("No updates are to be performed")."""


@dataclass
class ResponseBucket:
    """The presigned S3 URLs CloudFormation hands out, and what was PUT to each."""

    clock: VirtualClock
    answers: dict[str, list[tuple[float, bytes]]] = field(default_factory=dict)

    def issue(self, request_id: str, logical_id: str) -> str:
        key = quote(f"{STACK_ID}|{logical_id}|{request_id}", safe="")
        path = f"/{key}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=7200&X-Amz-Signature=e2e"
        self.answers[path] = []
        return f"https://{RESPONSE_HOST}{path}"

    def http_request(self, options: dict[str, Any], body: str) -> dict[str, Any]:
        """The framework's PUT of its response; anything but a PUT of the announced length to an issued URL is a bug."""
        data = body.encode()
        assert options.get("method") == "PUT", options
        assert options.get("hostname") == RESPONSE_HOST, options
        assert int(options["headers"]["content-length"]) == len(data), options
        path = str(options.get("path"))
        assert path in self.answers, f"a response to a URL CloudFormation never issued: {path}"
        self.answers[path].append((self.clock.now(), data))
        return {"statusCode": 200}

    def taken(self, url: str) -> list[tuple[float, bytes]]:
        parts = urlsplit(url)
        return self.answers[f"{parts.path}?{parts.query}"]


@dataclass
class ResourceRequest:
    """One request to the custom resource and what CloudFormation made of the answer."""

    event: dict[str, Any]
    answers: int = 0
    raw: bytes = b""
    response: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0  # simulated, from the request to the response
    problem: str = ""  # why CloudFormation treated the answer as a failure, besides Status FAILED
    cancelled: bool = False  # CloudFormation cancelled it (and sent the rollback) before it answered

    @property
    def request_type(self) -> str:
        return str(self.event["RequestType"])

    @property
    def ok(self) -> bool:
        return not self.problem and self.response.get("Status") == "SUCCESS"

    @property
    def reason(self) -> str:
        return self.problem or str(self.response.get("Reason", ""))

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.response.get("Data") or {})

    @property
    def physical_id(self) -> str:
        return str(self.response.get("PhysicalResourceId") or "")


@dataclass
class Operation:
    """A stack operation: its final status, every request it sent, and the outputs it left."""

    step: str
    status: str = ""
    reason: str = ""
    requests: list[ResourceRequest] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    wall_s: float = 0.0
    simulated_s: float = 0.0

    @property
    def first(self) -> ResourceRequest:
        return self.requests[0]


class Stack:
    """The stack as far as the custom resource goes: its properties, physical id and outputs between operations."""

    def __init__(
        self,
        model: StackModel,
        invoke_service_token: Callable[[dict[str, Any]], None],
        bucket: ResponseBucket,
        clock: VirtualClock,
    ) -> None:
        self._model, self._invoke, self._bucket, self._clock = model, invoke_service_token, bucket, clock
        self.status = ""
        self.physical_id = ""
        self.properties: dict[str, Any] = {}
        self.outputs: dict[str, str] = {}
        self.operations: list[Operation] = []
        self._cancel: Callable[[], None] | None = None  # while an Update's request runs: cancel it, roll back

    def deploy(self, step: str, properties: dict[str, Any]) -> Operation:
        """`cdk deploy`: a Create the first time, an Update after that."""
        if self.physical_id:
            return self.update(step, properties)
        return self.create(step, properties)

    def create(self, step: str, properties: dict[str, Any]) -> Operation:
        def run(operation: Operation) -> None:
            request = self._send(operation, "Create", properties)
            outputs, missing = self._outputs(request)
            if request.ok and not missing:
                self._settle("CREATE_COMPLETE", properties, request.physical_id, outputs, operation)
                return
            operation.reason = missing or request.reason
            physical = request.physical_id or str(request.event["RequestId"])
            undo = self._send(operation, "Delete", properties, physical=physical)
            operation.status = "ROLLBACK_COMPLETE" if undo.ok else "ROLLBACK_FAILED"
            self.status = operation.status

        return self._timed(step, run)

    def update(
        self, step: str, properties: dict[str, Any], neighbour_fails: Callable[[], None] | None = None
    ) -> Operation:
        """`neighbour_fails`: another resource of the update fails after the custom resource's Update succeeded
        (the alarms, dashboard and network update beside it); it is called, then the rollback Update is sent."""
        if properties == self.properties:
            raise NoChanges(f"{step}: the properties did not change")
        earlier, earlier_id = self.properties, self.physical_id

        def run(operation: Operation) -> None:
            cancelled: list[ResourceRequest] = []

            def cancel_now() -> None:
                operation.requests[-1].cancelled = True  # the running Update, still unanswered
                cancelled.append(self._send(operation, "Update", earlier, old=properties, physical=earlier_id))

            self._cancel = cancel_now
            try:
                request = self._send(operation, "Update", properties, old=earlier, physical=earlier_id)
            finally:
                self._cancel = None
            if cancelled:  # the request's own answer came after the rollback, if at all: CloudFormation ignores it
                operation.reason = "Resource update cancelled"
                self._rolled_back(operation, cancelled[0], earlier)
                return
            outputs, missing = self._outputs(request)
            if request.ok and not missing and neighbour_fails is not None:
                neighbour_fails()
                missing = "a neighbouring resource failed"
            if request.ok and not missing:
                self._settle("UPDATE_COMPLETE", properties, request.physical_id, outputs, operation)
                if request.physical_id != earlier_id:  # replaced: the old one is deleted in the cleanup phase
                    self._send(operation, "Delete", earlier, physical=earlier_id)
                return
            operation.reason = missing or request.reason
            physical = request.physical_id if request.ok else earlier_id
            self._rolled_back(
                operation, self._send(operation, "Update", earlier, old=properties, physical=physical), earlier
            )

        return self._timed(step, run)

    @property
    def cancelling(self) -> bool:
        """An Update's request is running and can be cancelled."""
        return self._cancel is not None

    def cancel(self) -> None:
        """Another resource of the running Update failed while the custom resource's request was still running:
        CloudFormation cancels it (UPDATE_FAILED, "Resource update cancelled") and sends the rollback Update now.
        It stops nothing the Provider started: the cancelled request's waiter polls on after this returns."""
        assert self._cancel is not None, "no Update of the custom resource is running"
        cancel, self._cancel = self._cancel, None
        cancel()

    def _rolled_back(self, operation: Operation, back: ResourceRequest, earlier: dict[str, Any]) -> None:
        back_outputs, back_missing = self._outputs(back)
        if back.ok and not back_missing:
            self._settle("UPDATE_ROLLBACK_COMPLETE", earlier, back.physical_id, back_outputs, operation)
            return
        operation.status = self.status = "UPDATE_ROLLBACK_FAILED"
        operation.reason = f"{operation.reason}; rollback: {back_missing or back.reason}"

    def delete(self, step: str) -> Operation:
        def run(operation: Operation) -> None:
            request = self._send(operation, "Delete", self.properties, physical=self.physical_id)
            operation.status = self.status = "DELETE_COMPLETE" if request.ok else "DELETE_FAILED"
            operation.reason = request.reason
            if request.ok:
                self.physical_id, self.properties, self.outputs = "", {}, {}

        return self._timed(step, run)

    def _timed(self, step: str, run: Callable[[Operation], None]) -> Operation:
        operation = Operation(step)
        wall, simulated = time.perf_counter(), self._clock.now()
        run(operation)
        operation.wall_s, operation.simulated_s = time.perf_counter() - wall, self._clock.now() - simulated
        operation.outputs = dict(self.outputs)
        self.operations.append(operation)
        return operation

    def _settle(
        self, status: str, properties: dict[str, Any], physical: str, outputs: dict[str, str], operation: Operation
    ) -> None:
        operation.status = self.status = status
        self.properties, self.physical_id, self.outputs = properties, physical, outputs

    def _send(
        self,
        operation: Operation,
        request_type: str,
        properties: dict[str, Any],
        old: dict[str, Any] | None = None,
        physical: str = "",
    ) -> ResourceRequest:
        event = self._event(request_type, properties, old, physical)
        request = ResourceRequest(event)
        operation.requests.append(request)
        sent = self._clock.now()
        self._invoke(json.loads(json.dumps(event)))  # the function gets its own copy, as over the wire
        self._read_answer(request, sent)
        return request

    def _event(
        self, request_type: str, properties: dict[str, Any], old: dict[str, Any] | None, physical: str
    ) -> dict[str, Any]:
        request_id = str(uuid.uuid4())
        event: dict[str, Any] = {
            "RequestType": request_type,
            "ServiceToken": self._model.service_token,
            "ResponseURL": self._bucket.issue(request_id, self._model.resource_id),
            "StackId": STACK_ID,
            "RequestId": request_id,
            "LogicalResourceId": self._model.resource_id,
            "ResourceType": CUSTOM_RESOURCE_TYPE,
            "ResourceProperties": properties,
        }
        if request_type != "Create":
            event["PhysicalResourceId"] = physical
        if request_type == "Update":
            event["OldResourceProperties"] = old
        return event

    def _read_answer(self, request: ResourceRequest, sent: float) -> None:
        answers = self._bucket.taken(request.event["ResponseURL"])
        request.answers = len(answers)
        timeout = self._model.service_timeout_s
        if not answers:
            if not request.cancelled:  # CloudFormation waits it out (a cancelled one no longer)
                self._clock.advance(max(0.0, sent + timeout - self._clock.now()))
            request.problem = f"no response from the custom resource within its ServiceTimeout of {timeout} s"
            return
        arrived, raw = answers[0]  # S3 notifies CloudFormation of the first PUT
        request.raw, request.seconds = raw, arrived - sent
        request.problem = self._rejected(request, raw, timeout)
        if request.cancelled:  # a late answer, kept for tests to read: CloudFormation ignores it
            request.problem = "Resource update cancelled"

    def _rejected(self, request: ResourceRequest, raw: bytes, timeout: int) -> str:
        """Why CloudFormation would not accept this answer ("" when it would)."""
        if request.seconds > timeout:
            return f"no response from the custom resource within its ServiceTimeout of {timeout} s"
        if len(raw) > RESPONSE_LIMIT:
            return "Response object is too long."
        try:
            request.response = json.loads(raw)
        except ValueError:
            return f"Invalid response object: {raw[:200]!r}"
        for key in ("RequestId", "StackId", "LogicalResourceId"):
            if request.response.get(key) != request.event[key]:
                return f"Invalid response object: {key} {request.response.get(key)!r} is not this request's"
        if request.response.get("Status") not in ("SUCCESS", "FAILED"):
            return f"Invalid response object: Status {request.response.get('Status')!r}"
        if not request.physical_id:
            return "Invalid PhysicalResourceId"
        return ""

    def _outputs(self, request: ResourceRequest) -> tuple[dict[str, str], str]:
        """The outputs that read the resource, and CloudFormation's error if the response lacks an attribute."""
        if not request.ok or request.request_type == "Delete":
            return {}, ""
        data = request.data
        for attribute in self._model.outputs.values():
            if attribute not in data:
                where = f"{STACK_ID}|{self._model.resource_id}|{request.physical_id}"
                return {}, f"CustomResource attribute error: Vendor response doesn't contain {attribute} key in {where}"
        return {name: str(data[attribute]) for name, attribute in self._model.outputs.items()}, ""
