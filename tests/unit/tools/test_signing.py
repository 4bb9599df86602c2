"""Webhook signatures: a round trip, and every way a signature must fail."""

from __future__ import annotations

import hashlib
import hmac

from parley.tools.signing import new_secret, sign, verify

BODY = b'{"order_id":"A-1"}'
NOW = 1_770_000_000.7


def test_round_trip() -> None:
    secret = new_secret()
    header = sign(secret, BODY, NOW)
    assert header.startswith("t=1770000000,v1=")
    assert verify(secret, header, BODY, NOW + 10)


def test_the_documented_construction() -> None:
    secret = "whsec_test"
    expected = hmac.new(b"whsec_test", b"1770000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(secret, BODY, NOW) == f"t=1770000000,v1={expected}"


def test_new_secrets() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_") and len(first) == 6 + 43
    assert first != second


def test_tampering_fails() -> None:
    secret = new_secret()
    header = sign(secret, BODY, NOW)
    assert not verify(secret, header, b'{"order_id":"A-2"}', NOW)
    assert not verify(new_secret(), header, BODY, NOW)
    t, mac = header.split(",")
    assert not verify(secret, f"t=1770000001,{mac}", BODY, NOW)
    assert not verify(secret, f"{t},v1={'0' * 64}", BODY, NOW)


def test_stale_or_malformed_headers_fail() -> None:
    secret = new_secret()
    header = sign(secret, BODY, NOW)
    assert not verify(secret, header, BODY, NOW + 301)
    assert not verify(secret, header, BODY, NOW - 301)
    assert verify(secret, header, BODY, NOW + 1000, tolerance_s=2000)
    for bad in ("", "t=,v1=", "v1=abc", header.split(",")[0], "garbage", "t=x,v1=" + "0" * 64):
        assert not verify(secret, bad, BODY, NOW)


def test_any_of_several_signatures_may_match() -> None:
    secret = new_secret()
    header = sign(secret, BODY, NOW)
    assert verify(secret, header.replace(",v1=", f",v1={'1' * 64},v1="), BODY, NOW)
