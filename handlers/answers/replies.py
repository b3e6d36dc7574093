"""What a person reads: /search results, a quoted answer with its sources, and a generated
answer that is used only when it cites the articles it was given."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from handlers.answers.compounds import with_compound_parts
from handlers.answers.retrieval import Answer
from handlers.answers.words import query_words, words_of
from handlers.context import Ctx, Passage
from handlers.events import Reply, Rich, Span, UserError, bold, italic, link
from handlers.i18n import current_language, format_date, t
from storage.models import Article
from storage.search import MARK_END, MARK_START, SearchHit

log = logging.getLogger(__name__)

_CITATION = re.compile(r"#(\d{1,12})\b")
MAX_GENERATED_CHARS = 2000


def marked_spans(snippet: str) -> list[Span]:
    """A snippet with MARK_START/MARK_END around matches as spans, the matches bold."""
    spans: list[Span] = []
    strong = False
    for part in re.split(f"({MARK_START}|{MARK_END})", " ".join(snippet.split())):
        if part == MARK_START:
            strong = True
        elif part == MARK_END:
            strong = False
        elif part:
            spans.append(bold(part) if strong else Span(part))
    return spans


def source_line(article: Article) -> Rich:
    """Title (linked where there is a link), #N and date of an article an answer comes from."""
    title = link(article.title, article.url) if article.url else Span(article.title)
    parts: list[Span] = [title, Span(" · "), bold(f"#{article.id}")]
    if article.published:
        parts.append(Span(" · " + format_date(article.published)))
    return Rich(tuple(parts))


def search_reply(ctx: Ctx, text: str) -> Reply:
    """Articles containing every word, newest first; failing that, those with some of them,
    most relevant first. Each with a snippet, matched words bold."""
    found = query_words(text)
    if not found:
        raise UserError("search.common_words" if words_of(text) else "search.no_words")
    shown = " ".join(w.shown for w in found)
    words = with_compound_parts(ctx, found)
    concepts = [w.concept for w in words]
    limit = ctx.config.list_limit
    newest = ctx.search.find_newest(concepts, match_all=True, limit=limit)
    total, hits = newest.total, newest.hits
    if total:
        header = t("search.header", count=total, query=shown)
    else:
        hits = ctx.search.find(concepts, limit=limit)
        header = t("search.partial", query=shown)
    if not hits:
        return Reply(text=Rich.of(t("search.none", query=shown)))
    lines = [Rich.of(bold(header))]
    for hit in hits:
        lines.append(Rich.of(""))
        lines.append(_hit_line(hit))
        snippet = marked_spans(hit.snippet)
        if snippet:
            lines.append(Rich(tuple(snippet)))
    if total > len(hits):
        lines += [Rich.of(""), Rich.of(italic(t("search.more", count=total - len(hits))))]
    return Reply(text=Rich.join(lines))


def _hit_line(hit: SearchHit) -> Rich:
    article = hit.article
    parts: list[Span] = [bold(f"#{article.id}"), Span(" "), Span(article.title)]
    if article.published:
        parts.append(Span(" · " + format_date(article.published)))
    return Rich(tuple(parts))


def extractive_reply(answer: Answer) -> Reply:
    lines = [
        Rich.of(t("ask.quote", text=answer.quote)),
        Rich.of("— ") + source_line(answer.article),
    ]
    if answer.related:
        lines += [Rich.of(""), Rich.of(bold(t("ask.related")))]
        lines += [Rich.of("• ") + source_line(article) for article, _ in answer.related]
    lines += [Rich.of(""), Rich.of(italic(t("ask.more", id=answer.article.id)))]
    return Reply(text=Rich.join(lines))


def passages_of(answer: Answer) -> list[Passage]:
    articles = [(answer.article, answer.quote), *answer.related]
    return [Passage(a.id, a.title, quote, a.language) for a, quote in articles]


def accepted_citations(text: str, passages: Sequence[Passage]) -> list[int] | None:
    """The articles a generated answer cites, in order, when it cites at least one and only
    articles it was given; None otherwise (the answer is then not used)."""
    cited = list(dict.fromkeys(int(n) for n in _CITATION.findall(text)))
    given = {p.article_id for p in passages}
    if not cited or not set(cited) <= given:
        return None
    return cited


async def generated_reply(ctx: Ctx, question: str, answer: Answer) -> Reply | None:
    """An answer written by the configured writer from the passages, if it cites them
    properly; None on any failure, so that the extractive answer is given instead."""
    if ctx.answers is None:
        return None
    passages = passages_of(answer)
    try:
        text = await ctx.answers.write(question, passages, current_language.get())
    except Exception:
        log.exception("the answer writer failed")
        return None
    if not text or not text.strip():
        return None
    text = text.strip()[:MAX_GENERATED_CHARS]
    cited = accepted_citations(text, passages)
    if cited is None:
        log.warning("a generated answer cited no given article; using the extractive answer")
        return None
    by_id = {a.id: a for a in [answer.article, *(r for r, _ in answer.related)]}
    lines = [
        Rich.of(text),
        Rich.of(""),
        Rich.of(bold(t("ask.sources"))),
        *(Rich.of("• ") + source_line(by_id[n]) for n in cited),
        Rich.of(""),
        Rich.of(italic(t("ask.generated"))),
    ]
    return Reply(text=Rich.join(lines))


def matching_articles(ctx: Ctx, text: str, limit: int) -> list[Article]:
    """What /search finds for `text`, as articles (the dashboard's search): those containing
    every word, newest first; failing that, those with some of them, most relevant first."""
    found = query_words(text)
    if not found:
        return []
    concepts = [w.concept for w in with_compound_parts(ctx, found)]
    newest = ctx.search.find_newest(concepts, match_all=True, limit=limit, snippets=False)
    hits = newest.hits if newest.total else ctx.search.find(concepts, limit=limit, snippets=False)
    return [hit.article for hit in hits]
