"""The HTTP endpoint of `newsbot run` (NEWSBOT_HTTP_LISTEN): /healthz, /metrics and the
read-only dashboard, served by aiohttp on the bot's own event loop. Every store read goes
through the database thread; nothing here writes.

It has its own port, apart from the Telegram webhook's (NEWSBOT_TELEGRAM_WEBHOOK_PORT): the
webhook faces Telegram through a reverse proxy and proves itself with Telegram's secret
header, while this endpoint is for the operator and a monitoring system, with its own token.
Separate ports let each be exposed (or not) on its own, and the webhook stays tornado's, as
python-telegram-bot serves it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TypeVar

from aiohttp import web
from apscheduler.schedulers.base import BaseScheduler
from yarl import URL

from bot import dashboard
from bot.adapter_contract import PlatformStartError
from bot.health import DB_ANSWER_WITHIN, HealthProbe
from bot.http_access import COOKIE, AccessGuard, parse_listen
from bot.runtime import Runtime
from bot.settings import Settings
from handlers.answers.replies import matching_articles
from handlers.context import Ctx
from storage.faults import storage_fault
from storage.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LISTED = 30  # articles on the results page
AUDIT_ROWS = 200
SECURITY_HEADERS = {
    "Content-Security-Policy": dashboard.CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


class HttpEndpoint:
    """One aiohttp site. `guard` decides access; `start` binds, `stop` closes."""

    def __init__(
        self,
        runtime: Runtime,
        scheduler: BaseScheduler,
        settings: Settings,
        guard: AccessGuard | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.language = settings.language
        token = settings.http_token.get_secret_value() if settings.http_token else None
        self.guard = guard or AccessGuard.for_listen(settings.http_listen, token)
        self.probe = HealthProbe(runtime, scheduler, settings.health_pending_age)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None  # the port bound (NEWSBOT_HTTP_LISTEN may say 0)

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._access], client_max_size=4096)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/", self._results)
        app.router.add_get("/feeds", self._feeds)
        app.router.add_get("/paused", self._paused)
        app.router.add_get("/audit", self._audit)
        app.router.add_get(r"/chart/{article:\d{1,15}}.png", self._chart)
        return app

    async def start(self) -> None:
        host, port = parse_listen(self.settings.http_listen)
        runner = web.AppRunner(
            self.application(), access_log=None, handle_signals=False, shutdown_timeout=2.0
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as err:
            await runner.cleanup()
            listen = self.settings.http_listen
            reason = err.strerror or type(err).__name__
            raise PlatformStartError(
                f"cannot listen on {listen}: {reason}",
                key="http.listen_failed",
                listen=listen,
                reason=reason,
            ) from None
        self._runner = runner
        bound = runner.addresses  # the port the system chose when the setting says 0
        self.port = int(bound[0][1]) if bound else port
        log.info("http: serving /healthz, /metrics and the dashboard on %s", self.base_url)

    @property
    def base_url(self) -> str:
        host, _ = parse_listen(self.settings.http_listen)
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}"

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(runner.cleanup(), timeout=5)

    # -- access ---------------------------------------------------------------------------

    @web.middleware
    async def _access(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in {"GET", "HEAD"}:
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])
        query_token = request.query.get("token")
        allowed = self.guard.allows(
            authorization=request.headers.get("Authorization"),
            cookie=request.cookies.get(COOKIE),
            query_token=query_token,
        )
        if not allowed:
            return self._html(dashboard.message_page("dash.refused", self.language), 401)
        if query_token is not None:
            # The token leaves the address (history, logs, a shared screen) for a cookie
            # that scripts cannot read and other sites do not send.
            rest = [(k, v) for k, v in request.query.items() if k != "token"]
            # Always a path on this server ("//host" would send the browser elsewhere).
            location = URL.build(path="/" + request.path.lstrip("/"), query=rest)
            moved = web.Response(status=HTTPStatus.SEE_OTHER, headers={"Location": str(location)})
            if self.guard.accepts(query_token):  # let in by a cookie, a wrong one is not kept
                moved.set_cookie(
                    COOKIE, query_token, httponly=True, samesite="Strict", path="/", max_age=86400
                )
            moved.headers.update(SECURITY_HEADERS)
            return moved
        response: web.StreamResponse
        try:
            response = await handler(request)
        except web.HTTPNotFound:
            response = self._html(dashboard.message_page("dash.not_found", self.language), 404)
        except TimeoutError:
            response = self._html(dashboard.message_page("dash.unavailable", self.language), 503)
        except web.HTTPException:
            raise
        except Exception as err:
            if storage_fault(err) is not None:
                log.info("http: %s without the database: %s", request.path, storage_fault(err))
                page, status = "dash.unavailable", 503
            else:
                log.exception("http: %s failed", request.path)
                page, status = "dash.failed", 500
            response = self._html(dashboard.message_page(page, self.language), status)
        response.headers.update(SECURITY_HEADERS)
        return response

    # -- machines -------------------------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.Response:
        health = await self.probe.check()
        status = HTTPStatus.OK if health.ok else HTTPStatus.SERVICE_UNAVAILABLE
        return web.Response(
            status=status, text=json.dumps(health.body()), content_type="application/json"
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        try:
            figures = await self.probe.figures()
        except Exception as err:
            log.info("http: /metrics without the database: %s", type(err).__name__)
            raise TimeoutError from None
        body = self.runtime.metrics.exposition(figures, self.probe.connected())
        return web.Response(body=body, headers={"Content-Type": METRICS_TYPE})

    # -- people ---------------------------------------------------------------------------

    async def _read(self, call: Callable[[Store], T]) -> T:
        """A read in the database thread, bounded: TimeoutError makes a 503 page."""
        task = asyncio.ensure_future(self.runtime.db.run(call, self.runtime.store))
        done, _ = await asyncio.wait({task}, timeout=DB_ANSWER_WITHIN)
        if not done:
            task.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise TimeoutError
        return task.result()

    async def _results(self, request: web.Request) -> web.Response:
        query = request.query.get("q", "").strip()[:200]
        ctx = self.runtime.ctx
        found = await self._read(lambda _store: _articles(ctx, query))
        polls = self.runtime.ctx.config.polls
        return self._html(dashboard.results_page(found, query, self.language, polls))

    async def _feeds(self, request: web.Request) -> web.Response:
        feeds = await self._read(lambda store: store.feeds())
        return self._html(dashboard.feeds_page(feeds, self.language))

    async def _paused(self, request: web.Request) -> web.Response:
        paused = await self._read(lambda store: store.oversight.paused_chats())
        return self._html(dashboard.paused_page(paused, self.language))

    async def _audit(self, request: web.Request) -> web.Response:
        entries = None
        if self.guard.owner_view:
            entries = await self._read(lambda store: store.audit_log.entries(AUDIT_ROWS))
        return self._html(dashboard.audit_page(entries, self.language))

    async def _chart(self, request: web.Request) -> web.Response:
        """An article's /results chart as PNG: read in the database thread, drawn (or taken
        from the charts' cache) in a worker thread, never on the loop."""
        article_id = int(request.match_info["article"])
        article, poll = await self._read(
            lambda store: (store.get_article(article_id), store.get_poll(article_id))
        )
        if article is None or poll is None or article.removed:
            raise web.HTTPNotFound()
        polls = self.runtime.ctx.config.polls
        png = await asyncio.to_thread(dashboard.chart_png, article, poll, self.language, polls)
        response = web.Response(body=png, content_type="image/png")
        response.headers.update(SECURITY_HEADERS)
        return response

    @staticmethod
    def _html(text: str, status: int = 200) -> web.Response:
        response = web.Response(status=status, text=text, content_type="text/html")
        response.headers.update(SECURITY_HEADERS)
        return response


def _articles(ctx: Ctx, query: str) -> list[dashboard.ArticleResult]:
    """In the database thread: what /search finds for `query`, else the newest articles."""
    store = ctx.store
    if query:
        articles = matching_articles(ctx, query, LISTED)
    else:
        articles = store.latest_articles(limit=LISTED)
    return [dashboard.ArticleResult(a, store.get_poll(a.id)) for a in articles]
