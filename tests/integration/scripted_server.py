"""A scripted HTTP server for client tests: answers each request with the next step."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from syncflow_core.emulators.asgi import Request, Response, json_response


@dataclass
class Step:
    """One scripted answer: status, JSON body, headers, and a delay before answering."""

    status: int = 200
    body: object = field(default_factory=lambda: {"ok": True})
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Script:
    """Answers requests with the next step (the last one repeats); records what came in."""

    def __init__(self) -> None:
        self.steps: list[Step] = [Step()]
        self.seen: list[Request] = []
        self._lock = threading.Lock()

    def play(self, *steps: Step) -> None:
        with self._lock:
            self.steps, self.seen = list(steps), []

    async def handle(self, request: Request) -> Response:
        with self._lock:
            self.seen.append(request)
            step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if step.delay:
            await asyncio.sleep(step.delay)
        if isinstance(step.body, bytes):
            return Response(step.status, step.body, step.headers)
        return json_response(step.status, step.body, step.headers)
