"""No secret ever reaches a log line: not the file, not Dagster's log, not any other handler."""

from __future__ import annotations

import base64
import logging
import pickle
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from syncflow_core.clients.auth import TokenMinter
from syncflow_core.observability import (
    SYNCFLOW_LOGGERS,
    Redactor,
    configure_json_logging,
    forward_logs,
    install_redaction,
    log_context,
)
from syncflow_core.settings import Settings


@pytest.fixture(autouse=True)
def restore_loggers() -> Iterator[None]:
    """Each test leaves the SyncFlow loggers as it found them."""
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level)
             for name in SYNCFLOW_LOGGERS}  # fmt: skip
    yield
    for name, (handlers, level) in saved.items():
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if handler not in handlers:
                handler.close()
        logger.handlers = handlers
        logger.setLevel(level)


class Secrets:
    """Fresh secrets for one test (never literals in the code)."""

    def __init__(self) -> None:
        self.apismith = secrets.token_urlsafe(24)
        self.schedulehub = secrets.token_urlsafe(24)
        self.db_password = "p@ss:" + secrets.token_hex(6)  # needs percent-encoding in a URL
        self.push_password = secrets.token_hex(10)
        self.opaque_token = secrets.token_hex(16)
        self.basic = base64.b64encode(f"svc:{secrets.token_hex(8)}".encode()).decode()
        self.settings = Settings(
            apismith_jwt_secret=SecretStr(self.apismith),
            schedulehub_jwt_secret=SecretStr(self.schedulehub),
            database_url=f"postgresql+psycopg://app:{quote(self.db_password, safe='')}"
            "@127.0.0.1:5432/sync",
            pushgateway_url=f"http://pusher:{self.push_password}@127.0.0.1:9091",
        )
        self.jwt = TokenMinter(self.schedulehub, audience="schedulehub").token()

    def all(self) -> list[str]:
        values = [self.apismith, self.schedulehub, self.db_password, self.push_password,
                  self.opaque_token, self.basic, self.jwt]  # fmt: skip
        return [*values, quote(self.db_password, safe=""), self.jwt.split(".")[2]]


def test_redactor_masks_each_kind_of_secret() -> None:
    s = Secrets()
    r = Redactor.from_settings(s.settings)
    cases = {
        f"secret {s.apismith}!": "secret ***!",
        s.settings.state_url: "postgresql+psycopg://app:***@127.0.0.1:5432/sync",
        f"Authorization: Bearer {s.jwt}": "Authorization: ***",
        f"authorization: Basic {s.basic}": "authorization: ***",
        f"token {s.jwt} seen": "token *** seen",
        f"GET /x?password={s.opaque_token}&page=2": "GET /x?password=***&page=2",
        f"{{'access_token': '{s.opaque_token}', 'rows': 3}}": "{'access_token': '***', 'rows': 3}",
        f'{{"jwt_secret": "two words {s.opaque_token}"}}': '{"jwt_secret": "***"}',
        f"redis://:{s.opaque_token}@cache:6379/0": "redis://:***@cache:6379/0",
        "a basic check of the bearer rows, token count 5": "a basic check of the bearer rows, "
        "token count 5",
    }
    assert {text: r.text(text) for text in cases} == cases


def test_mappings_mask_whole_values_under_secret_keys() -> None:
    s = Secrets()
    r = Redactor.from_settings(s.settings)
    value = {"headers": {"Authorization": "opaque-but-secret", "Accept": "json"},
             "ApiKey": 12345, "rows": [1, {"password": ["a", "b"]}], "uid": None,
             "note": f"minted {s.jwt}"}  # fmt: skip
    assert r.value(value) == {
        "headers": {"Authorization": "***", "Accept": "json"},
        "ApiKey": "***",
        "rows": [1, {"password": "***"}],
        "uid": None,
        "note": "minted ***",
    }


@given(
    secret=st.text(
        alphabet=st.characters(categories=["L", "N"], include_characters="-_.~+/=@:%!$"),
        min_size=6,
        max_size=40,
    ),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
)
def test_a_known_secret_never_survives(secret: str, before: str, after: str) -> None:
    r = Redactor([secret])
    assert secret not in r.text(before + secret + after + secret)
    assert secret not in str(r.value({"k": [before + secret], secret: after}))


