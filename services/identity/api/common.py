"""Small helpers the identity controllers share: who is calling, ETags, cursors."""

from __future__ import annotations

import functools
import ipaddress
import uuid
from datetime import datetime
from typing import Any, TypeVar

from services.identity.domain.context import Caller, Origin
from shared.auth import Principal
from shared.errors import Forbidden
from shared.http import AnyRequest

T = TypeVar("T")



def origin_of(request: AnyRequest) -> Origin:
    """Where a request came from: the socket peer, or, when the peer is one of the trusted
    proxies (HUIKE_TRUSTED_PROXIES), the address those proxies say they got it from."""
    peer = request.client.host if request.client else None
    trusted = request.app.state.runtime.settings.trusted_proxies
    forwarded = ",".join(request.headers.getall("x-forwarded-for", [])) if trusted else ""
    return Origin(source_ip=client_address(peer, forwarded, trusted), user_agent=request.headers.get("user-agent"))


@functools.lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _is_trusted(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(peer: str | None, forwarded_for: str, trusted_proxies: list[str]) -> str | None:
    """X-Forwarded-For read from the right (each proxy appends the address it got the request
    from): skip the trusted proxies; the first address that is not one is the client. Anyone can
    write the left part of the header, so nothing before the last trusted hop is believed; a
    peer that is not a trusted proxy is the client, whatever it sends."""
    networks = _networks(tuple(trusted_proxies))
    if peer is None or not networks or not _is_trusted(peer, networks):
        return peer
    client = peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        try:
            client = str(ipaddress.ip_address(hop))
        except ValueError:
            break  # garbage from the far side: the last proxy we trust saw this address
        if not _is_trusted(client, networks):
            break
    return client


def caller_of(principal: Principal, request: AnyRequest) -> Caller:
    return Caller(scope=principal.scope, actor=principal.actor, user_id=principal.user_id, origin=origin_of(request),
                  rights=principal)


def require_session(principal: Principal, what: str) -> uuid.UUID:
    """Some things only a person who logged in may do, never a program holding an API key."""
    if principal.session_id is None:
        raise Forbidden(f"{what} needs a logged-in user; API keys cannot do it", kind="session-required")
    return principal.session_id


def created_key(item: Any) -> tuple[datetime, uuid.UUID]:
    return item.created_at, item.id
