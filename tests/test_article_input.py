"""Tests for turning text files, feeds and JSON into articles, and refusing what is unsafe."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from bot.article_input import (
    MAX_FEED_BYTES,
    MAX_TEXT_BYTES,
    InputRejected,
    detect_language,
    html_to_text,
    normalise_guid,
    normalise_url,
    parse_any,
    parse_feed,
    parse_json_articles,
    parse_text_article,
    safe_link,
)
from handlers.events import UserError

# Our own small articles in the plain-text format: one paragraph per line, a tags line, and
# the style poll question last.
GERMAN_ARTICLE = (
    "Die Stadtwerke haben am Montag einen neuen Solarpark am Stadtrand in Betrieb genommen. "
    "Er soll rund 4.000 Haushalte mit Strom versorgen.\n"
    "Nach Angaben des Unternehmens ist die Anlage die größte in der Region. Die Kosten lagen "
    "bei zwölf Millionen Euro und damit unter dem Plan.\n"
    "Kritik kam von Anwohnern, die sich mit der Lage der Module nicht einverstanden zeigten.\n"
    "Schlagwörter: Energie + Solar + Stadtwerke\n"
    "Wie bewerten Sie den Schreibstil des Artikels?\n"
)

ENGLISH_ARTICLE = (
    "Title: Library opens a repair café\n"
    "Link: https://news.example.org/local/repair-cafe\n"
    "Date: 2025-03-14T09:30:00+01:00\n"
    "\n"
    "The city library has opened a repair café where volunteers fix toasters, lamps and bikes.\n"
    "\n"
    "It is open on the first Saturday of each month, and the first session was fully booked.\n"
    "Tags: Community, Repair; Library\n"
    "How would you rate the writing style of this article?\n"
)


def rejected(excinfo: pytest.ExceptionInfo[InputRejected]) -> str:
    return excinfo.value.reason_key


# --- plain-text format --------------------------------------------------------------------


def test_reference_format_gives_title_body_tags_and_question() -> None:
    article = parse_text_article(GERMAN_ARTICLE.encode())

    assert (
        article.title
        == "Die Stadtwerke haben am Montag einen neuen Solarpark am Stadtrand in Betrieb genommen"
    )
    assert article.tags == ("Energie", "Solar", "Stadtwerke")
    assert article.question == "Wie bewerten Sie den Schreibstil des Artikels?"
    assert article.language == "de"
    assert article.source == "file"
    assert article.url is None
    assert article.published is None
    assert article.guid is None
    paragraphs = article.body.split("\n\n")
    assert len(paragraphs) == 3
    assert paragraphs[0].startswith("Die Stadtwerke haben am Montag")
    assert "Schlagwörter" not in article.body
    assert "Schreibstil" not in article.body


def test_english_headers_blank_line_paragraphs_and_mixed_separators() -> None:
    article = parse_text_article(ENGLISH_ARTICLE.encode(), source="upload")

    assert article.title == "Library opens a repair café"
    assert article.url == "https://news.example.org/local/repair-cafe"
    assert article.published == datetime(2025, 3, 14, 8, 30, tzinfo=UTC)
    assert article.tags == ("Community", "Repair", "Library")
    assert article.question == "How would you rate the writing style of this article?"
    assert article.language == "en"
    assert article.source == "upload"
    assert article.body.split("\n\n") == [
        "The city library has opened a repair café where volunteers fix toasters, lamps and bikes.",
        "It is open on the first Saturday of each month, and the first session was fully booked.",
    ]
    assert "Title:" not in article.body
    assert "Link:" not in article.body


def test_german_headers_with_dotted_date_bom_and_crlf() -> None:
    text = (
        "Titel: Neue Radwege im Westend\r\n"
        "URL: http://zeitung.example.de/rad\r\n"
        "Datum: 03.02.2025\r\n"
        "Die Stadt baut bis zum Sommer drei neue Radwege, und die Arbeiten laufen.\r\n"
        "Schlagworte: Verkehr; Rad\r\n"
    )
    article = parse_text_article(b"\xef\xbb\xbf" + text.encode())

    assert article.title == "Neue Radwege im Westend"
    assert article.url == "http://zeitung.example.de/rad"
    assert article.published == datetime(2025, 2, 3, tzinfo=UTC)
    assert article.tags == ("Verkehr", "Rad")
    assert article.question is None
    assert article.body == (
        "Die Stadt baut bis zum Sommer drei neue Radwege, und die Arbeiten laufen."
    )
    assert "\r" not in article.body
    assert "\ufeff" not in article.title


def test_rfc_2822_date_and_headers_after_an_untitled_first_line() -> None:
    text = (
        "Hafen meldet Rekord\n"
        "Datum: Tue, 20 May 2025 10:00:00 +0200\n"
        "Im Hafen wurden im April mehr Container umgeschlagen als je zuvor.\n"
    )
    article = parse_text_article(text.encode())

    assert article.published == datetime(2025, 5, 20, 8, 0, tzinfo=UTC)
    assert article.title == "Hafen meldet Rekord"
    assert "Datum" not in article.body


def test_tag_line_cleanup() -> None:
    text = (
        "Ein kurzer Bericht über die Woche, der nicht viel mehr ist als ein Test.\n"
        "TAGS:  #Klima ,  erneuerbare   Energie; klima + C++ + Wind\u200b + Wi\u200bnd ;; \n"
    )
    article = parse_text_article(text.encode())

    assert article.tags == ("Klima", "erneuerbare Energie", "C++", "Wind")


def test_missing_title_is_the_first_clause_of_a_long_first_sentence() -> None:
    long_sentence = (
        "Am 5. Juni hat der Stadtrat z. B. nach einer langen, teils hitzigen Debatte über Kosten, "
        "Nutzen und Lärm beschlossen, dass die alte Markthalle saniert und als Kulturzentrum "
        "wieder eröffnet wird. Der zweite Satz gehört nicht in den Titel."
    )
    article = parse_text_article(f"{long_sentence}\nTags: Kultur\n".encode())

    # Not cut after "z. B." or "5.", but at the clause's end.
    assert article.title == "Am 5. Juni hat der Stadtrat z. B. nach einer langen"


def test_missing_title_without_a_clause_is_cut_at_a_word_within_90_characters() -> None:
    sentence = (
        "Der Softwarekonzern Microsoft will künftig auch Sprachmodelle des Start-ups xAI in "
        "seiner Cloud anbieten und dafür eigene Rechenzentren bauen"
    )
    article = parse_text_article(f"{sentence}. Mehr folgt.\nTags: xAI\n".encode())

    assert len(article.title) <= 90
    assert article.title.endswith("…")
    # Cut between words, not inside one.
    kept = article.title[:-1].rstrip()
    assert sentence.startswith(kept) and sentence[len(kept)] == " "


def test_short_first_sentence_becomes_the_title_without_its_full_stop() -> None:
    article = parse_text_article(
        b"Der Zoo hat ein Nashorn. Es heisst Bruno und ist drei Jahre alt."
    )

    assert article.title == "Der Zoo hat ein Nashorn"


def test_question_only_when_last_line_asks_one() -> None:
    no_question = parse_text_article(b"Ein Absatz ohne Frage und nicht mehr.\nTags: A\n")
    assert no_question.question is None

    # Without a tags line the last line is still the question if it ends with '?'.
    with_question = parse_text_article(
        b"Der Markt ist heute geschlossen, und das ist nicht neu.\nWas meinen Sie?\n"
    )
    assert with_question.question == "Was meinen Sie?"
    assert with_question.body == "Der Markt ist heute geschlossen, und das ist nicht neu."

    # A text that is only one question is body text, not a poll without an article.
    alone = parse_text_article(b"Ist das die Frage, die wir stellen sollten?")
    assert alone.question is None
    assert alone.body == "Ist das die Frage, die wir stellen sollten?"


def test_odd_unicode_is_normalised() -> None:
    text = "Titel: Bru\u0308cke\u200b gesperrt\nDie Bru\u0308cke ist\x07 zu.\tMehr folgt.\n"
    article = parse_text_article(text.encode())

    assert article.title == "Brücke gesperrt"
    assert article.body == "Die Brücke ist zu.\tMehr folgt."


@pytest.mark.parametrize("data", [b"", b"   \n\t\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf \n"])
def test_empty_input_is_rejected(data: bytes) -> None:
    with pytest.raises(InputRejected) as excinfo:
        parse_text_article(data)
    assert rejected(excinfo) == "empty"


def test_headers_without_body_are_rejected_as_empty() -> None:
    with pytest.raises(InputRejected) as excinfo:
        parse_text_article(b"Titel: Nur ein Titel\nTags: A + B\n")
    assert rejected(excinfo) == "empty"


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b"Text mit NUL\x00 darin",
        "Umlaute in Latin-1: Gr\xfc\xdfe".encode("latin-1"),
        "UTF-16 Text".encode("utf-16"),
    ],
)
def test_binary_input_is_rejected(data: bytes) -> None:
    with pytest.raises(InputRejected) as excinfo:
        parse_text_article(data)
    assert rejected(excinfo) == "binary"


def test_oversized_input_is_rejected() -> None:
    with pytest.raises(InputRejected) as excinfo:
        parse_text_article(b"a" * (MAX_TEXT_BYTES + 1))
    assert rejected(excinfo) == "too_large"


def test_rejection_is_a_user_error_with_a_message_key() -> None:
    with pytest.raises(UserError) as excinfo:
        parse_text_article(b"")
    assert excinfo.value.key == "input.empty"


def test_language_detection() -> None:
    assert detect_language("Der Hund und die Katze sind nicht im Haus.") == "de"
    assert detect_language("The dog and the cat are not in the house.") == "en"
    assert detect_language("Microsoft xAI OpenAI") is None


# --- feeds --------------------------------------------------------------------------------

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
<channel>
  <title>Lokales</title>
  <link>https://zeitung.example.de/</link>
  <language>de-DE</language>
  <item>
    <title>Neuer Spielplatz im Park</title>
    <link>https://zeitung.example.de/spielplatz?utm_source=rss</link>
    <guid isPermaLink="false">spielplatz-2025-04</guid>
    <pubDate>Wed, 02 Apr 2025 08:15:00 +0200</pubDate>
    <category>Familie</category>
    <category>Park</category>
    <description><![CDATA[<p>Der Spielplatz ist <b>ab heute</b> ge&ouml;ffnet &amp; kostenlos.</p>
      <script>alert("x")</script><style>p { color: red }</style>
      <p>Eltern &lt;loben&gt; die neuen Schaukeln.<br>Mehr dazu morgen.</p>]]></description>
  </item>
  <item>
    <title>Gefährlicher Link</title>
    <link>javascript:alert(document.cookie)</link>
    <description>Der Link dieses Eintrags ist kein echter Link und nicht erlaubt.</description>
  </item>
  <item>
    <title>Daten-Link</title>
    <link>data:text/html;base64,PHNjcmlwdD4=</link>
  </item>
  <item>
    <description></description>
  </item>
</channel>
</rss>
""".encode()

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <title>Science desk</title>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <updated>2025-01-10T12:00:00Z</updated>
  <entry>
    <title type="html">Comet &lt;em&gt;visible&lt;/em&gt; tonight</title>
    <link rel="alternate" href="https://science.example.com/comet"/>
    <id>URN:UUID:1225C695-CFB8-4EBB-AAAA-80DA344EFA6A</id>
    <updated>2025-01-10T18:30:00+01:00</updated>
    <category term="Space"/>
    <category term="Astronomy"/>
    <content type="html">&lt;p&gt;The comet is visible to the naked eye after sunset.&lt;/p&gt;
      &lt;ul&gt;&lt;li&gt;Look west&lt;/li&gt;&lt;li&gt;Bring binoculars&lt;/li&gt;&lt;/ul&gt;
    </content>
  </entry>
