"""Who sent a request and which request it is: the request id and the client address.

The client address is the peer's, unless TRUSTED_PROXIES says which hops of X-Forwarded-For were
written by the service's own proxies (the convention of uvicorn's --forwarded-allow-ips): the chain
is walked from the right, the peer first, and the first hop that is not a trusted proxy is the
client. With a count N the client is the N-th hop from the right. Hops further left were written by
the client itself, so whatever it puts there is ignored. `ClientAddressMiddleware` works the address
out once per request; rate limits, blocks and every log line read that one value.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_MAX_ADDRESS_CHARS = 64
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def new_request_id(incoming: str | None) -> str:
    """Keep a well-formed incoming X-Request-ID (so traces join up); otherwise make one."""
    if incoming and _SAFE_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


def request_id_of(conn: HTTPConnection) -> str:
    rid = conn.scope.get("state", {}).get("request_id")
    return str(rid) if rid else new_request_id(None)


def parse_networks(value: str, setting: str) -> tuple[IPNetwork, ...]:
    """Comma- or newline-separated CIDRs (a bare address is a /32 or /128); `#` starts a comment to the end of
    its line, commas and all. ValueError names the bad entry."""
    networks = []
    entries = (raw.strip() for line in value.splitlines() for raw in line.split("#", 1)[0].split(","))
    for entry in entries:
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{setting}: {entry[:60]!r} is not an IP address or CIDR") from None
    return tuple(networks)


def parse_address(hop: str) -> IPAddress | None:
    """An address as proxies write it (`1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:443`);
    an IPv4-mapped IPv6 address is its IPv4 address. None when it is not an address."""
    hop = hop.strip()
    if hop.startswith("["):
        hop = hop[1 : hop.find("]")] if "]" in hop else hop
    elif hop.count(":") == 1:
        hop = hop.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(hop)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_key(client: str, ipv6_prefix: int = 64) -> str:
    """Whom a client's limits are counted for: an IPv4 address itself, an IPv6 address's network of
    `ipv6_prefix` bits (one subscriber is usually given a whole /64, and picks any address in it at will;
    128 keys the exact address). Anything that is not an address is its own key."""
    address = parse_address(client)
    if address is None:
        return client
    if not isinstance(address, ipaddress.IPv6Address) or ipv6_prefix >= 128:
        return str(address)
    return str(ipaddress.IPv6Network((address, ipv6_prefix), strict=False))


def _shown(hop: str) -> str:
    address = parse_address(hop)
    return str(address) if address is not None else hop.strip()[:_MAX_ADDRESS_CHARS]


@dataclass(frozen=True)
class TrustedProxies:
    """TRUSTED_PROXIES: how many proxies stand in front (`count`), or which networks they are in."""

    count: int = 0
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, value: str | None, trust_forwarded_for: bool = False) -> TrustedProxies:
        """A count of hops or a list of CIDRs; unset, TRUST_FORWARDED_FOR=true (kept for compatibility) means 1."""
        text = (value or "").strip()
        if not text:
            return cls(count=1 if trust_forwarded_for else 0)
        if text.isdigit():
            count = int(text)
            if count > 32:
                raise ValueError("TRUSTED_PROXIES: a count of proxy hops is at most 32")
            return cls(count=count)
        return cls(networks=parse_networks(text, "TRUSTED_PROXIES"))

    @property
    def enabled(self) -> bool:
        return bool(self.count or self.networks)

    def _trusted(self, hop: str) -> bool:
        address = parse_address(hop)
        return address is not None and any(address in network for network in self.networks)

    def client_of(self, peer: str, forwarded: list[str]) -> str:
        """The client among `forwarded` (X-Forwarded-For hops, left to right) and the peer that sent them."""
        hops = [hop.strip() for hop in forwarded if hop.strip()]
        if not self.enabled or not hops:
            return _shown(peer)
        if self.count:
            # Fewer hops than proxies: the request skipped the outer ones, and every hop present was written by a proxy.
            return _shown(hops[-self.count] if len(hops) >= self.count else hops[0])
        if not self._trusted(peer):
            return _shown(peer)
        for hop in reversed(hops):
            if not self._trusted(hop):
                return _shown(hop)
        return _shown(hops[0])


def forwarded_hops(scope: Scope) -> list[str]:
    """Every X-Forwarded-For hop, left to right; several headers count as one joined with commas (RFC 9110)."""
    return [hop for header in Headers(scope=scope).getlist("x-forwarded-for") for hop in header.split(",")]


def client_address(conn: HTTPConnection) -> str:
    return client_address_of_scope(conn.scope)


def client_address_of_scope(scope: Scope) -> str:
    """The client address `ClientAddressMiddleware` worked out; outside it, the peer, or the last
    X-Forwarded-For hop when TRUST_FORWARDED_FOR is set."""
    state = scope.get("state", {})
    known = state.get("client_address")
    if known:
        return str(known)
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    return TrustedProxies(count=1 if state.get("trust_forwarded_for") else 0).client_of(peer, forwarded_hops(scope))


class ClientAddressMiddleware:
    """Works out the client address once, outside every other middleware, so each of them (and each
    log line, the 413 of the body limit included) sees the same one."""

    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            peer = str(client[0]) if client else "unknown"
            scope.setdefault("state", {})["client_address"] = self.proxies.client_of(peer, forwarded_hops(scope))
        await self.app(scope, receive, send)
