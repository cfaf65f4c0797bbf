"""The client's address behind the documented TLS proxy: `X-Forwarded-For` is believed only when the
connection comes from one of HOSTPANEL_TRUSTED_PROXIES, and then only up to the right-most hop that is
not a trusted proxy (everything left of it was written by the client and may be forged). Used by the API
token network limits, the API throttle and django-axes (AXES_CLIENT_IP_CALLABLE), so all three see the
same address."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def parse_trusted_proxies(cidrs: Iterable[str]) -> list[str]:
    """The setting's CIDRs, normalised; raises ValueError naming a bad one."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(str(ipaddress.ip_network(cidr.strip(), strict=False)))
        except ValueError as exc:
            raise ValueError(f"{cidr!r} is not an address or network in CIDR notation ({exc})") from None
    return networks


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:1234
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # 192.0.2.1:1234
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return address.ipv4_mapped or address if isinstance(address, ipaddress.IPv6Address) else address


def client_address(request) -> str:
    """REMOTE_ADDR, or behind a trusted proxy the right-most X-Forwarded-For hop that is not itself a
    trusted proxy. A hop that is not an address stops the walk at the proxy that passed it on."""
    remote = request.META.get("REMOTE_ADDR", "")
    trusted = _networks(tuple(settings.HOSTPANEL_TRUSTED_PROXIES))
    if not trusted:
        return remote

    def is_trusted(address) -> bool:
        return any(address in network for network in trusted if network.version == address.version)

    current = _address(remote)
    if current is None or not is_trusted(current):
        return remote
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break
        current = address
        if not is_trusted(address):
            break
    return str(current)
