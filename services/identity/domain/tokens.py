"""Opaque one-time tokens: refresh tokens, invitation tokens and password-reset tokens.

Each is 256 random bits behind a short prefix that says what it is (so a token pasted in the
wrong place, or found by a secret scanner, is recognisable). Only a SHA-256 of the token is
stored: the tokens are random, so a slow KDF would add nothing, and a stolen table yields no
usable token.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Literal

TokenKind = Literal["refresh", "invitation", "reset"]
_PREFIX: dict[str, str] = {"refresh": "hkr_", "invitation": "hki_", "reset": "hkp_"}
_MAX_LENGTH = 200


def new_token(kind: TokenKind) -> str:
    return _PREFIX[kind] + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like(kind: TokenKind, token: str) -> bool:
    """Cheap shape check before any look-up."""
    return token.startswith(_PREFIX[kind]) and len(token) <= _MAX_LENGTH
