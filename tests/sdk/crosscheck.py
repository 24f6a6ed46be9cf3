#!/usr/bin/env python3
"""Signs and verifies webhooks with the providers' own Python SDKs, for tests/sdk_crosscheck.rs.

Reads a JSON array of jobs on stdin and writes a JSON array of results, one per job, in order.

A job: {"sdk": "stripe", "action": "version" | "sign" | "verify", "secret": ..., "public_key":
..., "body": text, "id": ..., "timestamp": unix seconds, "url": ..., "method": ...,
"content_type": ..., "headers": {lowercase name: value}, "now": unix seconds or null}.

A result: {"version": "1.2.3"}, {"headers": {...}} for "sign", {"valid": bool, "error": ...}
for "verify", or {"skip": reason} when the SDK cannot be imported. Only the SDK's own public
helpers sign and verify here: the point is to learn what the SDK does, not to re-implement it.
"""

import contextlib
import importlib.metadata
import json
import os
import sys
from datetime import datetime, timezone
from urllib.parse import parse_qsl


class MultiDict(dict):
    """Form fields as name -> list of values, with the `getlist` twilio's validator asks for."""

    def getlist(self, name):
        return self[name]


def form_fields(body):
    fields = MultiDict()
    for name, value in parse_qsl(body, keep_blank_values=True, strict_parsing=False):
        fields.setdefault(name, []).append(value)
    return fields


def is_form(job):
    content_type = (job.get("content_type") or "").split(";")[0].strip().lower()
    return content_type == "application/x-www-form-urlencoded"


class Headers:
    """A case-insensitive header lookup, for SDKs that take a request object."""

    def __init__(self, headers):
        self._headers = {name.lower(): value for name, value in headers.items()}

    def get(self, name, default=None):
        return self._headers.get(name.lower(), default)


# ---------------------------------------------------------------------------------------------
# One entry per SDK: its distribution name, and what it can do. Imports happen inside, so that
# a missing SDK skips its own jobs only.
# ---------------------------------------------------------------------------------------------


def standardwebhooks_sign(job):
    from standardwebhooks.webhooks import Webhook

    at = datetime.fromtimestamp(job["timestamp"], tz=timezone.utc)
    signature = Webhook(job["secret"]).sign(job["id"], at, job["body"])
    return {
        "webhook-id": job["id"],
        "webhook-timestamp": str(job["timestamp"]),
        "webhook-signature": signature,
    }


def standardwebhooks_verify(job):
    from standardwebhooks.webhooks import Webhook

    Webhook(job["secret"]).verify(job["body"], job["headers"], json_parse=False)
    return True


def svix_sign(job):
    from svix.webhooks import Webhook

    at = datetime.fromtimestamp(job["timestamp"], tz=timezone.utc)
    signature = Webhook(job["secret"]).sign(job["id"], at, job["body"])
    return {
        "svix-id": job["id"],
        "svix-timestamp": str(job["timestamp"]),
        "svix-signature": signature,
    }


def svix_verify(job):
    from svix.webhooks import Webhook

    Webhook(job["secret"]).verify(job["body"], job["headers"])
    return True


def stripe_sign(job):
    import stripe

    header = stripe.WebhookSignature.generate_signature_header(
        job["body"], job["secret"], timestamp=job["timestamp"]
    )
    return {"stripe-signature": header}


def stripe_verify(job):
    import stripe

    stripe.Webhook.construct_event(
        job["body"].encode("utf-8"), job["headers"].get("stripe-signature"), job["secret"]
    )
    return True


def slack_sign(job):
    from slack_sdk.signature import SignatureVerifier

    timestamp = str(job["timestamp"])
    signature = SignatureVerifier(job["secret"]).generate_signature(
        timestamp=timestamp, body=job["body"]
    )
    return {"x-slack-request-timestamp": timestamp, "x-slack-signature": signature}


def slack_verify(job):
    from slack_sdk.signature import Clock, SignatureVerifier

    class Fixed(Clock):
        def now(self):
            return float(job["now"])

    verifier = SignatureVerifier(job["secret"], clock=Fixed() if job.get("now") else Clock())
    return verifier.is_valid_request(job["body"].encode("utf-8"), job["headers"])


def twilio_sign(job):
    from twilio.request_validator import RequestValidator

    params = form_fields(job["body"]) if is_form(job) else {}
    signature = RequestValidator(job["secret"]).compute_signature(job["url"], params)
    return {"x-twilio-signature": signature}


def twilio_verify(job):
    from twilio.request_validator import RequestValidator, get_signature_algorithm

    # A form is checked through its fields; any other body through the URL's `bodySHA256`,
    # which is what the validator does when given the body as a string.
    params = form_fields(job["body"]) if is_form(job) else job["body"]
    settings = job["headers"].get("x-twilio-webhooks-signature-settings")
    return RequestValidator(job["secret"]).validate(
        job["url"],
        params,
        job["headers"].get("x-twilio-signature", ""),
        get_signature_algorithm(settings),
    )


