"""Tests for safe feed fetching, against HTTP servers on 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import shutil
import socket
import ssl
import subprocess
import tracemalloc
import zlib
from functools import cache
from pathlib import Path

import pytest
from aiohttp import web

from bot.address_guard import AddressGuard, IPAddress, is_public_address
from bot.feed_fetch import FeedFetcher
from bot.fetch_errors import FetchFailed, FetchRefused
from tests.fakes.loopback import ConnectionCounter, Serve

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Testfeed</title>
<item><title>Erster Eintrag</title><link>https://news.example.org/1</link></item>
</channel></rss>
"""
ETAG = '"v1-abc"'
LAST_MODIFIED = "Wed, 02 Apr 2025 08:00:00 GMT"
LOOPBACK = ipaddress.ip_address("127.0.0.1")


def port_of(counter: ConnectionCounter) -> int:
    return counter.port


def open_guard() -> AddressGuard:
    return AddressGuard(allow_private=True)


def feed_app(seen: list[web.Request] | None = None) -> web.Application:
    async def feed(request: web.Request) -> web.StreamResponse:
        if seen is not None:
            seen.append(request)
        if request.headers.get("If-None-Match") == ETAG:
            return web.Response(status=304, headers={"ETag": ETAG})
        if request.headers.get("If-Modified-Since") == LAST_MODIFIED:
            return web.Response(status=304)
        return web.Response(
            body=RSS,
            content_type="application/rss+xml",
            headers={"ETag": ETAG, "Last-Modified": LAST_MODIFIED},
        )

    app = web.Application()
    app.router.add_get("/feed", feed)
    return app


# --- the happy path -----------------------------------------------------------------------


async def test_fetches_a_feed(serve: Serve) -> None:
    seen: list[web.Request] = []
    base = await serve(feed_app(seen))

    result = await FeedFetcher(open_guard()).fetch(f"{base}/feed")

    assert result.status == 200
    assert result.body == RSS
    assert result.etag == ETAG
    assert result.last_modified == LAST_MODIFIED
    assert result.final_url == f"{base}/feed"
    assert result.not_modified is False
    [request] = seen
    assert request.headers["User-Agent"] == "newsbot/0.1 (+https://github.com/newsbot)"
    assert request.headers["Host"] == base.removeprefix("http://")
    assert "If-None-Match" not in request.headers


async def test_conditional_get_gives_not_modified(serve: Serve) -> None:
    seen: list[web.Request] = []
    base = await serve(feed_app(seen))
    fetcher = FeedFetcher(open_guard())

    by_etag = await fetcher.fetch(f"{base}/feed", etag=ETAG, last_modified=LAST_MODIFIED)
    by_date = await fetcher.fetch(f"{base}/feed", last_modified=LAST_MODIFIED)

    assert by_etag.not_modified is True
    assert by_etag.status == 304
    assert by_etag.body is None
    assert by_etag.etag == ETAG
    assert by_etag.last_modified == LAST_MODIFIED  # kept although the 304 did not repeat it
    assert by_date.not_modified is True
    assert seen[0].headers["If-None-Match"] == ETAG
    assert seen[0].headers["If-Modified-Since"] == LAST_MODIFIED
    assert seen[1].headers["If-Modified-Since"] == LAST_MODIFIED


