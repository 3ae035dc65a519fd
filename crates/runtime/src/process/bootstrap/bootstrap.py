"""Cirrus's Python runtime: loads _HANDLER (`module.function`, module relative to
LAMBDA_TASK_ROOT, `src/app.handler` for nested ones) and serves it over the Lambda Runtime
API at AWS_LAMBDA_RUNTIME_API. Standard library only; runs without site-packages (-S) and
adds them only if the handler's imports need them."""

import importlib
import json
import os
import socket
import sys
import time
from types import SimpleNamespace

ENV = os.environ
TASK_ROOT = ENV.get("LAMBDA_TASK_ROOT", os.getcwd())


class RuntimeApi:
    """Just enough HTTP/1.1 for the Runtime API (importing http.client costs ~30 ms)."""

    def __init__(self):
        host, _, port = ENV["AWS_LAMBDA_RUNTIME_API"].rpartition(":")
        self.address = (host, int(port))
        self.connect()

    def connect(self):
        self.sock = socket.create_connection(self.address)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")

    def call(self, method, path, body=b"", headers=()):
        head = [f"{method} /2018-06-01/runtime{path} HTTP/1.1", f"Host: {self.address[0]}",
                f"Content-Length: {len(body)}", *headers]
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status_line = self.reader.readline().split()
        if len(status_line) < 2:
            raise ConnectionError("the Runtime API closed the connection")
        fields = {}
        while (line := self.reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            fields[name.strip().lower()] = value.strip()
        return int(status_line[1]), fields, self.reader.read(int(fields.get("content-length", 0)))

    def next(self):
        status, headers, body = self.call("GET", "/invocation/next")
        if status != 200:
            raise RuntimeError(f"/next answered {status}: {body[:200]!r}")
        return headers, body

    def post(self, path, body, error_type=None):
        headers = ["Content-Type: application/json"]
        if error_type:
            headers.append(f"Lambda-Runtime-Function-Error-Type: {error_type}")
        try:
            self.call("POST", path, body, headers)
        except ConnectionError:
            # The API answers an oversized body at once (413) and closes the connection
            # without reading it; the invocation has failed already, so carry on.
            self.sock.close()
            self.connect()


class Context:
    """What Lambda's Python runtime passes as the handler's second argument."""

    def __init__(self, headers):
        self.aws_request_id = headers.get("lambda-runtime-aws-request-id")
        self.invoked_function_arn = headers.get("lambda-runtime-invoked-function-arn")
        self.function_name = ENV.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = ENV.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = ENV.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = ENV.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = ENV.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self._deadline_ms = int(headers.get("lambda-runtime-deadline-ms") or 0)
        self.identity = SimpleNamespace(cognito_identity_id=None, cognito_identity_pool_id=None)
        self.client_context = None
        raw = headers.get("lambda-runtime-client-context")
        if raw:
            parsed = json.loads(raw)
            self.client_context = SimpleNamespace(
                client=parsed.get("client"), custom=parsed.get("custom"), env=parsed.get("env"))

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)


class Failure(Exception):
    """An error with the type Lambda reports for it."""

    def __init__(self, error_type, message):
        super().__init__(message)
        self.error_type = error_type


def error_document(error, error_type=None):
    import traceback  # only when something failed: it costs a few ms at start
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename != __file__]
    return {
        "errorMessage": str(error),
        "errorType": error_type or getattr(error, "error_type", None) or type(error).__name__,
        "stackTrace": traceback.format_list(frames),
    }


def import_module(name):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        if not sys.flags.no_site or "site" in sys.modules:
            raise
    import site  # the handler needs installed packages: add them and try once more
    site.main()
    return importlib.import_module(name)


def load_handler():
    spec = ENV.get("_HANDLER", "")
    module_path, _, name = spec.rpartition(".")
    if not module_path or not name:
        raise Failure("Runtime.MalformedHandlerName", f"Bad handler '{spec}': expected module.function")
    module_name = module_path.replace("/", ".")
    try:
        module = import_module(module_name)
    except ImportError as e:
        raise Failure("Runtime.ImportModuleError", f"Unable to import module '{module_path}': {e}")
    except SyntaxError as e:
        raise Failure("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_path}': {e}")
    handler = getattr(module, name, None)
    if not callable(handler):
        raise Failure("Runtime.HandlerNotFound", f"Handler '{name}' missing on module '{module_path}'")
    return handler


def invoke(handler, headers, body):
    """Runs one invocation; returns (path suffix, JSON bytes, error type or None)."""
    trace_id = headers.get("lambda-runtime-trace-id")
    if trace_id:
        ENV["_X_AMZN_TRACE_ID"] = trace_id
    else:
        ENV.pop("_X_AMZN_TRACE_ID", None)
    try:
        event = json.loads(body) if body else None
        result = handler(event, Context(headers))
    except Exception as e:
        doc = error_document(e)
        print(f"[ERROR] {doc['errorType']}: {doc['errorMessage']}", file=sys.stderr)
        sys.stderr.write("".join(["Traceback (most recent call last):\n", *doc["stackTrace"]]))
        return "error", json.dumps(doc).encode(), doc["errorType"]
    try:
        return "response", json.dumps(result).encode(), None
    except (TypeError, ValueError) as e:
        doc = error_document(e, "Runtime.MarshalError")
        doc["errorMessage"] = f"Unable to marshal response: {e}"
        return "error", json.dumps(doc).encode(), "Runtime.MarshalError"


def main():
    sys.path.insert(0, TASK_ROOT)
    sys.path = [p for p in sys.path if p != os.path.dirname(os.path.abspath(__file__))]
    api = RuntimeApi()
    try:
        handler = load_handler()
    except Exception as e:
        doc = error_document(e)
        print(f"[ERROR] {doc['errorType']}: {doc['errorMessage']}", file=sys.stderr)
        api.post("/init/error", json.dumps(doc).encode(), doc["errorType"])
        sys.exit(1)
    while True:
        headers, body = api.next()
        request_id = headers.get("lambda-runtime-aws-request-id")
        outcome, payload, error_type = invoke(handler, headers, body)
        api.post(f"/invocation/{request_id}/{outcome}", payload, error_type)


if __name__ == "__main__":
    main()
