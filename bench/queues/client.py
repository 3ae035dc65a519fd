"""Queue round trips for bench/queues/run: each client process loops send BATCH → receive
until it has BATCH → delete them, on a queue of its own, for SECONDS; prints one JSON
line with the messages that went all the way round.

    client.py cirrus ENDPOINT TOKEN BATCH CLIENTS SECONDS
    client.py rabbitmq AMQP_URL BATCH CLIENTS SECONDS

Cirrus: the native API (`/v1/queues/...`, keep-alive HTTP/1.1), SQLite with durable
commits; a send, a receive and a delete are each one commit (batched across clients by
SQLite's group commit).
RabbitMQ: pika's blocking client, a durable queue, persistent messages, publisher
confirms (the blocking client waits for each message's confirm), `basic_get` with manual
acks (one `multiple` ack per batch).
"""

import http.client
import json
import multiprocessing
import sys
import time
import urllib.parse


def cirrus_client(args):
    endpoint, token, batch, index, seconds = args
    url = urllib.parse.urlparse(endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    queue = f"bench-{index}"

    def call(method, path, body=None):
        conn.request(method, f"/v1{path}", body=json.dumps(body) if body is not None else None, headers=headers)
        r = conn.getresponse()
        data = r.read()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
        return json.loads(data) if data else None

    call("POST", "/queues", {"name": queue})
    call("POST", f"/queues/{queue}/purge")
    payload = "x" * 100
    done = 0
    begin = time.time()
    end = begin + seconds
    while time.time() < end:
        call("POST", f"/queues/{queue}/messages", {"messages": [{"body": payload}] * batch})
        receipts = []
        while len(receipts) < batch:
            got = call("POST", f"/queues/{queue}/receive", {"max": batch - len(receipts), "waitSeconds": 1})
            receipts += [m["receipt"] for m in got["messages"]]
        call("POST", f"/queues/{queue}/delete", {"receipts": receipts})
        done += batch
    return done, time.time() - begin


def rabbitmq_client(args):
    import pika

    url, batch, index, seconds = args
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.confirm_delivery()
    queue = f"cirrus-bench-{index}"
    ch.queue_declare(queue=queue, durable=True)
    ch.queue_purge(queue=queue)
    props = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)
    payload = b"x" * 100
    done = 0
    begin = time.time()
    end = begin + seconds
    while time.time() < end:
        for _ in range(batch):
            ch.basic_publish(exchange="", routing_key=queue, body=payload, properties=props, mandatory=True)
        got = 0
        last = None
        while got < batch:
            method, _, _ = ch.basic_get(queue=queue, auto_ack=False)
            if method is None:
                continue
            last = method.delivery_tag
            got += 1
        ch.basic_ack(delivery_tag=last, multiple=True)
        done += batch
    conn.close()
    return done, time.time() - begin


def main():
    kind = sys.argv[1]
    if kind == "cirrus":
        endpoint, token, batch, clients, seconds = sys.argv[2], sys.argv[3], *map(int, sys.argv[4:7])
        work = [(endpoint, token, batch, i, seconds) for i in range(clients)]
        fn = cirrus_client
    else:
        url, batch, clients, seconds = sys.argv[2], *map(int, sys.argv[3:6])
        work = [(url, batch, i, seconds) for i in range(clients)]
        fn = rabbitmq_client
    with multiprocessing.Pool(clients) as pool:
        results = pool.map(fn, work)
    total = sum(n for n, _ in results)
    elapsed = max(t for _, t in results)
    print(json.dumps({"system": kind, "batch": batch, "clients": clients, "messages": total,
                      "seconds": round(elapsed, 2), "per_second": round(total / elapsed, 1)}))


if __name__ == "__main__":
    main()