</feed>
"""

RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://blog.example.net/">
    <title>Blog</title>
    <link>https://blog.example.net/</link>
    <description>A small blog</description>
    <dc:language>en</dc:language>
  </channel>
  <item rdf:about="https://blog.example.net/posts/1">
    <title>Gardening in March</title>
    <link>https://blog.example.net/posts/1</link>
    <description>What to plant now that the frost is over and the soil is warm.</description>
    <dc:date>2025-03-01T07:00:00Z</dc:date>
    <dc:subject>Garden</dc:subject>
  </item>
</rdf:RDF>
"""


def test_rss_entries_become_plain_text_articles() -> None:
    articles = parse_feed(RSS, source="feed:lokales")

    assert [a.title for a in articles] == [
        "Neuer Spielplatz im Park",
        "Gefährlicher Link",
        "Daten-Link",
    ]
    first = articles[0]
    assert first.url == "https://zeitung.example.de/spielplatz?utm_source=rss"
    assert first.guid == "spielplatz-2025-04"
    assert first.published == datetime(2025, 4, 2, 6, 15, tzinfo=UTC)
    assert first.tags == ("Familie", "Park")
    assert first.language == "de"
    assert first.question is None
    assert first.source == "feed:lokales"
    assert first.body == (
        "Der Spielplatz ist ab heute geöffnet & kostenlos.\n\n"
        "Eltern <loben> die neuen Schaukeln.\nMehr dazu morgen."
    )
    assert "alert" not in first.body
    assert "color" not in first.body


