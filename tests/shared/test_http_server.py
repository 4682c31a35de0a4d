"""The HTTP server's own refusals (requests it cannot parse) are problem+json like every other
error: driven through a real uvicorn server, since a test client cannot send raw bytes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from shared.embedded import free_port
from shared.http.server import ProblemHttpProtocol


@pytest.fixture
async def server(app: Any) -> AsyncIterator[int]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None,
                            http=ProblemHttpProtocol)
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    for _ in range(200):
        if served.started:
            break
        await asyncio.sleep(0.05)
    assert served.started
    yield port
    served.should_exit = True
    await task


async def _raw(port: int, request_line: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_line + b"\r\nHost: huike.test\r\nConnection: close\r\n\r\n")
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines)}
    return status, headers, body


@pytest.mark.parametrize("target", [b"/api/v1/customers/\xe5\xae\xa2\xe6\x88\xb7", b"/api/v1/\xff\xfe",
                                    b"/api/v1/customers?tag=\xe5\xae\xa2", b"/api/v1/customers?tag=a b"])
async def test_raw_non_ascii_bytes_in_the_url_answer_problem_json(server: int, target: bytes) -> None:
    status, headers, body = await _raw(server, b"GET " + target + b" HTTP/1.1")
    assert status.startswith(b"HTTP/1.1 400"), status
    assert headers[b"content-type"] == b"application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == 400
    assert problem["type"] == "urn:huike:problem:malformed-request"
    assert "percent-encode" in problem["detail"]
    assert int(headers[b"content-length"]) == len(body)


async def test_the_same_server_answers_well_formed_requests(server: int) -> None:
    status, headers, body = await _raw(server, b"GET /healthz HTTP/1.1")
    assert status.startswith(b"HTTP/1.1 200"), status
    assert json.loads(body) == {"status": "ok"}
    # percent-encoded, the same characters reach the application (here: no route, a 404 problem)
    status, headers, body = await _raw(server, b"GET /api/v1/%E5%AE%A2 HTTP/1.1")
    assert status.startswith(b"HTTP/1.1 404"), status
    assert headers[b"content-type"] == b"application/problem+json"
