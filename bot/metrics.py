"""Prometheus metrics, in a registry owned by the app (no module-level global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 3.0, 5.0)


class Metrics:
    """All metrics of one running app."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.mentions_ingested = Counter(
            "webcare_mentions_ingested", "Mentions stored", ["source"], registry=r)
        self.mentions_duplicate = Counter(
            "webcare_mentions_duplicate", "Mentions received again and ignored", ["source"], registry=r)
        self.mentions_rejected = Counter(
            "webcare_mentions_rejected", "Invalid mention items refused", ["route"], registry=r)
        self.cards_posted = Counter("webcare_cards_posted", "Case cards posted to chat", registry=r)
        self.outbox_delivered = Counter(
            "webcare_outbox_delivered", "Outbox rows delivered", ["kind"], registry=r)
        self.outbox_dead = Counter(
            "webcare_outbox_dead", "Outbox rows given up on", ["kind"], registry=r)
        self.outbox_reconciled = Counter(
            "webcare_outbox_reconciled", "Rows found already delivered after an unknown outcome",
            registry=r)
        self.outbox_backlog = Gauge(
            "webcare_outbox_backlog", "Outbox rows pending or in flight", registry=r)
        self.outbox_oldest_age = Gauge(
            "webcare_outbox_oldest_age_seconds", "Age of the oldest undelivered outbox row", registry=r)
        self.ratelimited = Counter(
            "webcare_ratelimited", "HTTP 429 answers seen from providers", ["lane"], registry=r)
        self.ack_latency = Histogram(
            "webcare_slack_ack_seconds", "Time to acknowledge a chat request (Slack; Teams: kind teams.*)",
            ["kind"],
            buckets=ACK_BUCKETS, registry=r)
        self.slack_retries_dropped = Counter(
            "webcare_slack_retries_dropped", "Slack event retries recognised and dropped", registry=r)
        self.clock_rungs = Counter(
            "webcare_clock_rungs", "Reminders, nudges and escalations taken on deadline ladders", registry=r)
        self.refused = Counter(
            "webcare_refused_actions", "Clicks refused because the user lacks the role", ["action"], registry=r)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
