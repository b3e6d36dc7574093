"""Servers on 127.0.0.1 for tests: aiohttp apps on free ports, and a listener that only
counts connections, to prove that none was made."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Protocol

from aiohttp import web


class Serve(Protocol):
    def __call__(
        self, app: web.Application, ssl_context: ssl.SSLContext | None = None
    ) -> Awaitable[str]: ...


@asynccontextmanager
async def serving() -> AsyncIterator[Serve]:
    """Start aiohttp apps on 127.0.0.1 with a free port each; `serve(app)` gives the base URL.
    All of them stop when the block ends."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application, ssl_context: ssl.SSLContext | None = None) -> str:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context).start()
        port = runner.addresses[0][1]
        return f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"

    try:
        yield start
    finally:
        for runner in runners:
            await runner.cleanup()


class ConnectionCounter:
    """A TCP listener on 127.0.0.1 that only counts connections."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self.port

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()
        await writer.wait_closed()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
