"""`payments`: the payment microservice the order workflow calls over HTTP.

An AWS Lambda handler behind two Cirrus routes (API Gateway HTTP API events):

- ``POST /payments`` charges ``{"orderId", "amount" (minor units), "currency", "card"}``
  and answers 201 ``{"paymentId", "status": "captured", ...}``. The ``Idempotency-Key``
  header makes a retried charge answer the same payment instead of charging twice (the
  payment id is derived from it).
- ``POST /payments/{paymentId}/refund`` refunds a payment (the workflow's compensation when
  the warehouse cannot ship).

Test cards, as payment providers have them: ``4000000000000002`` is declined (402, not worth
retrying); ``4000000000000119`` always meets a processing error (503, the workflow retries
and then gives up). Any other card is captured.

To show the workflow's retries, with ``FAIL_FIRST_ATTEMPT=true`` (set in ``cirrus.toml``)
the service answers 503 to a charge whose ``X-Attempt`` header is ``0``: every order's
first try fails and its retry succeeds.
"""

import hashlib
import json
import os

DECLINED = "4000000000000002"
PROCESSING_ERROR = "4000000000000119"
CURRENCIES = {"EUR", "USD", "GBP", "CHF", "JPY", "SEK", "DKK", "NOK", "PLN", "CZK"}


def handler(event, context):
    route = event.get("routeKey", "")
    try:
        body = json.loads(event.get("body") or "{}")
    except json.JSONDecodeError as e:
        return reply(400, {"error": "invalid_json", "message": f"the body is not JSON: {e}"})
    if not isinstance(body, dict):
        return reply(400, {"error": "invalid_request", "message": "the body must be a JSON object"})
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    if route == "POST /payments":
        return charge(body, headers)
    if route == "POST /payments/{paymentId}/refund":
        payment = (event.get("pathParameters") or {}).get("paymentId", "")
        return refund(payment, body)
    return reply(404, {"error": "not_found", "message": f"no such operation: {route}"})


def charge(body, headers):
    order = body.get("orderId")
    amount = body.get("amount")
    currency = body.get("currency")
    card = str(body.get("card", ""))
    if not isinstance(order, str) or not order:
        return reply(400, {"error": "invalid_request", "message": "orderId: required"})
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        return reply(400, {"error": "invalid_request", "message": "amount: a positive whole number of minor units"})
    if currency not in CURRENCIES:
        return reply(400, {"error": "invalid_request", "message": f"currency: {currency!r} is not accepted"})
    if os.environ.get("FAIL_FIRST_ATTEMPT") == "true" and headers.get("x-attempt") == "0":
        print(f"charge {order}: refusing the first attempt (FAIL_FIRST_ATTEMPT)")
        return reply(503, {"error": "unavailable", "message": "the card network is busy; try again"})
    if card == PROCESSING_ERROR:
        print(f"charge {order}: processing error")
        return reply(503, {"error": "processing_error", "message": "the card network did not answer"})
    if card == DECLINED:
        print(f"charge {order}: card declined")
        return reply(402, {"error": "card_declined", "message": "the card was declined"})
    key = headers.get("idempotency-key") or order
    payment = "pay_" + hashlib.sha256(key.encode()).hexdigest()[:16]
    print(f"charge {order}: captured {amount / 100:.2f} {currency} as {payment} (card ending {card[-4:]})")
    return reply(201, {
        "paymentId": payment,
        "orderId": order,
        "amount": amount,
        "currency": currency,
        "status": "captured",
    })


def refund(payment, body):
    if not payment.startswith("pay_"):
        return reply(404, {"error": "not_found", "message": f"no payment {payment!r}"})
    reason = body.get("reason", "")
    print(f"refund {payment}: {reason or 'no reason given'}")
    return reply(200, {"paymentId": payment, "status": "refunded", "reason": reason})


def reply(status, doc):
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(doc),
    }
