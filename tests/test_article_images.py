"""Where a lead image comes from (feeds, the plain-text header, JSON), what its check from the
header says, how templates are checked, and what the store keeps, on both engines."""

from __future__ import annotations

import struct
import zlib

import pytest

from bot.article_input import parse_feed, parse_text_article
from bot.image_check import image_verdict
from bot.ingest import store_article
from handlers.context import CoreConfig
from handlers.events import UserError
from handlers.post_compose import PostFields, template_parts, template_text
from storage.models import IMAGE_OK, ChatRef, MessageRef
from storage.store import Store
from tests.conftest import article
from tests.image_server import HTML, png

MEDIA = 'xmlns:media="http://search.yahoo.com/mrss/"'


def rss(item: str) -> bytes:
    return (
        f'<?xml version="1.0"?><rss version="2.0" {MEDIA}><channel><title>T</title>'
        f"<link>https://news.example.org/</link><item><title>Eins</title>"
        f"<link>https://news.example.org/1</link>{item}</item></channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    ("item", "image"),
    [
        (
            '<enclosure url="https://img.example.org/a.jpg" type="image/jpeg" length="1"/>',
            "https://img.example.org/a.jpg",
        ),
        (
            '<enclosure url="https://cdn.example.org/a.mp3" type="audio/mpeg" length="1"/>'
            '<media:content url="https://img.example.org/b.png" medium="image"/>',
            "https://img.example.org/b.png",
        ),
        ('<media:thumbnail url="/t.webp"/>', "https://news.example.org/t.webp"),
        (
            "<description>&lt;p&gt;Text &lt;img src=&quot;https://img.example.org/c.gif&quot;&gt;"
            "&lt;/p&gt;</description>",
            "https://img.example.org/c.gif",
        ),
        ('<media:content url="javascript:alert(1)" medium="image"/>', None),
        ("<description>Nur Text, kein Bild.</description>", None),
    ],
)
def test_a_feed_entry_names_its_lead_image(item: str, image: str | None) -> None:
    (entry,) = parse_feed(rss(item), base_url="https://news.example.org/feed")
    assert entry.image == image


def test_the_plain_text_format_takes_a_bild_or_image_header() -> None:
    german = parse_text_article(
        b"Titel: Ein Bild\nBild: https://img.example.org/x.jpg\n\nText des Artikels.\n"
    )
    assert german.image == "https://img.example.org/x.jpg"
    assert "Bild:" not in german.body
    english = parse_text_article(b"Title: A picture\nImage: https://img.example.org/y.png\n\nText.")
    assert english.image == "https://img.example.org/y.png"
    not_http = parse_text_article(b"Title: Nope\nImage: file:///etc/passwd\n\nText.")
    assert not_http.image is None


def png_header(width: int, height: int) -> bytes:
    """A PNG's signature, header chunk and the start of its first data chunk, without the
    data: what Pillow reads to know its size."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk + crc + struct.pack(">I", 100_000) + b"IDAT"


def test_the_check_reads_format_and_size_from_the_header_alone() -> None:
    assert image_verdict(png()) == IMAGE_OK
    assert image_verdict(png_header(1200, 800)) == IMAGE_OK  # no pixel data at all
    assert image_verdict(png_header(1, 1)).startswith("bad_size")  # a tracking pixel
    assert image_verdict(png_header(9000, 3000)).startswith("bad_size")
    assert image_verdict(png_header(4000, 100)).startswith("bad_size")  # a ratio over 20
    assert image_verdict(png_header(60000, 60000)).startswith("bad_size")  # a pixel bomb
    assert image_verdict(HTML).startswith("not_an_image")
    assert image_verdict(b"").startswith("not_an_image")


FIELDS = PostFields(
    article_id=7,
    title="Titel <b>",
    summary="Kurz.",
    url="https://www.example.com/a",
    tags=("xAI",),
    source="example.com",
    published=None,
    image=None,
)


def test_a_template_is_checked_when_it_is_set() -> None:
    parts = template_parts("{title} – {link} {{x}}")
    assert [name for _, name in parts if name] == ["title", "link"]
    assert template_text("{title} {{x}}", FIELDS).plain() == "Titel <b> {x}"
    for bad, key in [
        ("{titel}", "style.template_unknown"),
        ("{title!r}", "style.template_unknown"),
        ("{title:>40}", "style.template_unknown"),
        ("{}", "style.template_unknown"),
        ("{title", "style.template_bad"),
        ("kein Platzhalter", "style.template_bad"),
        ("x" * 1001, "style.template_too_long"),
    ]:
        with pytest.raises(UserError) as raised:
            template_parts(bad)
        assert raised.value.key == key, bad


def test_a_template_fills_in_values_as_plain_text() -> None:
    text = template_text("#{id}: {title} ({source}) {tags} {link}", FIELDS)
    assert text.plain() == "#7: Titel <b> (example.com) #xAI https://www.example.com/a"
    (link,) = [span for span in text.spans if span.style == "link"]
    assert link.url == "https://www.example.com/a"
    assert all(span.style in {"plain", "link"} for span in text.spans)


def test_the_store_keeps_an_image_its_verdict_and_photo_posts(
    any_store: Store, config: CoreConfig
) -> None:
    shows, off, compact = (ChatRef("telegram", str(n)) for n in (1, 2, 3))
    for chat in (shows, off, compact):
        any_store.subscribe(chat, ["xAI"], backlog=0)
    any_store.update_chat_settings(off, images=False)
    any_store.update_chat_settings(compact, post_style="compact")
    (new,) = store_article(any_store, config, article(image="https://img.example.org/a.png")).new
    (plain,) = store_article(any_store, config, article(title="Ohne", body="Kein Bild. Nein.")).new
    rows = {c: [d.id for d in any_store.deliveries_for_chat(c)] for c in (shows, off, compact)}
    # A picture is fetched only for a chat that would show it.
    assert any_store.images.unchecked(rows[off] + rows[compact]) == []
    waiting = any_store.images.unchecked([*rows[shows], *rows[off], *rows[shows]])
    assert [(w.article_id, w.url) for w in waiting] == [(new.id, "https://img.example.org/a.png")]
    any_store.images.record(new.id, IMAGE_OK)
    any_store.images.record(new.id, "too_large: later")  # the first verdict stays
    assert any_store.images.unchecked(rows[shows]) == []
    assert plain.image_url is None
    stored = any_store.get_article(new.id)
    assert stored is not None and stored.shown_image == "https://img.example.org/a.png"

    chat = ChatRef("telegram", "5")
    any_store.record_post(new.id, MessageRef(chat, "10", photo=True), 0)
    any_store.record_post(new.id, MessageRef(chat, "11"), 0)
    photos = {p.message.message_id: p.message.photo for p in any_store.posts_of(new.id)}
    assert photos == {"10": True, "11": False}

    assert any_store.chat_settings(chat).images is True
    changed = any_store.update_chat_settings(
        chat, images=False, post_style="template", post_template="{title}"
    )
    assert (changed.images, changed.post_style, changed.post_template) == (
        False,
        "template",
        "{title}",
    )