def test_rss_links_other_than_http_are_dropped() -> None:
    articles = parse_feed(RSS)

    assert articles[1].url is None
    assert articles[2].url is None
    assert all(a.url is None or a.url.startswith("https://") for a in articles)


def test_atom_entry() -> None:
    [article] = parse_feed(ATOM)

    assert article.title == "Comet visible tonight"
    assert article.url == "https://science.example.com/comet"
    assert article.guid == "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"
    assert article.published == datetime(2025, 1, 10, 17, 30, tzinfo=UTC)
    assert article.tags == ("Space", "Astronomy")
    assert article.language == "en"
    assert article.body == (
        "The comet is visible to the naked eye after sunset.\n\n• Look west\n• Bring binoculars"
    )


def test_rdf_entry() -> None:
    [article] = parse_feed(RDF)

    assert article.title == "Gardening in March"
    assert article.url == "https://blog.example.net/posts/1"
    assert article.published == datetime(2025, 3, 1, 7, 0, tzinfo=UTC)
    assert article.tags == ("Garden",)
    assert article.language == "en"
    assert article.body == "What to plant now that the frost is over and the soil is warm."


def test_feed_html_leaves_no_tags() -> None:
    rss = b"""<rss version="2.0"><channel><title>x</title><item><title>T</title>
    <description>&lt;div onclick="evil()"&gt;&lt;h2&gt;Kopf&lt;/h2&gt;&lt;img src="x.png"
    onerror="evil()"&gt;&lt;a href="javascript:evil()"&gt;Klick&lt;/a&gt; und Text
    &lt;iframe src="https://evil.example/"&gt;&lt;/iframe&gt;&lt;/div&gt;</description>
    </item></channel></rss>"""
    [article] = parse_feed(rss)

    assert "<" not in article.body
    assert ">" not in article.body
    assert "evil" not in article.body
    assert article.body == "Kopf\n\nKlick und Text"


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://a.example/x", "https://a.example/x"),
        (" HTTP://a.example/mit leerzeichen\n", "HTTP://a.example/mit%20leerzeichen"),
        ("JavaScript:alert(1)", None),
        ("java\tscript:alert(1)", None),
        ("data:text/html,hi", None),
        ("vbscript:msgbox", None),
        ("//a.example/ohne-schema", None),
        ("https:///kein-host", None),
        ("", None),
    ],
)
def test_safe_link(link: str, expected: str | None) -> None:
    assert safe_link(link) == expected


