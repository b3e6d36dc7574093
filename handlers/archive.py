"""Answers from the archive: /search, /ask, and plain questions in private chats or mentions."""

from __future__ import annotations

import bisect
import functools
import logging
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from handlers.context import Ctx, Passage
from handlers.events import Command, Reply, Rich, Span, UserError, bold, italic, link
from handlers.i18n import current_language, format_date, t
from handlers.registry import MAX_TOTAL_CHARS, Param, clean_arg, command
from handlers.sentences import sentences
from storage.models import Article
from storage.search import MARK_END, MARK_START, Concept, SearchHit, Word

log = logging.getLogger(__name__)

MAX_CONCEPTS = 12  # query words used at most: bounds the FTS query and the scoring work
CANDIDATES = 20  # articles re-scored for /ask
# Share of the question's weight (rarity-weighted words) an article must contain to count as
# an answer, or as a related article; below it, the archive says it has none. Chosen on
# tests/data/questions.json and the unanswerable questions in tests/test_answers.py.
MIN_COVERAGE = 0.25
MAX_QUOTE_SENTENCES = 3
QUOTE_CHARS = 700
SNIPPET_CHARS = 220
TOPIC_WEIGHT = 0.3  # a question word in the article's title, when choosing sentences to quote

# --- words ----------------------------------------------------------------------------------

_TOKEN = re.compile(r"[^\W_]+")

_STOP_DE = frozenset(
    {
        "aber", "alle", "allem", "allen", "aller", "alles", "als", "also", "am", "an", "ander",
        "andere", "anderem", "anderen", "anderer", "anderes", "auch", "auf", "aus", "bei", "beim",
        "bin", "bis", "bist", "bitte", "da", "dabei", "dadurch", "dafür", "dagegen", "daher",
        "damit", "dann", "daran", "darauf", "daraus", "darf", "darin", "darum", "darüber", "das",
        "dass", "dazu", "dein", "deine", "dem", "den", "denen", "denn", "der", "deren", "des",
        "dessen", "dich", "die", "dies", "diese", "diesem", "diesen", "dieser", "dieses", "dir",
        "doch", "dort", "du", "durch", "eigentlich", "ein", "eine", "einem", "einen", "einer",
        "eines", "er", "es", "etwa", "etwas", "euch", "euer", "für", "gab", "gegen", "gibt",
        "gehabt", "genau", "gewesen", "hab", "habe", "haben", "seines", "ihres", "meines",
        "deines", "unseres", "hat", "hatte", "hatten", "hier", "hin", "hinter", "ich", "ihm",
        "ihn", "ihnen", "ihr", "ihre", "ihrem", "ihren", "ihrer", "im", "in", "ins", "ist", "ja",
        "jede", "jedem", "jeden", "jeder", "jedes", "jetzt", "kann", "kannst", "kein", "keine",
        "keinem", "keinen", "keiner", "können", "könnte", "man", "manche", "mehr", "mein", "meine",
        "mich", "mir", "mit", "muss", "müssen", "nach", "nein", "nicht", "nichts", "noch", "nun",
        "nur", "ob", "oder", "ohne", "schon", "sehr", "sein", "seine", "seinem", "seinen",
        "seiner", "seit", "sich", "sie", "sind", "so", "soll", "sollen", "sollte", "sondern",
        "sonst", "über", "um", "und", "uns", "unser", "unsere", "unter", "viel", "viele", "vom",
        "von", "vor", "war", "waren", "warst", "was", "weg", "weil", "weiter", "welche", "welchem",
        "welchen", "welcher", "welches", "wem", "wen", "wenn", "wer", "werde", "werden", "wessen",
        "wie", "wieder", "wieso", "wieviel", "wieviele", "will", "wir", "wird", "wirst", "wo",
        "wodurch", "wofür", "woher", "wohin", "womit", "worden", "worüber", "wozu", "wurde",
        "wurden", "würde", "zu", "zum", "zur", "zwar", "zwischen", "warum", "weshalb", "wann",
        "gerade", "bekannt", "neue", "neuen", "neuer", "neues", "neu", "heißt", "heisst", "genannt"
    }
)  # fmt: skip
_STOP_EN = frozenset(
    {
        "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are",
        "aren't", "as", "at", "be", "because", "been", "before", "being", "below", "between",
        "both", "but", "by", "can", "could", "did", "do", "does", "doing", "done", "down",
        "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he",
        "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into",
        "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor",
        "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "out",
        "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the",
        "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those",
        "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what",
        "when", "where", "which", "while", "who", "whom", "whose", "why", "will", "with", "would",
        "you", "your", "yours", "much", "many", "long", "according", "tell", "know", "new",
        "please", "get", "got"
    }
)  # fmt: skip
STOP_WORDS = _STOP_DE | _STOP_EN
_QUESTION_WORDS = frozenset(
    {
        "wer", "wie", "was", "wann", "wo", "warum", "weshalb", "wieso", "welche", "welcher",
        "welches", "welchen", "welchem", "wem", "wen", "wessen", "woher", "wohin", "womit",
        "wofür", "worüber", "wozu", "wodurch", "wieviel", "wieviele", "who", "what", "when",
        "where", "why", "which", "whose", "whom", "how"
    }
)  # fmt: skip
# Light stemming: one inflection ending off, so that a prefix query finds every form
# ("Rechenzentrums" -> "rechenzentrum*", "Modelle" -> "modell*", "batteries" -> "batter*").
_ENDINGS = ("ern", "ens", "ies", "ing", "en", "er", "es", "em", "ed", "e", "s", "n", "y")
# Then one derivation ending, so that "pausierbar" finds "pausieren", "Verwaltung" "verwaltet".
_DERIVATIONS = ("ungen", "ung", "lich", "bar", "keit", "heit")
_MIN_STEM = 4
# Compounds are split into parts of at least this many letters, each one a known word start.
_MIN_PART = 4
_MIN_COMPOUND = 8
_LINKING = ("s", "es", "n", "en")  # Fugen: Arbeit-s-platz, Satellit-en-anbieter


