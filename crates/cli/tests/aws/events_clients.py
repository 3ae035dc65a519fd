"""Drives a Cirrus node's EventBridge API with the real AWS clients: boto3 and the aws CLI.

Run by tests/events.rs with the environment `cirrus env` prints; the node has the
state machine `heat-alert` (examples/events/workflows). Nothing here knows it talks to
Cirrus rather than AWS.
"""

import json
import subprocess
import time
import unittest
import uuid

import boto3
import botocore.config

CONFIG = botocore.config.Config(read_timeout=60, retries={"max_attempts": 1})
events = boto3.client("events", config=CONFIG)
sfn = boto3.client("stepfunctions", config=CONFIG)
ACCOUNT_MACHINE = None


def machine_arn(name):
    for m in sfn.list_state_machines()["stateMachines"]:
        if m["name"] == name:
            return m["stateMachineArn"]
    raise AssertionError(f"no state machine {name}")


def executions(arn):
    return sfn.list_executions(stateMachineArn=arn)["executions"]


def wait_for(what, check, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class EventBridge(unittest.TestCase):
    def test_rules_targets_and_put_events(self):
        bus = "orders-" + uuid.uuid4().hex[:8]
        arn = events.create_event_bus(Name=bus)["EventBusArn"]
        self.assertTrue(arn.endswith(f":event-bus/{bus}"))
        self.assertIn(bus, [b["Name"] for b in events.list_event_buses()["EventBuses"]])
        pattern = {"source": ["sensors"], "detail": {"celsius": [{"numeric": [">", 30]}]}}
        rule_arn = events.put_rule(Name="hot", EventBusName=bus, EventPattern=json.dumps(pattern))["RuleArn"]
        self.assertTrue(rule_arn.endswith(f":rule/{bus}/hot"))
        alert = machine_arn("heat-alert")
        r = events.put_targets(Rule="hot", EventBusName=bus, Targets=[{
            "Id": "alert",
            "Arn": alert,
            "RoleArn": "arn:aws:iam::000000000000:role/events",
            "InputTransformer": {
                "InputPathsMap": {"room": "$.detail.room", "celsius": "$.detail.celsius"},
                "InputTemplate": '{"room": <room>, "celsius": <celsius>}',
            },
        }, {"Id": "bad", "Arn": "arn:aws:sns:us-east-1:000000000000:topic"}])
        self.assertEqual(r["FailedEntryCount"], 1)
        self.assertEqual(r["FailedEntries"][0]["TargetId"], "bad")
        described = events.describe_rule(Name="hot", EventBusName=bus)
        self.assertEqual(json.loads(described["EventPattern"]), pattern)
        self.assertEqual(described["State"], "ENABLED")
        targets = events.list_targets_by_rule(Rule="hot", EventBusName=bus)["Targets"]
        self.assertEqual([t["Id"] for t in targets], ["alert"])
        self.assertEqual(targets[0]["InputTransformer"]["InputPathsMap"]["room"], "$.detail.room")

        seen = {e["executionArn"] for e in executions(alert)}
        before = len(seen)
        out = events.put_events(Entries=[
            {"Source": "sensors", "DetailType": "Reading", "Detail": json.dumps({"room": "lab", "celsius": 33}), "EventBusName": bus},
            {"Source": "sensors", "DetailType": "Reading", "Detail": json.dumps({"room": "hall", "celsius": 20}), "EventBusName": bus},
            {"Source": "sensors", "DetailType": "Reading", "Detail": "not json", "EventBusName": bus},
            {"Source": "sensors", "DetailType": "Reading", "Detail": "{}", "EventBusName": "no-such-bus"},
        ])
        self.assertEqual(out["FailedEntryCount"], 2, out)
        self.assertIn("EventId", out["Entries"][0])
        self.assertEqual(out["Entries"][2]["ErrorCode"], "MalformedDetail")
        self.assertEqual(out["Entries"][3]["ErrorCode"], "ResourceNotFoundException")
        done = wait_for("the alert", lambda: [e for e in executions(alert) if e["status"] == "SUCCEEDED" and e["executionArn"] not in seen] or None)
        run = sfn.describe_execution(executionArn=done[0]["executionArn"])
        self.assertEqual(json.loads(run["input"]), {"room": "lab", "celsius": 33})
        time.sleep(0.5)
        self.assertEqual(len(executions(alert)), before + 1)

        # Disabled rules match nothing.
        events.disable_rule(Name="hot", EventBusName=bus)
        self.assertEqual(events.describe_rule(Name="hot", EventBusName=bus)["State"], "DISABLED")
        events.put_events(Entries=[{"Source": "sensors", "DetailType": "Reading", "Detail": json.dumps({"room": "x", "celsius": 50}), "EventBusName": bus}])
        time.sleep(0.5)
        self.assertEqual(len(executions(alert)), before + 1)

        with self.assertRaises(events.exceptions.ClientError) as err:
            events.delete_rule(Name="hot", EventBusName=bus)
        self.assertIn("targets", str(err.exception))
        events.remove_targets(Rule="hot", EventBusName=bus, Ids=["alert"])
        events.delete_rule(Name="hot", EventBusName=bus)
        self.assertEqual(events.list_rules(EventBusName=bus)["Rules"], [])
        events.delete_event_bus(Name=bus)

    def test_event_patterns_and_errors(self):
        event = {"id": "1", "account": "1", "source": "shop", "time": "2026-01-01T00:00:00Z",
                 "region": "us-east-1", "detail-type": "Order", "detail": {"total": 120, "ip": "10.0.0.7"}}
        ok = events.test_event_pattern(EventPattern=json.dumps({"detail": {"ip": [{"cidr": "10.0.0.0/24"}], "total": [{"numeric": [">=", 100]}]}}), Event=json.dumps(event))
        self.assertTrue(ok["Result"])
        no = events.test_event_pattern(EventPattern=json.dumps({"source": [{"prefix": "ware"}]}), Event=json.dumps(event))
        self.assertFalse(no["Result"])
        with self.assertRaises(events.exceptions.InvalidEventPatternException):
            events.put_rule(Name="broken", EventPattern='{"source": "shop"}')
        with self.assertRaises(events.exceptions.ResourceNotFoundException):
            events.describe_rule(Name="never-made")
        with self.assertRaises(events.exceptions.ResourceAlreadyExistsException):
            events.create_event_bus(Name="default")

    def test_archive_and_replay(self):
        bus = "replayed-" + uuid.uuid4().hex[:8]
        bus_arn = events.create_event_bus(Name=bus)["EventBusArn"]
        archive = "arch-" + uuid.uuid4().hex[:8]
        events.create_archive(ArchiveName=archive, EventSourceArn=bus_arn, EventPattern=json.dumps({"source": ["sensors"]}))
        start = time.time() - 1
        for i in range(3):
            events.put_events(Entries=[{"Source": "sensors", "DetailType": "Reading", "Detail": json.dumps({"room": f"r{i}", "celsius": 40}), "EventBusName": bus}])
        events.put_events(Entries=[{"Source": "other", "DetailType": "Noise", "Detail": "{}", "EventBusName": bus}])
        d = events.describe_archive(ArchiveName=archive)
        self.assertEqual(d["EventCount"], 3, d)
        # A rule made after the events: only a replay reaches it.
        alert = machine_arn("heat-alert")
        events.put_rule(Name="late", EventBusName=bus, EventPattern=json.dumps({"source": ["sensors"]}))
        events.put_targets(Rule="late", EventBusName=bus, Targets=[{"Id": "a", "Arn": alert, "InputPath": "$.detail"}])
        before = len(executions(alert))
        time.sleep(1.1)
        end = time.time()
        arn = events.start_replay(ReplayName="r-" + uuid.uuid4().hex[:8], EventSourceArn=d["ArchiveArn"],
                                  EventStartTime=start, EventEndTime=end,
                                  Destination={"Arn": bus_arn})["ReplayArn"]
        name = arn.rsplit("/", 1)[1]
        wait_for("the replay", lambda: events.describe_replay(ReplayName=name)["State"] == "COMPLETED")
        wait_for("three replayed alerts", lambda: len([e for e in executions(alert) if e["status"] == "SUCCEEDED"]) >= before + 3)
        self.assertIn(name, [r["ReplayName"] for r in events.list_replays()["Replays"]])

    def test_the_aws_cli(self):
        def aws(*args):
            out = subprocess.run(["aws", "events", *args, "--output", "json"], capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            return json.loads(out.stdout) if out.stdout.strip() else {}
        aws("put-rule", "--name", "cli-rule", "--event-pattern", json.dumps({"source": ["cli"]}))
        self.assertIn("cli-rule", [r["Name"] for r in aws("list-rules")["Rules"]])
        out = aws("put-events", "--entries", json.dumps([{"Source": "cli", "DetailType": "Ping", "Detail": "{}"}]))
        self.assertEqual(out["FailedEntryCount"], 0)
        aws("delete-rule", "--name", "cli-rule")


if __name__ == "__main__":
    unittest.main(verbosity=2)
