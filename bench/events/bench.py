"""Drives bench/events/run against a running node ($CIRRUS_ENDPOINT, $CIRRUS_TOKEN)."""

import json
import os
import sys
import time
import urllib.request

BASE = os.environ["CIRRUS_ENDPOINT"].rstrip("/")
TOKEN = os.environ["CIRRUS_TOKEN"]


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + "/v1" + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        text = r.read()
    return json.loads(text) if text else None


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, round((len(v) - 1) * p))]


def latency(n=400):
    call("PUT", "/buses/default/rules/lat-sync", {
        "pattern": {"source": ["bench.sync"]},
        "targets": [{"id": "f", "action": {"type": "function", "function": "lat", "sync": True}}]})
    call("PUT", "/buses/default/rules/lat-async", {
        "pattern": {"source": ["bench.async"]},
        "targets": [{"id": "f", "action": {"type": "function", "function": "lat"}}]})
    # Warm the instance and the paths.
    for path in ("sync", "async"):
        for _ in range(20):
            call("POST", "/events", {"source": f"bench.{path}", "type": "Tick", "data": {"path": "warm", "sent_ns": time.time_ns()}})
    time.sleep(2)
    for i in range(n):
        for path in ("sync", "async"):
            call("POST", "/events", {"source": f"bench.{path}", "type": "Tick", "data": {"path": path, "sent_ns": time.time_ns()}})
        sent = time.time_ns()
        call("POST", "/functions/lat/invoke", {"path": "direct", "sent_ns": sent})
        time.sleep(0.01)
    time.sleep(3)
    lat = {"sync": [], "async": [], "direct": []}
    after = 0
    while True:
        page = call("GET", f"/functions/lat/logs?limit=1000&after={after}")
        records = page.get("records") or []
        if not records:
            break
        for r in records:
            after = max(after, r["seq"])
            for line in r.get("output", "").splitlines():
                parts = line.split()
                if len(parts) == 4 and parts[0] == "LAT" and parts[1] in lat:
                    lat[parts[1]].append((int(parts[3]) - int(parts[2])) / 1e6)
    print("== event -> function latency (ms), one event at a time")
    for path, values in lat.items():
        if values:
            print(f"  {path:6} n={len(values):4}  p50 {pct(values, 0.5):7.2f}  p99 {pct(values, 0.99):7.2f}  max {max(values):7.2f}")
    return lat


def schedules(n, seconds):
    call("PUT", "/buses/sink", {})
    target = {"id": "sink", "action": {"type": "bus", "bus": "sink"}}
    period = 60_000
    start = int(time.time() * 1000) + 5_000
    t0 = time.time()
    batch = 10_000
    for base in range(0, n, batch):
        items = []
        for i in range(base, min(n, base + batch)):
            # First ticks spread over the minute after `start`.
            anchor = start + (i * period) // n - period
            items.append({"name": f"s{i:07d}", "expression": "rate(1 minute)", "anchor_ms": anchor, "target": target})
        call("POST", "/schedules", {"schedules": items})
    made = time.time() - t0
    print(f"== schedules: made {n} in {made:.1f} s ({n / made:.0f}/s)")
    # Let the first minute settle, then measure.
    warm = max(0.0, start / 1000 + 20 - time.time())
    time.sleep(warm)
    call("DELETE", "/scheduler")
    time.sleep(seconds)
    stats = call("GET", "/scheduler")
    rate = stats["fired"] / seconds
    print(f"  over {seconds} s: fired {stats['fired']} ({rate:.0f}/s, expected {n / 60:.0f}/s), missed {stats['missed']}")
    s = stats["skew_ms"]
    print(f"  skew tick -> fire committed (ms, last {stats['samples']} ticks): p50 {s['p50']}  p99 {s['p99']}  max {s['max']}")
    print(f"  deliveries still queued: {stats['deliveries_queued']}")
    return stats


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    secs = int(sys.argv[2]) if len(sys.argv) > 2 else 120
    latency()
    schedules(n, secs)
