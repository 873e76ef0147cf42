"""Where outbound webhooks may go: endpoint URLs vetted against server-side request forgery.

An organisation's developer picks the URL and the API server POSTs to it, so unchecked a tenant
could make the server reach its own loopback, the cloud metadata service (169.254.169.254) or
the private network it runs in. :func:`vet_url` accepts an ``http``/``https`` URL without
credentials only when **every** address its host resolves to is public; loopback, link-local,
private (RFC 1918, ``fc00::/7``), shared (CGNAT ``100.64.0.0/10``), multicast, unspecified and
reserved addresses are refused, also inside IPv4-mapped, 6to4 and NAT64 IPv6 forms.

``AURALINK_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true`` lifts that for self-hosters whose receivers
are internal; cloud metadata addresses stay refused even then. The check runs when an endpoint
is created or changed (a 422 on ``url``) and again before every delivery attempt, whose
connection then goes to an address vetted by that very check (DNS may have changed since).
"""

from __future__ import annotations

__all__ = [
    "ALLOW_SETTING",
    "BadDestination",
    "Destination",
    "DestinationNotAllowed",
    "IPAddress",
    "Resolver",
    "UnresolvableHost",
    "refusal",
    "resolve",
    "vet_url",
]

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from auralink.api.errors import InvalidField

ALLOW_SETTING = "AURALINK_WEBHOOK_ALLOW_PRIVATE_NETWORKS"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]
"""``(host, port) -> addresses``; raises :class:`UnresolvableHost`."""

_RESOLVE_TIMEOUT_S = 5.0
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# instance metadata services: AWS/GCP/Azure/OpenStack, AWS over IPv6, Alibaba, Azure's wire server
_METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16")
)


class BadDestination(InvalidField):
    """A webhook URL the server will not send to; ``reason`` says why (for the delivery log)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__("url", reason)


class DestinationNotAllowed(BadDestination):
    """The URL's scheme or credentials, or an address its host resolves to, is not allowed."""


class UnresolvableHost(BadDestination):
    """The URL's host name has no address (or the lookup failed)."""

    def __init__(self, host: str) -> None:
        super().__init__(f"cannot resolve the host {host!r}; check the name")


@dataclass(frozen=True)
class Destination:
    """A vetted URL: its host name (punycode), port, and the addresses a connection may use."""

    url: httpx.URL
    host: str
    port: int
    addresses: tuple[IPAddress, ...]


def _embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (IPv4-mapped, 6to4, NAT64), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _kind(ip: IPAddress) -> str | None:
    """What makes ``ip`` not public, or None when it is."""
    checks = (
        (ip.is_unspecified, "an unspecified"),
        (ip.is_loopback, "a loopback"),
        (ip.is_link_local, "a link-local"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED, "a shared (CGNAT)"),
        (ip.is_multicast, "a multicast"),
        (ip.is_private, "a private-network"),
        (ip.is_reserved, "a reserved"),
        (not ip.is_global, "a non-public"),
    )
    return next((kind for refused, kind in checks if refused), None)


def refusal(ip: IPAddress, *, allow_private_networks: bool) -> str | None:
    """Why webhooks may not be sent to ``ip`` (``"a loopback address; ..."``), or None if they may."""
    inner = _embedded_v4(ip)
    if ip in _METADATA or (inner is not None and inner in _METADATA):
        return "a cloud metadata address; webhooks are never sent there"
    if allow_private_networks:
        return None
    # an address that carries an IPv4 one reaches that one: judge it by the IPv4 address
    kind = _kind(inner) if inner is not None else _kind(ip)
    if kind is None:
        return None
    return f"{kind} address; webhooks go only to public addresses unless the server sets {ALLOW_SETTING}=true"


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to for a TCP connection, in the system's preferred order."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(_RESOLVE_TIMEOUT_S):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError) as e:
        raise UnresolvableHost(host) from e
    addresses: list[IPAddress] = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]))
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise UnresolvableHost(host)
    return addresses


async def vet_url(url: str, *, allow_private_networks: bool, resolver: Resolver | None = None) -> Destination:
    """Check ``url`` as a webhook destination now; raise :class:`BadDestination` if it is not one.

    ``resolver`` defaults to :func:`resolve` (looked up at call time, so tests can replace it).
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as e:
        raise DestinationNotAllowed("not a valid URL") from e
    if parsed.scheme not in {"http", "https"}:
        raise DestinationNotAllowed("only http and https URLs are allowed")
    if parsed.userinfo:
        raise DestinationNotAllowed(
            "credentials in the URL are not allowed; receivers check the AuraLink-Signature header"
        )
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise DestinationNotAllowed("the URL has no host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(parsed.host)]
        named = False
    except ValueError:
        addresses = await (resolver or resolve)(host, port)
        named = True
    for ip in addresses:
        why = refusal(ip, allow_private_networks=allow_private_networks)
        if why is not None:
            raise DestinationNotAllowed(f"{host} resolves to {ip}, {why}" if named else f"{ip} is {why}")
    return Destination(url=parsed, host=host, port=port, addresses=tuple(addresses))
