"""newsbot's Telegram webhook server: the secret is checked before the body is read, the body is
capped, and an update is stored before Telegram gets its 200."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import tornado.web
from telegram import Bot, Update
from tornado.httpserver import HTTPServer
from tornado.httputil import HTTPServerRequest

from bot.platforms.telegram.inbox import InboxUnavailable

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
# Telegram's updates are a few kilobytes; a message with its longest text and entities stays
# far below this.
MAX_BODY = 1 << 20

Accept = Callable[[Update], Awaitable[None]]


@tornado.web.stream_request_body
class UpdateHandler(tornado.web.RequestHandler):
    """POST of one update. Streaming the body lets prepare() refuse a request by its headers
    alone: a missing or wrong secret (403) or a declared size over MAX_BODY (413) is answered
    at once, and not a byte of such a body is read."""

    SUPPORTED_METHODS = ("POST",)

    def initialize(self, bot: Bot, secret: str, accept: Accept) -> None:
        self.bot = bot
        self.secret = secret
        self.accept = accept
        self.body = bytearray()

    def prepare(self) -> None:
        given = self.request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            raise tornado.web.HTTPError(HTTPStatus.FORBIDDEN)
        length = self.request.headers.get("Content-Length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            raise tornado.web.HTTPError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        # A chunked body declares no size: tornado closes the connection past the cap.
        if self.request.connection is not None:
            self.request.connection.set_max_body_size(MAX_BODY)  # type: ignore[attr-defined]

    def data_received(self, chunk: bytes) -> None:
        self.body += chunk

    async def post(self) -> None:
        try:
            data = json.loads(self.body)
            update = Update.de_json(data, self.bot) if isinstance(data, dict) else None
        except Exception as err:  # PTB raises whatever a malformed field makes it raise
            log.info("webhook: refused an unreadable update: %s", type(err).__name__)
            raise tornado.web.HTTPError(HTTPStatus.BAD_REQUEST) from None
        if update is None:
            raise tornado.web.HTTPError(HTTPStatus.BAD_REQUEST)
        try:
            await self.accept(update)
        except Exception as err:
            # Not stored: anything but 2xx makes Telegram send it again later. (A database
            # outage has been told once already; each update is only worth a DEBUG line.)
            level = logging.DEBUG if isinstance(err, InboxUnavailable) else logging.WARNING
            log.log(level, "webhook: update %s not stored: %s", update.update_id, err)
            raise tornado.web.HTTPError(HTTPStatus.SERVICE_UNAVAILABLE) from None
        self.set_status(HTTPStatus.OK)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # No HTML error page, and nothing about the request echoed back.
        self.finish()

    def log_exception(self, *args: Any) -> None:
        """Refusals are answers, not server errors: they were logged where they were made."""


class WebhookServer:
    """One tornado HTTP server on the event loop, serving `path`."""

    def __init__(self, bot: Bot, *, path: str, secret: str, accept: Accept) -> None:
        path = "/" + path.lstrip("/")
        kwargs = {"bot": bot, "secret": secret, "accept": accept}
        app = tornado.web.Application([(rf"{path}/?", UpdateHandler, kwargs)])
        app.log_request = _quiet  # type: ignore[method-assign]
        # Bounded waits for slow clients: for the headers, and for a body once accepted.
        self._server = HTTPServer(
            app, max_body_size=MAX_BODY, idle_connection_timeout=60, body_timeout=30
        )

    async def start(self, listen: str, port: int) -> None:
        self._server.listen(port, address=listen)

    async def stop(self) -> None:
        self._server.stop()
        await asyncio.wait_for(self._server.close_all_connections(), timeout=5)


def _quiet(handler: tornado.web.RequestHandler) -> None:
    request: HTTPServerRequest = handler.request
    log.debug("webhook: %s %s", handler.get_status(), request.method)
