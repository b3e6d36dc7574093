"""Who may read the HTTP endpoint: the listen address it serves, and the token that a listen
address other than loopback requires, checked in constant time."""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

# The cookie a browser keeps after opening the dashboard once with ?token=...
COOKIE = "newsbot_token"


def parse_listen(text: str) -> tuple[str, int]:
    """ "host:port" ("[::1]:8080" for IPv6) as (host, port); ValueError when it is neither."""
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(text)
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or ":" in host:
            raise ValueError(text)
    if not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(text)
    if any(c.isspace() or c in "/?#@" for c in host):
        raise ValueError(text)
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    """True only for an address that no other machine can reach: 127.0.0.0/8, ::1, and the
    name localhost. Every other name counts as reachable (it may resolve to anything)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class AccessGuard:
    """Decides whether one request may read the endpoint. Without a token the endpoint only
    listens on loopback (settings refuse anything else), and whoever can reach it is trusted
    as someone on this machine; with a token, every request must carry it: as
    `Authorization: Bearer TOKEN`, as the cookie a `?token=` visit set, or as `?token=`."""

    token: str | None
    listen_is_local: bool

    @classmethod
    def for_listen(cls, listen: str, token: str | None) -> AccessGuard:
        return cls(token or None, is_loopback(parse_listen(listen)[0]))

    def allows(
        self, *, authorization: str | None, cookie: str | None, query_token: str | None
    ) -> bool:
        if self.token is None:
            # Settings refuse a non-local listen address without a token; should one get
            # here anyway, nobody is let in.
            return self.listen_is_local
        given = [query_token, cookie]
        if authorization and authorization[:7].lower() == "bearer ":
            given.append(authorization[7:].strip())
        # Every candidate is compared, so the time taken does not say which one was close.
        results = [self.accepts(g) for g in given]
        return any(results)

    def accepts(self, given: str | None) -> bool:
        """Whether `given` is the token, compared in constant time."""
        if self.token is None:
            return False
        return hmac.compare_digest((given or "").encode(), self.token.encode())

    @property
    def owner_view(self) -> bool:
        """Whether a reader is shown what only owners see (the audit log). The token is the
        only proof of who someone is: a token holder counts as an owner; without a token set,
        anyone who can reach loopback (other accounts on a shared host too) may read the
        endpoint, so the audit log, which names the people moderated, stays hidden."""
        return self.token is not None
