"""Fetch feeds over HTTP safely: public addresses only, pinned connections, capped bodies."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import zlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from bot.address_guard import AddressGuard, IPAddress, parse_url, port_of
from bot.fetch_errors import FetchFailed, FetchRefused

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "newsbot/0.1 (+https://github.com/newsbot)"
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Hosts with several addresses: try a few in order, so one dead IPv6 route does not fail a
# feed, without letting a long address list eat the whole deadline.
_MAX_ADDRESS_ATTEMPTS = 3
# The clients' own jar takes no cookie (a client serves many feeds of a host): each fetch keeps
# its cookies itself.
_NO_COOKIES = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What a fetch brought back; body is None when the server said 304 Not Modified."""

    status: int
    body: bytes | None
    etag: str | None
    last_modified: str | None
    final_url: str
    not_modified: bool
    content_type: str = ""  # the media type the server declared, lower case, no parameters


class _BodyDecoder:
    """Undoes Content-Encoding with output bounded by the bytes still allowed.

    httpx would decompress a whole network chunk at once, so one 64 KB chunk of a gzip bomb
    could become 60 MB in memory before we could count it; here zlib never produces more
    than the remaining allowance plus one byte.
    """

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._started = False
        self._zlib: zlib._Decompress | None = None
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS)
        elif encoding not in ("", "identity"):
            raise FetchFailed("encoding", f"unsupported Content-Encoding {encoding!r}")

    @property
    def identity(self) -> bool:
        """Whether the body travels as it is, so Content-Length is its real size."""
        return self._zlib is None

    def feed(self, data: bytes, room: int) -> bytes:
        if self._zlib is None:
            out = data
        else:
            try:
                out = self._zlib.decompress(data, room + 1)
            except zlib.error:
                if self._encoding != "deflate" or self._started:
                    raise FetchFailed("encoding", "the compressed body is corrupt") from None
                # Some servers send raw deflate without the zlib header the standard demands.
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                try:
                    out = self._zlib.decompress(data, room + 1)
                except zlib.error:
                    raise FetchFailed("encoding", "the compressed body is corrupt") from None
        self._started = True
        if len(out) > room:
            raise FetchRefused("too_large", "the feed is larger than allowed")
        return out

    def flush(self, room: int) -> bytes:
        if self._zlib is None:
            return b""
        out = self._zlib.flush()
        if len(out) > room:
            raise FetchRefused("too_large", "the feed is larger than allowed")
        return out


