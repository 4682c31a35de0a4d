"""Where outgoing webhooks and robots may send: never to this network or a cloud's metadata service.

Refused (unless the operator sets ``HUIKE_WEBHOOK_ALLOW_PRIVATE=true``): loopback, private
(RFC 1918, fc00::/7), link-local, CGNAT (100.64.0.0/10), multicast, reserved and unspecified
addresses, IPv4 written inside IPv6 (mapped, 6to4, NAT64) when the IPv4 is one of those, and the
metadata services (169.254.169.254, fd00:ec2::254, metadata.google.internal).

Checked three times: when a URL is saved (its literal address, its name, and the addresses the
name resolves to now), and at send time on every connection (``GuardedBackend`` resolves the
name itself, refuses if any address is forbidden and connects to the address it checked, so a
DNS answer that changes between check and connect cannot slip through), which covers every
redirect hop as well.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore

from shared.errors import FieldError

MAX_URL_LENGTH = 2048
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "metadata.goog", "instance-data",
                            "instance-data.ec2.internal"})
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
                                ipaddress.ip_address("100.100.100.200")})  # the last: Alibaba Cloud's
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
RESOLVE_TIMEOUT = 3.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class ForbiddenAddress(Exception):
    """A target resolves to an address webhooks may not reach."""


def forbidden_reason(address: IPAddress) -> str | None:
    """Why ``address`` may not be sent to, or None when it is a public address."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return forbidden_reason(embedded)
    checks = (("loopback", address.is_loopback), ("link-local", address.is_link_local),
              ("multicast", address.is_multicast), ("unspecified", address.is_unspecified),
              ("CGNAT", isinstance(address, ipaddress.IPv4Address) and address in CGNAT),
              ("private", address.is_private), ("reserved", address.is_reserved),
              ("not globally routable", not address.is_global))
    for name, hit in checks:
        if hit:
            return f"a {name} address" if name != "not globally routable" else "an address that is not globally routable"
    return None


_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE)


def _literal(host: str) -> IPAddress | None:
    """The address a host names literally, the shorthand forms resolvers accept included
    (``0x7f000001``, ``2130706433``, ``127.1``, ``0177.0.0.1``)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def check_url(url: str, field: str, *, allow_private: bool, hosts: Iterable[str] | None = None) -> list[FieldError]:
    """The syntax and target of ``url`` (no DNS): http(s), a host, not too long, not a forbidden
    address or metadata name; ``hosts``: the only host names allowed (a robot platform's)."""
    if len(url) > MAX_URL_LENGTH:
        return [FieldError(field, f"must be at most {MAX_URL_LENGTH} characters", "too_long",
                           {"max": MAX_URL_LENGTH, "unit": "characters"})]
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return [FieldError(field, "is not a valid URL", "invalid_url")]
    if parts.scheme not in ("http", "https") or not host:
        return [FieldError(field, "must be an http:// or https:// URL with a host", "invalid_url")]
    if any(c.isspace() for c in url):
        return [FieldError(field, "must not contain spaces", "invalid_url")]
    if allow_private:
        return []
    if hosts is not None:
        allowed = tuple(hosts)
        if host not in allowed:
            return [FieldError(field, f"must be on {' or '.join(allowed)}", "wrong_host")]
        if parts.scheme != "https":
            return [FieldError(field, "must be an https:// URL", "invalid_url")]
    if host in METADATA_HOSTS:
        return [FieldError(field, "must not point at a cloud metadata service", "private_address")]
    literal = _literal(host)
    if literal is not None and (reason := forbidden_reason(literal)) is not None:
        return [FieldError(field, f"must not point at {reason}", "private_address")]
    return []


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (a literal address is itself)."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT)
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


async def checked_addresses(host: str, port: int, *, allow_private: bool) -> list[IPAddress]:
    """The addresses to connect to; raises ForbiddenAddress when any is forbidden (a name that
    resolves to one public and one private address is refused: the attacker picks the order)."""
    host = host.rstrip(".").lower()
    if not allow_private and host in METADATA_HOSTS:
        raise ForbiddenAddress(f"{host} is a cloud metadata service")
    addresses = await resolve(host, port)
    if not addresses:
        raise OSError(f"{host} resolves to no address")
    if not allow_private:
        for address in addresses:
            if (reason := forbidden_reason(address)) is not None:
                raise ForbiddenAddress(f"{host} resolves to {address}, {reason}")
    return addresses


async def check_resolved(url: str, field: str, *, allow_private: bool) -> list[FieldError]:
    """At creation, after ``check_url``: the addresses the name resolves to now. A name that does
    not resolve (yet) is accepted: sending checks again."""
    if allow_private:
        return []
    parts = urlsplit(url)
    try:
        await checked_addresses(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80),
                                allow_private=False)
    except ForbiddenAddress as exc:
        return [FieldError(field, f"must not point at a private address ({exc})", "private_address")]
    except (OSError, TimeoutError, UnicodeError):
        return []
    return []


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, resolving and checking every host before it connects (TLS still
    verifies the certificate against the host name: httpcore passes it to ``start_tls``)."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        addresses = await checked_addresses(host, port, allow_private=self.allow_private)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(str(address), port, timeout=timeout,
                                                     local_address=local_address, socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise ForbiddenAddress("unix sockets are not webhook targets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
