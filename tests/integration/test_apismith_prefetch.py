"""Requesting the next page ahead: same frames, and a wrong guess costs only a request."""

from __future__ import annotations

import orjson
import polars as pl

from syncflow_core.clients.apismith import ApiSmithClient
from syncflow_core.clients.auth import TokenMinter
from syncflow_core.clients.http import ServiceClient
from syncflow_core.clients.pages import PageFetcher, peek_cursor
from syncflow_core.emulators.asgi import AsgiApp
from syncflow_core.emulators.servers import run_in_thread
from syncflow_core.settings import Settings
from tests.integration.apismith_support import SECRET, apismith
from tests.integration.scripted_server import Script, Step


def test_peek_cursor_reads_only_a_trailing_next_cursor() -> None:
    assert peek_cursor(b'{"rows":[],"next_cursor":"a\\"b"}') == 'a"b'
    assert peek_cursor(b'{"rows":[] , "next_cursor" : null }\n') is None
    assert peek_cursor(b'{"next_cursor":"x","rows":[]}') is ...
    assert peek_cursor(b'{"rows":[],"meta":{"next_cursor":"x"}}') is ...
    assert peek_cursor(b'{"rows":[],"next_cursor":5}') is ...


def test_prefetching_yields_the_same_frames() -> None:
    with apismith() as (server, _):
        settings = Settings(apismith_url=server.url, apismith_jwt_secret=SECRET)
        frames = {}
        for ahead in (False, True):
            with ApiSmithClient(settings, prefetch=ahead) as client:
                frames[ahead] = pl.concat(list(client.pages("items", limit=300)))
                assert client.counters.requests == 9 + 1  # pages plus /schema
    assert frames[True].equals(frames[False])


def test_a_wrong_guess_requests_the_right_page() -> None:
    script = Script()
    page = {"rows": [], "next_cursor": None}
    with run_in_thread(AsgiApp(script.handle)) as server:
        http = ServiceClient("Scripted", server.url, TokenMinter(SECRET, audience="apismith"))
        script.play(Step(200, page))
        with http, PageFetcher(http, "/p", {"limit": 5}, ahead=True) as fetcher:
            guess = fetcher.speculate(orjson.dumps({"rows": [], "next_cursor": "guessed"}))
            assert guess == "guessed"
            nxt = fetcher.follow(guess, "actual")
            assert nxt is not None
            assert nxt.result().json() == page
    queries = sorted(r.query_string for r in script.seen)
    assert queries == [b"limit=5&cursor=actual", b"limit=5&cursor=guessed"]