async def test_gzip_body_is_decoded(serve: Serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        assert "gzip" in request.headers["Accept-Encoding"]
        return web.Response(body=gzip.compress(RSS), headers={"Content-Encoding": "gzip"})

    app = web.Application()
    app.router.add_get("/feed", handler)
    base = await serve(app)

    result = await FeedFetcher(open_guard()).fetch(f"{base}/feed")
    assert result.body == RSS


async def test_raw_deflate_body_is_decoded(serve: Serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body = compressor.compress(RSS) + compressor.flush()
        return web.Response(body=body, headers={"Content-Encoding": "deflate"})

    app = web.Application()
    app.router.add_get("/feed", handler)
    base = await serve(app)

    result = await FeedFetcher(open_guard()).fetch(f"{base}/feed")
    assert result.body == RSS


async def test_redirect_chain_is_followed(serve: Serve) -> None:
    async def first(request: web.Request) -> web.Response:
        raise web.HTTPFound("/moved")

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("feed")  # relative to /moved -> /feed

    app = feed_app()
    app.router.add_get("/start", first)
    app.router.add_get("/moved", moved)
    base = await serve(app)

    result = await FeedFetcher(open_guard()).fetch(f"{base}/start")

    assert result.body == RSS
    assert result.final_url == f"{base}/feed"


# --- refusals and failures ----------------------------------------------------------------


async def test_too_many_redirects_are_refused(serve: Serve) -> None:
    hops: list[int] = []

    async def loop(request: web.Request) -> web.Response:
        step = int(request.match_info["step"])
        hops.append(step)
        raise web.HTTPFound(f"/loop/{step + 1}")

    app = web.Application()
    app.router.add_get("/loop/{step}", loop)
    base = await serve(app)

    with pytest.raises(FetchRefused) as excinfo:
        await FeedFetcher(open_guard(), max_redirects=3).fetch(f"{base}/loop/0")

    assert excinfo.value.reason == "too_many_redirects"
    assert hops == [0, 1, 2, 3]


@pytest.mark.parametrize("chunked", [False, True])
async def test_body_over_the_cap_is_refused(serve: Serve, chunked: bool) -> None:
    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        if chunked:
            response.enable_chunked_encoding()
        else:
            response.content_length = 300_000
        await response.prepare(request)
        for _ in range(30):
            await response.write(b"x" * 10_000)
        return response

    app = web.Application()
    app.router.add_get("/big", big)
    base = await serve(app)

    with pytest.raises(FetchRefused) as excinfo:
        await FeedFetcher(open_guard(), max_bytes=100_000).fetch(f"{base}/big")
    assert excinfo.value.reason == "too_large"


@cache
def gzip_bomb() -> bytes:
    """About 20 KB that inflate to 20 MB."""
    return gzip.compress(b"\0" * 20_000_000, compresslevel=9)


async def test_gzip_bomb_is_refused(serve: Serve) -> None:
    bomb = gzip_bomb()
    assert len(bomb) < 100_000

    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/rss+xml"}
        )

    app = web.Application()
    app.router.add_get("/bomb", handler)
    base = await serve(app)

    # The bomb is refused without ever being inflated in memory: only about the cap is.
    tracemalloc.start()
    try:
        with pytest.raises(FetchRefused) as excinfo:
            await FeedFetcher(open_guard(), max_bytes=1_000_000).fetch(f"{base}/bomb")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert excinfo.value.reason == "too_large"
    assert peak < 6_000_000


async def test_unknown_content_encoding_fails(serve: Serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=b"\x1b\x00", headers={"Content-Encoding": "br"})

    app = web.Application()
    app.router.add_get("/br", handler)
    base = await serve(app)

    with pytest.raises(FetchFailed) as excinfo:
        await FeedFetcher(open_guard()).fetch(f"{base}/br")
    assert excinfo.value.reason == "encoding"


async def test_a_body_that_never_ends_fails_at_the_deadline(serve: Serve) -> None:
    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        response.content_length = 1_000
        await response.prepare(request)
        # A byte now and then keeps every per-read timeout happy; only a total deadline helps.
        for _ in range(100):
            try:
                await response.write(b"<")
            except ConnectionResetError:
                break  # the fetcher gave up and closed the connection, as it should
            await asyncio.sleep(0.1)
        return response

    app = web.Application()
    app.router.add_get("/slow", trickle)
    base = await serve(app)

    # The trickle outlasts the deadline tenfold and then ends the body short: only the total
    # deadline makes this a timeout (no stopwatch here: the reason says it).
    with pytest.raises(FetchFailed) as excinfo:
        await FeedFetcher(open_guard(), timeout=1.0).fetch(f"{base}/slow")
    assert excinfo.value.reason == "timeout"


async def test_a_server_that_never_answers_fails_at_the_deadline() -> None:
    hung: list[asyncio.StreamWriter] = []

    async def accept_and_wait(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hung.append(writer)

    server = await asyncio.start_server(accept_and_wait, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        # Without a deadline this would hang until the test's own timeout fails it.
        with pytest.raises(FetchFailed) as excinfo:
            await FeedFetcher(open_guard(), timeout=0.5).fetch(f"http://127.0.0.1:{port}/")
        assert excinfo.value.reason == "timeout"
    finally:
        for writer in hung:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("status", [404, 410, 500, 503])
async def test_error_statuses_fail_with_the_status(serve: Serve, status: int) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, text="nope")

    app = web.Application()
    app.router.add_get("/x", handler)
    base = await serve(app)

    with pytest.raises(FetchFailed) as excinfo:
        await FeedFetcher(open_guard()).fetch(f"{base}/x")
    assert excinfo.value.status == status


async def test_per_host_limit_bounds_concurrent_requests(serve: Serve) -> None:
    active = 0
    most = 0

    async def slow(request: web.Request) -> web.Response:
        nonlocal active, most
        active += 1
        most = max(most, active)
        await asyncio.sleep(0.05)
        active -= 1
        return web.Response(body=RSS)

    app = web.Application()
    app.router.add_get("/feed", slow)
    base = await serve(app)
    fetcher = FeedFetcher(open_guard(), per_host_limit=2)

    results = await asyncio.gather(*(fetcher.fetch(f"{base}/feed") for _ in range(6)))

    assert all(result.body == RSS for result in results)
    assert most == 2


# --- the address guard --------------------------------------------------------------------


async def test_loopback_url_is_refused_before_connecting(counter: ConnectionCounter) -> None:
    fetcher = FeedFetcher(AddressGuard(allow_private=False))

    with pytest.raises(FetchRefused) as excinfo:
        await fetcher.fetch(f"http://127.0.0.1:{port_of(counter)}/feed")

    assert excinfo.value.reason == "private_address"
    await asyncio.sleep(0.05)
    assert counter.connections == 0


async def test_localhost_is_refused(counter: ConnectionCounter) -> None:
    fetcher = FeedFetcher(AddressGuard())

    with pytest.raises(FetchRefused) as excinfo:
        await fetcher.fetch(f"http://localhost:{port_of(counter)}/feed")

    assert excinfo.value.reason == "private_address"
    await asyncio.sleep(0.05)
    assert counter.connections == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/feed",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://0.0.0.0/",
        "http://255.255.255.255/",
        "http://240.0.0.1/",
        "http://127.0.0.1:8080/",
        "http://[::1]/",
        "http://[fc00::1]/",
        "http://[fd12:3456::1]/",
        "http://[fe80::1]/",
        "http://[ff02::1]/",
        "http://[::]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 spelling of 169.254.169.254
        "http://[2002:7f00:1::]/",  # 6to4 spelling of 127.0.0.1
    ],
)
async def test_guard_refuses_non_public_addresses(url: str) -> None:
    # Literal addresses are judged without DNS and without any packet being sent.
    with pytest.raises(FetchRefused) as excinfo:
        await AddressGuard().check_url(url)
    assert excinfo.value.reason == "private_address"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/feed.xml",
        "file:///etc/passwd",
        "gopher://example.com/",
        "javascript:alert(1)",
        "data:text/xml,<rss/>",
    ],
)
async def test_guard_refuses_other_schemes(url: str) -> None:
    for guard in (AddressGuard(), AddressGuard(allow_private=True)):
        with pytest.raises(FetchRefused) as excinfo:
            await guard.check_url(url)
        assert excinfo.value.reason == "scheme"