@functools.lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Lower case without accents, as the search index compares words ("Wärme" -> "warme";
    lower() rather than casefold(), which would turn "ß" into "ss" where the index does not)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words_of(text: str) -> list[str]:
    """The words of a text as the index splits them (hyphens and punctuation separate)."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text))


def _strip(word: str, endings: Iterable[str]) -> str:
    for ending in endings:
        if word.endswith(ending) and len(word) - len(ending) >= _MIN_STEM:
            return word[: -len(ending)]
    return word


def stem(word: str) -> str:
    """A light stem for prefix matching: one inflection and one derivation ending off."""
    lowered = word.lower()
    if lowered.isdigit():
        return lowered
    return _strip(_strip(lowered, _ENDINGS), _DERIVATIONS)


@dataclass(frozen=True, slots=True)
class QueryWord:
    """A content word of a query and how it is looked for."""

    shown: str  # as the person wrote it
    concept: Concept


def query_words(text: str) -> list[QueryWord]:
    """The content words of a question or search, stop words removed, each with its stem as a
    prefix (German inflections and compound heads match: "KI-Modelle" finds "KI Modell")."""
    out: list[QueryWord] = []
    seen: set[str] = set()
    for word in words_of(text):
        lowered = word.lower()
        if lowered in STOP_WORDS or (len(lowered) < 2 and not lowered.isdigit()):
            continue
        root = stem(lowered)
        key = fold(root)
        if key in seen or root in STOP_WORDS:
            continue
        seen.add(key)
        prefix = len(root) >= _MIN_STEM and not root.isdigit()
        out.append(QueryWord(word, Concept.of(Word(root, prefix=prefix))))
        if len(out) == MAX_CONCEPTS:
            break
    return out


def is_question(text: str) -> bool:
    """A message that asks something: ends with '?', or starts with a question word."""
    stripped = text.strip()
    if stripped.rstrip(" )»“\"'").endswith(("?", "？")):
        return True
    first = words_of(stripped[:40])
    return bool(first) and first[0].lower() in _QUESTION_WORDS


class WordIndex:
    """The folded words of a text, for checking which query words it contains."""

    def __init__(self, text: str) -> None:
        self.words = sorted({fold(w) for w in words_of(text)})
        self._set = set(self.words)

    def has(self, word: Word) -> bool:
        key = fold(word.text)
        if not word.prefix:
            return key in self._set
        at = bisect.bisect_left(self.words, key)
        return at < len(self.words) and self.words[at].startswith(key)

    def covers(self, concept: Concept) -> bool:
        return any(all(self.has(w) for w in variant) for variant in concept.variants)


def split_compound(word: str, known: Callable[[str], bool]) -> tuple[str, str] | None:
    """A long word as head and tail that both start words of the archive, the most even
    split first ("halbleiterfabrik" -> "halbleiter", "fabrik"), a linking "s" or "en" dropped
    from the head where only that is known ("satellitenanbieter" -> "satellit", "anbiet", the
    tail stemmed). None when no split is known."""
    best: tuple[str, str] | None = None
    for cut in range(_MIN_PART, len(word) - _MIN_PART + 1):
        head, tail = word[:cut], stem(word[cut:])
        if len(tail) < _MIN_PART or (best and min(len(head), len(tail)) <= min(map(len, best))):
            continue
        heads = [head] + [
            head[: -len(link)]
            for link in _LINKING
            if head.endswith(link) and len(head) - len(link) >= _MIN_PART
        ]
        found = next((h for h in heads if known(h)), None)
        if found and known(tail):
            best = (found, tail)
    return best


def with_compound_parts(ctx: Ctx, words: Sequence[QueryWord]) -> list[QueryWord]:
    """Long words also match as their parts together: "Halbleiterfabrik" finds an article
    about a "Fabrik" for "Halbleiter", "Chipwerk" one with "Chips" and a "Werk"."""
    cache: dict[str, bool] = {}

    def known(start: str) -> bool:
        if start not in cache:
            cache[start] = ctx.search.has_words_starting(fold(start))
        return cache[start]

    out = []
    for word in words:
        [[first]] = word.concept.variants
        parts = split_compound(first.text, known) if len(first.text) >= _MIN_COMPOUND else None
        if parts is None:
            out.append(word)
            continue
        head, tail = (Word(p, prefix=True) for p in parts)
        out.append(QueryWord(word.shown, Concept(((first,), (head, tail)))))
    return out


# --- sentences ------------------------------------------------------------------------------

# --- ranking --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ranked:
    article: Article
    coverage: float  # share of the question's weight the article contains, 0..1
    matched: int  # how many of the question's words it contains
    relevance: float  # BM25

    def answers(self, words: int, min_coverage: float) -> bool:
        """Whether the article answers the question: it contains at least two of its words
        (all of them, for a one-word question) and enough of its weight. One shared word is a
        coincidence ("Wetter", "Bank"), not an answer."""
        return self.matched >= min(2, words) and self.coverage >= min_coverage


def article_text(article: Article) -> str:
    return f"{article.title}\n{article.body}\n{' '.join(article.tags)}"


def rank(ctx: Ctx, words: Sequence[QueryWord], weights: Sequence[float]) -> list[Ranked]:
    """Candidates by BM25, re-ranked by how much of the question each one contains (the
    rarity-weighted share of its words), BM25 breaking ties."""
    concepts = [w.concept for w in words]
    total = sum(weights) or 1.0
    ranked = []
    for hit in ctx.search.find(concepts, limit=CANDIDATES, snippets=False):
        index = WordIndex(article_text(hit.article))
        found = [w for w, c in zip(weights, concepts, strict=True) if index.covers(c)]
        ranked.append(Ranked(hit.article, sum(found) / total, len(found), hit.relevance))
    ranked.sort(key=lambda r: (r.coverage, r.relevance), reverse=True)
    return ranked


_AMOUNT_QUESTION = re.compile(
    r"^\W*(wie\s+(viele?|hoch|teuer|lange?|schnell|gro(ß|ss)|oft|weit|schwer)|wann|"
    r"how\s+(many|much|long|often|fast|far|heavy|big)|when|what\s+(share|percentage))\b",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")


def best_sentences(
    article: Article, question: str, words: Sequence[QueryWord], weights: Sequence[float]
) -> list[tuple[int, str]]:
    """The one to three sentences that share most words with the question, in the article's
    order. The words that found the article (its topic: in its title, or in most of its
    sentences) tell less about where the answer is than the question's other words ("Wie
    schnell fahren die Lieferroboter?": "fahren" more than "Lieferroboter"); a question for
    an amount or a date prefers sentences with figures."""
    found = [(s, WordIndex(s)) for s in sentences(article.body)]
    if not found:
        return []
    count = len(found)
    title = WordIndex(article.title)
    local = []
    for word, weight in zip(words, weights, strict=True):
        holding = sum(1 for _, index in found if index.covers(word.concept))
        topic = TOPIC_WEIGHT if title.covers(word.concept) else 1.0
        local.append(weight * topic * math.log(1 + count / holding) if holding else 0.0)
    wants_figure = bool(_AMOUNT_QUESTION.match(question))
    scored: list[tuple[float, int, str]] = []
    for position, (sentence, index) in enumerate(found):
        score = sum(w for w, q in zip(local, words, strict=True) if index.covers(q.concept))
        if wants_figure and _DIGIT.search(sentence):
            score *= 1.5
        scored.append((score, position, sentence))
    scored.sort(key=lambda s: (-s[0], s[1]))
    top = scored[0][0]
    chosen = [s for s in scored[:MAX_QUOTE_SENTENCES] if s[0] > 0 and s[0] >= top * 0.5]
    picked: list[tuple[int, str]] = []
    length = 0
    for _, position, sentence in chosen or scored[:1]:
        if picked and length + len(sentence) > QUOTE_CHARS:
            break
        picked.append((position, sentence))
        length += len(sentence)
    return sorted(picked)


def quote_text(picked: Sequence[tuple[int, str]]) -> str:
    """Sentences as one quote; a gap between them is marked with an ellipsis."""
    out = ""
    previous: int | None = None
    for position, sentence in picked:
        if previous is not None:
            out += " " if position == previous + 1 else " … "
        out += sentence
        previous = position
    return out


@dataclass(frozen=True, slots=True)
class Answer:
    article: Article
    quote: str
    related: list[tuple[Article, str]]  # further articles with their best sentences


def find_answer(ctx: Ctx, question: str) -> tuple[Answer | None, list[QueryWord]]:
    """The best article's most relevant sentences and up to two related articles (None when
    nothing clears the relevance threshold), with the question's words."""
    words = with_compound_parts(ctx, query_words(question))
    if not words:
        return None, words
    weights = ctx.search.rarity([w.concept for w in words])
    ranked = rank(ctx, words, weights)
    if not ranked or not ranked[0].answers(len(words), MIN_COVERAGE):
        return None, words
    others = [r.article for r in ranked[1:] if r.answers(len(words), MIN_COVERAGE)]
    related = [
        (other, quote_text(best_sentences(other, question, words, weights))) for other in others[:2]
    ]
    quote = quote_text(best_sentences(ranked[0].article, question, words, weights))
    return Answer(ranked[0].article, quote, related), words


