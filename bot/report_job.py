"""The weekly style report as a job: due on Monday 08:00 local time, sent once per week by one
worker to the report chat or the owners' private chats."""

from __future__ import annotations

import asyncio
import logging

from bot.adapter_contract import DeliveryError
from bot.runtime import Runtime
from bot.settings import Settings
from handlers.charts import chart_png
from handlers.events import Image, Outgoing, Reply
from handlers.i18n import current_language
from handlers.weekly_report import Week, report_chart, report_text, week_due, week_figures
from storage.models import ChatRef
from storage.reports import WeekFigures
from storage.store import Store

log = logging.getLogger(__name__)

LAST_SENT = "report:last_week"  # the newest week whose report went out (or had no votes)


def report_chats(settings: Settings) -> list[ChatRef]:
    """NEWSBOT_REPORT_CHAT, else each owner's private chat where the platform can open one
    from a person's id (Telegram: the chat id is the user id; on Discord a direct message
    needs a channel: set NEWSBOT_REPORT_CHAT)."""
    if settings.report_chat:
        platform, _, chat_id = settings.report_chat.partition(":")
        return [ChatRef(platform, chat_id)]
    owners = sorted(o for o in settings.owners() if o.startswith("telegram:"))
    return [ChatRef("telegram", owner.partition(":")[2]) for owner in owners]


class WeeklyReport:
    """Run under the lease `job:report` (bot.workers.Singleton): one worker sends it. The week
    is marked sent in the store before sending, so a restart, a second worker or a later run
    never sends it again (a crash mid-send loses that week's report rather than repeating it)."""

    def __init__(self, runtime: Runtime, settings: Settings) -> None:
        self.runtime = runtime
        self.zone = settings.zone()
        self.chats = report_chats(settings)

    @property
    def store(self) -> Store:
        return self.runtime.store

    async def run(self) -> None:
        db = self.runtime.db
        week = week_due(await db.run(self.store.now), self.zone)
        figures = await db.run(self._claim, week)
        if figures is None or figures.votes == 0:
            return  # sent already, or nothing to say (a new or a quiet bot)
        for chat in self.chats:
            await self._send(chat, week, figures)

    def _claim(self, week: Week) -> WeekFigures | None:
        """In the database thread: the week's figures if its report is still to be sent, the
        week marked as sent first."""
        if not self.store.reports.mark_sent(LAST_SENT, week.name):
            return None
        return week_figures(self.store, week)

    async def _send(self, chat: ChatRef, week: Week, figures: WeekFigures) -> None:
        adapter = self.runtime.adapters.get(chat.platform)
        if adapter is None:
            log.warning("weekly report: %s is not running, no report to %s", chat.platform, chat)
            return
        language = await self.runtime.language(chat)
        token = current_language.set(language)
        try:
            text = report_text(week, figures)
            chart = report_chart(week, figures)
        finally:
            current_language.reset(token)
        png = await asyncio.to_thread(chart_png, chart)  # not on the loop
        picture = Reply(chart=Image(png=png, alt=text.plain()), language=language)
        try:
            # The text first (it may be longer than a caption), then the chart.
            await adapter.send(Outgoing(chat, Reply(text=text, language=language)))
            await adapter.send(Outgoing(chat, picture))
        except DeliveryError as err:
            log.warning("weekly report %s not sent to %s: %s", week.name, chat, err.reason)
