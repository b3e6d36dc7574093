"""discord.py's REST client with every request bounded, as the Telegram adapter's are.

discord.py has no setting for it, and aiohttp alone waits up to five minutes for an answer:
one answer Discord holds back would hold up a whole delivery run (which waits for its
slowest chat) for that long. discord.py hands extra keyword arguments of its requests to
aiohttp, so a request timeout is one argument per request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import aiohttp
import discord
from discord.http import HTTPClient, Route

# Seconds per try (discord.py retries a 5xx answer a few times by itself): to connect, and
# between two reads of an answer. Past them the call fails with a TimeoutError and the outbox
# retries it; Discord may have done it anyway, which the nonce of a post makes harmless.
CONNECT_TIMEOUT, READ_TIMEOUT = 5.0, 15.0


class BoundedHTTPClient(HTTPClient):
    """discord.py's HTTPClient, each request given `timeout` unless the caller set one."""

    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT
    )

    async def request(
        self,
        route: Route,
        *,
        files: Sequence[discord.File] | None = None,
        form: Iterable[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> Any:
        kwargs.setdefault("timeout", self.timeout)
        return await super().request(route, files=files, form=form, **kwargs)


def bound(client: discord.Client) -> BoundedHTTPClient:
    """Make the client's REST requests bounded. discord.Client builds its HTTPClient itself
    and hands it on to its state at once, so the one object is turned into the subclass (it
    adds no state) rather than replaced."""
    http = client.http
    http.__class__ = BoundedHTTPClient
    assert isinstance(http, BoundedHTTPClient)
    return http