async def test_guard_accepts_public_literal_addresses() -> None:
    guard = AddressGuard()
    assert await guard.check_url("https://93.184.215.14/feed") == [
        ipaddress.ip_address("93.184.215.14")
    ]
    assert await guard.check_url("http://[2606:4700:4700::1111]:8080/") == [
        ipaddress.ip_address("2606:4700:4700::1111")
    ]


def test_public_address_classification() -> None:
    assert is_public_address(ipaddress.ip_address("8.8.8.8"))
    assert is_public_address(ipaddress.ip_address("2a00:1450:4001::1"))
    assert not is_public_address(ipaddress.ip_address("100.127.255.255"))
    assert not is_public_address(ipaddress.ip_address("::ffff:192.168.0.1"))
    assert not is_public_address(ipaddress.ip_address("fec0::1"))


async def test_allow_private_lifts_only_the_address_check() -> None:
    guard = AddressGuard(allow_private=True)
    assert await guard.check_url("http://10.0.0.1/") == [ipaddress.ip_address("10.0.0.1")]
    assert await guard.check_url("http://localhost/")  # resolved, not refused


class OnePortGuard(AddressGuard):
    """Allows 127.0.0.1 on one port only: stands in for 'a public first hop' in tests."""

    def __init__(self, port: int) -> None:
        super().__init__(allow_private=False)
        self.port = port

    def address_allowed(self, address: IPAddress, port: int) -> bool:
        return (address == LOOPBACK and port == self.port) or super().address_allowed(address, port)