# --- replies --------------------------------------------------------------------------------

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
    total = ctx.search.count(concepts, match_all=True)
    if total:
        hits = ctx.search.find(concepts, match_all=True, newest_first=True, limit=limit)
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


async def answer_question(ctx: Ctx, question: str) -> list[Reply]:
    """The answer to a question from the archive, or an honest "the archive has no answer"."""
    answer, words = find_answer(ctx, question)
    if not words:
        raise UserError("search.common_words" if words_of(question) else "ask.no_words")
    if answer is None:
        return [Reply(text=Rich.of(t("ask.none")))]
    generated = await generated_reply(ctx, question, answer)
    return [generated or extractive_reply(answer)]


# @handles (the bot's, or anyone's) are not part of the question; e-mail addresses stay.
_MENTION = re.compile(r"(?<![\w@])@\w[\w.]*[,:]?")


def addressed_question(text: str, *, is_private: bool, mentions_bot: bool) -> str | None:
    """The question in a plain message meant for the bot: a question in a private chat, or
    anything that mentions the bot in a group (adapters tell). None: not for the bot."""
    question = " ".join(_MENTION.sub(" ", text).split())
    if mentions_bot or (is_private and is_question(question)):
        return question
    return None


async def answer_message(ctx: Ctx, question: str) -> list[Reply]:
    """A plain message's question answered like /ask; an empty one gets a hint."""
    if len(question) > MAX_TOTAL_CHARS:
        raise UserError("error.too_long", limit=MAX_TOTAL_CHARS)
    question = clean_arg(question)
    if not words_of(question):
        return [Reply(text=Rich.of(t("ask.hint")))]
    return await answer_question(ctx, question)


@command("search", Param("words", "words"))
async def cmd_search(ctx: Ctx, cmd: Command) -> list[Reply]:
    return [search_reply(ctx, " ".join(cmd.args))]


@command("ask", Param("question", "words"))
async def cmd_ask(ctx: Ctx, cmd: Command) -> list[Reply]:
    return await answer_question(ctx, " ".join(cmd.args))