class _HostSlots:
    """At most `limit` concurrent fetches per host; entries vanish when a host is idle."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._slots: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @asynccontextmanager
    async def hold(self, host: str) -> AsyncIterator[None]:
        semaphore, users = self._slots.get(host, (asyncio.Semaphore(self._limit), 0))
        self._slots[host] = (semaphore, users + 1)
        try:
            async with semaphore:
                yield
        finally:
            semaphore, users = self._slots[host]
            if users <= 1:
                del self._slots[host]
            else:
                self._slots[host] = (semaphore, users - 1)


class FeedFetcher:
    """Fetches feed URLs with conditional GET, checking every redirect hop through the guard.

    DNS rebinding: a name can resolve to a public address when the guard asks and to
    127.0.0.1 a moment later when the HTTP library asks again. So the library never resolves
    anything: each request is sent to the checked IP literal itself, with the real name in
    the Host header and, for https, as the TLS SNI name (httpcore's documented "sni_hostname"
    request extension), which is also the name the certificate is verified against. Only
    public httpx/httpcore API is used. httpcore pools connections by (scheme, IP, port), so a
    kept TLS connection negotiated for one name could carry a request for another name on the
    same IP without that name's certificate being checked: kept connections are only ever
    shared by requests for the same host name. Inside `cycle()` (one poll of many feeds) each
    host name has its own keep-alive client, and a host's checked addresses are remembered;
    outside it each fetch has its own client without keep-alive. No client keeps cookies, so
    none travel from one feed to another.
    """

    accept = _ACCEPT  # what a fetch asks for (bot/image_check.py asks for images)

    def __init__(
        self,
        guard: AddressGuard,
        *,
        timeout: float = 20.0,
        connect_timeout: float = 10.0,
        max_bytes: int = 5_000_000,
        max_redirects: int = 5,
        user_agent: str = DEFAULT_USER_AGENT,
        per_host_limit: int = 2,
        total_limit: int = 10,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.guard = guard
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.user_agent = user_agent
        self._total = asyncio.Semaphore(total_limit)
        self._hosts = _HostSlots(per_host_limit)
        # Loading the CA bundle costs tens of milliseconds; do it once, not per fetch.
        # ssl_context lets a deployment (or a test) trust its own CA.
        self._ssl_context = ssl_context or httpx.create_ssl_context()
        self._cycles = 0  # cycle() blocks running now
        self._clients: dict[tuple[str, str], httpx.AsyncClient] = {}
        self._checked: dict[tuple[str, str, int], list[IPAddress] | FetchRefused | FetchFailed] = {}

    @asynccontextmanager
    async def cycle(self) -> AsyncIterator[None]:
        """Many fetches in a row: connections to a host are kept and its addresses checked
        once, until the last cycle running ends (all is dropped then: the next poll comes
        minutes later, and a host's addresses may have changed by then)."""
        self._cycles += 1
        try:
            yield
        finally:
            self._cycles -= 1
            if not self._cycles:
                clients = list(self._clients.values())
                self._clients.clear()
                self._checked.clear()
                for client in clients:
                    await client.aclose()

    def _new_client(self, *, keep_alive: bool) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            verify=self._ssl_context,
            timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
            follow_redirects=False,
            # No proxies or .netrc from the environment: a proxy would resolve names itself.
            trust_env=False,
            cookies=_NO_COOKIES,
            limits=httpx.Limits(
                max_connections=None if keep_alive else 1,
                max_keepalive_connections=None if keep_alive else 0,
            ),
        )

    def _client_for(self, url: httpx.URL) -> httpx.AsyncClient | None:
        """The cycle's client for this URL's host name, or None outside a cycle."""
        if not self._cycles:
            return None
        key = (url.scheme, url.raw_host.decode("ascii").lower())
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = self._new_client(keep_alive=True)
        return client

    async def _check(self, url: httpx.URL) -> list[IPAddress]:
        """The guard's answer for this URL's host, remembered for the cycle."""
        if not self._cycles:
            return await self.guard.check_url(url)
        key = (url.scheme, url.raw_host.decode("ascii").lower(), port_of(url))
        known = self._checked.get(key)
        if known is None:
            try:
                known = await self.guard.check_url(url)
            except (FetchRefused, FetchFailed) as err:
                known = err
            self._checked[key] = known
        if isinstance(known, FetchRefused):
            raise FetchRefused(known.reason, known.detail)
        if isinstance(known, FetchFailed):
            raise FetchFailed(known.reason, known.detail, status=known.status)
        return known

    async def fetch(
        self,
        url: str,
        etag: str | None = None,
        last_modified: str | None = None,
        *,
        accept: str | None = None,
    ) -> FetchResult:
        """GET a feed (or, with `accept`, another document such as an article's page; a
        subclass may ask for another kind by default, as bot/image_check.py does for images).
        FetchRefused: will not fetch; FetchFailed: try again later."""
        start = parse_url(url)
        async with self._total, self._hosts.hold(start.host.lower()):
            # The deadline starts once a slot is ours: waiting for a slot is not the feed's fault.
            try:
                async with asyncio.timeout(self.timeout):
                    wanted = accept or self.accept
                    return await self._fetch(start, etag, last_modified, wanted)
            except TimeoutError:
                raise FetchFailed(
                    "timeout", f"no complete answer within {self.timeout:g} s"
                ) from None
            except httpx.TimeoutException:
                raise FetchFailed("timeout", "the server stopped answering") from None
            except httpx.InvalidURL as exc:
                raise FetchRefused("bad_url", f"not a usable URL: {exc}") from None
            except httpx.TransportError as exc:
                raise FetchFailed("network", f"{type(exc).__name__}: {exc}") from None

    async def _fetch(
        self, url: httpx.URL, etag: str | None, last_modified: str | None, accept: str
    ) -> FetchResult:
        headers = {
            "User-Agent": self.user_agent,
            "Accept": accept,
            # Only what _BodyDecoder can undo with bounded output.
            "Accept-Encoding": "gzip, deflate",
        }
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        # Cookies live for one fetch: a redirect's hops see them, no other fetch does.
        cookies = httpx.Cookies()
        async with contextlib.AsyncExitStack() as own:
            current = url
            for hop in range(self.max_redirects + 1):
                addresses = await self._check(current)
                # Per hop: a redirect to another host must not ride this host's connections.
                client = self._client_for(current)
                if client is None:
                    client = await own.enter_async_context(self._new_client(keep_alive=False))
                response = await self._send(client, current, addresses, headers, cookies)
                cookies.extract_cookies(response)
                try:
                    if response.status_code not in _REDIRECT_STATUSES:
                        return await self._finish(response, current, etag, last_modified)
                    location = response.headers.get("location", "").strip()
                    if not location:
                        raise FetchFailed(
                            "bad_redirect",
                            "redirect without a Location",
                            status=response.status_code,
                        )
                finally:
                    await response.aclose()
                if hop == self.max_redirects:
                    break
                current = current.join(location)
                log.debug("feed redirected to host %s", current.host)
        raise FetchRefused("too_many_redirects", f"more than {self.max_redirects} redirects")

    async def _send(
        self,
        client: httpx.AsyncClient,
        url: httpx.URL,
        addresses: list[IPAddress],
        headers: Mapping[str, str],
        cookies: httpx.Cookies,
    ) -> httpx.Response:
        """Send the GET to one of the checked addresses (see the class docstring for why)."""
        host_header = url.netloc.decode("ascii")
        server_name = url.raw_host.decode("ascii")
        failure: httpx.TransportError | None = None
        for address in addresses[:_MAX_ADDRESS_ATTEMPTS]:
            request = client.build_request(
                "GET",
                url.copy_with(host=str(address)),
                headers={**headers, "Host": host_header},
                extensions={"sni_hostname": server_name},
            )
            cookies.set_cookie_header(request)
            try:
                return await client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                log.debug("cannot connect to %s for %s: %s", address, server_name, exc)
                failure = exc
        raise FetchFailed("connect", f"cannot connect to {server_name}: {failure}")

    async def _finish(
        self,
        response: httpx.Response,
        url: httpx.URL,
        etag: str | None,
        last_modified: str | None,
    ) -> FetchResult:
        status = response.status_code
        new_etag = response.headers.get("etag")
        new_modified = response.headers.get("last-modified")
        if status == 304:
            # A 304 may omit the validators; the ones we sent are still the current ones.
            return FetchResult(
                status, None, new_etag or etag, new_modified or last_modified, str(url), True
            )
        if 200 <= status < 300:
            body = await self._read_body(response)
            media = response.headers.get("content-type", "").partition(";")[0].strip().lower()
            return FetchResult(status, body, new_etag, new_modified, str(url), False, media)
        raise FetchFailed("http_status", f"HTTP {status}", status=status)

    async def _read_body(self, response: httpx.Response) -> bytes:
        encoding = response.headers.get("content-encoding", "").strip().lower()
        decoder = _BodyDecoder(encoding)
        declared = response.headers.get("content-length", "")
        if decoder.identity and declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchRefused("too_large", f"the feed is {declared} bytes")
        parts: list[bytes] = []
        size = 0
        # Raw bytes, decoded here: the cap counts what the body becomes, not what travels.
        async for raw in response.aiter_raw():
            chunk = decoder.feed(raw, self.max_bytes - size)
            size += len(chunk)
            parts.append(chunk)
        parts.append(decoder.flush(self.max_bytes - size))
        return b"".join(parts)
