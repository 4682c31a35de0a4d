"""The HTTP server's own refusals as problem+json.

uvicorn answers a request it cannot parse (raw non-ASCII bytes or a space in the URL, a broken
request line) itself, before the application sees it, with a plain-text 400. This protocol class
answers the same 400 as every other error of the API: RFC 9457 ``application/problem+json``.
"""

from __future__ import annotations

import msgspec
from uvicorn.protocols.http.h11_impl import H11Protocol

from shared.errors import PROBLEM_BASE, PROBLEM_JSON

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # httptools missing: uvicorn's pure-Python parser
    _Base = H11Protocol  # type: ignore[assignment,misc]

BAD_REQUEST = msgspec.json.encode({
    "type": PROBLEM_BASE + "malformed-request",
    "title": "Malformed request",
    "status": 400,
    "detail": "The request is not valid HTTP: the URL must be ASCII, so percent-encode every other byte "
              "(e.g. 客户 as %E5%AE%A2%E6%88%B7) and spaces (%20)",
})


class ProblemHttpProtocol(_Base):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol (httptools when installed) whose parse errors are problem+json."""

    def send_400_response(self, msg: str) -> None:
        headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(BAD_REQUEST)).encode()),
                   (b"connection", b"close")]
        lines = [b"HTTP/1.1 400 Bad Request"]
        lines += [name + b": " + value for name, value in [*self.server_state.default_headers, *headers]]
        self.transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + BAD_REQUEST)
        self.transport.close()


__all__ = ["BAD_REQUEST", "ProblemHttpProtocol"]
