"""Local HTTP receivers for webhook and chat-robot tests: a real HTTP server (uvicorn, in this
process, on a free port) that records every request and answers what the test tells it to."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
import uvicorn


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Answer = tuple[int, bytes, dict[str, str]]


@dataclass
class Receiver:
    """Answers ``answers`` in order (then ``default``), or what ``respond(request)`` returns."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    default: Answer = (200, b'{"ok": true}', {})
    respond: Callable[[Received], Answer] | None = None
    hold: asyncio.Event | None = None  # when set: every answer waits for it

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = Received(
            method=scope["method"], path=scope["path"],
            query={k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode(), keep_blank_values=True).items()},
            headers={k.decode().lower(): v.decode() for k, v in scope["headers"]}, body=body)
        self.requests.append(request)
        if self.hold is not None:
            await self.hold.wait()
        if self.respond is not None:
            status, content, headers = self.respond(request)
        else:
            status, content, headers = self.answers.pop(0) if self.answers else self.default
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                *((k.encode(), v.encode()) for k, v in headers.items())]})
        await send({"type": "http.response.body", "body": content})


async def serve(receiver: Receiver) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    receiver.port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(receiver, log_level="warning", lifespan="off", access_log=False))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign] - pytest keeps its own signals
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    return server, task


@pytest.fixture
async def receivers() -> AsyncIterator[Callable[[], Any]]:
    """``await receivers()`` starts a new receiver; all stop after the test."""
    started: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def make() -> Receiver:
        receiver = Receiver()
        started.append(await serve(receiver))
        return receiver

    yield make
    for server, task in started:
        server.should_exit = True
        await task


@pytest.fixture
def allow_private(runtime: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """HUIKE_WEBHOOK_ALLOW_PRIVATE=true for this test: deliveries may reach the local receivers."""
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"webhook_allow_private": True}))