# A Webhooks Rule signing with a SharedKey: HMAC-SHA256, announced in its own header.
TWILIO_SHARED_KEY_SETTINGS = "key=webhooks_sharedkey_crosscheck,algorithm=HMAC_SHA256"


def twilio_shared_key_sign(job):
    from twilio.request_validator import HMAC_SHA256, RequestValidator

    params = form_fields(job["body"]) if is_form(job) else {}
    signature = RequestValidator(job["secret"]).compute_signature(job["url"], params, HMAC_SHA256)
    return {
        "x-twilio-signature": signature,
        "x-twilio-webhooks-signature-settings": TWILIO_SHARED_KEY_SETTINGS,
    }


def hubspot_sign(job):
    from hubspot.utils.signature import Signature

    timestamp = str(job["timestamp"] * 1000)
    signature = Signature.get_signature(
        job["secret"],
        job["body"],
        "v3",
        http_uri=job["url"],
        http_method=job.get("method") or "POST",
        timestamp=timestamp,
    )
    return {"x-hubspot-signature-v3": signature, "x-hubspot-request-timestamp": timestamp}


def hubspot_verify(job):
    from hubspot.utils.signature import Signature

    return Signature.is_valid(
        signature=job["headers"].get("x-hubspot-signature-v3", ""),
        client_secret=job["secret"],
        request_body=job["body"],
        http_uri=job["url"],
        http_method=job.get("method") or "POST",
        signature_version="v3",
        timestamp=job["headers"].get("x-hubspot-request-timestamp"),
    )


def paddle_verify(job):
    # The SDK turns its own time check off when TEST_MODE is set; this check wants it on.
    os.environ.pop("TEST_MODE", None)
    from paddle_billing.Notifications import Secret, Verifier

    class Request:
        def __init__(self, body, headers):
            self.body = body
            self.headers = Headers(headers)

    request = Request(job["body"].encode("utf-8"), job["headers"])
    return Verifier().verify(request, Secret(job["secret"]))


def workos_verify(job):
    from workos import WorkOSClient

    client = WorkOSClient(api_key="sk_test_crosscheck", client_id="client_crosscheck")
    client.webhooks.verify_header(
        event_body=job["body"].encode("utf-8"),
        event_signature=job["headers"].get("workos-signature", ""),
        secret=job["secret"],
    )
    return True


def square_verify(job):
    from square.utils.webhooks_helper import verify_signature

    return verify_signature(
        request_body=job["body"],
        signature_header=job["headers"].get("x-square-hmacsha256-signature", ""),
        signature_key=job["secret"],
        notification_url=job["url"],
    )


def sendgrid_verify(job):
    from sendgrid.helpers.eventwebhook import EventWebhook

    return EventWebhook(job["public_key"]).verify_signature(
        job["body"],
        job["headers"].get("x-twilio-email-event-webhook-signature", ""),
        job["headers"].get("x-twilio-email-event-webhook-timestamp", ""),
    )


def discord_verify(job):
    from discord_interactions import verify_key

    return verify_key(
        job["body"].encode("utf-8"),
        job["headers"].get("x-signature-ed25519", ""),
        job["headers"].get("x-signature-timestamp", ""),
        job["public_key"],
    )


SDKS = {
    "standardwebhooks": ("standardwebhooks", standardwebhooks_sign, standardwebhooks_verify),
    "svix": ("svix", svix_sign, svix_verify),
    "stripe": ("stripe", stripe_sign, stripe_verify),
    "slack_sdk": ("slack_sdk", slack_sign, slack_verify),
    "twilio": ("twilio", twilio_sign, twilio_verify),
    "twilio-shared-key": ("twilio", twilio_shared_key_sign, twilio_verify),
    "hubspot": ("hubspot-api-client", hubspot_sign, hubspot_verify),
    "paddle": ("paddle-python-sdk", None, paddle_verify),
    "workos": ("workos", None, workos_verify),
    "square": ("squareup", None, square_verify),
    "sendgrid": ("sendgrid", None, sendgrid_verify),
    "discord": ("discord-interactions", None, discord_verify),
}


def run(job):
    entry = SDKS.get(job["sdk"])
    if entry is None:
        return {"error": f"the driver knows no SDK {job['sdk']!r}"}
    distribution, sign, verify = entry
    action = job["action"]
    try:
        version = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return {"skip": f"{distribution} is not installed"}
    if action == "version":
        return {"version": version}
    handler = {"sign": sign, "verify": verify}.get(action)
    if handler is None:
        return {"error": f"{job['sdk']} cannot {action}"}
    try:
        # Some SDKs print on failure; stdout carries the results only.
        with contextlib.redirect_stdout(sys.stderr):
            outcome = handler(job)
    except ImportError as error:
        return {"skip": f"{distribution} does not import: {error}"}
    except Exception as error:  # an SDK refuses by raising
        if action == "sign":
            return {"error": f"{type(error).__name__}: {error}"}
        return {"valid": False, "error": f"{type(error).__name__}: {error}"}
    if action == "sign":
        return {"headers": outcome}
    return {"valid": outcome is True}


def main():
    jobs = json.load(sys.stdin)
    json.dump([run(job) for job in jobs], sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
