"""The one check of an article's lead image before it is posted: fetched through the feeds'
guard (public addresses only, capped), an image content type, and sane dimensions read from
its header with Pillow, which never decodes the image."""

from __future__ import annotations

import asyncio
import io
import logging
import warnings
from collections.abc import Sequence

import httpx
from PIL import Image, UnidentifiedImageError

from bot.address_guard import AddressGuard
from bot.feed_fetch import FeedFetcher, FetchResult, _BodyDecoder
from bot.fetch_errors import FetchFailed, FetchRefused
from bot.settings import Settings
from storage.database_thread import DatabaseThread
from storage.models import IMAGE_OK
from storage.store import Store

log = logging.getLogger(__name__)

# Enough of the file for any header Pillow reads (a JPEG's EXIF block comes first).
HEAD_BYTES = 256 * 1024
FORMATS = frozenset({"JPEG", "PNG", "GIF", "WEBP"})
# Telegram's limits for a photo: width + height at most 10,000, a side at most 20 times the
# other; a side under 8 pixels is a tracking pixel, not a picture.
MAX_SIDES = 10_000
MAX_RATIO = 20
MIN_SIDE = 8
CHECKS_AT_ONCE = 4


class ImageFetcher(FeedFetcher):
    """The feed fetcher's guard, redirects and caps, asking for an image and reading only the
    head of the body once the declared size is within the cap."""

    accept = "image/jpeg, image/png, image/gif, image/webp;q=0.9"

    async def _finish(
        self,
        response: httpx.Response,
        url: httpx.URL,
        etag: str | None,
        last_modified: str | None,
    ) -> FetchResult:
        status = response.status_code
        if not 200 <= status < 300:
            raise FetchFailed("http_status", f"HTTP {status}", status=status)
        kind = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if not kind.startswith("image/"):
            raise FetchRefused("not_an_image", f"content type {kind or 'none'!r}")
        head = await self._read_head(response)
        return FetchResult(status, head, None, None, str(url), False, content_type=kind)

    async def _read_head(self, response: httpx.Response) -> bytes:
        decoder = _BodyDecoder(response.headers.get("content-encoding", "").strip().lower())
        declared = response.headers.get("content-length", "")
        known = decoder.identity and declared.isdigit()
        if known and int(declared) > self.max_bytes:
            raise FetchRefused("too_large", f"the image is {declared} bytes")
        head = bytearray()
        size = 0
        async for raw in response.aiter_raw():
            chunk = decoder.feed(raw, self.max_bytes - size)
            size += len(chunk)
            if len(head) < HEAD_BYTES:
                head += chunk[: HEAD_BYTES - len(head)]
            elif known:
                break  # the declared size is within the cap: the rest is not needed
        return bytes(head)


def image_verdict(head: bytes) -> str:
    """IMAGE_OK when the header describes a picture fit to post, else why not. Image.open
    reads the header only; the pixels are never loaded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(head)) as image:
                kind, (width, height) = image.format, image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return "bad_size: more pixels than Pillow's limit"
    except UnidentifiedImageError:
        return "not_an_image: no picture Pillow knows"
    except (OSError, ValueError, SyntaxError) as err:
        return f"not_an_image: {type(err).__name__}"
    if kind not in FORMATS:
        return f"not_an_image: format {kind}"
    if min(width, height) < MIN_SIDE or width + height > MAX_SIDES:
        return f"bad_size: {width}x{height}"
    if max(width, height) > MAX_RATIO * min(width, height):
        return f"bad_size: {width}x{height}"
    return IMAGE_OK


class ImageChecks:
    """Checks the lead images of the articles about to be posted, each once: the verdict is
    kept with the article, so a fan-out to many chats (and every later batch) reads it."""

    def __init__(self, store: Store, db: DatabaseThread, fetcher: FeedFetcher) -> None:
        self.store = store
        self.db = db
        self.fetcher = fetcher
        self._slots = asyncio.Semaphore(CHECKS_AT_ONCE)

    @classmethod
    def from_settings(cls, store: Store, db: DatabaseThread, settings: Settings) -> ImageChecks:
        fetcher = ImageFetcher(
            AddressGuard(allow_private=settings.allow_private_feeds),
            timeout=settings.image_timeout,
            connect_timeout=min(settings.feed_connect_timeout, settings.image_timeout),
            max_bytes=settings.image_max_bytes,
            per_host_limit=settings.feed_per_host,
            total_limit=settings.feed_concurrency,
        )
        return cls(store, db, fetcher)

    async def check(self, delivery_ids: Sequence[int]) -> int:
        """Check the unchecked images of these deliveries' articles (where the chat shows
        them); how many were checked."""
        waiting = await self.db.run(self.store.images.unchecked, list(delivery_ids))
        if not waiting:
            return 0
        verdicts = await asyncio.gather(*(self._verdict(item.url) for item in waiting))
        for item, verdict in zip(waiting, verdicts, strict=True):
            if verdict != IMAGE_OK:
                log.info("article %s: its image is not shown (%s)", item.article_id, verdict)

        def record() -> None:
            for item, verdict in zip(waiting, verdicts, strict=True):
                self.store.images.record(item.article_id, verdict)

        await self.db.run(record)
        return len(waiting)

    async def _verdict(self, url: str) -> str:
        async with self._slots:
            try:
                result = await self.fetcher.fetch(url)
            except (FetchRefused, FetchFailed) as err:
                return f"{err.reason}: {err.detail}"
            except Exception as err:
                # An answer no rule foresaw (a library's own error): this picture is left
                # out for good, rather than asked for again with every batch.
                log.exception("checking the image %s failed", url)
                return f"failed: {type(err).__name__}"
        return image_verdict(result.body or b"")
