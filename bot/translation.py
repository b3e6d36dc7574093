"""Posts translated into a chat's language by the configured model (NEWSBOT_LLM_URL), once per
article and language, never holding a post back longer than NEWSBOT_LLM_TIMEOUT."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence

from bot.llm import LlmAnswerWriter, answer_writer
from bot.settings import Settings
from handlers import dispatch
from handlers.context import Ctx
from handlers.render import original_summary, wants_translation
from storage.faults import storage_fault
from storage.models import Article, Delivery, Translation

log = logging.getLogger(__name__)

_LANGUAGE_NAMES = {"de": "German", "en": "English"}
_INSTRUCTIONS = (
    "You translate news posts from {source} into {target}. Translate the title and the "
    "summary faithfully; keep names, numbers and quotes as they are; add nothing. Answer with "
    'one JSON object only: {{"title": "...", "summary": "..."}}'
)
MAX_TITLE_CHARS = 300
# A model that failed for an article and language is not asked again for it this long: a
# down model must not make every later batch wait its timeout.
RETRY_AFTER = 300.0

Key = tuple[int, str]  # article id, language


def _name(language: str) -> str:
    return _LANGUAGE_NAMES.get(language, language)


def parse_translation(
    content: str | None, article_id: int, language: str, max_summary: int
) -> Translation | None:
    """The model's JSON answer as a Translation, or None when it is not one."""
    if not content or "{" not in content:
        return None
    try:
        document = json.loads(content[content.index("{") : content.rindex("}") + 1])
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    title, summary = document.get("title"), document.get("summary")
    if not isinstance(title, str) or not isinstance(summary, str):
        return None
    title, summary = " ".join(title.split()), summary.strip()
    if not title:
        return None
    return Translation(article_id, language, title[:MAX_TITLE_CHARS], summary[:max_summary])


class PostTranslator:
    """Asks the model for the translations a batch of deliveries needs, one request per
    article and language however many chats (single flight, then the store), and waits for
    them at most `timeout` seconds: what is not there by then goes out in the original."""

    def __init__(
        self,
        model: LlmAnswerWriter,
        ctx: Ctx,
        *,
        timeout: float,
        worker: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model = model
        self.ctx = ctx  # its store is used in the database thread ctx.db only
        self.timeout = timeout
        # With a worker name, a lease per article and language keeps the other workers
        # sharing the store from asking the model for the same translation at the same time.
        self.worker = worker
        self.clock = clock
        self._flights: dict[Key, asyncio.Task[None]] = {}
        self._failed: dict[Key, float] = {}  # when each may be asked again

    async def prepare(self, deliveries: Sequence[Delivery]) -> None:
        """Translations for these deliveries stored, as far as the model manages in time; a
        bug here never stops posts (they go out in the original)."""
        try:
            await self._prepare(deliveries)
        except Exception as err:
            if storage_fault(err) is not None:
                raise  # the database: rendering the batch would fail the same way
            log.exception("translating a batch of posts failed; the originals go out")

    async def _prepare(self, deliveries: Sequence[Delivery]) -> None:
        wanted = await self.ctx.db.run(self._wanted, list(deliveries))
        now = self.clock()
        for key in [k for k, until in self._failed.items() if until <= now]:
            del self._failed[key]  # asked again from now on; the table stays small
        tasks = [
            self._flight(article, language)
            for article, language in wanted
            if (article.id, language) not in self._failed
        ]
        if tasks:
            # Not cancelled at the deadline: a late translation is stored for later posts.
            await asyncio.wait(tasks, timeout=self.timeout)

    async def close(self) -> None:
        """Call off the requests still on their way (a stop): their posts went out already."""
        flights = list(self._flights.values())
        for task in flights:
            task.cancel()
        await asyncio.gather(*flights, return_exceptions=True)

    def _wanted(self, deliveries: list[Delivery]) -> list[tuple[Article, str]]:
        """In the database thread: the (article, language) pairs these deliveries would show
        translated, that have no stored translation yet."""
        store = self.ctx.store
        wanted: dict[Key, Article] = {}
        for delivery in deliveries:
            settings = store.chat_settings(delivery.chat)
            if not settings.translate:
                continue
            language = dispatch.chat_language(self.ctx, delivery.chat, settings=settings)
            key = (delivery.article_id, language)
            if key in wanted:
                continue
            article = store.get_article(delivery.article_id)
            if article is None or not wants_translation(article, language, True):
                continue
            if store.texts.translation(article.id, language) is None:
                wanted[key] = article
        return [(article, language) for (_, language), article in wanted.items()]

    def _flight(self, article: Article, language: str) -> asyncio.Task[None]:
        """The one request for this article and language, started unless one is on its way."""
        key = (article.id, language)
        task = self._flights.get(key)
        if task is None:
            task = asyncio.create_task(self._translate(article, language))
            self._flights[key] = task
            task.add_done_callback(lambda _: self._flights.pop(key, None))
        return task

    async def _translate(self, article: Article, language: str) -> None:
        if not self.worker:
            await self._ask(article, language)
            return
        lease = f"translate:{article.id}:{language}"
        store = self.ctx.store
        if not await self.ctx.db.run(store.leases.take, lease, self.worker, self.timeout + 5):
            await self._stored_by_another(article.id, language)
            return
        try:
            await self._ask(article, language)
        finally:
            await self.ctx.db.run(store.leases.release, lease, self.worker)

    async def _stored_by_another(self, article_id: int, language: str) -> None:
        """Another worker is asking the model: its translation is looked for in the store a
        few times a second, until this worker's deadline."""
        deadline = self.clock() + self.timeout
        while self.clock() < deadline:
            if await self.ctx.db.run(self.ctx.store.texts.translation, article_id, language):
                return
            await asyncio.sleep(0.2)

    async def _ask(self, article: Article, language: str) -> None:
        chars = self.ctx.config.summary_chars
        original = {"title": article.title, "summary": original_summary(article, chars)}
        body: dict[str, object] = {
            "model": self.model.model,
            "messages": [
                {
                    "role": "system",
                    "content": _INSTRUCTIONS.format(
                        source=_name(article.language), target=_name(language)
                    ),
                },
                {"role": "user", "content": json.dumps(original, ensure_ascii=False)},
            ],
            "temperature": 0.1,
            "max_tokens": 2 * chars,
            "stream": False,
        }
        translation = parse_translation(
            await self.model.complete(body), article.id, language, 2 * chars
        )
        if translation is None:
            log.info(
                "article %s: no translation into %s; the original is posted", article.id, language
            )
            self._failed[(article.id, language)] = self.clock() + RETRY_AFTER
            return
        try:
            await self.ctx.db.run(self.ctx.store.texts.save_translation, translation)
        except Exception:
            # Not stored: this batch goes out in the original, the next one asks again.
            log.exception("article %s: storing its translation failed", article.id)


def post_translator(settings: Settings, ctx: Ctx, *, worker: str = "") -> PostTranslator | None:
    """The configured translator, or None without a model (posts then go out as they are)."""
    model = answer_writer(settings)
    if model is None:
        return None
    return PostTranslator(model, ctx, timeout=settings.llm_timeout, worker=worker)
