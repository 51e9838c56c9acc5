"""Who is the client: the peer address, or the forwarded one behind trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import flask

from app.errors import ConfigurationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(entries: Sequence[str]) -> tuple[IPNetwork, ...]:
    """Parse TRUSTED_PROXIES; a bad entry is a configuration error."""
    try:
        return tuple(ipaddress.ip_network(entry) for entry in entries)
    except ValueError as e:
        raise ConfigurationError(
            f"TRUSTED_PROXIES must list IP addresses or networks: {e}"
        ) from None


def client_address(proxies: Sequence[IPNetwork]) -> str:
    """The client's address, through X-Forwarded-For only from a trusted proxy."""
    peer = flask.request.remote_addr or "unknown"
    address = parse_ip(peer)
    if address is None:
        return peer
    if _trusted(address, proxies):
        address = _forwarded_client(address, proxies)
    return str(address)


def _forwarded_client(peer: IPAddress, proxies: Sequence[IPNetwork]) -> IPAddress:
    # Each proxy appends the address it received the request from, so reading from
    # the right, the first hop that is not one of our proxies is the client; what
    # lies left of it was written by the client and proves nothing.
    hops = [
        hop.strip()
        for value in flask.request.headers.getlist("X-Forwarded-For")
        for hop in value.split(",")
        if hop.strip()
    ]
    client = peer
    for hop in reversed(hops):
        address = parse_ip(hop)
        if address is None:
            # A malformed entry: count the request against the proxy that passed it.
            return client
        client = address
        if not _trusted(address, proxies):
            return client
    return client  # every hop is a proxy of ours: the leftmost one sent it


def parse_ip(text: str) -> IPAddress | None:
    """An address from text, with or without a port; None if it is not one."""
    host = text
    if text.startswith("[") and "]" in text:  # [IPv6]:port
        host = text[1 : text.index("]")]
    elif text.count(":") == 1:  # IPv4:port
        host = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, proxies: Sequence[IPNetwork]) -> bool:
    return any(address in network for network in proxies)
