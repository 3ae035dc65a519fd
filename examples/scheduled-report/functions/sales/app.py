"""`sales`: the day's sales, as the report needs them.

A Python Lambda handler called by the ``report`` workflow with ``{"asOf": <time>, "request": <the
execution's input>}``: ``asOf`` is when the execution started, and the input may name a
``day`` (``{"day": "2026-11-01"}``). Without one it reports on the day before ``asOf`` (a
report at 08:00 covers yesterday).

This example has no shop database, so the day's orders are made up — the same for the same
day every time (seeded by the date). Replace ``orders_of`` with a query of yours.
"""

import datetime
import random

PRODUCTS = {
    "TEA-GREEN-100G": 450,
    "TEA-BLACK-100G": 400,
    "MUG-STONEWARE": 1200,
    "TEAPOT-CAST-IRON": 4900,
    "KETTLE-GOOSENECK": 3900,
}


def handler(event, context):
    if not isinstance(event, dict):
        raise ValueError("the event must be an object with 'day' or 'asOf'")
    request = event.get("request")
    day = request.get("day") if isinstance(request, dict) else None
    if day is None:
        as_of = event.get("asOf")
        if not isinstance(as_of, str):
            raise ValueError("the event needs 'day' (YYYY-MM-DD) or 'asOf' (an ISO time)")
        try:
            moment = datetime.datetime.fromisoformat(as_of.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"asOf {as_of!r} is not an ISO 8601 time") from None
        day = (moment.date() - datetime.timedelta(days=1)).isoformat()
    try:
        datetime.date.fromisoformat(day)
    except (TypeError, ValueError):
        raise ValueError(f"day {day!r} is not a date like 2026-11-26") from None
    orders = orders_of(day)
    print(f"{day}: {len(orders)} order(s)")
    return {"day": day, "currency": "EUR", "orders": orders}


def orders_of(day):
    rng = random.Random(day)
    orders = []
    for n in range(rng.randint(20, 60)):
        sku = rng.choice(sorted(PRODUCTS))
        quantity = rng.choice([1, 1, 1, 2, 2, 3])
        orders.append({
            "orderId": f"o-{day.replace('-', '')}-{n:03d}",
            "sku": sku,
            "quantity": quantity,
            "amount": PRODUCTS[sku] * quantity,
        })
    return orders