def test_relative_links_need_a_base() -> None:
    rss = b"""<rss version="2.0"><channel><title>x</title>
    <item><title>Relativ</title><link>/artikel/7</link></item></channel></rss>"""

    assert parse_feed(rss)[0].url is None
    assert parse_feed(rss, base_url="https://zeitung.example.de/feed.xml")[0].url == (
        "https://zeitung.example.de/artikel/7"
    )


def test_legacy_encodings_are_decoded() -> None:
    latin1 = '<?xml version="1.0" encoding="ISO-8859-1"?><rss version="2.0"><channel>'
    latin1 += "<title>x</title><item><title>Grüße aus Köln</title></item></channel></rss>"
    assert parse_feed(latin1.encode("latin-1"))[0].title == "Grüße aus Köln"

    utf16 = ATOM.decode().replace('encoding="utf-8"', 'encoding="utf-16"').encode("utf-16")
    assert parse_feed(utf16)[0].title == "Comet visible tonight"


def _billion_laughs() -> bytes:
    lines = ['<?xml version="1.0"?>', "<!DOCTYPE lolz [", '<!ENTITY lol0 "lol">']
    for level in range(1, 10):
        previous = f"&lol{level - 1};" * 10
        lines.append(f'<!ENTITY lol{level} "{previous}">')
    lines.append("]>")
    lines.append('<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title>')
    lines.append("</item></channel></rss>")
    return "\n".join(lines).encode()


