"""Stripe, through its official SDK: the one place the store calls the provider.

Every call has short connect and read timeouts (STRIPE_TIMEOUT_SECONDS) and
at most STRIPE_MAX_NETWORK_RETRIES retries, so a provider that hangs costs
a shopper seconds. Whatever goes wrong in transport (no answer, a refused
connection, a 5xx, a rate limit) is `ProviderDown`; a card the bank refuses
is `Declined`, with the words to show the shopper. Every call that creates
something at the provider carries an idempotency key derived from the
order, so a retry after a lost answer gets the first result back.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import stripe
from flask import current_app

from app import metrics

PROVIDER = "stripe"


class ProviderDown(Exception):
    """The provider did not answer, or answered with an error of its own."""


class Declined(Exception):
    """The provider refused the card or the request; `str()` says why."""


@dataclass(frozen=True)
class Intent:
    """The parts of a PaymentIntent the store reads."""

    id: str
    status: str
    amount: int
    currency: str
    order_number: str
    client_secret: str
    error: str | None = None

    @classmethod
    def of(cls, obj) -> Intent:
        if hasattr(obj, "to_dict"):
            obj = obj.to_dict()
        error = obj.get("last_payment_error")
        metadata = obj.get("metadata") or {}
        return cls(
            id=obj["id"],
            status=obj["status"],
            amount=int(obj["amount"]),
            currency=str(obj["currency"]).lower(),
            order_number=str(metadata.get("order_number", "")),
            client_secret=obj.get("client_secret") or "",
            error=(error.get("message") if isinstance(error, dict) else None),
        )


def enabled() -> bool:
    return bool(current_app.config.get("STRIPE_SECRET_KEY"))


def client() -> stripe.StripeClient:
    """One SDK client per app, pointed at STRIPE_API_BASE, with its timeouts."""
    made = current_app.extensions.get("stripe_client")
    if made is None:
        config = current_app.config
        timeout = config["STRIPE_TIMEOUT_SECONDS"]
        made = stripe.StripeClient(
            config["STRIPE_SECRET_KEY"],
            base_addresses={"api": config["STRIPE_API_BASE"].rstrip("/")},
            max_network_retries=config["STRIPE_MAX_NETWORK_RETRIES"],
            http_client=stripe.RequestsClient(timeout=(timeout, timeout)),
        )
        current_app.extensions["stripe_client"] = made
    return made


def _call(function, *args, **kwargs):
    """Run one SDK call, turning its failures into ProviderDown or Declined
    (each counted in the payment-failure metric by its reason)."""
    try:
        return function(*args, **kwargs)
    except stripe.CardError as error:
        _count("card_declined")
        raise Declined(error.user_message or "Your card was declined.") from error
    except (stripe.APIConnectionError, stripe.RateLimitError) as error:
        _count("provider_down")
        raise ProviderDown(str(error.user_message or error)) from error
    except stripe.InvalidRequestError as error:
        _count("request_refused")
        raise Declined(
            error.user_message or "The card service refused the request."
        ) from error
    except stripe.StripeError as error:
        _count("provider_error")
        raise ProviderDown(str(error.user_message or error)) from error


def _count(reason: str) -> None:
    metrics.PAYMENT_FAILURES.labels(provider="stripe", reason=reason).inc()


def create_intent(
    order_number: str, amount_cents: int, currency: str, key: str | None = None
) -> Intent:
    """The order's PaymentIntent. Its key is the order's: asked again (after a
    lost answer), the provider returns the same intent, not a second one."""
    intent = _call(
        client().v1.payment_intents.create,
        params={
            "amount": amount_cents,
            "currency": currency,
            "payment_method_types": ["card"],
            "metadata": {"order_number": order_number},
        },
        options={"idempotency_key": key or f"order-{order_number}-intent"},
    )
    return Intent.of(intent)


def retrieve_intent(intent_id: str) -> Intent:
    return Intent.of(_call(client().v1.payment_intents.retrieve, intent_id))


def confirm_intent(intent_id: str, payment_method: str) -> Intent:
    """Charge the card the shopper's browser gave Stripe (its id, never its
    number). A declined card raises Declined; the intent waits for another."""
    _call(
        client().v1.payment_intents.update,
        intent_id,
        params={"payment_method": payment_method},
    )
    return Intent.of(_call(client().v1.payment_intents.confirm, intent_id))


def cancel_intent(intent_id: str) -> Intent:
    return Intent.of(_call(client().v1.payment_intents.cancel, intent_id))


def refund(intent_id: str, amount_cents: int, key: str) -> str:
    """Refund `amount_cents` of the intent's charge; the refund's status."""
    made = _call(
        client().v1.refunds.create,
        params={"payment_intent": intent_id, "amount": amount_cents},
        options={"idempotency_key": key},
    )
    return str(made["status"])


def verified_event(payload: bytes, signature: str) -> dict:
    """The webhook's event, if `Stripe-Signature` signs this payload with our
    secret within the tolerance; ValueError otherwise (never trusted unsigned)."""
    tolerance = current_app.config["STRIPE_WEBHOOK_TOLERANCE_SECONDS"]
    stamps = [
        part[2:] for part in signature.split(",") if part.strip().startswith("t=")
    ]
    # The SDK refuses a signature older than the tolerance; one dated further
    # ahead than that is refused here too (a clock cannot be that wrong).
    if not stamps or not stamps[0].strip().isdigit():
        raise ValueError("no timestamp in the signature")
    if int(stamps[0].strip()) > time.time() + tolerance:
        raise ValueError("a signature from the future")
    try:
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(
            text,
            signature,
            current_app.config["STRIPE_WEBHOOK_SECRET"],
            tolerance=tolerance,
        )
        event = json.loads(text)
    except (stripe.SignatureVerificationError, UnicodeDecodeError) as error:
        raise ValueError(str(error)) from error
    if not isinstance(event, dict):
        raise ValueError("not an event")
    return event


def script_origins() -> tuple[str, str]:
    """The origins the card step's page needs: the script's and the API's."""
    config = current_app.config
    return _origin(config["STRIPE_JS_URL"]), _origin(config["STRIPE_API_BASE"])


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
