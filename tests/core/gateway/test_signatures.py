"""Webhook signatures: we accept what Stripe and HubSpot sign (checked against their own SDKs
and the sandboxes' signers) and nothing else."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
import stripe
from hubspot.utils.signature import Signature

from sandboxes.billing.service import signer
from sandboxes.crm.webhooks import v3_signature
from sync_platform.gateway.signatures import (
    SignatureError,
    verify_hubspot_v3,
    verify_stripe_signature,
)

SECRET = "whsec_current_secret"
OLD_SECRET = "whsec_previous_secret"
BODY = b'{\n  "id": "evt_1",\n  "object": "event",\n  "type": "invoice.finalized"\n}'
NOW = 1_790_000_000.0


def stripe_header(body: bytes, secret: str, t: int) -> str:
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def reason_of(error: pytest.ExceptionInfo[SignatureError]) -> str:
    return error.value.reason


# -- Stripe ----------------------------------------------------------------------------------
def test_a_header_made_by_the_stripe_sdk_is_accepted() -> None:
    header = stripe.WebhookSignature.generate_signature_header(BODY.decode(), SECRET, int(NOW))

    assert verify_stripe_signature(BODY, header, [SECRET], NOW) == int(NOW)


def test_a_header_made_by_the_billing_sandbox_is_accepted() -> None:
    headers = signer(SECRET)("http://127.0.0.1:1/webhooks/billing", BODY)

    verify_stripe_signature(BODY, headers["Stripe-Signature"], [SECRET], time.time())


def test_any_matching_v1_of_several_passes() -> None:
    valid = stripe_header(BODY, SECRET, int(NOW)).split(",")[1]
    other = stripe_header(BODY, "whsec_someone_else", int(NOW)).split(",")[1]
    header = f"t={int(NOW)},{other},{valid},v0=ignored"

    verify_stripe_signature(BODY, header, [SECRET], NOW)


def test_a_rotated_secret_keeps_working_while_both_are_configured() -> None:
    signed_with_old = stripe_header(BODY, OLD_SECRET, int(NOW))

    verify_stripe_signature(BODY, signed_with_old, [SECRET, OLD_SECRET], NOW)
    with pytest.raises(SignatureError) as error:
        verify_stripe_signature(BODY, signed_with_old, [SECRET], NOW)
    assert reason_of(error) == "bad_signature"


def test_a_wrong_secret_is_a_bad_signature_and_the_message_reveals_nothing() -> None:
    header = stripe_header(BODY, "whsec_attacker", int(NOW))

    with pytest.raises(SignatureError) as error:
        verify_stripe_signature(BODY, header, [SECRET], NOW)
    assert reason_of(error) == "bad_signature"
    message = str(error.value)
    assert (
        SECRET not in message and header.split("v1=")[1] not in message and "evt_1" not in message
    )


def test_a_tampered_body_is_a_bad_signature() -> None:
    header = stripe_header(BODY, SECRET, int(NOW))

    with pytest.raises(SignatureError) as error:
        verify_stripe_signature(BODY.replace(b"evt_1", b"evt_2"), header, [SECRET], NOW)
    assert reason_of(error) == "bad_signature"


def test_a_timestamp_changed_after_signing_is_a_bad_signature() -> None:
    digest = stripe_header(BODY, SECRET, int(NOW) - 1000).split(",")[1]

    with pytest.raises(SignatureError) as error:
        verify_stripe_signature(BODY, f"t={int(NOW)},{digest}", [SECRET], NOW)
    assert reason_of(error) == "bad_signature"


@pytest.mark.parametrize("offset", [-301, 301, -86_400])
def test_a_validly_signed_timestamp_outside_the_tolerance_is_stale(offset: int) -> None:
    header = stripe_header(BODY, SECRET, int(NOW) + offset)

    with pytest.raises(SignatureError, match="tolerance is 300 s") as error:
        verify_stripe_signature(BODY, header, [SECRET], NOW)
    assert reason_of(error) == "stale_timestamp"


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_a_timestamp_within_the_tolerance_passes(offset: int) -> None:
    verify_stripe_signature(BODY, stripe_header(BODY, SECRET, int(NOW) + offset), [SECRET], NOW)


def test_a_forged_old_request_is_reported_as_forged_not_as_stale() -> None:
    header = stripe_header(BODY, "whsec_attacker", int(NOW) - 3600)

    with pytest.raises(SignatureError) as error:
        verify_stripe_signature(BODY, header, [SECRET], NOW)
    assert reason_of(error) == "bad_signature"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing_signature"),
        ("", "missing_signature"),
        ("v1=abc", "bad_signature"),
        ("t=soon,v1=abc", "bad_signature"),
        (f"t={int(NOW)}", "bad_signature"),
        (f"t={int(NOW)},v0=abc", "bad_signature"),
        ("garbage", "bad_signature"),
    ],
)
def test_missing_and_unparseable_headers(header: str | None, reason: str) -> None:
    with pytest.raises(SignatureError) as error:
        verify_stripe_signature(BODY, header, [SECRET], NOW)
    assert reason_of(error) == reason


def test_without_a_secret_nothing_can_be_verified() -> None:
    with pytest.raises(ValueError, match="no billing webhook secret"):
        verify_stripe_signature(BODY, stripe_header(BODY, SECRET, int(NOW)), [""], NOW)


# -- HubSpot v3 ------------------------------------------------------------------------------
APP_SECRET = "sandbox-crm-app-client-secret"
URI = "http://127.0.0.1:12110/webhooks/crm"
BATCH = b'[{"eventId":1,"subscriptionType":"company.creation","objectId":7}]'
NOW_MS = str(int(NOW * 1000))


def hubspot(
    body: bytes = BATCH,
    timestamp: str | None = NOW_MS,
    signature: str | None = None,
    secret: str = APP_SECRET,
    uri: str = URI,
) -> int:
    if signature is None and timestamp is not None:
        signature = v3_signature(APP_SECRET, "POST", URI, BATCH, timestamp)
    return verify_hubspot_v3("POST", uri, body, timestamp, signature, secret, NOW)


def test_a_hubspot_signature_from_the_crm_sandbox_is_accepted() -> None:
    assert hubspot() == int(NOW_MS)


def test_the_hubspot_sdk_and_we_agree_on_a_fresh_request() -> None:
    now = time.time()
    timestamp = str(int(now * 1000))
    signature = v3_signature(APP_SECRET, "POST", URI, BATCH, timestamp)

    assert Signature.is_valid(signature, APP_SECRET, BATCH.decode(), URI, "POST", "v3", timestamp)
    verify_hubspot_v3("POST", URI, BATCH, timestamp, signature, APP_SECRET, now)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"secret": "another-app-secret"}, "bad_signature"),
        ({"body": BATCH.replace(b'"eventId":1', b'"eventId":2')}, "bad_signature"),
        ({"uri": "http://127.0.0.1:12110/webhooks/crm?x=1"}, "bad_signature"),
        ({"signature": "bm90IGEgc2lnbmF0dXJl"}, "bad_signature"),
        ({"signature": ""}, "missing_signature"),
        ({"timestamp": None}, "missing_signature"),
    ],
)
def test_hubspot_requests_that_do_not_match_are_refused(
    change: dict[str, object], reason: str
) -> None:
    with pytest.raises(SignatureError) as error:
        hubspot(**change)  # type: ignore[arg-type]
    assert reason_of(error) == reason


@pytest.mark.parametrize("offset_ms", [-301_000, 301_000, -3_600_000])
def test_a_validly_signed_hubspot_request_older_than_five_minutes_is_stale(offset_ms: int) -> None:
    timestamp = str(int(NOW_MS) + offset_ms)

    with pytest.raises(SignatureError) as error:
        hubspot(timestamp=timestamp)
    assert reason_of(error) == "stale_timestamp"


def test_a_hubspot_timestamp_changed_after_signing_is_a_bad_signature() -> None:
    signature = v3_signature(APP_SECRET, "POST", URI, BATCH, str(int(NOW_MS) - 600_000))

    with pytest.raises(SignatureError) as error:
        hubspot(signature=signature)
    assert reason_of(error) == "bad_signature"
