"""The store's article texts on both engines: a page's full text replacing the body (the feed's
text kept as the summary, the search index following) and translations per article and
language."""

from __future__ import annotations

from storage.models import NewArticle, Translation
from storage.search import Concept, Word, search_for
from storage.store import Store

OPTIONS = [("Sehr gut", 5), ("Gut", 4), ("Mittel", 3), ("Schwach", 2), ("Schlecht", 1)]


def stored(store: Store, body: str = "Forscher zählen Beuteltiere.") -> int:
    result = store.add_article(
        NewArticle(title="Quokkas", body=body, tags=("Tiere",), language="de"),
        dedupe_key="guid:1",
        url_key=None,
        question="Wie?",
        options=OPTIONS,
        language="de",
    )
    assert result.article is not None
    return result.article.id


def found(store: Store, word: str) -> int:
    return search_for(store).count([Concept.of(Word(word))])


def test_full_text_becomes_the_body_and_the_index_follows(any_store: Store) -> None:
    article_id = stored(any_store)
    assert found(any_store, "Beuteltiere") == 1 and found(any_store, "Rottnest") == 0
    assert any_store.texts.use_full_text(article_id, "Auf Rottnest leben viele Quokkas.")
    article = any_store.get_article(article_id)
    assert article is not None
    assert article.body == "Auf Rottnest leben viele Quokkas."
    assert article.summary == article.post_text == "Forscher zählen Beuteltiere."
    assert found(any_store, "Rottnest") == 1
    assert found(any_store, "Beuteltiere") == 0  # the teaser's words left the index
    # A second page keeps the feed's text as the summary, not the first page's.
    any_store.texts.use_full_text(article_id, "Neu: Rottnest zählt wieder.")
    again = any_store.get_article(article_id)
    assert again is not None and again.summary == "Forscher zählen Beuteltiere."
    assert not any_store.texts.use_full_text(999, "nobody")


def test_a_translation_is_stored_once_per_article_and_language(any_store: Store) -> None:
    article_id = stored(any_store)
    assert any_store.texts.translation(article_id, "en") is None
    any_store.texts.save_translation(Translation(article_id, "en", "Quokkas", "Counted."))
    # Another worker's translation of the same pair, stored a moment later: the first stays.
    any_store.texts.save_translation(Translation(article_id, "en", "Other", "Other."))
    assert any_store.texts.translation(article_id, "en") == Translation(
        article_id, "en", "Quokkas", "Counted."
    )
    any_store.texts.save_translation(Translation(999, "en", "Gone", "Gone."))  # no article
    assert any_store.texts.translation(999, "en") is None
