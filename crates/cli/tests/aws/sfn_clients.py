"""Drives a Cirrus node with the real AWS clients: boto3 and the aws CLI.

Run by tests/aws_clients.rs with the environment `cirrus env` prints (AWS_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION). Nothing here knows it talks to
Cirrus rather than AWS.
"""

import json
import os
import subprocess
import threading
import time
import unittest
import uuid

import boto3
import botocore.config
import botocore.exceptions

ROLE = "arn:aws:iam::000000000000:role/cirrus-tests"
CONFIG = botocore.config.Config(read_timeout=90, retries={"max_attempts": 1})


def client(**overrides):
    return boto3.client("stepfunctions", config=CONFIG, **overrides)


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_for(sfn, arn, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING":
            return d
        time.sleep(0.1)
    raise AssertionError(f"{arn} still running after {timeout}s")


def error_code(e):
    return e.response["Error"]["Code"]


class Boto3(unittest.TestCase):
    def setUp(self):
        self.sfn = client()

    def create(self, definition, kind="STANDARD", **kw):
        r = self.sfn.create_state_machine(
            name=unique("m"), definition=json.dumps(definition), roleArn=ROLE, type=kind, **kw
        )
        return r["stateMachineArn"]

    def test_lifecycle_and_history(self):
        arn = self.create(
            {
                "StartAt": "Greet",
                "States": {
                    "Greet": {"Type": "Pass", "Parameters": {"hello.$": "$.who"}, "Next": "Nap"},
                    "Nap": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
                    "Done": {"Type": "Succeed"},
                },
            }
        )
        d = self.sfn.describe_state_machine(stateMachineArn=arn)
        self.assertEqual(d["status"], "ACTIVE")
        self.assertEqual(d["type"], "STANDARD")
        self.assertEqual(json.loads(d["definition"])["StartAt"], "Greet")
        names = [m["stateMachineArn"] for m in self.sfn.list_state_machines()["stateMachines"]]
        self.assertIn(arn, names)

        x = self.sfn.start_execution(stateMachineArn=arn, name="first", input='{"who": "ada"}')
        done = wait_for(self.sfn, x["executionArn"])
        self.assertEqual(done["status"], "SUCCEEDED")
        self.assertEqual(json.loads(done["output"]), {"hello": "ada"})
        self.assertGreaterEqual((done["stopDate"] - done["startDate"]).total_seconds(), 0.9)

        pages = self.sfn.get_paginator("get_execution_history").paginate(
            executionArn=x["executionArn"], PaginationConfig={"PageSize": 2}
        )
        events = [e for p in pages for e in p["events"]]
        self.assertEqual([e["id"] for e in events], list(range(1, len(events) + 1)))
        types = [e["type"] for e in events]
        self.assertEqual(types[0], "ExecutionStarted")
        self.assertEqual(types[-1], "ExecutionSucceeded")
        self.assertIn("WaitStateExited", types)
        entered = [e for e in events if e["type"] == "PassStateEntered"][0]
        self.assertEqual(entered["stateEnteredEventDetails"]["name"], "Greet")
        reverse = self.sfn.get_execution_history(executionArn=x["executionArn"], reverseOrder=True, maxResults=1)
        self.assertEqual(reverse["events"][0]["type"], "ExecutionSucceeded")

        listed = self.sfn.list_executions(stateMachineArn=arn, statusFilter="SUCCEEDED")["executions"]
        self.assertEqual([e["executionArn"] for e in listed], [x["executionArn"]])
        used = self.sfn.describe_state_machine_for_execution(executionArn=x["executionArn"])
        self.assertEqual(json.loads(used["definition"])["StartAt"], "Greet")

        self.sfn.delete_state_machine(stateMachineArn=arn)
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.sfn.describe_state_machine(stateMachineArn=arn)
        self.assertEqual(error_code(e.exception), "StateMachineDoesNotExist")

    def test_errors_have_aws_names(self):
        arn = self.create({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}})
        cases = [
            (lambda: self.sfn.describe_execution(executionArn=arn.replace("stateMachine", "execution") + ":nope"),
             "ExecutionDoesNotExist"),
            (lambda: self.sfn.start_execution(stateMachineArn="not-an-arn"), "InvalidArn"),
            (lambda: self.sfn.start_execution(stateMachineArn=arn, input="{broken"), "InvalidExecutionInput"),
            (lambda: self.sfn.create_state_machine(
                name=unique("bad"), roleArn=ROLE,
                definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}})),
             "InvalidDefinition"),
            (lambda: self.sfn.send_task_success(taskToken="x" * 2000, output="{}"), "ValidationException"),
        ]
        for call, code in cases:
            with self.subTest(code=code):
                with self.assertRaises(botocore.exceptions.ClientError) as e:
                    call()
                self.assertEqual(error_code(e.exception), code)
        self.sfn.start_execution(stateMachineArn=arn, name="once", input="{}")
        self.sfn.start_execution(stateMachineArn=arn, name="once", input="{}")  # idempotent while running
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.sfn.start_execution(stateMachineArn=arn, name="once", input='{"other": 1}')
        self.assertEqual(error_code(e.exception), "ExecutionAlreadyExists")
        stopped = self.sfn.stop_execution(
            executionArn=arn.replace("stateMachine", "execution") + ":once", error="Stop", cause="test"
        )
        self.assertIn("stopDate", stopped)

        with self.assertRaises(botocore.exceptions.ClientError) as e:
            client(
                aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"], aws_secret_access_key="wrong" * 8
            ).list_state_machines()
        self.assertEqual(error_code(e.exception), "InvalidSignatureException")
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            client(
                aws_access_key_id="AKIAUNKNOWNUNKNOWN00", aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"]
            ).list_state_machines()
        self.assertEqual(error_code(e.exception), "UnrecognizedClientException")

    def test_activities_with_a_worker(self):
        activity = self.sfn.create_activity(name=unique("approve"))["activityArn"]
        arn = self.create(
            {
                "StartAt": "Approve",
                "States": {
                    "Approve": {"Type": "Task", "Resource": activity, "HeartbeatSeconds": 30, "End": True}
                },
            }
        )
        results = {}

        def worker():
            task = self.sfn.get_activity_task(activityArn=activity, workerName="w1")
            results["input"] = json.loads(task["input"])
            self.sfn.send_task_heartbeat(taskToken=task["taskToken"])
            self.sfn.send_task_success(taskToken=task["taskToken"], output='{"approved": true}')

        t = threading.Thread(target=worker)
        t.start()  # polls before the task exists: the long poll must pick it up
        time.sleep(0.3)
        x = self.sfn.start_execution(stateMachineArn=arn, input='{"order": 42}')
        t.join(30)
        self.assertEqual(results["input"], {"order": 42})
        done = wait_for(self.sfn, x["executionArn"])
        self.assertEqual(json.loads(done["output"]), {"approved": True})

        x = self.sfn.start_execution(stateMachineArn=arn, input="{}")
        task = self.sfn.get_activity_task(activityArn=activity, workerName="w2")
        self.sfn.send_task_failure(taskToken=task["taskToken"], error="Rejected", cause="too expensive")
        failed = wait_for(self.sfn, x["executionArn"])
        self.assertEqual((failed["status"], failed["error"], failed["cause"]), ("FAILED", "Rejected", "too expensive"))
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.sfn.send_task_success(taskToken=task["taskToken"], output="{}")
        self.assertEqual(error_code(e.exception), "TaskTimedOut")
        self.assertEqual(self.sfn.describe_activity(activityArn=activity)["activityArn"], activity)
        self.assertIn(activity, [a["activityArn"] for a in self.sfn.list_activities()["activities"]])

    def test_task_tokens_through_a_nested_execution(self):
        child = self.create({"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 3600, "End": True}}})
        parent = self.create(
            {
                "StartAt": "AskChild",
                "States": {
                    "AskChild": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::states:startExecution.waitForTaskToken",
                        "Parameters": {"StateMachineArn": child, "Input": {"token.$": "$$.Task.Token"}},
                        "End": True,
                    }
                },
            }
        )
        x = self.sfn.start_execution(stateMachineArn=parent, input="{}")
        deadline = time.time() + 10
        children = []
        while not children and time.time() < deadline:
            children = self.sfn.list_executions(stateMachineArn=child)["executions"]
            time.sleep(0.1)
        self.assertEqual(len(children), 1)
        token = json.loads(self.sfn.describe_execution(executionArn=children[0]["executionArn"])["input"])["token"]
        self.sfn.send_task_success(taskToken=token, output='{"answer": 42}')
        done = wait_for(self.sfn, x["executionArn"])
        self.assertEqual(json.loads(done["output"]), {"answer": 42})
        self.sfn.stop_execution(executionArn=children[0]["executionArn"])
        self.assertEqual(wait_for(self.sfn, children[0]["executionArn"])["status"], "ABORTED")

    def test_versions_and_aliases(self):
        def definition(value):
            return json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": value, "End": True}}})

        r = self.sfn.create_state_machine(name=unique("v"), definition=definition(1), roleArn=ROLE, publish=True)
        arn, v1 = r["stateMachineArn"], r["stateMachineVersionArn"]
        self.assertTrue(v1.endswith(":1"))
        u = self.sfn.update_state_machine(stateMachineArn=arn, definition=definition(2), publish=True)
        v2 = u["stateMachineVersionArn"]
        self.assertTrue(v2.endswith(":2"))
        versions = [v["stateMachineVersionArn"] for v in self.sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]]
        self.assertEqual(versions, [v2, v1])
        alias = self.sfn.create_state_machine_alias(
            name="live", routingConfiguration=[{"stateMachineVersionArn": v1, "weight": 100}]
        )["stateMachineAliasArn"]
        x = self.sfn.start_execution(stateMachineArn=alias, input="{}")
        d = wait_for(self.sfn, x["executionArn"])
        self.assertEqual((d["output"], d["stateMachineAliasArn"], d["stateMachineVersionArn"]), ("1", alias, v1))
        self.sfn.update_state_machine_alias(
            stateMachineAliasArn=alias, routingConfiguration=[{"stateMachineVersionArn": v2, "weight": 100}]
        )
        x = self.sfn.start_execution(stateMachineArn=alias, input="{}")
        self.assertEqual(wait_for(self.sfn, x["executionArn"])["output"], "2")
        described = self.sfn.describe_state_machine_alias(stateMachineAliasArn=alias)
        self.assertEqual(described["routingConfiguration"][0]["stateMachineVersionArn"], v2)
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.sfn.delete_state_machine_version(stateMachineVersionArn=v2)
        self.assertEqual(error_code(e.exception), "ConflictException")
        self.sfn.delete_state_machine_alias(stateMachineAliasArn=alias)
        self.sfn.delete_state_machine_version(stateMachineVersionArn=v2)
        self.assertEqual(len(self.sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]), 1)

    def test_express_sync_and_validation(self):
        arn = self.create(
            {"StartAt": "Double", "States": {"Double": {"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($.n, $.n)"}, "End": True}}},
            kind="EXPRESS",
        )
        r = self.sfn.start_sync_execution(stateMachineArn=arn, input='{"n": 21}')
        self.assertEqual(r["status"], "SUCCEEDED")
        self.assertEqual(json.loads(r["output"]), {"v": 42})
        standard = self.create({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}})
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.sfn.start_sync_execution(stateMachineArn=standard, input="{}")
        self.assertEqual(error_code(e.exception), "StateMachineTypeNotSupported")
        v = self.sfn.validate_state_machine_definition(
            definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}})
        )
        self.assertEqual(v["result"], "FAIL")
        self.assertEqual(v["diagnostics"][0]["code"], "MISSING_TRANSITION_TARGET")
        self.assertEqual(v["diagnostics"][0]["location"], "/States/A/Next")