async def test_redirect_to_a_refused_address_is_not_followed(
    serve: Serve, counter: ConnectionCounter
) -> None:
    target = port_of(counter)

    async def bounce(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://127.0.0.1:{target}/internal")

    app = web.Application()
    app.router.add_get("/feed", bounce)
    base = await serve(app)
    first_port = int(base.rsplit(":", 1)[1])
    fetcher = FeedFetcher(OnePortGuard(first_port))

    with pytest.raises(FetchRefused) as excinfo:
        await fetcher.fetch(f"{base}/feed")

    assert excinfo.value.reason == "private_address"
    await asyncio.sleep(0.05)
    assert counter.connections == 0


async def test_redirect_to_another_scheme_is_refused(serve: Serve) -> None:
    async def bounce(request: web.Request) -> web.Response:
        raise web.HTTPFound("file:///etc/passwd")

    app = web.Application()
    app.router.add_get("/feed", bounce)
    base = await serve(app)

    with pytest.raises(FetchRefused) as excinfo:
        await FeedFetcher(open_guard()).fetch(f"{base}/feed")
    assert excinfo.value.reason == "scheme"


class FakeDnsGuard(AddressGuard):
    """Answers lookups from a table, like a resolver we control."""

    def __init__(self, table: dict[str, list[IPAddress]]) -> None:
        super().__init__(allow_private=True)
        self.table = table

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        return self.table[host]


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Records every name lookup; names under .invalid fail at once and never reach DNS."""
    seen: list[object] = []
    real_getaddrinfo = socket.getaddrinfo

    def recording_getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        seen.append(host)
        if isinstance(host, str | bytes) and str(host).rstrip(".'").endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "only the test's guard knows this name")
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", recording_getaddrinfo)
    return seen


async def test_connection_goes_to_the_checked_address(serve: Serve, lookups: list[object]) -> None:
    # If the HTTP library resolved the name again, a rebinding DNS server could answer with
    # another address than the one the guard checked. Here nothing but the guard can
    # resolve "feed.invalid", so a successful fetch shows the checked address was used.
    seen: list[web.Request] = []
    base = await serve(feed_app(seen))
    port = base.rsplit(":", 1)[1]
    fetcher = FeedFetcher(FakeDnsGuard({"feed.invalid": [LOOPBACK]}))

    result = await fetcher.fetch(f"http://feed.invalid:{port}/feed")

    assert result.body == RSS
    assert result.final_url == f"http://feed.invalid:{port}/feed"
    assert seen[0].headers["Host"] == f"feed.invalid:{port}"
    assert not [name for name in lookups if "invalid" in str(name)]


async def test_next_address_is_tried_when_one_does_not_connect(
    serve: Serve, lookups: list[object]
) -> None:
    base = await serve(feed_app())
    port = base.rsplit(":", 1)[1]
    # Nothing listens on ::1 at this port (the server is bound to 127.0.0.1 only).
    guard = FakeDnsGuard({"dual.invalid": [ipaddress.ip_address("::1"), LOOPBACK]})

    result = await FeedFetcher(guard).fetch(f"http://dual.invalid:{port}/feed")
    assert result.body == RSS


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for the name feed.invalid (and nothing else)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    command = [
        openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-days", "2", "-subj", "/CN=feed.invalid",
        "-addext", "subjectAltName=DNS:feed.invalid", "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    return cert, key


async def tls_feed_server(serve: Serve, tls_files: tuple[Path, Path]) -> tuple[int, list[str]]:
    """An https feed server on 127.0.0.1; returns its port and the SNI names it was sent."""
    cert, key = tls_files
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    names: list[str] = []

    def record_sni(sock: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        names.append(name or "")

    server_context.sni_callback = record_sni
    base = await serve(feed_app(), server_context)
    return int(base.rsplit(":", 1)[1]), names


async def test_https_sends_the_name_and_verifies_the_certificate_for_it(
    serve: Serve, tls_files: tuple[Path, Path], lookups: list[object]
) -> None:
    port, names = await tls_feed_server(serve, tls_files)
    trust = ssl.create_default_context(cafile=str(tls_files[0]))
    fetcher = FeedFetcher(FakeDnsGuard({"feed.invalid": [LOOPBACK]}), ssl_context=trust)

    result = await fetcher.fetch(f"https://feed.invalid:{port}/feed")

    assert result.body == RSS
    assert names == ["feed.invalid"]  # SNI carries the name although we dialled the IP


async def test_https_certificate_for_another_name_fails(
    serve: Serve, tls_files: tuple[Path, Path], lookups: list[object]
) -> None:
    port, _ = await tls_feed_server(serve, tls_files)
    trust = ssl.create_default_context(cafile=str(tls_files[0]))
    guard = FakeDnsGuard({"other.invalid": [LOOPBACK]})

    with pytest.raises(FetchFailed) as excinfo:
        await FeedFetcher(guard, ssl_context=trust).fetch(f"https://other.invalid:{port}/feed")
    assert excinfo.value.reason == "connect"
    assert "certificate" in excinfo.value.detail.lower()
