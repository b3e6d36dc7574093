"""newsbot's Prometheus metrics: counters and histograms counted where things happen (one
call at each site), and the store's figures turned into gauges at scrape time."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from handlers.registry import COMMANDS
from storage.oversight import OpsFigures

# Seconds. Few buckets: each is one line per command in every scrape (33 commands), and the
# text rendering is most of a scrape's cost (docs/benchmarks.md).
_HANDLER_BUCKETS = (0.005, 0.025, 0.1, 0.25, 1.0, 2.5, 10.0)
_LAG_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)
_RETRY_BUCKETS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)
# A counter's *_created sample (its start time) doubles every series and says little that
# process_start_time_seconds or a restart would not: left out.
disable_created_metrics()  # type: ignore[no-untyped-call]
OTHER = "other"  # the label of a command newsbot does not know: people type anything


class Metrics:
    """One process's counters, in a registry of its own (two Apps in one test process do not
    add up). Each method is the one line an event site calls."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._sent = Counter(
            "newsbot_deliveries_sent", "Posts the outbox delivered", ["platform"], registry=r
        )
        self._failed = Counter(
            "newsbot_deliveries_failed",
            "Delivery attempts that failed (retried later, or given up)",
            ["platform"],
            registry=r,
        )
        self._limited = Counter(
            "newsbot_rate_limited",
            "Answers 429 (flood control) from a platform, to sends and edits",
            ["platform"],
            registry=r,
        )
        self._retry_after = Histogram(
            "newsbot_retry_after_seconds",
            "The waits a platform asked for with its 429s",
            ["platform"],
            buckets=_RETRY_BUCKETS,
            registry=r,
        )
        self._fetches = Counter(
            "newsbot_feed_fetches",
            "Feed fetches by outcome: new, unchanged, failed, refused",
            ["outcome"],
            registry=r,
        )
        self._handlers = Histogram(
            "newsbot_handler_seconds",
            "Time from a command's arrival to its replies, by command",
            ["command"],
            buckets=_HANDLER_BUCKETS,
            registry=r,
        )
        self._lag = Histogram(
            "newsbot_telegram_update_lag_seconds",
            "Time from a Telegram message being sent to newsbot handling it",
            buckets=_LAG_BUCKETS,
            registry=r,
        )

    # -- event sites ----------------------------------------------------------------------

    def delivery_sent(self, platform: str) -> None:
        self._sent.labels(platform).inc()

    def delivery_failed(self, platform: str, retry_after: float | None = None) -> None:
        """A send that failed; with `retry_after`, the platform's 429 too."""
        self._failed.labels(platform).inc()
        if retry_after is not None:
            self.rate_limited(platform, retry_after)

    def rate_limited(self, platform: str, retry_after: float) -> None:
        self._limited.labels(platform).inc()
        self._retry_after.labels(platform).observe(max(retry_after, 0.0))

    def feed_fetched(self, outcome: str) -> None:
        self._fetches.labels(outcome).inc()

    @contextlib.contextmanager
    def handling(self, command: str) -> Iterator[None]:
        label = command if command in COMMANDS else OTHER
        start = time.perf_counter()
        try:
            yield
        finally:
            self._handlers.labels(label).observe(time.perf_counter() - start)

    def telegram_update(self, sent: datetime | None) -> None:
        if sent is not None:
            lag = (datetime.now(UTC) - sent).total_seconds()
            self._lag.observe(max(lag, 0.0))

    # -- the scrape -----------------------------------------------------------------------

    def exposition(self, figures: OpsFigures, connected: Mapping[str, bool]) -> bytes:
        """The text a scrape gets: the counters, then the store's figures as read now."""
        snapshot = StoreFigures(figures, connected)
        return generate_latest(self.registry) + generate_latest(snapshot)


class StoreFigures(Collector):
    """Gauges from one read of the store (storage/oversight.py), taken in the database thread
    before the scrape is rendered: collect() itself never touches the store."""

    def __init__(self, figures: OpsFigures, connected: Mapping[str, bool]) -> None:
        self.figures = figures
        self.connected = connected

    def collect(self) -> Iterator[Metric]:
        f = self.figures
        pending = GaugeMetricFamily(
            "newsbot_deliveries_pending", "Deliveries still to send", labels=["platform"]
        )
        waiting = GaugeMetricFamily(
            "newsbot_oldest_due_delivery_seconds",
            "How long the longest-waiting due delivery has waited past its time",
            labels=["platform"],
        )
        for row in f.backlog:
            pending.add_metric([row.platform], row.pending)
            waiting.add_metric([row.platform], _age(f.now, row.oldest_due))
        yield pending
        yield waiting
        for name, doc, value in (
            ("deliveries_given_up", "Deliveries failed for good or paused", f.deliveries_given_up),
            ("votes", "Votes stored (maintained count)", f.votes),
            ("articles", "Articles stored (maintained count)", f.articles),
            ("feeds", "Feed sources (maintained count)", f.feeds),
        ):
            yield GaugeMetricFamily(f"newsbot_{name}", doc, value=value)
        yield GaugeMetricFamily(
            "newsbot_oldest_due_feed_seconds",
            "How long the longest-waiting due feed has waited to be fetched",
            value=_age(f.now, f.oldest_due_feed),
        )
        yield GaugeMetricFamily(
            "newsbot_database_size_bytes", "Size of the database", value=f.size_bytes
        )
        up = GaugeMetricFamily(
            "newsbot_platform_connected", "1 while the platform is connected", labels=["platform"]
        )
        for platform, connected in sorted(self.connected.items()):
            up.add_metric([platform], 1.0 if connected else 0.0)
        yield up


def _age(now: datetime, since: datetime | None) -> float:
    return max((now - since).total_seconds(), 0.0) if since is not None else 0.0