class AwsCli(unittest.TestCase):
    def aws(self, *args, check=True):
        output = [] if "--output" in args else ["--output", "json"]
        r = subprocess.run(["aws", "stepfunctions", *args, *output], capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {r.stderr}")
        return r

    def test_the_cli_runs_a_workflow(self):
        definition = json.dumps({
            "StartAt": "Ask",
            "States": {
                "Ask": {"Type": "Task", "Resource": "ACTIVITY", "Next": "Done"},
                "Done": {"Type": "Pass", "End": True},
            },
        })
        activity = json.loads(self.aws("create-activity", "--name", unique("cli")).stdout)["activityArn"]
        created = json.loads(self.aws(
            "create-state-machine", "--name", unique("cli"), "--role-arn", ROLE,
            "--definition", definition.replace("ACTIVITY", activity)).stdout)
        started = json.loads(self.aws(
            "start-execution", "--state-machine-arn", created["stateMachineArn"], "--input", '{"q": 1}').stdout)
        task = json.loads(self.aws("get-activity-task", "--activity-arn", activity, "--worker-name", "cli").stdout)
        self.assertEqual(json.loads(task["input"]), {"q": 1})
        self.aws("send-task-success", "--task-token", task["taskToken"], "--task-output", '{"a": 2}')
        deadline = time.time() + 20
        while time.time() < deadline:
            d = json.loads(self.aws("describe-execution", "--execution-arn", started["executionArn"]).stdout)
            if d["status"] != "RUNNING":
                break
            time.sleep(0.1)
        self.assertEqual((d["status"], json.loads(d["output"])), ("SUCCEEDED", {"a": 2}))
        history = json.loads(self.aws("get-execution-history", "--execution-arn", started["executionArn"]).stdout)
        types = [e["type"] for e in history["events"]]
        self.assertEqual(types[:3], ["ExecutionStarted", "TaskStateEntered", "ActivityScheduled"])
        self.assertIn("ActivitySucceeded", types)
        missing = self.aws("describe-execution", "--execution-arn", started["executionArn"] + "x", check=False)
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("ExecutionDoesNotExist", missing.stderr)

    def test_the_readme_walkthrough(self):
        """The README's steps, with the example's definition."""
        examples = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "examples", "approval")
        activity = json.loads(self.aws("create-activity", "--name", "approvals").stdout)["activityArn"]
        self.assertEqual(activity, "arn:aws:states:us-east-1:000000000000:activity:approvals")
        machine = json.loads(self.aws(
            "create-state-machine", "--name", "orders", "--role-arn", "arn:aws:iam::000000000000:role/cirrus",
            "--definition", "file://" + os.path.abspath(os.path.join(examples, "definition.json"))).stdout)["stateMachineArn"]
        started = json.loads(self.aws(
            "start-execution", "--state-machine-arn", machine, "--input", '{"order": "A-1", "amount": 250}').stdout)
        token = self.aws("get-activity-task", "--activity-arn", activity, "--query", "taskToken", "--output", "text").stdout
        r = subprocess.run(["aws", "stepfunctions", "send-task-success", "--task-token", token.strip(),
                            "--task-output", '{"approved": true, "by": "ada"}'], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        deadline = time.time() + 20
        while time.time() < deadline:
            d = json.loads(self.aws("describe-execution", "--execution-arn", started["executionArn"]).stdout)
            if d["status"] != "RUNNING":
                break
            time.sleep(0.2)
        self.assertEqual(d["status"], "SUCCEEDED", d)
        self.assertEqual(json.loads(d["output"]), {"order": "A-1", "status": "SHIPPED", "approvedBy": "ada"})


if __name__ == "__main__":
    unittest.main(verbosity=2)