def _quadratic_blowup() -> bytes:
    entity = "a" * 100_000
    references = "&a;" * 10_000
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "{entity}">]>'
        f'<rss version="2.0"><channel><title>t</title><item><title>{references}</title>'
        "</item></channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    "document",
    [
        _billion_laughs(),
        _quadratic_blowup(),
        _quadratic_blowup().decode().encode("utf-16"),  # with BOM
        _billion_laughs().decode().encode("utf-16-be"),  # without BOM
        _billion_laughs().decode().encode("utf-32"),
        _billion_laughs().replace(b"<!DOCTYPE", b"<!doctype"),
        # An ENTITY declaration anywhere, even without a DOCTYPE before it.
        b'<rss version="2.0"><!ENTITY x "y"><channel><title>&x;</title></channel></rss>',
        # UTF-7 spells '<' as '+ADw-': the check runs on decoded text, not on bytes.
        b'<?xml version="1.0" encoding="utf-7"?>+ADw-!DOCTYPE x [+ADw-!ENTITY a "b"+AD4-]+AD4-'
        b'<rss version="2.0"></rss>',
    ],
)
def test_entity_declarations_are_refused_quickly(document: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(InputRejected) as excinfo:
        parse_feed(document)
    assert rejected(excinfo) == "doctype"
    assert time.perf_counter() - started < 0.5


def test_entity_bombs_are_refused_by_parse_any_too() -> None:
    with pytest.raises(InputRejected) as excinfo:
        parse_any(b"\xef\xbb\xbf  \n" + _quadratic_blowup())
    assert rejected(excinfo) == "doctype"


@pytest.mark.parametrize(
    "document",
    [
        b"<!DOCTYPE html><html><head><title>Start</title></head><body>Hallo</body></html>",
        b"<html><body><p>Keine Nachrichten hier</p></body></html>",
        b'<?xml version="1.0"?><config><value>1</value></config>',
        b"Nur Text, kein XML",
    ],
)
def test_documents_that_are_not_feeds_are_refused(document: bytes) -> None:
    with pytest.raises(InputRejected) as excinfo:
        parse_feed(document)
    assert rejected(excinfo) == "not_a_feed"


def test_broken_feed_still_gives_what_can_be_read() -> None:
    document = b"<rss version='2.0'><channel><item><title>Abgeschnitten</title><description>Te"
    [article] = parse_feed(document)
    assert article.title == "Abgeschnitten"


def test_feed_without_entries_is_empty_not_an_error() -> None:
    rss = b'<rss version="2.0"><channel><title>Leer</title></channel></rss>'
    assert parse_feed(rss) == []


def test_oversized_feed_is_refused() -> None:
    padding = b" " * MAX_FEED_BYTES
    with pytest.raises(InputRejected) as excinfo:
        parse_feed(b'<rss version="2.0"><channel>' + padding + b"</channel></rss>")
    assert rejected(excinfo) == "too_large"


def test_empty_feed_is_refused() -> None:
    with pytest.raises(InputRejected) as excinfo:
        parse_feed(b"  \n ")
    assert rejected(excinfo) == "empty"


# --- HTML helper --------------------------------------------------------------------------


def test_html_to_text() -> None:
    html = (
        "<h1>Wahl&shy;abend</h1><p>Erste &amp; zweite\n   Zeile<br/>neu</p>"
        "<script>var x = '<p>nein</p>';</script><style>.a{}</style>"
        "<!-- Kommentar --><ol><li>eins</li><li>zwei</li></ol><p>5 &lt; 7 &#8211; fertig"
    )
    assert html_to_text(html) == (
        "Wahl\u00adabend\n\nErste & zweite Zeile\nneu\n\n• eins\n• zwei\n\n5 < 7 – fertig"
    )


def test_html_to_text_drops_unclosed_script() -> None:
    assert html_to_text("<p>sichtbar</p><script>document.write('unsichtbar')") == "sichtbar"


# --- JSON ---------------------------------------------------------------------------------


def test_json_list_of_articles() -> None:
    data = json.dumps(
        [
            {
                "title": "Schwimmbad öffnet früher",
                "body": "Das Freibad öffnet schon im April.\nDer Eintritt bleibt gleich.",
                "tags": "Freizeit + Sport",
                "url": "https://zeitung.example.de/bad",
                "date": "2025-04-01",
                "guid": "bad-2025",
                "question": "Wie bewerten Sie den Schreibstil des Artikels?",
            },
            {
                "text": "The ferry will run every hour this summer, and the fares will not change.",
                "tags": ["Transport", "transport", "#Ferry"],
                "link": "javascript:void(0)",
                "published": 1_740_000_000,
                "id": 42,
            },
        ]
    ).encode()
    first, second = parse_json_articles(data)

    assert first.title == "Schwimmbad öffnet früher"
    assert first.body == "Das Freibad öffnet schon im April.\n\nDer Eintritt bleibt gleich."
    assert first.tags == ("Freizeit", "Sport")
    assert first.url == "https://zeitung.example.de/bad"
    assert first.published == datetime(2025, 4, 1, tzinfo=UTC)
    assert first.guid == "bad-2025"
    assert first.question == "Wie bewerten Sie den Schreibstil des Artikels?"
    assert first.language == "de"
    assert first.source == "json"

    assert (
        second.title == "The ferry will run every hour this summer, and the fares will not change"
    )
    assert second.tags == ("Transport", "Ferry")
    assert second.url is None
    assert second.published == datetime.fromtimestamp(1_740_000_000, UTC)
    assert second.guid == "42"
    assert second.language == "en"


def test_json_articles_object() -> None:
    data = b'{"articles": [{"title": "Kurz", "content": "Ein Satz, der nicht lang ist."}]}'
    [article] = parse_json_articles(data)
    assert article.title == "Kurz"
    assert article.body == "Ein Satz, der nicht lang ist."


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"[{", "bad_json"),
        (b'{"articles": {"title": "x"}}', "json_shape"),
        (b'{"something": "else"}', "json_shape"),
        (b'["just a string"]', "json_shape"),
        (b'[{"title": 5, "body": "x"}]', "json_shape"),
        (b'[{"title": "x", "tags": [1, 2]}]', "json_shape"),
        (b'[{"title": "x", "date": true}]', "json_shape"),
        (b'[{"title": "x", "url": ["https://a.example/"]}]', "json_shape"),
        (b'[{"title": "x", "guid": {"a": 1}}]', "json_shape"),
        (b"[" * 100_000 + b"]" * 100_000, "bad_json"),
    ],
)
def test_invalid_json_is_rejected(data: bytes, reason: str) -> None:
    """Text that is not JSON is told apart from JSON that holds no articles."""
    with pytest.raises(InputRejected) as excinfo:
        parse_json_articles(data)
    assert rejected(excinfo) == reason


