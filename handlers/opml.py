"""OPML, the outline of feeds that feed readers exchange: read with hostile files in mind, and
written."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from handlers.events import MAX_ATTACHMENT_BYTES, UserError

MAX_OPML_BYTES = MAX_ATTACHMENT_BYTES  # a reader's export of a thousand feeds is about 200 KB
MAX_ENTRIES = 2_000
MAX_DEPTH = 16  # folders inside folders
MAX_URL_CHARS = 2_000


@dataclass(frozen=True, slots=True)
class OpmlEntry:
    """One feed of an OPML file: its address, its title, and the titles of the folders it
    sits in (outermost first), which become its tags."""

    url: str
    title: str
    folders: tuple[str, ...]


def read_opml(data: bytes) -> list[OpmlEntry]:
    """The feeds of an OPML file, in file order. A file that is too large, not XML, declares a
    DTD or entities (billion laughs), or is no OPML is refused (UserError), as a hostile feed
    is: nothing in it is expanded."""
    if len(data) > MAX_OPML_BYTES:
        raise UserError("opml.too_large", limit=MAX_OPML_BYTES // 1000)
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise UserError("opml.declarations") from None
    except (ET.ParseError, ValueError):
        raise UserError("opml.not_xml") from None
    body = root.find("body") if root.tag == "opml" else None
    if body is None:
        raise UserError("opml.not_opml")
    entries: list[OpmlEntry] = []
    _collect(body, (), entries)
    return entries


def _collect(parent: Element, folders: tuple[str, ...], entries: list[OpmlEntry]) -> None:
    if len(folders) > MAX_DEPTH:
        raise UserError("opml.too_deep", limit=MAX_DEPTH)
    for outline in parent.iterfind("outline"):
        title = " ".join((outline.get("title") or outline.get("text") or "").split())
        url = (outline.get("xmlUrl") or "").strip()
        if url:
            if len(entries) >= MAX_ENTRIES:
                raise UserError("opml.too_many", limit=MAX_ENTRIES)
            entries.append(OpmlEntry(url[:MAX_URL_CHARS], title, folders))
        else:
            # A folder: its title is a tag of every feed inside it.
            _collect(outline, (*folders, title) if title else folders, entries)


def write_opml(feeds: Iterable[tuple[str, tuple[str, ...]]], title: str) -> str:
    """An OPML 2.0 document of (feed URL, tags): a feed sits in one folder per tag, nested in
    its tags' order, so that reading the file back gives each feed its tags again."""
    root = ET.Element("opml", version="2.0")
    ET.SubElement(ET.SubElement(root, "head"), "title").text = title
    body = ET.SubElement(root, "body")
    folders: dict[tuple[str, ...], Element] = {(): body}
    for url, tags in feeds:
        for depth in range(1, len(tags) + 1):
            path = tags[:depth]
            if path not in folders:
                folders[path] = ET.SubElement(
                    folders[path[:-1]], "outline", text=path[-1], title=path[-1]
                )
        ET.SubElement(folders[tags], "outline", type="rss", text=url, xmlUrl=url)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
