"""Queue round trips for bench/queues/run: each client process loops send BATCH → receive
until it has BATCH → delete them, on a queue of its own, for SECONDS; prints one JSON
line with the messages that went all the way round.

    client.py cirrus ENDPOINT TOKEN BATCH CLIENTS SECONDS
    client.py rabbitmq AMQP_URL BATCH CLIENTS SECONDS

Cirrus: the native API (`/v1/queues/...`, keep-alive HTTP/1.1), SQLite with durable
commits; a send, a receive and a delete are each one commit (batched across clients by
SQLite's group commit).
RabbitMQ: pika's asynchronous client, a durable queue, persistent messages, publisher
confirms (a batch's confirms awaited together), consumed with prefetch BATCH and manual
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
    """One batch at a time: publish BATCH, wait for all their confirms and deliveries
    (prefetch BATCH), ack them with one `multiple` ack. pika's asynchronous client, so
    the confirms of a batch are awaited together, as Cirrus commits a batch at once."""
    import pika

    url, batch, index, seconds = args
    queue = f"cirrus-bench-{index}"
    props = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)
    payload = b"x" * 100
    s = {"done": 0, "seq": 0, "outstanding": set(), "received": 0, "last": None, "elapsed": 0.0}

    def on_open(conn):
        conn.channel(on_open_callback=on_channel)

    def on_channel(ch):
        s["ch"] = ch
        ch.confirm_delivery(on_confirm)
        ch.queue_declare(queue, durable=True, callback=lambda _: ch.queue_purge(
            queue, callback=lambda _: ch.basic_qos(prefetch_count=batch, callback=lambda _: ch.basic_consume(
                queue, on_message, auto_ack=False, callback=lambda _: begin()))))

    def begin():
        s["begin"] = time.time()
        s["end"] = s["begin"] + seconds
        publish()

    def publish():
        if time.time() >= s["end"]:
            s["elapsed"] = time.time() - s["begin"]
            s["conn"].close()
            return
        s["received"] = 0
        for _ in range(batch):
            s["seq"] += 1
            s["outstanding"].add(s["seq"])
            s["ch"].basic_publish("", queue, payload, props)

    def on_confirm(frame):
        m = frame.method
        if isinstance(m, pika.spec.Basic.Nack):
            raise RuntimeError("the broker refused a message")
        if m.multiple:
            s["outstanding"] = {t for t in s["outstanding"] if t > m.delivery_tag}
        else:
            s["outstanding"].discard(m.delivery_tag)
        maybe_next()

    def on_message(ch, method, _props, _body):
        s["received"] += 1
        s["last"] = method.delivery_tag
        maybe_next()

    def maybe_next():
        if not s["outstanding"] and s["received"] >= batch:
            s["ch"].basic_ack(delivery_tag=s["last"], multiple=True)
            s["done"] += batch
            s["received"] = 0
            publish()

    conn = pika.SelectConnection(pika.URLParameters(url), on_open_callback=on_open,
                                 on_close_callback=lambda c, reason: c.ioloop.stop())
    s["conn"] = conn
    conn.ioloop.start()
    return s["done"], s["elapsed"]


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