def test_json_must_be_utf8() -> None:
    with pytest.raises(InputRejected) as excinfo:
        parse_json_articles('[{"title": "Grüße"}]'.encode("latin-1"))
    assert rejected(excinfo) == "bad_encoding"


# --- sniffing -----------------------------------------------------------------------------


def test_parse_any_tells_the_formats_apart() -> None:
    assert parse_any(b'  [{"title": "A", "body": "Text hier."}]')[0].source == "json"
    assert parse_any(b"\xef\xbb\xbf\n  " + RSS)[0].source == "feed"
    assert parse_any(ATOM.decode().encode("utf-16"))[0].title == "Comet visible tonight"
    assert parse_any(GERMAN_ARTICLE.encode())[0].source == "file"


def test_parse_any_reads_text_that_only_looks_like_json() -> None:
    [article] = parse_any(b"[Eilmeldung] Der Bahnhof ist wegen eines Unwetters gesperrt.")
    assert article.title == "[Eilmeldung] Der Bahnhof ist wegen eines Unwetters gesperrt"


def test_parse_any_uses_the_file_name() -> None:
    with pytest.raises(InputRejected) as excinfo:
        parse_any(b"Keine Daten, nicht JSON.", name="export.json")
    assert rejected(excinfo) == "bad_json"
    assert parse_any(b"<Eilmeldung> Der Hafen ist nicht offen.", name="a.txt")[0].source == "file"


