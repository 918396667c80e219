"""Scrub secrets out of log records before any handler sees them.

What is removed, wherever it appears (message, arguments, ``extra`` fields, exception and
stack text):

- every known secret value: each ``SecretStr`` of :class:`Settings` (the two JWT
  secrets) and the password of every URL in the settings (``SYNCFLOW_DATABASE_URL``,
  ``SYNCFLOW_PUSHGATEWAY_URL``), raw and percent-encoded;
- anything shaped like a JWT (``eyJ….eyJ….sig``);
- the credentials of ``Authorization: Bearer …`` / ``Basic …``;
- the password of a URL (``scheme://user:pass@host``);
- the value after a secret-looking key (``password=``, ``"token": "…"``, ``jwt_secret:``),
  and, in mappings, the whole value under such a key.

>>> r = Redactor(["s3cr3t-value"])
>>> r.text("db postgresql://app:hunter2@db/x?password=hunter2 key s3cr3t-value")
'db postgresql://app:***@db/x?password=*** key ***'
>>> r.value({"token": "abc", "rows": 5})
{'token': '***', 'rows': 5}
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from pydantic import SecretStr

from syncflow_core.settings import Settings

MASK = "***"

#: Names of keys whose values are secret (``jwt_secret``, ``access_token``, ``password``…).
_SENSITIVE_NAMES = "|".join(
    ("passw(?:or)?d", "pwd", "secret", "token", "api[_-]?key", "authorization", "credential")
)
# Anchored at the start of a word: without it, a long run of word characters (a hex blob)
# would be retried from each of its positions, quadratic in its length.
_KEY_NAME = rf"(?<![\w-])[\w-]*(?:{_SENSITIVE_NAMES}|cookie)[\w-]*"
_KEY_VALUE = re.compile(
    rf"""(?P<key>{_KEY_NAME})(?P<sep>["']?\s*[:=]\s*)"""
    # A bare value may start with an auth scheme: "Authorization: Bearer x" masks as a whole.
    r"""(?:(?P<q>["'])(?P<quoted>.*?)(?P=q)|(?P<bare>(?:(?:Bearer|bearer|Basic)\s+)?"""
    r"""[^\s"'&,;()}\]]+))""",
    re.IGNORECASE,
)
_SENSITIVE_KEY = re.compile(_KEY_NAME, re.IGNORECASE)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
# Case-sensitive and at least 8 characters, so that prose ("a basic check") stays readable.
_AUTH_SCHEME = re.compile(r"\b(?P<scheme>Bearer|bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_URL_PASSWORD = re.compile(  # anchored at a scheme's start, for the same reason
    r"(?<![A-Za-z0-9+.-])(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@]*:)[^\s@/?#]*@"
)


_GENERATIONS = itertools.count(1)


def _mask_key_value(match: re.Match[str]) -> str:
    quote_char = match.group("q") or ""
    return f"{match.group('key')}{match.group('sep')}{quote_char}{MASK}{quote_char}"


def url_password(url: str) -> str | None:
    """The password in ``scheme://user:password@host/…``, decoded, or None."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None


class Redactor:
    """Masks known secret values and secret-shaped text; thread-safe, secrets may be added."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._known: re.Pattern[str] | None = None
        self.generation = 0  # a number unique to this redactor and its current secrets
        self.add(*secrets)

    @classmethod
    def from_settings(cls, settings: Settings) -> Redactor:
        """A redactor that knows every secret ``settings`` holds."""
        redactor = cls()
        redactor.add_settings(settings)
        return redactor

    def add(self, *secrets: str) -> None:
        """Also mask these values (and their percent-encoded forms)."""
        with self._lock:
            for secret in secrets:
                if secret:
                    self._secrets.update({secret, quote(secret, safe=""), quote(secret)})
            # Longest first, so that a secret containing another is masked whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._known = re.compile("|".join(map(re.escape, ordered))) if ordered else None
            self.generation = next(_GENERATIONS)

    def add_settings(self, settings: Settings) -> None:
        """Mask every ``SecretStr`` of ``settings`` and the password of every URL in it."""
        for name in type(settings).model_fields:
            value = getattr(settings, name)
            if isinstance(value, SecretStr):
                self.add(value.get_secret_value())
            elif isinstance(value, str) and (password := url_password(value)):
                self.add(password)

    def text(self, text: str) -> str:
        """``text`` with every secret masked."""
        known = self._known
        if known is not None:
            text = known.sub(MASK, text)
        # Cheap substring tests first: most log text holds none of these shapes.
        if "eyJ" in text:
            text = _JWT.sub(MASK, text)
        if "Bearer" in text or "bearer" in text or "Basic" in text:
            text = _AUTH_SCHEME.sub(lambda m: f"{m.group('scheme')} {MASK}", text)
        if "://" in text:
            text = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}@", text)
        if ":" in text or "=" in text:
            text = _KEY_VALUE.sub(_mask_key_value, text)
        return text

    def value(self, value: Any) -> Any:
        """A copy of ``value`` safe to log: strings scrubbed, containers walked, secret keys
        masked whole, and any other object replaced by its scrubbed ``str``."""
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {
                self.text(str(k)): MASK if _SENSITIVE_KEY.search(str(k)) else self.value(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(item) for item in value]
        return self.text(str(value))


#: Set on a record once scrubbed, to the redactor's generation (a second pass is skipped).
#: A number, not the redactor: a record may be pickled (QueueHandler, SocketHandler).
SCRUBBED_BY = "_syncflow_scrubbed_by"

#: LogRecord attributes that are not ``extra`` fields.
STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime", SCRUBBED_BY}
)


class RedactingFilter(logging.Filter):
    """Scrubs a record in place: every later handler and formatter sees the clean record.

    The message is formatted with its arguments and scrubbed (``args`` become empty), the
    exception and stack are rendered to scrubbed text (``exc_info`` is dropped so that no
    formatter can render the raw exception again), and every ``extra`` field is scrubbed.
    """

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, SCRUBBED_BY, None) == self.redactor.generation:
            return True
        try:
            self._scrub(record)
            setattr(record, SCRUBBED_BY, self.redactor.generation)
        except Exception as exc:  # a filter that raises would raise into the caller's code
            record.msg = f"[log record withheld: redaction failed with {type(exc).__name__}]"
            record.args, record.exc_info, record.exc_text, record.stack_info = (), None, None, None
            for name in vars(record).keys() - STANDARD_ATTRIBUTES:
                delattr(record, name)
        return True

    def _scrub(self, record: logging.LogRecord) -> None:
        scrub = self.redactor
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: keep both, scrubbed
            message = f"{record.msg!s} {record.args!r}"
        record.msg = scrub.text(message)
        record.args = ()
        if hasattr(record, "message"):
            record.message = record.msg
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = scrub.text(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub.text(record.stack_info)
        for name in vars(record).keys() - STANDARD_ATTRIBUTES:
            setattr(record, name, scrub.value(getattr(record, name)))
