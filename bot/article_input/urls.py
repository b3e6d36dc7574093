"""Links fit to show, and the dedupe keys of URLs and GUIDs."""

from __future__ import annotations

import contextlib
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

from bot.article_input.text import one_line

# --- URLs and GUIDs -----------------------------------------------------------------------

_TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "yclid", "mc_cid", "mc_eid", "ref", "ref_src", "igshid"}
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def safe_link(value: object, base: str | None = None) -> str | None:
    """An http(s) URL fit to show as a link, or None (javascript:, data:, mailto: are dropped)."""
    if not isinstance(value, str):
        return None
    # Feeds do put raw spaces in links; encoded, they still lead to the page.
    link = one_line(value).replace(" ", "%20")
    if not link:
        return None
    if base:
        link = urljoin(base, link)
    try:
        parts = urlsplit(link)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return link


def normalise_url(url: str) -> str:
    """A dedupe key for a URL: https, lower-case host, no default port, fragment or tracking."""
    value = one_line(url)
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return value
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return value
    host = parts.hostname.lower().rstrip(".")
    # A host the IDNA codec cannot encode keeps its Unicode spelling: still a stable key.
    with contextlib.suppress(UnicodeError):
        host = host.encode("idna").decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    path = parts.path.rstrip("/")
    query_items = [
        (key, val)
        for key, val in parse_qsl(parts.query, keep_blank_values=True)
        if not key.lower().startswith("utm_") and key.lower() not in _TRACKING_PARAMS
    ]
    query = urlencode(sorted(query_items), quote_via=quote)
    # Feeds switch between http and https for the same article, so both map to https.
    return urlunsplit(("https", host, path, query, ""))


def normalise_guid(value: str) -> str:
    """A dedupe key for a GUID: URL-like GUIDs normalised like URLs, the urn: prefix lower-cased."""
    guid = one_line(value)
    lowered = guid.lower()
    if lowered.startswith(("http://", "https://")):
        return normalise_url(guid)
    if lowered.startswith("urn:uuid:"):
        return lowered  # UUIDs are case-insensitive
    if lowered.startswith("urn:"):
        # RFC 8141: the "urn" prefix and the namespace id are case-insensitive, the rest is not.
        scheme, nid, *rest = guid.split(":", 2)
        return ":".join([scheme.lower(), nid.lower(), *rest])
    return guid
