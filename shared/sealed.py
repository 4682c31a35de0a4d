"""Secrets that must travel in an event without being readable where events are kept.

A password-reset or invitation token has to reach the notifications service, which mails it; the
event that carries it stays in the issuing service's JetStream stream (kept until the tenant is
deleted) and may be copied to the dead-letter stream. So the token never travels in clear: the
issuer seals it with AES-256-GCM under a key derived (HKDF-SHA256, its own label) from the
deployment's ``HUIKE_JWT_SECRET``, which only Huike's processes hold, with the tenant and the
event's entity as associated data (a sealed value copied into another tenant's or user's event
does not open). Reading the stream is therefore not enough to use a link; and the tokens are
single-use and expire (``HUIKE_PASSWORD_RESET_TTL_SECONDS``, ``HUIKE_INVITATION_TTL_SECONDS``), so
even a leaked deployment secret opens only links that are still live.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_LABEL = b"huike/sealed-event-secret/v1"
_PREFIX = "sealed1:"


class SealError(ValueError):
    """The value was not sealed by this deployment for this context (or was tampered with)."""


def sealed_context(tenant_id: object, entity: str, entity_id: object) -> str:
    """What a sealed value is bound to: the tenant and the entity of the event that carries it."""
    return f"{tenant_id}:{entity}:{entity_id}"


def _key(secret: str) -> bytes:
    if not secret:
        raise SealError("no deployment secret to seal with")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(secret.encode())


def seal(secret: str, plaintext: str, *, context: str) -> str:
    """``sealed1:<base64url(nonce || ciphertext)>``; ``context`` (tenant and entity) is bound to it."""
    nonce = os.urandom(12)
    box = AESGCM(_key(secret)).encrypt(nonce, plaintext.encode(), context.encode())
    return _PREFIX + base64.urlsafe_b64encode(nonce + box).decode().rstrip("=")


def unseal(secret: str, sealed: str, *, context: str) -> str:
    if not isinstance(sealed, str) or not sealed.startswith(_PREFIX):
        raise SealError("not a sealed value")
    body = sealed[len(_PREFIX):]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return AESGCM(_key(secret)).decrypt(raw[:12], raw[12:], context.encode()).decode()
    except (InvalidTag, ValueError) as exc:
        raise SealError("the sealed value does not open in this context") from exc
