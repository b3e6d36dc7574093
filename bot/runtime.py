"""The one object adapters talk to: it runs handlers, records posts, and wakes the outbox."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from bot.adapter_contract import Adapter, Sharing
from bot.metrics import Metrics
from bot.storage_health import StorageHealth
from bot.update_inbox import KEEP_HANDLED as KEEP_HANDLED
from bot.update_inbox import Handling as Handling
from bot.update_inbox import UpdateInboxCalls
from handlers import dispatch
from handlers.chat_posts import chat_post
from handlers.context import CoreConfig, Ctx
from handlers.events import Command, MemberAction, Outgoing, Press, Reply, Rich
from handlers.i18n import current_language, t
from handlers.post_compose import PostLook
from handlers.render import article_post
from storage.database_thread import DatabaseThread
from storage.inbox import Inbox
from storage.leases import Lease
from storage.models import ChatRef, ChatSettings, Delivery, MessageRef, Post, UserRef
from storage.post_refresh import overtaken, refreshed
from storage.store import Store

if TYPE_CHECKING:
    from bot.translation import PostTranslator

log = logging.getLogger(__name__)
T = TypeVar("T")


class Runtime(UpdateInboxCalls):
    """Shared by every adapter in one process. Adapters never touch the store themselves."""

    def __init__(self, store: Store, config: CoreConfig, db: DatabaseThread | None = None) -> None:
        self.store = store  # used only in the database thread `db`, never on the loop
        self.db = db or DatabaseThread()
        self.ctx = Ctx(store=store, config=config, db=self.db)
        self.adapters: dict[str, Adapter] = {}
        # Platforms whose adapter serves only some chats (a terminal serves its own): the
        # outbox worker takes only those chats' rows, and leaves the rest to their process.
        self.only_chats: dict[str, frozenset[str]] = {}
        self._wake_listeners: list[Callable[[], None]] = []
        self._stale_listeners: list[Callable[[], None]] = []
        self.inbox = Inbox(store)  # the update inbox (bot/update_inbox.py)
        # Other workers share the store (bot/workers.py Presence sets it): no process may
        # trust its memory of what a message shows.
        self.sharing = Sharing()
        # Whether the database answers, told once per outage by whichever part meets it.
        self.storage_health = StorageHealth()
        self.metrics = Metrics()  # counted where things happen (bot/metrics.py)
        # Translates posts for chats that want them (NEWSBOT_LLM_URL; bot/translation.py).
        self.translator: PostTranslator | None = None
        store.before_commit(self._note_write)

    # -- wiring ---------------------------------------------------------------------------

    def add_adapter(self, adapter: Adapter, *, only_chats: frozenset[str] | None = None) -> None:
        self.adapters[adapter.platform] = adapter
        if only_chats is None:
            self.only_chats.pop(adapter.platform, None)
        else:
            self.only_chats[adapter.platform] = only_chats

    def on_wake(self, listener: Callable[[], None]) -> None:
        """Called whenever something may have made deliveries due (a subscription, an ingest)."""
        self._wake_listeners.append(listener)

    def on_stale_posts(self, listener: Callable[[], None]) -> None:
        """Called whenever posts may show outdated counts (a vote), and on every wake()."""
        self._stale_listeners.append(listener)

    def wake(self) -> None:
        for listener in self._wake_listeners:
            listener()
        self.posts_stale()

    def posts_stale(self) -> None:
        for listener in self._stale_listeners:
            listener()

    # -- what adapters call ---------------------------------------------------------------

    async def on_command(self, cmd: Command) -> list[Reply]:
        with self.metrics.handling(cmd.name):
            replies = await dispatch.handle_command(self.ctx, cmd)
        replies += await self._apply_actions(cmd, replies)
        # A subscription may have queued its backlog; a vote has made other posts stale.
        self.wake()
        return await self._in_language(replies, cmd.chat, cmd.locale)

    async def answered(self, chat: ChatRef) -> None:
        """An adapter has sent a command's replies in `chat`: what the command queued there
        (the newest article after /subscribe) follows now, after the answer announcing it."""
        try:
            await self.db.run(self.store.release_held, chat)
        except Exception as err:
            # The rows come due by themselves a little later.
            log.warning("cannot release the held posts of %s: %s", chat.key(), err)
        self.wake()

    async def _in_language(
        self, replies: list[Reply], chat: ChatRef, person_locale: str | None
    ) -> list[Reply]:
        """Each reply says the language it was written in (a post keeps its own), so that an
        adapter lays out its platform's parts (dates) without asking the core mid-send."""
        if all(reply.language for reply in replies):
            return replies
        try:
            language = await self.language(chat, person_locale)
        except Exception as err:
            # The replies (an apology, perhaps) still go out, in the default language.
            log.warning("cannot read the language of %s: %s", chat.key(), err)
            language = self.ctx.config.default_language
        return [r if r.language else dataclasses.replace(r, language=language) for r in replies]

    async def _apply_actions(self, cmd: Command, replies: list[Reply]) -> list[Reply]:
        """Do on the platform what a moderation command asked for (remove a person from the
        group, restrict them), and say whether the platform allowed it."""
        notes: list[Reply] = []
        for action in (a for reply in replies for a in reply.actions):
            adapter = self.adapters.get(action.chat.platform)
            done = False
            if adapter is not None:
                try:
                    if action.kind == "ban":
                        done = await adapter.ban_member(action.chat, action.user)
                    elif action.kind == "unban":
                        done = await adapter.unban_member(action.chat, action.user)
                    elif action.kind in {"mute", "unmute"}:
                        until = action.until if action.kind == "mute" else None
                        done = await adapter.restrict_member(action.chat, action.user, until)
                except Exception:
                    log.exception("platform %s of %s failed", action.kind, action.user.key())
            language = await self.db.run(self._audit_action, cmd, action, done)
            token = current_language.set(language)
            try:
                key = "mod.platform_done" if done else "mod.platform_no_right"
                notes.append(Reply(text=Rich.of(t(key)), private=True))
            finally:
                current_language.reset(token)
        return notes

    def _audit_action(self, cmd: Command, action: MemberAction, done: bool) -> str:
        """In the database thread: the platform's answer in the audit log; the language to
        report it in."""
        self.store.audit(
            platform=action.chat.platform,
            chat_id=action.chat.chat_id,
            actor=cmd.user.key(),
            action=f"platform_{action.kind}",
            target=action.user.key(),
            outcome="ok" if done else "not_allowed",
        )
        return dispatch.chat_language(self.ctx, cmd.chat, cmd.locale)

    async def on_text(
        self,
        chat: ChatRef,
        user: UserRef,
        text: str,
        *,
        is_private: bool,
        mentions_bot: bool,
        locale: str | None = None,
    ) -> list[Reply]:
        """A message that is not a command: a question in a private chat, or a mention in a
        group, is answered from the archive; [] means the message was not for the bot."""
        replies = await dispatch.handle_text(
            self.ctx,
            chat,
            user,
            text,
            is_private=is_private,
            mentions_bot=mentions_bot,
            locale=locale,
        )
        return await self._in_language(replies, chat, locale)

    async def on_press(self, press: Press) -> list[Reply]:
        """A press's replies; an edit of the pressed message is recorded as shown before the
        refresh job wakes, so that the adapter's edit in answer to the press is the only one
        (one press, one edit). If that edit fails, the adapter says so (edit_failed)."""
        pressed = press.message

        def record_shown(replies: list[Reply]) -> None:
            # In the database thread, in the same call as the vote (see handle_press).
            for reply in replies:
                if reply.edit and pressed is not None:
                    self._record_post(reply, pressed)

        replies = await dispatch.handle_press(self.ctx, press, then=record_shown)
        if press.action == "vote":
            # A vote makes other posts of the article stale; it queues no delivery, so the
            # outbox worker is not woken for it (one database call less per press).
            self.posts_stale()
        else:
            self.wake()
        return await self._in_language(replies, press.chat, press.locale)

    async def edit_failed(self, message: MessageRef) -> None:
        """The edit of a pressed message did not arrive: the refresh job brings it up to date."""
        await self.db.run(self.store.post_outdated, message)
        self.wake()

    async def edit_landed(self, message: MessageRef, reply: Reply) -> None:
        """An edit of a post arrived. With other workers, an edit of theirs showing newer
        counts may have arrived before it: if the poll moved on past what this edit shows,
        the refresh job edits the message once more, so the last edit shows the newest."""
        version = reply.poll_version
        if not self.sharing.shared or reply.article_id is None or version is None:
            return
        if await self.db.run(overtaken, self.store, message, version):
            self.wake()

    async def edits_landed(self, landed: Sequence[tuple[Post, Reply]]) -> None:
        """The refresh job's edits of a batch arrived: each post shows its reply's poll
        version now (any earlier failure is over), and, with other workers, a post whose poll
        moved on meanwhile goes back to the refresh job (see edit_landed). One database call."""
        if not landed:
            return
        shared = self.sharing.shared

        def record() -> bool:
            again = False
            with self.store.engine.write():
                for post, reply in landed:
                    version = reply.poll_version or 0
                    refreshed(self.store, post.id, version)
                    if shared and reply.article_id is not None and reply.poll_version is not None:
                        again = overtaken(self.store, post.message, version) or again
            return again

        if await self.db.run(record):
            self.wake()

    async def posted(self, reply: Reply, message: MessageRef) -> None:
        """An adapter sent or edited a message showing an article: remember it, with the poll
        version it shows, so the coalescing job keeps its counts live."""
        if reply.article_id is not None and reply.poll_version is not None:
            await self.db.run(self._record_post, reply, message)

    def _record_post(self, reply: Reply, message: MessageRef) -> None:
        if reply.article_id is not None and reply.poll_version is not None:
            self.store.record_post(reply.article_id, message, reply.poll_version, reply.language)

    # -- leases: what one worker at a time may do (storage/leases.py) ------------------------

    async def take_lease(self, name: str, holder: str, seconds: float) -> Lease | None:
        """Take or renew the lease `name` for `seconds`: None when taken, else the lease of
        the other holder that runs."""
        return await self.db.run(self._take_lease, name, holder, seconds)

    def _take_lease(self, name: str, holder: str, seconds: float) -> Lease | None:
        for _ in range(2):
            if self.store.leases.take(name, holder, seconds):
                return None
            other = self.store.leases.holder(name)
            if other is not None:
                return other
            # It expired between the two statements: try once more.
        return Lease(name, "another worker", self.store.now())

    async def release_lease(self, name: str, holder: str) -> None:
        await self.db.run(self.store.leases.release, name, holder)

    async def known_tags(self, prefix: str = "", limit: int = 25) -> list[str]:
        """Known tags for completion: those starting with `prefix` first, then those containing
        it, each most used first."""
        return await self.db.run(self.store.tags_matching, prefix, limit)

    async def migrated(self, old: ChatRef, new: ChatRef) -> None:
        """A chat got a new id (a Telegram group became a supergroup)."""
        await self.db.run(self.store.migrate_chat, old, new)

    async def chat_unreachable(self, chat: ChatRef, reason: str) -> None:
        """The bot was removed from a chat: pause what is sent there, keep the reason."""
        await self.db.run(self.store.pause_chat, chat, reason)

    async def find_posts(
        self, query: str, chat: ChatRef, person_locale: str | None = None, limit: int = 50
    ) -> list[Reply]:
        """Articles matching `query` rendered as posts (inline mode lists these)."""
        return await self.db.run(self._find_posts, query, chat, person_locale, limit)

    def _find_posts(
        self, query: str, chat: ChatRef, person_locale: str | None, limit: int
    ) -> list[Reply]:
        token = current_language.set(dispatch.chat_language(self.ctx, chat, person_locale))
        try:
            return [
                article_post(
                    a,
                    self.store.get_poll(a.id),
                    summary_chars=self.ctx.config.summary_chars,
                    polls=self.ctx.config.polls,
                )
                for a in self.store.find_articles(query, limit=limit)
            ]
        finally:
            current_language.reset(token)

    async def language(self, chat: ChatRef, person_locale: str | None = None) -> str:
        return await self.db.run(dispatch.chat_language, self.ctx, chat, person_locale)

    async def post_for(
        self, article_id: int, chat: ChatRef, language: str | None = None
    ) -> Reply | None:
        """An article rendered as a post for one chat, in `language` (a post keeps the one it
        was first shown in), else the chat's."""

        def render() -> Reply | None:
            settings = self.store.chat_settings(chat)
            shown_in = language or dispatch.chat_language(self.ctx, chat, settings=settings)
            return self._render_post(article_id, shown_in, settings)

        return await self.db.run(render)

    async def posts_for(self, posts: Sequence[Post]) -> dict[int, Reply | None]:
        """post_for of many posts in one call, each article rendered once per language (the
        refresh job edits thousands of copies of one article), by post id."""
        return await self.db.run(self._render_posts, posts)

    def _render_posts(self, posts: Sequence[Post]) -> dict[int, Reply | None]:
        rendered: dict[tuple[int, str, PostLook, bool], Reply | None] = {}
        replies: dict[int, Reply | None] = {}
        # Each chat's settings (its look, its language) in a few queries for the whole batch.
        every = {s.chat: s for s in self.store.chats.settings_of(p.message.chat for p in posts)}
        looks: dict[ChatRef, tuple[ChatSettings, str]] = {}
        for post in posts:
            chat = post.message.chat
            if chat not in looks:
                settings = every[chat]
                language = dispatch.chat_language(self.ctx, chat, settings=settings)
                looks[chat] = (settings, language)
            settings, chat_language = looks[chat]
            language = post.language or chat_language
            key = (post.article_id, language, PostLook.of(settings), settings.translate)
            if key not in rendered:
                rendered[key] = self._render_post(post.article_id, language, settings)
            replies[post.id] = rendered[key]
        return replies

    def _render_post(self, article_id: int, language: str, settings: ChatSettings) -> Reply | None:
        """An article as a post in a chat of `language` with these settings (its look;
        translated when it asks and a translation is stored), in the database thread."""
        article = self.store.get_article(article_id)
        if article is None:
            return None
        return chat_post(self.ctx, article, self.store.get_poll(article_id), language, settings)

    async def outgoing_posts(self, deliveries: Sequence[Delivery]) -> list[Outgoing | None]:
        """Each delivery as the adapter sends it: the post in the chat's language, with the
        chat's settings that shape the send (a discussion thread under it), so that the adapter
        never asks the core in the middle of a send. One database call for the batch: an
        article is read and rendered once per language, however many chats it goes to.
        Translations the batch needs are asked for first, within the model's timeout."""
        if self.translator is not None:
            await self.translator.prepare(deliveries)
        return await self.db.run(self._outgoing_posts, list(deliveries))

    def _outgoing_posts(self, deliveries: list[Delivery]) -> list[Outgoing | None]:
        rendered: dict[tuple[int, str, PostLook, bool], Reply | None] = {}
        outgoing: list[Outgoing | None] = []
        every = {s.chat: s for s in self.store.chats.settings_of(d.chat for d in deliveries)}
        for delivery in deliveries:
            settings = every[delivery.chat]
            language = dispatch.chat_language(self.ctx, delivery.chat, settings=settings)
            key = (delivery.article_id, language, PostLook.of(settings), settings.translate)
            if key not in rendered:
                rendered[key] = self._render_post(delivery.article_id, language, settings)
            reply = rendered[key]
            if reply is None:
                outgoing.append(None)
            else:
                outgoing.append(
                    Outgoing(delivery.chat, reply, threads=settings.threads, topic=delivery.thread)
                )
        return outgoing
