"""Signatures: Standard Webhooks for webhook endpoints, 钉钉 and 飞书 for their custom robots.

Standard Webhooks (https://www.standardwebhooks.com): the secret is ``whsec_`` + base64 of random
bytes; ``webhook-signature`` is ``v1,<base64 HMAC-SHA256(secret bytes, "<id>.<timestamp>.<body>")>``,
several space-separated when more than one secret signs (a rotation's overlap). Implemented with
hmac (a few lines) and checked against the specification's test vector in the tests; the tests
verify deliveries with the reference ``standardwebhooks`` package.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import urllib.parse
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """``whsec_`` + base64 of 24 random bytes (the size Svix uses)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``body`` for message ``msg_id`` sent at ``timestamp`` (seconds)."""
    digest = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers; every secret given signs (the current one first)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, msg_id, timestamp, body) for s in secrets_),
    }


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """钉钉 custom robot: base64(HmacSHA256(key=secret, "<timestamp>\\n<secret>")), URL-encoded, sent
    as the ``sign`` query parameter next to ``timestamp`` (milliseconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """飞书 custom bot: base64(HmacSHA256(key="<timestamp>\\n<secret>", empty message)), sent in the
    body as ``sign`` next to ``timestamp`` (seconds)."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()
