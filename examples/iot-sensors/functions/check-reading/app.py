"""`check-reading`: looks at one sensor reading and says whether it needs an alert.

A Python Lambda handler run by the ``readings`` rule for every MQTT message on
``sensors/<sensor>/readings`` (the source turns each into an event whose ``detail`` holds
the ``topic`` and the JSON ``payload``, e.g. ``{"temperature": 24.5, "humidity": 61}``).

It answers ``{"sensor", "temperature", "humidity", "threshold", "excess", "alert", "at"}``.
The function's on-success destination puts that answer on the default bus, where the
``too-hot`` rule starts the ``heat-alert`` workflow for the answers with ``alert: true``.
A reading that is not usable raises ``ValueError``, naming what is wrong; the event is
retried and then kept in the function's dead letters.
"""

import math
import os


def handler(event, context):
    detail = event.get("detail") if isinstance(event, dict) else None
    if not isinstance(detail, dict):
        raise ValueError("the event has no detail: expected an MQTT message event")
    topic = detail.get("topic", "")
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != "sensors" or not parts[1]:
        raise ValueError(f"topic {topic!r} is not sensors/<sensor>/readings")
    sensor = parts[1]
    reading = detail.get("payload")
    if not isinstance(reading, dict):
        raise ValueError(f"{sensor}: the payload must be a JSON object, got {reading!r:.100}")
    temperature = number(reading, "temperature", sensor)
    humidity = number(reading, "humidity", sensor) if "humidity" in reading else None
    threshold = float(os.environ.get("MAX_TEMPERATURE", "35"))
    alert = temperature > threshold
    excess = round(temperature - threshold, 2)
    print(f"{sensor}: {temperature:.1f} °C" + (f", {humidity:.0f} % RH" if humidity is not None else "")
          + (f" — over {threshold:g} °C by {excess:g}" if alert else ""))
    return {
        "sensor": sensor,
        "temperature": temperature,
        "humidity": humidity,
        "threshold": threshold,
        "excess": excess,
        "alert": alert,
        "at": event.get("time"),
    }


def number(reading, field, sensor):
    value = reading.get(field)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{sensor}: {field} must be a number, got {value!r:.100}")
    if not -100 <= value <= 200:
        raise ValueError(f"{sensor}: {field} {value} is outside what the sensor can measure")
    return float(value)
