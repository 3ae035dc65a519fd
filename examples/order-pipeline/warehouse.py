#!/usr/bin/env python3
"""Plays the warehouse of the order pipeline.

The workflow's `Ship` step puts each paid order in the `warehouse` queue with a task token
and waits. This script takes the waiting orders from the queue and answers for each, as a
warehouse system would: SendTaskSuccess with a tracking number, or with ``--fail REASON``
SendTaskFailure (the workflow then refunds the payment and records the order as failed).

It talks to the node's native API, found in ``.cirrus/node.json`` and
``.cirrus/credentials.json`` beside this script (where ``cirrus dev`` keeps them), or in
``--data DIR``, or from ``$CIRRUS_ENDPOINT`` and ``$CIRRUS_TOKEN``. Only the standard
library is used.
"""

import argparse
import hashlib
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parent / ".cirrus"),
                        help="the node's data directory (default: .cirrus beside this script)")
    parser.add_argument("--fail", metavar="REASON",
                        help="refuse the orders with this error (e.g. OutOfStock)")
    parser.add_argument("--wait", type=int, default=2,
                        help="seconds to wait for an order when none is waiting (default 2)")
    args = parser.parse_args()
    api = Api(Path(args.data))
    shipped = 0
    while True:
        got = api.call("POST", "/queues/warehouse/receive",
                       {"max": 10, "waitSeconds": args.wait if shipped == 0 else 0})
        messages = got.get("messages", [])
        if not messages:
            break
        for m in messages:
            handle(api, m, args.fail)
            shipped += 1
    if shipped == 0:
        print("no order is waiting for the warehouse")


def handle(api, message, fail):
    try:
        order = json.loads(message["body"])
        token = order["taskToken"]
        order_id = order["orderId"]
    except (ValueError, KeyError, TypeError) as e:
        print(f"skipping a message that is not an order ({e}): {message.get('body', '')[:200]}",
              file=sys.stderr)
        api.call("POST", "/queues/warehouse/delete", {"receipts": [message["receipt"]]})
        return
    items = sum(int(i.get("quantity", 0)) for i in order.get("items", []))
    try:
        if fail:
            api.call("POST", "/tasks/failure", {"taskToken": token, "error": fail,
                                                 "cause": f"the warehouse cannot ship {order_id}"})
            print(f"order {order_id}: refused ({fail})")
        else:
            tracking = "1Z" + hashlib.sha1(order_id.encode()).hexdigest()[:12].upper()
            api.call("POST", "/tasks/success", {"taskToken": token,
                                                 "output": {"trackingNumber": tracking,
                                                            "carrier": "UPS", "items": items}})
            print(f"order {order_id}: shipped {items} item(s), tracking {tracking}")
    except ApiError as e:
        # The execution may have ended meanwhile (stopped, timed out): the token is stale.
        print(f"order {order_id}: {e}", file=sys.stderr)
    api.call("POST", "/queues/warehouse/delete", {"receipts": [message["receipt"]]})


class ApiError(Exception):
    pass


class Api:
    def __init__(self, data):
        self.base = os.environ.get("CIRRUS_ENDPOINT")
        self.token = os.environ.get("CIRRUS_TOKEN")
        try:
            if not self.base:
                self.base = json.loads((data / "node.json").read_text())["endpoint"]
            if not self.token:
                self.token = json.loads((data / "credentials.json").read_text())["token"]
        except (OSError, ValueError, KeyError) as e:
            sys.exit(f"cannot find the node in {data} ({e}); is `cirrus dev` running here?")
        self.base = self.base.rstrip("/")

    def call(self, method, path, body):
        request = urllib.request.Request(
            f"{self.base}/v1{path}", method=method, data=json.dumps(body).encode(),
            headers={"content-type": "application/json",
                     "authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                text = r.read().decode()
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            try:
                err = json.loads(text)["error"]
                raise ApiError(f"{err.get('code')}: {err.get('message')}") from None
            except (ValueError, KeyError, TypeError):
                raise ApiError(f"{e.code}: {text[:200]}") from None
        except urllib.error.URLError as e:
            sys.exit(f"cannot reach the node at {self.base}: {e.reason}")
        return json.loads(text) if text else {}


if __name__ == "__main__":
    main()