def test_parse_any_rejects_input_without_articles() -> None:
    for data in (b"[]", b'<rss version="2.0"><channel><title>x</title></channel></rss>'):
        with pytest.raises(InputRejected) as excinfo:
            parse_any(data)
        assert rejected(excinfo) == "no_articles"
    with pytest.raises(InputRejected) as excinfo:
        parse_any(b"")
    assert rejected(excinfo) == "empty"


# --- normalisation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "HTTP://Example.COM:80/News/?utm_source=x&b=2&a=1#top",
            "https://example.com/News?a=1&b=2",
        ),
        ("https://example.com:443/", "https://example.com"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        (
            "https://example.com/a?fbclid=1&gclid=2&mc_cid=3&mc_eid=4&ref=rss&UTM_Medium=5&id=7",
            "https://example.com/a?id=7",
        ),
        ("  https://example.com/a b?q=x y  ", "https://example.com/a b?q=x%20y"),
        ("https://Bücher.example/", "https://xn--bcher-kva.example"),
        ("mailto:someone@example.com", "mailto:someone@example.com"),
    ],
)
def test_normalise_url(url: str, expected: str) -> None:
    assert normalise_url(url) == expected


def test_normalise_url_makes_variants_equal() -> None:
    variants = [
        "http://www.example.com/artikel/1",
        "https://WWW.example.com/artikel/1/",
        "https://www.example.com:443/artikel/1?utm_campaign=feed#kommentare",
    ]
    assert len({normalise_url(v) for v in variants}) == 1


def test_normalise_guid() -> None:
    assert normalise_guid(" http://example.com/a/?utm_source=rss ") == "https://example.com/a"
    assert normalise_guid("URN:UUID:ABCDEF01-0000-0000-0000-000000000000") == (
        "urn:uuid:abcdef01-0000-0000-0000-000000000000"
    )
    assert normalise_guid("URN:ISBN:3-16-148410-X") == "urn:isbn:3-16-148410-X"
    # Opaque GUIDs are case-sensitive: only invisible characters and spaces are tidied.
    assert normalise_guid("\u200baB3x\n") == "aB3x"
    assert normalise_guid("tag:example.com,2025:Post-1") == "tag:example.com,2025:Post-1"
