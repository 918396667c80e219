"""Push an entity's series to a Prometheus Pushgateway.

The group is ``job=syncflow, entity=<entity>, instance=<host>``, and the push is a POST
(``pushadd``): it replaces the metric families it carries and leaves the group's other
families alone, so a push that only carries a depth gauge does not wipe the counters.
Basic-auth credentials may sit in the URL (``http://user:pass@host:9091``); they are sent
as an ``Authorization`` header, never as part of the path.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Callable
from urllib.parse import unquote, urlsplit, urlunsplit

from prometheus_client.exposition import (
    basic_auth_handler,
    default_handler,
    pushadd_to_gateway,
)

from syncflow_core.observability.snapshot import MetricsSnapshot

JOB = "syncflow"


def grouping_key(entity: str, instance: str | None = None) -> dict[str, str]:
    """The Pushgateway group of an entity's metrics (besides ``job``)."""
    return {"entity": entity, "instance": instance or socket.gethostname()}


def split_credentials(url: str) -> tuple[str, Callable[..., Callable[[], None]]]:
    """The URL without its user info, and a request handler that sends it as basic auth."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, default_handler
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    bare = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    handler = functools.partial(
        basic_auth_handler,
        username=unquote(parts.username),
        password=unquote(parts.password or ""),
    )
    return bare, handler


def push_entity(
    url: str,
    entity: str,
    snapshot: MetricsSnapshot,
    *,
    instance: str | None = None,
    timeout: float = 10.0,
) -> None:
    """Push ``snapshot``'s series of ``entity`` to the Pushgateway at ``url``; raises on failure."""
    gateway, handler = split_credentials(url)
    pushadd_to_gateway(
        gateway,
        job=JOB,
        registry=snapshot.for_entity(entity),
        grouping_key=grouping_key(entity, instance),
        timeout=timeout,
        handler=handler,
    )
