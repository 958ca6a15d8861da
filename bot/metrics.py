"""This process's Prometheus metrics: tips, replies, matching time, the outbox, Telegram errors.

Counters and histograms count what *this* process did since it started; with several workers
Prometheus scrapes each one and the queries sum over them (docs/DEPLOY.md). The gauges read
from the database at each scrape (the newsroom's queue, the outbox backlog) are the same on
every worker, so queries take ``max`` of them, not ``sum``.

One ``TiplineMetrics`` is made per ``tipline run`` and handed to the bot, the delivery loop
and the HTTP server; each has its own registry, so tests and several apps in one process
never share counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from telegram.error import NetworkError, TimedOut
from telegram.request import HTTPXRequest, RequestData

__all__ = ["CONTENT_TYPE_LATEST", "MeteredRequest", "TiplineMetrics"]

# The replies a member of the public can get to a tip (``IntakeResult.kind`` and friends).
REPLY_KINDS = ("verdict", "ask", "ask_claim", "queued", "rate_limited", "empty", "unsupported")
# Kinds for which the tip was matched against the indexes; the others never reach matching.
_MATCHED_KINDS = frozenset({"verdict", "ask", "ask_claim", "queued"})
# Matching plus filing is ~20-100 ms on one small server; the top buckets catch a stalled loop.
_MATCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Open claims: what editors still have to look at (newsroom.desk.OPEN_STATUSES).
_QUEUE_STATUSES = ("new", "in_review")


class TiplineMetrics:
    """Every metric the tip line exports, on one registry; methods are named for the event."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)  # memory, CPU seconds, open files: for sizing
        self.tips_received = Counter(
            "tipline_tips_received",
            "Tips from the public taken in (redeliveries excluded)",
            registry=r,
        )
        self.replies = Counter(
            "tipline_replies", "Replies sent to the public's tips, by kind", ["kind"], registry=r
        )
        self.match_seconds = Histogram(
            "tipline_match_duration_seconds",
            "Time from a tip reaching its handler to the reply decided: recording, matching "
            "against fact-checks and claims, filing under a claim",
            buckets=_MATCH_BUCKETS,
            registry=r,
        )
        self.match_answers = Counter(
            "tipline_match_answers",
            'Senders\' answers to "Is this the post you saw?"',
            ["answer"],
            registry=r,
        )
        self.update_errors = Counter(
            "tipline_update_errors",
            "Updates whose handler raised, by error type",
            ["error"],
            registry=r,
        )
        self.outbox_sent = Counter(
            "tipline_outbox_sent", "Outbox messages (verdict notifications) sent", registry=r
        )
        self.outbox_retries = Counter(
            "tipline_outbox_retries",
            "Outbox sends put back for later, by reason (rate_limited: a 429; network)",
            ["reason"],
            registry=r,
        )
        self.outbox_failures = Counter(
            "tipline_outbox_failures",
            "Outbox messages given up, by reason (blocked, bad_request, unrenderable, gave_up)",
            ["reason"],
            registry=r,
        )
        self.telegram_errors = Counter(
            "tipline_telegram_api_errors",
            "Bot API calls that failed, by HTTP status (or timeout, network) and method",
            ["code", "method"],
            registry=r,
        )
        self.tips = Gauge("tipline_tips", "Tips stored", registry=r)
        self.reporters = Gauge("tipline_reporters", "Senders stored", registry=r)
        self.fact_checks = Gauge("tipline_fact_checks", "Fact-checks in the library", registry=r)
        self.claims = Gauge("tipline_claims", "Claims by status", ["status"], registry=r)
        self.queue_size = Gauge(
            "tipline_queue_size", "Open claims: new or in review by the newsroom", registry=r
        )
        self.outbox_messages = Gauge(
            "tipline_outbox_messages",
            "Outbox messages by status (pending: the backlog)",
            ["status"],
            registry=r,
        )
        self.index_size = Gauge(
            "tipline_index_size",
            "Entries in this process's matching indexes",
            ["index"],
            registry=r,
        )
        for kind in REPLY_KINDS:
            self.replies.labels(kind)
        for answer in ("yes", "no"):
            self.match_answers.labels(answer)

    # --- Events, called where they happen ------------------------------------------------------

    def tip_handled(self, kind: str, seconds: float) -> None:
        """A new tip went through intake in ``seconds``; its reply (``kind``) is decided."""
        self.tips_received.inc()
        if kind in _MATCHED_KINDS:
            self.match_seconds.observe(seconds)

    def reply_sent(self, kind: str) -> None:
        """A reply of this kind reached Telegram."""
        self.replies.labels(kind).inc()

    def match_answered(self, confirmed: bool) -> None:
        self.match_answers.labels("yes" if confirmed else "no").inc()

    def update_failed(self, error: BaseException | None) -> None:
        self.update_errors.labels(type(error).__name__ if error else "unknown").inc()

    def telegram_call_failed(self, code: str, method: str) -> None:
        self.telegram_errors.labels(code, method).inc()

    # --- Scrapes ---------------------------------------------------------------------------

    def set_stored_counts(self, counts: Mapping[str, Any], index_sizes: Mapping[str, int]) -> None:
        """Copy the database's counts (``storage.stats.collect_stats``) into the gauges."""
        self.tips.set(counts["tips"])
        self.reporters.set(counts["reporters"])
        self.fact_checks.set(counts["fact_checks"])
        claims: Mapping[str, int] = counts["claims"]
        for status, n in claims.items():
            self.claims.labels(status).set(n)
        self.queue_size.set(sum(claims.get(status, 0) for status in _QUEUE_STATUSES))
        outbox: Mapping[str, int] = counts["outbox"]
        for status, n in outbox.items():
            self.outbox_messages.labels(status).set(n)
        for index, n in index_sizes.items():
            self.index_size.labels(index).set(n)

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)


def _api_method(url: str) -> str:
    """The Bot API method a URL calls; file downloads (paths with dots, slashes) are "file".

    Method names are letters only, so the label stays bounded and never holds the token,
    which is an earlier path segment.
    """
    last = url.rsplit("/", 1)[-1]
    return last if last.isalpha() and len(last) <= 64 else "file"


class MeteredRequest(HTTPXRequest):
    """PTB's HTTP client, counting every failed Bot API call, whoever made it."""

    def __init__(self, metrics: TiplineMetrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._metrics = metrics

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        **timeouts: Any,
    ) -> tuple[int, bytes]:
        try:
            code, body = await super().do_request(url, method, request_data, **timeouts)
        except TimedOut:
            self._metrics.telegram_call_failed("timeout", _api_method(url))
            raise
        except NetworkError:
            self._metrics.telegram_call_failed("network", _api_method(url))
            raise
        if code >= 400:
            self._metrics.telegram_call_failed(str(code), _api_method(url))
        return code, body
