"""Images served from 127.0.0.1 for the picture tests: a real PNG, a 50 MB file that is never
built, HTML posing as an image; each path's hits are counted."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from PIL import Image

from tests.fakes.loopback import serving

HUGE = 50 * 1024 * 1024
CHUNK = b"\0" * 65536
HTML = b"<!doctype html><html><body><h1>Not a picture</h1></body></html>"


def png(width: int = 320, height: int = 240) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


@dataclass
class Images:
    base: str
    hits: Counter[str] = field(default_factory=Counter)

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"


def _app(images: Images) -> web.Application:
    picture = png()

    async def photo(request: web.Request) -> web.Response:
        images.hits[request.path] += 1
        return web.Response(body=picture, content_type="image/png")

    async def huge(request: web.Request) -> web.StreamResponse:
        # 50 MB declared, sent lazily: a client that reads the headers and leaves costs a chunk.
        images.hits[request.path] += 1
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        response.content_length = HUGE
        await response.prepare(request)
        try:
            for _ in range(HUGE // len(CHUNK)):
                await response.write(CHUNK)
        except (ConnectionError, RuntimeError):
            pass  # the client went away, as it should
        return response

    async def huge_unsized(request: web.Request) -> web.StreamResponse:
        # No Content-Length: the client has to stop counting itself.
        images.hits[request.path] += 1
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for _ in range(HUGE // len(CHUNK)):
                await response.write(CHUNK)
        except (ConnectionError, RuntimeError):
            pass
        return response

    async def page(request: web.Request) -> web.Response:
        images.hits[request.path] += 1
        return web.Response(body=HTML, content_type="text/html")

    async def posing(request: web.Request) -> web.Response:
        # HTML that claims to be a picture: only its header tells.
        images.hits[request.path] += 1
        return web.Response(body=HTML, content_type="image/png")

    app = web.Application()
    app.router.add_get("/photo.png", photo)
    app.router.add_get("/other.png", photo)
    app.router.add_get("/huge.jpg", huge)
    app.router.add_get("/huge-unsized.jpg", huge_unsized)
    app.router.add_get("/page.jpg", page)
    app.router.add_get("/posing.png", posing)
    return app


@asynccontextmanager
async def image_server() -> AsyncIterator[Images]:
    async with serving() as serve:
        images = Images("")
        images.base = await serve(_app(images))
        yield images
