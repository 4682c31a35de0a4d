"""The web console (``web/dist``) served from the API's port: files by name, ``index.html`` for
every client route (the single-page app routes in the browser), never for the API's own paths.

Every answer carries a strict Content-Security-Policy: scripts only from this origin (the build
has no inline script), styles from this origin or carrying the per-answer nonce that
``index.html`` hands to Ant Design's style injection, no frames, no plugins, no other origin.
"""

from __future__ import annotations

import mimetypes
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from shared.errors import NotFound

# Paths that belong to the API and the operations endpoints: a miss there is the API's 404.
RESERVED_PREFIXES = ("api/", "schema", "healthz", "readyz")
NONCE_PLACEHOLDER = "__CSP_NONCE__"
# Built files carry a content hash in their names (assets/index-3f9a1c.js): cached for a year.
IMMUTABLE = "public, max-age=31536000, immutable"


def default_console_dir() -> Path:
    """``web/dist`` of the repository this code runs from."""
    return Path(__file__).resolve().parents[2] / "web" / "dist"


def content_security_policy(nonce: str) -> str:
    return "; ".join((
        "default-src 'self'",
        "script-src 'self'",
        f"style-src 'self' 'nonce-{nonce}'",
        # Style attributes cannot run script; components measure text by setting them (rc-textarea).
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ))


def _security_headers(nonce: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(nonce),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


@dataclass(frozen=True)
class Console:
    """The built console: its directory and its ``index.html`` (read once; a rebuild needs a restart)."""

    root: Path
    index: str

    @classmethod
    def load(cls, directory: Path | None) -> Console | None:
        root = (directory or default_console_dir()).resolve()
        index = root / "index.html"
        if not index.is_file():
            return None
        return cls(root, index.read_text(encoding="utf-8"))

    def file(self, path: str) -> Path | None:
        """The built file at ``path``, never one outside the console's directory."""
        if not path or path.endswith("/"):
            return None
        candidate = (self.root / path).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate


def _page(console: Console) -> Response[str]:
    nonce = secrets.token_urlsafe(18)
    headers = {**_security_headers(nonce), "Cache-Control": "no-cache"}
    return Response(console.index.replace(NONCE_PLACEHOLDER, nonce), media_type="text/html; charset=utf-8",
                    headers=headers)


def _asset(request: Request[Any, Any, Any], file: Path) -> Response[bytes]:
    media_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    headers = {**_security_headers(secrets.token_urlsafe(18)), "Vary": "Accept-Encoding",
               "Cache-Control": IMMUTABLE if file.parent.name == "assets" else "no-cache"}
    compressed = file.with_name(file.name + ".gz")  # written by the build next to each text asset
    if "gzip" in request.headers.get("accept-encoding", "") and compressed.is_file():
        headers["Content-Encoding"] = "gzip"
        file = compressed
    if media_type.startswith("text/") or media_type in ("application/javascript", "image/svg+xml"):
        media_type += "; charset=utf-8"
    return Response(file.read_bytes(), media_type=media_type, headers=headers)


def console_handlers(directory: Path | None) -> list[HTTPRouteHandler]:
    """Route handlers for the console, or none when it has not been built."""
    console = Console.load(directory)
    if console is None:
        return []

    @get("/", exclude_from_auth=True, include_in_schema=False, sync_to_thread=False, name="console-home")
    def serve_home() -> Response[str]:
        return _page(console)

    @get("/{path:path}", exclude_from_auth=True, include_in_schema=False, sync_to_thread=False, name="console")
    def serve_console(request: Request[Any, Any, Any], path: FromPath[str]) -> Response[Any]:
        path = path.lstrip("/")
        if path.startswith(RESERVED_PREFIXES):
            raise NotFound(f"No such path: {request.url.path}")
        file = console.file(path)
        if file is not None and file.name != "index.html":
            return _asset(request, file)
        if path.startswith("assets/") or Path(path).suffix in (".js", ".css", ".map", ".png", ".svg", ".ico"):
            raise NotFound(f"No such file: {request.url.path}")  # a stale asset is not the app
        accept = request.headers.get("accept", "")
        if "text/html" not in accept and "*/*" not in accept:
            # A program asking for JSON at an unknown path gets a 404, not the app's page.
            raise NotFound(f"No such path: {request.url.path}")
        return _page(console)

    return [serve_home, serve_console]


__all__ = ["Console", "console_handlers", "content_security_policy", "default_console_dir"]
