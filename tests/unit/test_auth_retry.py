"""JWT minting/verification and the retry policy."""

from __future__ import annotations

import time

import jwt
import pytest

from syncflow_core.clients.auth import TokenMinter, TokenRejectedError, verify_token
from syncflow_core.clients.retry import RetryPolicy


def test_token_round_trip_has_every_claim() -> None:
    minter = TokenMinter("k" * 32, audience="schedulehub", subject="tester", ttl_seconds=600)
    claims = verify_token(minter.token(), "k" * 32, audience="schedulehub", issuer="syncflow")
    assert claims["sub"] == "tester"
    assert claims["exp"] - claims["iat"] == 600
    assert "k" * 32 not in repr(minter)


@pytest.mark.parametrize(
    ("token_secret", "claims", "why"),
    [
        ("wrong-secret-wrong-secret-wrong!", {}, "bad signature"),
        ("k" * 32, {"aud": "apismith"}, "wrong audience"),
        ("k" * 32, {"exp": int(time.time()) - 10}, "token expired"),
        ("k" * 32, {"exp": int(time.time()) + 7200}, "lifetime"),
    ],
)
def test_bad_tokens_are_rejected(token_secret: str, claims: dict[str, object], why: str) -> None:
    now = int(time.time())
    body = {"iss": "syncflow", "aud": "schedulehub", "sub": "s", "iat": now, "exp": now + 60}
    token = jwt.encode({**body, **claims}, token_secret, algorithm="HS256")
    with pytest.raises(TokenRejectedError, match=why):
        verify_token(token, "k" * 32, audience="schedulehub")


def test_malformed_and_missing_claims() -> None:
    with pytest.raises(TokenRejectedError, match="malformed"):
        verify_token("not.a.jwt", "k" * 32, audience="apismith")
    token = jwt.encode({"aud": "apismith", "exp": int(time.time()) + 60}, "k" * 32)
    with pytest.raises(TokenRejectedError, match="missing claim"):
        verify_token(token, "k" * 32, audience="apismith")


def test_minter_renews_before_expiry() -> None:
    minter = TokenMinter("k" * 32, audience="apismith", ttl_seconds=30)
    first = minter.token()
    assert minter.token() == first
    minter.invalidate()
    time.sleep(1.1)  # a new iat makes a different token
    assert minter.token() != first


def test_retry_policy_bounds() -> None:
    policy = RetryPolicy(max_attempts=3, base_seconds=1.0, max_seconds=3.0)
    assert policy.may_retry(2)
    assert not policy.may_retry(3)
    assert all(0 <= policy.backoff(10) <= 3.0 for _ in range(100))
    assert policy.retry_after("2") == 2.0
    assert policy.retry_after("1000") == policy.retry_after_max_seconds
    assert policy.retry_after("soon") == 1.0


def test_a_server_clock_ahead_sees_good_tokens_expired() -> None:
    from syncflow_core.emulators.asgi import TokenGate

    gate = TokenGate("k" * 32, audience="apismith")
    token = TokenMinter("k" * 32, audience="apismith", ttl_seconds=60).token()
    assert gate.refusal(token) is None
    assert gate.refusal(token, clock_ahead=30) is None  # remembered, still in its lifetime
    assert gate.refusal(token, clock_ahead=61) == "token expired"  # remembered, past it
    assert TokenGate("k" * 32, audience="apismith").refusal(token, clock_ahead=61) == (
        "token expired"  # checked afresh
    )
