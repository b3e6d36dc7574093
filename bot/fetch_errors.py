"""Why a feed fetch did not bring a feed: refused for good, or failed for now."""

from __future__ import annotations


class FetchRefused(Exception):
    """We will not fetch this (bad scheme, private address, too large...): retrying won't help."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class FetchFailed(Exception):
    """A fetch went wrong in a way that may pass (timeout, network, HTTP error status)."""

    def __init__(self, reason: str, detail: str, *, status: int | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.status = status