def leak_everything(s: Secrets) -> None:
    """Every way careless code could put a secret into a log record."""
    log = logging.getLogger("syncflow_core.clients.schedulehub")
    log.info("connecting to %s", s.settings.state_url)
    log.info("settings %s", s.settings.model_dump())
    log.info("pushing to %s", s.settings.pushgateway_url)
    log.info("headers %s", {"Authorization": f"Bearer {s.jwt}"})
    log.info("body %r", {"token": s.opaque_token, "rows": 3})
    log.info("the secret itself: %s and %s", s.apismith, s.schedulehub)
    log.info(f"GET /items?password={s.opaque_token}&limit=10")
    log.info("Authorization: Basic %s", s.basic)
    log.info("%s %s", s.apismith)  # arguments that do not fit: must not raise, must not leak
    log.info("request", extra={"metrics": {"rows": 1}, "request": {
        "headers": {"authorization": s.opaque_token}, "url": s.settings.state_url},
        "jwt": s.jwt})  # fmt: skip
    try:
        try:
            raise ValueError(f"token {s.jwt} rejected for {s.settings.state_url}")
        except ValueError as inner:
            raise RuntimeError(f"auth failed with secret {s.schedulehub}") from inner
    except RuntimeError:
        log.exception("batch failed; secret=%s", s.apismith)
    logging.getLogger("syncflow_dagster.assets").error("stack for %s", s.apismith, stack_info=True)


class RecordsAsText(logging.Handler):
    """A root-logger handler of someone else: keeps every attribute of every record."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # As printed, and as a QueueHandler or SocketHandler would ship it (pickled).
        shipped = pickle.dumps(vars(record)).decode("latin-1")
        self.texts.append(repr(vars(record)) + logging.Formatter().format(record) + shipped)


def test_no_secret_reaches_any_output(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    s = Secrets()
    path = tmp_path / "out.jsonl"
    configure_json_logging(path, settings=s.settings)
    dagster_log: list[str] = []

    class DagsterLike:
        def debug(self, msg: str) -> None:
            dagster_log.append(msg)

        info = warning = error = critical = debug

    others = RecordsAsText()
    logging.getLogger().addHandler(others)
    try:
        with forward_logs(DagsterLike(), settings=s.settings), log_context(batch_uid="b-9"):
            leak_everything(s)
    finally:
        logging.getLogger().removeHandler(others)

    outputs = {"file": path.read_text(), "dagster": "\n".join(dagster_log),
               "root handler": "\n".join(others.texts), "caplog": caplog.text}  # fmt: skip
    for where, text in outputs.items():
        for secret in s.all():
            assert secret not in text, f"a secret reached the {where}"
    # Nothing was dropped: every record arrived, readable, with its context.
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert len(lines) == len(dagster_log) == len(others.texts) == 12
    assert {line["batch_uid"] for line in lines} == {"b-9"}
    messages = [line["message"] for line in lines]
    assert messages[0] == "connecting to postgresql+psycopg://app:***@127.0.0.1:5432/sync"
    assert messages[5] == "the secret itself: *** and ***"
    assert "RuntimeError: auth failed with secret ***" in lines[10]["exception"]
    assert "ValueError: token *** rejected" in lines[10]["exception"]
    assert lines[9]["extra"]["request"]["headers"] == {"authorization": "***"}
    assert lines[11]["stack"].startswith("Stack (most recent call last)")


def test_scrubbing_at_the_source_works_without_any_json_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = Secrets()
    install_redaction(s.settings)
    logging.getLogger("syncflow_core.state").warning("url %s", s.settings.state_url)
    assert s.db_password not in caplog.text
    assert quote(s.db_password, safe="") not in caplog.text
    assert "url postgresql+psycopg://app:***@" in caplog.text


def test_a_record_that_cannot_be_scrubbed_is_withheld_not_raised(
    tmp_path: Path,
) -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no str")

        __repr__ = __str__

    path = tmp_path / "out.jsonl"
    configure_json_logging(path, settings=Settings())
    logging.getLogger("syncflow_core").info("odd", extra={"thing": Unprintable()})
    (line,) = [orjson.loads(x) for x in path.read_bytes().splitlines()]
    assert line["message"].startswith("[log record withheld: redaction failed")
