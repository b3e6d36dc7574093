"""Which feed URLs may be fetched: http(s) only, to public internet addresses only."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket

import httpx

from bot.fetch_errors import FetchFailed, FetchRefused

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public_address(address: IPAddress) -> bool:
    """True for an address on the public internet; False for anything internal or special."""
    if isinstance(address, ipaddress.IPv6Address):
        # IPv6 spellings of IPv4 addresses reach the IPv4 address: judge that one instead.
        reached = _ipv4_reached(address)
        if reached is not None:
            return is_public_address(reached)
        if _tunnels_to_non_public(address):
            return False
    elif address in _CGNAT:
        return False
    return _is_global_unicast(address)


def _ipv4_reached(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped or NAT64 IPv6 address reaches, else None."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _tunnels_to_non_public(address: ipaddress.IPv6Address) -> bool:
    """6to4 to a non-public IPv4 address, any Teredo address, or a site-local one."""
    if address.sixtofour is not None and not is_public_address(address.sixtofour):
        return True
    return address.teredo is not None or address.is_site_local


def _is_global_unicast(address: IPAddress) -> bool:
    special = (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )
    return not special and address.is_global


def parse_url(url: str | httpx.URL) -> httpx.URL:
    """The URL parsed, or FetchRefused when it is not one."""
    try:
        return url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchRefused("bad_url", f"not a usable URL: {exc}") from None


def _check_host_name(host: str) -> None:
    """Refuse a name no resolver takes (RFC 1035: labels of 1 to 63 characters, 253 in all):
    handed on, it made the IDNA codec raise from inside the lookup."""
    labels = host.removesuffix(".").split(".")
    if len(host) > 253 or any(not 1 <= len(label) <= 63 for label in labels):
        raise FetchRefused("bad_url", "the host name has an empty or too long part")


def port_of(url: httpx.URL) -> int:
    """The port a request to this URL goes to, the scheme's default when none is given."""
    return url.port if url.port is not None else DEFAULT_PORTS[url.scheme]


class AddressGuard:
    """Decides whether a URL may be fetched, and returns the addresses it was checked against."""

    def __init__(self, allow_private: bool = False, *, dns_timeout: float = 5.0) -> None:
        # allow_private (setting NEWSBOT_ALLOW_PRIVATE_FEEDS) is for tests and home setups that
        # serve feeds on loopback; it lifts the address check only, never the scheme check.
        self.allow_private = allow_private
        self.dns_timeout = dns_timeout

    async def check_url(self, url: str | httpx.URL) -> list[IPAddress]:
        """The addresses to connect to, or FetchRefused; only these may be used for the request."""
        parsed = parse_url(url)
        if parsed.scheme not in DEFAULT_PORTS:
            raise FetchRefused("scheme", f"only http and https feeds, not {parsed.scheme or '?'}:")
        host = parsed.raw_host.decode("ascii")
        if not host:
            raise FetchRefused("bad_url", "the URL has no host")
        port = port_of(parsed)
        try:
            addresses: list[IPAddress] = [ipaddress.ip_address(host)]
        except ValueError:
            _check_host_name(host)
            addresses = await self.resolve(host, port)
        for address in addresses:
            if not self.address_allowed(address, port):
                # The host, not the URL: feed URLs can carry access keys.
                log.info("refused feed host %s: it resolves to %s", host, address)
                raise FetchRefused("private_address", f"{host} points to a non-public address")
        return addresses

    def address_allowed(self, address: IPAddress, port: int) -> bool:
        """Whether a connection to this address and port may be made."""
        return self.allow_private or is_public_address(address)

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """All addresses of host, in the resolver's order of preference."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.dns_timeout):
                infos = await loop.getaddrinfo(
                    host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
                )
        except TimeoutError:
            raise FetchFailed("dns", f"looking up {host} took too long") from None
        except OSError as exc:  # socket.gaierror: no such name, resolver down
            raise FetchFailed("dns", f"cannot look up {host}: {exc}") from None
        except UnicodeError:  # the IDNA codec refuses the name: it can never resolve
            raise FetchRefused("bad_url", f"{host} is not a valid host name") from None
        addresses: list[IPAddress] = []
        for family, _type, _proto, _name, sockaddr in infos:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            address = ipaddress.ip_address(str(sockaddr[0]))
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise FetchFailed("dns", f"{host} has no address")
        return addresses
