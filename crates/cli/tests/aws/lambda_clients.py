"""Drives a Cirrus node's Lambda API with the real AWS clients: boto3 and the aws CLI.

Run by tests/aws_clients.rs with the environment `cirrus env` prints, plus
HELLO_WASM (a built component) and AWSLAMBDARIC_PYTHON (a Python with awslambdaric).
Nothing here knows it talks to Cirrus rather than AWS.
"""

import base64
import io
import json
import os
import subprocess
import tempfile
import threading
import time
import unittest
import uuid
import zipfile

import boto3
import botocore.config

ROLE = "arn:aws:iam::000000000000:role/cirrus-tests"
CONFIG = botocore.config.Config(read_timeout=90, retries={"max_attempts": 1})

HANDLER = '''
import json, os, time

def handler(event, context):
    print("event", json.dumps(event))
    if event.get("fail"):
        raise RuntimeError("asked to fail")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"echo": event, "function": context.function_name,
            "version": context.function_version, "secret": os.environ.get("SECRET")}
'''

NODE_HANDLER = '''
exports.handler = async (event, context) => {
  console.log("node got", JSON.stringify(event));
  if (event.fail) { const e = new Error("node failed"); e.name = "NodeFailure"; throw e; }
  return { echo: event, fn: context.functionName };
};
'''


def zipped(files, modes=None):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = ((modes or {}).get(name, 0o644) | 0o100000) << 16
            z.writestr(info, text)
    return buf.getvalue()


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def code_of(e):
    return e.response["Error"]["Code"]


