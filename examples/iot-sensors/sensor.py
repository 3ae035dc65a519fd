#!/usr/bin/env python3
"""A pretend sensor: publishes temperature readings over MQTT (standard library only).

    python3 sensor.py greenhouse 24.5            # one reading
    python3 sensor.py greenhouse 41 --humidity 20
    python3 sensor.py greenhouse 30 --every 2    # a reading every 2 s, drifting upwards

Each reading goes to ``sensors/<sensor>/readings`` as ``{"temperature": ..., "humidity": ...}``
with QoS 1 (the broker acknowledges it). ``--broker HOST:PORT`` (default 127.0.0.1:1883).
"""

import argparse
import json
import os
import random
import socket
import struct
import sys
import time


def encode_length(n):
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode_text(text):
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        data += chunk
    return data


class Mqtt:
    """Just enough MQTT 3.1.1 to publish with QoS 1."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.packet_id = 0
        header = encode_text("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60)
        payload = encode_text(f"cirrus-sensor-{os.getpid()}")
        body = header + payload
        self.sock.sendall(bytes([0x10]) + encode_length(len(body)) + body)
        ack = read_exact(self.sock, 4)
        if ack[0] != 0x20 or ack[3] != 0:
            raise ConnectionError(f"the broker refused the connection (code {ack[3]})")

    def publish(self, topic, message):
        self.packet_id = self.packet_id % 65535 + 1
        body = encode_text(topic) + struct.pack("!H", self.packet_id) + message
        self.sock.sendall(bytes([0x32]) + encode_length(len(body)) + body)
        ack = read_exact(self.sock, 4)
        if ack[0] != 0x40 or struct.unpack("!H", ack[2:])[0] != self.packet_id:
            raise ConnectionError("the broker did not acknowledge the reading")

    def close(self):
        self.sock.sendall(bytes([0xE0, 0]))
        self.sock.close()


def main():
    parser = argparse.ArgumentParser(description="Publish sensor readings over MQTT.")
    parser.add_argument("sensor", help="the sensor's name (a topic level: no '/', '+' or '#')")
    parser.add_argument("temperature", type=float, help="degrees Celsius")
    parser.add_argument("--humidity", type=float, default=50.0, help="percent (default 50)")
    parser.add_argument("--every", type=float, help="keep publishing every SECONDS, drifting")
    parser.add_argument("--broker", default="127.0.0.1:1883", help="HOST:PORT of the broker")
    args = parser.parse_args()
    if not args.sensor or any(c in args.sensor for c in "/+#"):
        sys.exit(f"sensor {args.sensor!r} must be one topic level (no '/', '+' or '#')")
    host, _, port = args.broker.rpartition(":")
    try:
        client = Mqtt(host or "127.0.0.1", int(port))
    except (OSError, ValueError) as e:
        sys.exit(f"cannot connect to the MQTT broker at {args.broker}: {e}")
    topic = f"sensors/{args.sensor}/readings"
    temperature = args.temperature
    try:
        while True:
            reading = {"temperature": round(temperature, 1), "humidity": args.humidity}
            client.publish(topic, json.dumps(reading).encode())
            print(f"{topic}: {json.dumps(reading)}")
            if args.every is None:
                break
            time.sleep(args.every)
            temperature += random.uniform(-0.5, 1.5)
    except KeyboardInterrupt:
        pass
    finally:
        client.close()


if __name__ == "__main__":
    main()
