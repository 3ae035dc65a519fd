"""Drives a Cirrus node's SQS API and Lambda event-source mappings with the real AWS
clients: boto3 and the aws CLI.

Run by tests/aws_clients.rs with the environment `cirrus env` prints. Nothing here knows
it talks to Cirrus rather than AWS.
"""

import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import threading
import time
import unittest
import uuid
import zipfile

import boto3
import botocore
import botocore.config

ROLE = "arn:aws:iam::000000000000:role/cirrus-tests"
CONFIG = botocore.config.Config(read_timeout=60, retries={"max_attempts": 1})


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def code_of(e):
    return e.response["Error"]["Code"]


def md5_of_attributes(attributes):
    """SQS's documented digest of message attributes, written independently of Cirrus."""
    buf = b""
    for name in sorted(attributes):
        a = attributes[name]
        for part in (name.encode(), a["DataType"].encode()):
            buf += struct.pack(">I", len(part)) + part
        if "BinaryValue" in a:
            value = a["BinaryValue"]
            buf += b"\x02" + struct.pack(">I", len(value)) + value
        else:
            value = a["StringValue"].encode()
            buf += b"\x01" + struct.pack(">I", len(value)) + value
    return hashlib.md5(buf).hexdigest()


class Sqs(unittest.TestCase):
    def setUp(self):
        self.sqs = boto3.client("sqs", config=CONFIG)

    def test_protocol_is_json(self):
        model = self.sqs.meta.service_model
        self.assertEqual(model.protocol, "json", f"botocore {botocore.__version__} speaks {model.protocol}")
        print(f"boto3 {boto3.__version__}, botocore {botocore.__version__}, protocol {model.protocol}",
              file=sys.stderr)

    def test_queue_lifecycle(self):
        name = unique("q")
        url = self.sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "5"})["QueueUrl"]
        self.assertTrue(url.endswith(f"/000000000000/{name}"), url)
        # Creating it again with the same attributes is fine, with others not.
        self.assertEqual(self.sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "5"})["QueueUrl"], url)
        with self.assertRaises(self.sqs.exceptions.QueueNameExists):
            self.sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "6"})
        self.assertEqual(self.sqs.get_queue_url(QueueName=name)["QueueUrl"], url)
        self.assertIn(url, self.sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", []))
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        self.assertEqual(attrs["VisibilityTimeout"], "5")
        self.assertEqual(attrs["QueueArn"], f"arn:aws:sqs:us-east-1:000000000000:{name}")
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "0", "MessageRetentionPeriod": "60"})
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MessageRetentionPeriod"])["Attributes"]
        self.assertEqual(attrs, {"MessageRetentionPeriod": "60"})
        with self.assertRaises(self.sqs.exceptions.InvalidAttributeValue):
            self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "43201"})
        with self.assertRaises(self.sqs.exceptions.InvalidAttributeName):
            self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Nope"])
        self.sqs.tag_queue(QueueUrl=url, Tags={"team": "a"})
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url)["Tags"], {"team": "a"})
        self.sqs.delete_queue(QueueUrl=url)
        with self.assertRaises(self.sqs.exceptions.QueueDoesNotExist) as e:
            self.sqs.get_queue_url(QueueName=name)
        # botocore reports the Query protocol's code, as with SQS itself.
        self.assertEqual(code_of(e.exception), "AWS.SimpleQueueService.NonExistentQueue")

    def test_messages(self):
        url = self.sqs.create_queue(QueueName=unique("m"))["QueueUrl"]
        attributes = {
            "color": {"DataType": "String", "StringValue": "blue"},
            "n": {"DataType": "Number", "StringValue": "42"},
            "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01\x02"},
        }
        sent = self.sqs.send_message(QueueUrl=url, MessageBody="hello", MessageAttributes=attributes)
        self.assertEqual(sent["MD5OfMessageBody"], hashlib.md5(b"hello").hexdigest())
        self.assertEqual(sent["MD5OfMessageAttributes"], md5_of_attributes(attributes))
        got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"])
        [m] = got["Messages"]
        self.assertEqual(m["Body"], "hello")
        self.assertEqual(m["MessageId"], sent["MessageId"])
        self.assertEqual(m["MessageAttributes"]["raw"]["BinaryValue"], b"\x00\x01\x02")
        self.assertEqual(m["MD5OfMessageAttributes"], md5_of_attributes(attributes))
        self.assertEqual(m["Attributes"]["ApproximateReceiveCount"], "1")
        # Invisible now; released with a visibility change; deleted by its handle.
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=url))
        self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
        [m] = self.sqs.receive_message(QueueUrl=url)["Messages"]
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        with self.assertRaises(self.sqs.exceptions.ReceiptHandleIsInvalid):
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle="junk")
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        self.assertEqual(attrs["ApproximateNumberOfMessages"], "0")
        self.assertEqual(attrs["ApproximateNumberOfMessagesNotVisible"], "0")

    def test_batches(self):
        url = self.sqs.create_queue(QueueName=unique("b"))["QueueUrl"]
        entries = [{"Id": f"e{i}", "MessageBody": f"body {i}"} for i in range(10)]
        r = self.sqs.send_message_batch(QueueUrl=url, Entries=entries)
        self.assertEqual(len(r["Successful"]), 10)
        self.assertEqual(r.get("Failed", []), [])
        with self.assertRaises(self.sqs.exceptions.TooManyEntriesInBatchRequest):
            self.sqs.send_message_batch(QueueUrl=url, Entries=entries + [{"Id": "e10", "MessageBody": "x"}])
        with self.assertRaises(self.sqs.exceptions.BatchEntryIdsNotDistinct):
            self.sqs.send_message_batch(QueueUrl=url, Entries=[entries[0], entries[0]])
        got = []
        while len(got) < 10:
            got += self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        self.assertEqual(sorted(m["Body"] for m in got), sorted(e["MessageBody"] for e in entries))
        r = self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": "a", "ReceiptHandle": got[0]["ReceiptHandle"], "VisibilityTimeout": 60},
            {"Id": "b", "ReceiptHandle": "junk", "VisibilityTimeout": 60},
        ])
        self.assertEqual([s["Id"] for s in r["Successful"]], ["a"])
        self.assertEqual([f["Id"] for f in r["Failed"]], ["b"])
        r = self.sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
        self.assertEqual(len(r["Successful"]), 10)
        self.sqs.send_message(QueueUrl=url, MessageBody="x")
        self.sqs.purge_queue(QueueUrl=url)
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=url))

    def test_long_poll_wakes_on_send(self):
        url = self.sqs.create_queue(QueueName=unique("lp"))["QueueUrl"]
        threading.Timer(0.5, lambda: boto3.client("sqs", config=CONFIG).send_message(QueueUrl=url, MessageBody="late")).start()
        t = time.time()
        got = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)
        self.assertEqual(got["Messages"][0]["Body"], "late")
        self.assertLess(time.time() - t, 5)
        t = time.time()
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1))
        self.assertGreaterEqual(time.time() - t, 0.9)

    def test_redrive(self):
        dlq = self.sqs.create_queue(QueueName=unique("dlq"))["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = self.sqs.create_queue(QueueName=unique("src"), Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})})["QueueUrl"]
        self.sqs.send_message(QueueUrl=url, MessageBody="poison")
        self.assertIn("Messages", self.sqs.receive_message(QueueUrl=url, VisibilityTimeout=0))
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=url))
        [m] = self.sqs.receive_message(QueueUrl=dlq)["Messages"]
        self.assertEqual(m["Body"], "poison")
        self.assertIn(url, self.sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"])

    def test_aws_cli(self):
        name = unique("cli")
        out = json.loads(self.aws("sqs", "create-queue", "--queue-name", name))
        url = out["QueueUrl"]
        self.aws("sqs", "send-message", "--queue-url", url, "--message-body", "from the cli")
        got = json.loads(self.aws("sqs", "receive-message", "--queue-url", url, "--wait-time-seconds", "1"))
        self.assertEqual(got["Messages"][0]["Body"], "from the cli")
        r = subprocess.run(["aws", "sqs", "get-queue-url", "--queue-name", unique("none"),
                            "--endpoint-url", os.environ["AWS_ENDPOINT_URL"]],
                           capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("NonExistentQueue", r.stderr)
        self.aws("sqs", "delete-queue", "--queue-url", url)

    def aws(self, *args):
        # The v1 CLI sends SQS to its legacy endpoint unless told.
        r = subprocess.run(["aws", *args, "--output", "json", "--endpoint-url", os.environ["AWS_ENDPOINT_URL"]],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout or "{}"


HANDLER = '''
import json

def handler(event, context):
    failures = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"].startswith("fail")]
    for r in event["Records"]:
        assert r["eventSource"] == "aws:sqs", r
    return {"batchItemFailures": failures}
'''


def zipped(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


class Mappings(unittest.TestCase):
    def setUp(self):
        self.sqs = boto3.client("sqs", config=CONFIG)
        self.fn = boto3.client("lambda", config=CONFIG)

    def test_event_source_mapping(self):
        dlq = self.sqs.create_queue(QueueName=unique("mdlq"))["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = self.sqs.create_queue(QueueName=unique("msrc"), Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})})["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        name = unique("consumer")
        self.fn.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                                Code={"ZipFile": zipped({"app.py": HANDLER})})
        m = self.fn.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=10,
                                                FunctionResponseTypes=["ReportBatchItemFailures"],
                                                ScalingConfig={"MaximumConcurrency": 2})
        self.assertEqual(m["EventSourceArn"], arn)
        self.assertEqual(m["State"], "Enabled")
        self.assertEqual(m["FunctionResponseTypes"], ["ReportBatchItemFailures"])
        with self.assertRaises(self.fn.exceptions.ResourceConflictException):
            self.fn.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)
        with self.assertRaises(self.fn.exceptions.InvalidParameterValueException):
            # More than 10 needs a batching window.
            self.fn.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=100)
        self.assertEqual(self.fn.get_event_source_mapping(UUID=m["UUID"])["UUID"], m["UUID"])
        listed = self.fn.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
        self.assertEqual([x["UUID"] for x in listed], [m["UUID"]])
        self.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "a", "MessageBody": "ok a"}, {"Id": "b", "MessageBody": "fail b"}, {"Id": "c", "MessageBody": "ok c"}])
        deadline = time.time() + 60
        while True:
            attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            left = sum(int(attrs[k]) for k in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"))
            dead = int(self.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
                       ["Attributes"]["ApproximateNumberOfMessages"])
            if left == 0 and dead == 1:
                break
            self.assertLess(time.time(), deadline, f"left {left}, dead {dead}")
            time.sleep(0.2)
        [d] = self.sqs.receive_message(QueueUrl=dlq)["Messages"]
        self.assertEqual(d["Body"], "fail b")
        u = self.fn.update_event_source_mapping(UUID=m["UUID"], Enabled=False, BatchSize=5)
        self.assertEqual((u["State"], u["BatchSize"]), ("Disabled", 5))
        self.fn.delete_event_source_mapping(UUID=m["UUID"])
        with self.assertRaises(self.fn.exceptions.ResourceNotFoundException):
            self.fn.get_event_source_mapping(UUID=m["UUID"])
        self.fn.delete_function(FunctionName=name)


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    if result.wasSuccessful():
        print("OK", file=sys.stderr)
    sys.exit(0 if result.wasSuccessful() else 1)