class Lambda(unittest.TestCase):
    def setUp(self):
        self.fn = boto3.client("lambda", config=CONFIG)

    def create_python(self, **kw):
        name = unique("py")
        r = self.fn.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": zipped({"app.py": HANDLER})},
            Environment={"Variables": {"SECRET": "s3cret"}},
            **kw,
        )
        self.assertEqual(r["FunctionName"], name)
        self.assertEqual(r["Runtime"], "python3.12")
        self.assertEqual(r["State"], "Active")
        return name

    def invoke(self, name, payload, **kw):
        r = self.fn.invoke(FunctionName=name, Payload=json.dumps(payload).encode(), **kw)
        return r, json.loads(r["Payload"].read() or b"null")

    def test_python_lifecycle(self):
        name = self.create_python(Timeout=5, MemorySize=256)
        r, out = self.invoke(name, {"a": 1}, LogType="Tail")
        self.assertEqual(r["StatusCode"], 200)
        self.assertNotIn("FunctionError", r)
        self.assertEqual(out, {"echo": {"a": 1}, "function": name, "version": "$LATEST", "secret": "s3cret"})
        self.assertEqual(r["ExecutedVersion"], "$LATEST")
        log = base64.b64decode(r["LogResult"]).decode()
        self.assertIn('event {"a": 1}', log)
        self.assertIn("START RequestId", log)

        r, out = self.invoke(name, {"fail": True})
        self.assertEqual(r["FunctionError"], "Unhandled")
        self.assertEqual(out["errorType"], "RuntimeError")
        self.assertEqual(out["errorMessage"], "asked to fail")

        got = self.fn.get_function(FunctionName=name)
        self.assertEqual(got["Configuration"]["MemorySize"], 256)
        self.assertEqual(got["Configuration"]["Environment"]["Variables"], {"SECRET": "s3cret"})
        names = [f["FunctionName"] for f in self.fn.list_functions()["Functions"]]
        self.assertIn(name, names)
        pages = list(self.fn.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 1}))
        self.assertGreaterEqual(len(pages), 1)

        # Versions are immutable; an alias splits traffic.
        v1 = self.fn.publish_version(FunctionName=name)["Version"]
        self.fn.update_function_configuration(FunctionName=name, Environment={"Variables": {"SECRET": "two"}})
        # $LATEST runs the new configuration at once.
        self.assertEqual(self.invoke(name, {})[1]["secret"], "two")
        v2 = self.fn.publish_version(FunctionName=name)["Version"]
        self.assertEqual((v1, v2), ("1", "2"))
        _, out = self.invoke(name, {}, Qualifier="1")
        self.assertEqual((out["secret"], out["version"]), ("s3cret", "1"))
        _, out = self.invoke(name, {})
        self.assertEqual(out["secret"], "two")
        alias = self.fn.create_alias(FunctionName=name, Name="live", FunctionVersion="1",
                                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
        self.assertTrue(alias["AliasArn"].endswith(f":{name}:live"))
        seen = {self.invoke(name, {}, Qualifier="live")[1]["version"] for _ in range(30)}
        self.assertEqual(seen, {"1", "2"})
        self.fn.update_alias(FunctionName=name, Name="live", FunctionVersion="2", RoutingConfig={"AdditionalVersionWeights": {}})
        self.assertEqual(self.fn.get_alias(FunctionName=name, Name="live")["FunctionVersion"], "2")
        versions = [v["Version"] for v in self.fn.list_versions_by_function(FunctionName=name)["Versions"]]
        self.assertEqual(versions, ["$LATEST", "1", "2"])
        with self.assertRaises(self.fn.exceptions.ResourceConflictException):
            self.fn.delete_function(FunctionName=name, Qualifier="2")

        # New code replaces $LATEST only.
        self.fn.update_function_code(FunctionName=name, ZipFile=zipped({"app.py": "def handler(e, c):\n    return 'v3'\n"}))
        self.assertEqual(self.invoke(name, {})[1], "v3")
        self.assertEqual(self.invoke(name, {}, Qualifier="1")[1]["version"], "1")

        # Async: accepted at once, delivered later.
        r = self.fn.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
        self.assertEqual(r["StatusCode"], 202)
        r = self.fn.invoke(FunctionName=name, InvocationType="DryRun")
        self.assertEqual(r["StatusCode"], 204)

        self.fn.delete_function(FunctionName=name)
        with self.assertRaises(self.fn.exceptions.ResourceNotFoundException):
            self.fn.get_function(FunctionName=name)

    def test_function_urls(self):
        import http.client
        import urllib.parse
        name = self.create_python()
        url = self.fn.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
        self.assertEqual(self.fn.get_function_url_config(FunctionName=name)["FunctionUrl"], url)
        with self.assertRaises(self.fn.exceptions.ResourceConflictException):
            self.fn.create_function_url_config(FunctionName=name, AuthType="NONE")
        parsed = urllib.parse.urlparse(url)
        # *.localhost resolves to this machine (curl and browsers know it; Python does not).
        conn = http.client.HTTPConnection("127.0.0.1", parsed.port, timeout=30)
        conn.request("POST", "/any/path?x=1", body=b'{"hi": 1}', headers={"Host": parsed.netloc})
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        event = json.loads(r.read())["echo"]
        self.assertEqual((event["rawPath"], event["rawQueryString"]), ("/any/path", "x=1"))
        self.assertEqual(event["requestContext"]["http"]["method"], "POST")
        self.assertEqual(event["routeKey"], "$default")
        self.fn.delete_function_url_config(FunctionName=name)
        conn = http.client.HTTPConnection("127.0.0.1", parsed.port, timeout=30)
        conn.request("GET", "/", headers={"Host": parsed.netloc})
        self.assertEqual(conn.getresponse().status, 404)
        self.fn.delete_function(FunctionName=name)

    def test_reserved_concurrency_throttles(self):
        name = self.create_python()
        self.fn.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
        self.assertEqual(self.fn.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"], 0)
        with self.assertRaises(self.fn.exceptions.TooManyRequestsException):
            self.invoke(name, {})
        self.fn.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
        results = []

        def call():
            try:
                results.append(self.invoke(name, {"sleep": 1.0})[0]["StatusCode"])
            except self.fn.exceptions.TooManyRequestsException:
                results.append(429)

        threads = [threading.Thread(target=call) for _ in range(3)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        self.assertIn(200, results)
        self.assertIn(429, results)
        self.fn.delete_function_concurrency(FunctionName=name)
        self.assertEqual(self.invoke(name, {})[0]["StatusCode"], 200)

    def test_errors_have_lambda_names(self):
        with self.assertRaises(self.fn.exceptions.ResourceNotFoundException):
            self.fn.invoke(FunctionName=unique("missing"))
        with self.assertRaises(self.fn.exceptions.InvalidParameterValueException):
            self.fn.create_function(FunctionName=unique("j"), Runtime="java21", Role=ROLE,
                                    Handler="x", Code={"ZipFile": zipped({"a": "b"})})
        with self.assertRaises(self.fn.exceptions.InvalidParameterValueException):
            self.fn.create_function(FunctionName=unique("m"), Runtime="python3.12", Role=ROLE,
                                    Handler="app.handler", MemorySize=20480,
                                    Code={"ZipFile": zipped({"app.py": HANDLER})})
        name = self.create_python()
        with self.assertRaises(self.fn.exceptions.ResourceConflictException):
            self.fn.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                                    Handler="app.handler", Code={"ZipFile": zipped({"app.py": HANDLER})})
        with self.assertRaises(self.fn.exceptions.InvalidRequestContentException):
            self.fn.invoke(FunctionName=name, Payload=b"{not json")
        with self.assertRaises(self.fn.exceptions.PreconditionFailedException):
            self.fn.update_function_configuration(FunctionName=name, Timeout=9, RevisionId="stale")
        bad = boto3.client("lambda", config=CONFIG, aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                           aws_secret_access_key="wrong")
        with self.assertRaises(Exception) as e:
            bad.list_functions()
        self.assertEqual(code_of(e.exception), "InvalidSignatureException")
        self.fn.delete_function(FunctionName=name)

    def test_nodejs_and_the_wasm_component(self):
        name = unique("node")
        self.fn.create_function(FunctionName=name, Runtime="nodejs20.x", Role=ROLE, Handler="index.handler",
                                Code={"ZipFile": zipped({"index.js": NODE_HANDLER})})
        _, out = self.invoke(name, {"x": 1})
        self.assertEqual(out, {"echo": {"x": 1}, "fn": name})
        r, out = self.invoke(name, {"fail": True})
        self.assertEqual((r["FunctionError"], out["errorType"]), ("Unhandled", "NodeFailure"))

        wasm = unique("wasm")
        with open(os.environ["HELLO_WASM"], "rb") as f:
            component = f.read()
        r = self.fn.create_function(FunctionName=wasm, Role=ROLE, Runtime="wasm", Code={"ZipFile": component})
        self.assertEqual(r["Runtime"], "wasm")
        _, out = self.invoke(wasm, {"name": "boto"})
        self.assertEqual(out, {"greeting": "Hello, boto!", "from": "wasm"})
        r, out = self.invoke(wasm, {})
        self.assertEqual((r["FunctionError"], out["errorType"]), ("Unhandled", "InvalidName"))

    def test_awslambdaric_runs_unchanged(self):
        # A provided runtime whose bootstrap is AWS's own Python runtime interface client.
        python = os.environ["AWSLAMBDARIC_PYTHON"]
        bootstrap = f"#!/bin/sh\nexec {python} -m awslambdaric app.handler\n"
        name = unique("ric")
        self.fn.create_function(FunctionName=name, Runtime="provided.al2023", Role=ROLE, Handler="app.handler",
                                Code={"ZipFile": zipped({"bootstrap": bootstrap, "app.py": HANDLER},
                                                       modes={"bootstrap": 0o755})})
        for i in range(3):
            _, out = self.invoke(name, {"i": i})
            self.assertEqual(out["echo"], {"i": i})
            self.assertEqual(out["function"], name)
        r, out = self.invoke(name, {"fail": True})
        self.assertEqual((r["FunctionError"], out["errorType"]), ("Unhandled", "RuntimeError"))


class AwsCli(unittest.TestCase):
    def aws(self, *args):
        r = subprocess.run(["aws", *args], capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {r.stderr}")
        return r.stdout

    def test_create_invoke_delete(self):
        name = unique("cli")
        with tempfile.TemporaryDirectory() as d:
            package = os.path.join(d, "fn.zip")
            with open(package, "wb") as f:
                f.write(zipped({"app.py": HANDLER}))
            out = json.loads(self.aws("lambda", "create-function", "--function-name", name,
                                      "--runtime", "python3.12", "--handler", "app.handler", "--role", ROLE,
                                      "--zip-file", f"fileb://{package}"))
            self.assertEqual(out["FunctionName"], name)
            result = os.path.join(d, "out.json")
            meta = json.loads(self.aws("lambda", "invoke", "--function-name", name,
                                       "--payload", '{"from": "cli"}', result))
            self.assertEqual(meta["StatusCode"], 200)
            with open(result) as f:
                self.assertEqual(json.load(f)["echo"], {"from": "cli"})
            listed = json.loads(self.aws("lambda", "list-functions"))
            self.assertIn(name, [f["FunctionName"] for f in listed["Functions"]])
            self.aws("lambda", "delete-function", "--function-name", name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
