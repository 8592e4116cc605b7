"use strict";
// Runs the CDK Provider framework's own code (framework.js from the synthesized asset) for the tests.
//
// Usage: node provider_harness.js <framework asset dir>
//
// The framework's outbound calls (invoke a user function, start the waiter state machine, PUT the
// response to CloudFormation) are replaced by requests to the Python test process, so that Python
// can run the real handlers, the waiter and the CloudFormation stand-in. One JSON object per line:
//
//   Python -> node   {"type": "run", "entry": "onEvent", "event": {...}, "environment": {...},
//                     "context": {"functionName": ..., "timeoutMs": 900000, ...}}
//   node -> Python   {"type": "invoke" | "startExecution" | "httpRequest", ...}   (Python answers each)
//   node -> Python   {"type": "result", "ok": true, "result": ..., "logs": [...]}
//                    {"type": "result", "ok": false, "error": {"errorType", "errorMessage", "trace"}, "logs": [...]}
//
// stdout carries only this protocol: the framework's console output is collected and returned in
// "logs" (Lambda would have sent it to CloudWatch), so the tests can inspect it.

const path = require("path");
const readline = require("readline");
const util = require("util");

const assetDir = path.resolve(process.argv[2]);
const protocolOut = process.stdout.write.bind(process.stdout);
let logs = [];
for (const level of ["log", "info", "warn", "error", "debug"]) {
  console[level] = (...args) => logs.push(util.format(...args));
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })[Symbol.asyncIterator]();

async function receive() {
  const { value, done } = await lines.next();
  if (done) {
    process.exit(0);
  }
  return JSON.parse(value);
}

function send(message) {
  protocolOut(JSON.stringify(message) + "\n");
}

async function ask(message) {
  send(message);
  return receive();
}

function remoteError(error) {
  const failure = new Error(error.message);
  failure.name = error.name || "Error";
  return failure;
}

// outbound.js exports these as plain mutable properties; framework.js and cfn-response.js read them
// at call time (`(0, outbound_1.invokeFunction)(...)`), so replacing them here redirects every call.
const outbound = require(path.join(assetDir, "outbound.js"));
for (const name of ["invokeFunction", "startExecution", "httpRequest"]) {
  if (typeof outbound[name] !== "function") {
    throw new Error(`outbound.js no longer exports ${name}: the harness must follow the framework's change`);
  }
}

outbound.invokeFunction = async (request) => {
  const reply = await ask({ type: "invoke", functionName: request.FunctionName, payload: request.Payload });
  if (reply.error) {
    throw remoteError(reply.error);
  }
  const answer = { StatusCode: 200, ExecutedVersion: "$LATEST", Payload: new Uint8Array(Buffer.from(reply.payload)) };
  if (reply.functionError) {
    answer.FunctionError = reply.functionError;
  }
  return answer;
};

outbound.startExecution = async (request) => {
  const reply = await ask({ type: "startExecution", stateMachineArn: request.stateMachineArn, input: request.input });
  if (reply.error) {
    throw remoteError(reply.error);
  }
  return { executionArn: reply.executionArn, startDate: new Date() };
};

outbound.httpRequest = async (options, body) => {
  const reply = await ask({ type: "httpRequest", options, body });
  if (!reply.statusCode || reply.statusCode >= 400) {
    throw new Error(`Unsuccessful HTTP response: ${reply.statusCode}`);
  }
};

const framework = require(path.join(assetDir, "framework.js"));
const FRAMEWORK_ENVIRONMENT = ["USER_ON_EVENT_FUNCTION_ARN", "USER_IS_COMPLETE_FUNCTION_ARN", "WAITER_STATE_MACHINE_ARN"];

function lambdaContext(context) {
  const started = Date.now();
  return {
    functionName: context.functionName,
    invokedFunctionArn: context.invokedFunctionArn,
    awsRequestId: context.awsRequestId,
    memoryLimitInMB: String(context.memoryLimitInMB),
    getRemainingTimeInMillis: () => Math.max(0, context.timeoutMs - (Date.now() - started)),
  };
}

function asLambdaError(error) {
  // What the Node.js Lambda runtime reports for an uncaught error (name, message, stack lines).
  if (error instanceof Error) {
    return { errorType: error.name, errorMessage: error.message, trace: String(error.stack || "").split("\n") };
  }
  return { errorType: typeof error, errorMessage: String(error), trace: [] };
}

async function run(message) {
  const handler = framework[message.entry];
  if (typeof handler !== "function") {
    throw new Error(`framework.js exports no ${message.entry}: ${Object.keys(framework).join(", ")}`);
  }
  for (const name of FRAMEWORK_ENVIRONMENT) {
    delete process.env[name];
  }
  Object.assign(process.env, message.environment);
  return handler(message.event, lambdaContext(message.context));
}

async function main() {
  for (;;) {
    const message = await receive();
    if (message.type !== "run") {
      throw new Error(`expected a "run" request, got ${JSON.stringify(message)}`);
    }
    logs = [];
    try {
      const result = await run(message);
      send({ type: "result", ok: true, result: result === undefined ? null : result, logs });
    } catch (error) {
      send({ type: "result", ok: false, error: asLambdaError(error), logs });
    }
  }
}

main().catch((error) => {
  process.stderr.write(`provider harness crashed: ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
