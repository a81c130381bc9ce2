"""Where webhooks may go: http(s) URLs whose host resolves only to public addresses.

Checked when a subscription is made and again before every delivery (after DNS
resolution: a name can be re-pointed at an internal address after it was accepted).
Redirects are never followed, so a public URL cannot bounce a delivery inward.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Collection
from urllib.parse import urlsplit

__all__ = ["BlockedDestination", "Resolver", "check_destination", "system_resolver"]

Resolver = Callable[[str, int], list[str]]

_CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")


class BlockedDestination(ValueError):
    """A URL webhooks must not reach; the message says why."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (blocking)."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise BlockedDestination(f"host '{host}' does not resolve: {exc.strerror}") from None
    return [str(info[4][0]) for info in infos]


def _forbidden(address: str) -> str | None:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"  # 169.254.169.254, the cloud metadata service, among them
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CARRIER_GRADE_NAT:
        return "carrier-grade NAT"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_private or ip.is_reserved or ip.is_multicast:
        return "private"
    return None


def check_destination(url: str, *, allow_hosts: Collection[str], allow_loopback: bool = False,
                      resolve: Resolver = system_resolver) -> None:
    """Raises BlockedDestination unless webhooks may POST to ``url``.

    Args:
        allow_hosts: host names let through whatever they resolve to.
        allow_loopback: loopback addresses are let through (a service on a laptop
            calling a receiver on the same laptop); every other internal range is not.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise BlockedDestination("must be an http or https URL")
    host = parts.hostname
    if not host:
        raise BlockedDestination("must name a host")
    if parts.username or parts.password:
        raise BlockedDestination("must not carry credentials")
    if host in allow_hosts:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise BlockedDestination("has an invalid port") from None
    for address in resolve(host, port):
        reason = _forbidden(address)
        if reason and not (reason == "loopback" and allow_loopback):
            raise BlockedDestination(f"resolves to a {reason} address ({address})")
