"""JWT (HS256) for both systems: minting on our side, verification in the emulators.

>>> minter = TokenMinter("s3cret", audience="apismith", ttl_seconds=600)
>>> claims = verify_token(minter.token(), "s3cret", audience="apismith")
>>> claims["iss"], claims["aud"]
('syncflow', 'apismith')
"""

from __future__ import annotations

import threading
import time
from typing import Any

import jwt

ALGORITHM = "HS256"
MAX_LIFETIME_SECONDS = 3600
RENEW_MARGIN_SECONDS = 60


class TokenMinter:
    """Mints a token and mints a fresh one before the old one expires (thread-safe)."""

    def __init__(
        self,
        secret: str,
        *,
        audience: str,
        issuer: str = "syncflow",
        subject: str = "syncflow",
        ttl_seconds: int = 900,
    ) -> None:
        if not 0 < ttl_seconds <= MAX_LIFETIME_SECONDS:
            raise ValueError(f"ttl_seconds must be in 1..{MAX_LIFETIME_SECONDS}")
        self._secret = secret
        self._audience, self._issuer, self._subject = audience, issuer, subject
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def __repr__(self) -> str:  # never show the secret or the token
        return f"TokenMinter(audience={self._audience!r}, ttl_seconds={self._ttl})"

    def token(self) -> str:
        """A valid token: the current one, or a new one when it is close to expiry."""
        with self._lock:
            now = time.time()
            margin = min(RENEW_MARGIN_SECONDS, self._ttl / 4)
            if self._token is None or now >= self._expires_at - margin:
                self._token = self._mint(now)
            return self._token

    def invalidate(self) -> None:
        """Forget the current token: the next call mints a new one (after a 401)."""
        with self._lock:
            self._token = None

    def _mint(self, now: float) -> str:
        issued = int(now)
        self._expires_at = issued + self._ttl
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": self._subject,
            "iat": issued,
            "exp": issued + self._ttl,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)


class TokenRejectedError(Exception):
    """Why a token was refused (the text goes into a 401 ``detail``)."""


def verify_token(
    token: str, secret: str, *, audience: str, issuer: str | None = None
) -> dict[str, Any]:
    """Check signature, audience, expiry and lifetime; raise :class:`TokenRejectedError`."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            options={"require": ["iss", "aud", "sub", "iat", "exp"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenRejectedError("token expired") from exc
    except jwt.InvalidAudienceError as exc:
        raise TokenRejectedError("wrong audience") from exc
    except jwt.InvalidSignatureError as exc:
        raise TokenRejectedError("bad signature") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise TokenRejectedError(f"missing claim {exc.claim!r}") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenRejectedError(f"malformed token ({type(exc).__name__})") from exc
    if claims["exp"] - claims["iat"] > MAX_LIFETIME_SECONDS:
        raise TokenRejectedError("token lifetime exceeds one hour")
    return claims
