"""A Cirrus function in Python, written as an AWS Lambda handler.

On a route it receives API Gateway's HTTP API (v2) event and answers in that shape; called
with an event (an Invoke, a workflow Task) it answers a greeting object. A missing name
raises ValueError, which reaches the caller as the error type ``ValueError``.
"""

import json


def handler(event, context):
    if "requestContext" in event:
        name = (event.get("pathParameters") or {}).get("name", "world")
        print(f"route {event['routeKey']} for {name}")
        return {
            "statusCode": 200,
            "headers": {"content-type": "application/json"},
            "body": json.dumps({"greeting": f"Hello, {name}!", "from": "python"}),
        }
    name = event.get("name") if isinstance(event, dict) else None
    if not name:
        raise ValueError("the event needs a non-empty 'name'")
    print(f"greeting {name} (request {context.aws_request_id}, "
          f"{context.get_remaining_time_in_millis()} ms left)")
    return {"greeting": f"Hello, {name}!", "from": "python"}
