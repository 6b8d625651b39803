"""The outbox's exactly-once guarantee across a hard crash (SIGKILL) of the real server process.

`webcare serve` runs as a subprocess on the test database, against the fake Slack and the fake reply
receiver in this process. Slack (or the receiver) is made slow so that it has done the work but the
bot has not seen the answer yet; the process is killed in that window and a new one is started on
the same database. The new process must finish the work without doing any of it twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import create_engine
from bot.models import OPEN_OUTBOX, Case, OutboxItem, Reply
from bot.pipeline import CARD_POST
from bot.signing import sign
from tests.fakes.reply_receiver import ReplyReceiver
from tests.fakes.slack_api import (
    FakeSlack,
    block_action_body,
    form_encode_payload,
    sign_slack_request,
    view_submission_body,
)
from tests.harness import (
    BOT_TOKEN,
    CHANNEL,
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    base_config,
    card_actions,
    card_text,
    mention,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[1]
AGENT = "U0AGENT1"
MARKER_EVENT = "webcare_outbox"  # handlers.slack.ids.MARKER_EVENT: the outbox key in message metadata
SENT = "(verstuurd <!date^"  # card.reply_sent; "wordt verstuurd…" is the queued state
REPLY_KIND = "reply.send"  # bot.services.cases.REPLY
N_MENTIONS = 20


# --- the server as a subprocess ---


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """One `webcare serve` process; `logs` keeps every process's log file for the failure report."""

    db_url: str
    config: Path
    fake: FakeSlack
    tmp: Path
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    logs: list[Path] = field(default_factory=list)
    http: aiohttp.ClientSession | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 20.0) -> None:
        assert self.proc is None or self.proc.poll() is not None, "a server is already running"
        self.port = free_port()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SLACK_", "WEBCARE_", "DATABASE_", "X_", "META_", "MICROSOFT_"))}
        env |= {
            "DATABASE_URL": self.db_url, "HOST": "127.0.0.1", "PORT": str(self.port),
            "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": self.fake.api_url, "WEBCARE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1",
        }
        log = self.tmp / f"server-{len(self.logs) + 1}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve", "--config", str(self.config)],
                env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        if self.http is None:
            self.http = aiohttp.ClientSession()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode} before it was ready")
            try:
                async with self.http.get(self.base + "/readyz",
                                         timeout=aiohttp.ClientTimeout(total=1)) as r:
                    if r.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server not ready after {timeout}s")
            await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flushing, connections dropped mid-call."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    async def close(self) -> None:
        self.kill()
        if self.http is not None:
            await self.http.close()
            self.http = None

    def report(self) -> str:
        return "\n".join(f"===== {p.name} =====\n{p.read_text(errors='replace')}"
                         for p in self.logs if p.exists())

    # --- talking to it like integrators and Slack do ---

    async def post_mentions(self, payload: Any) -> tuple[int, Any]:
        assert self.http is not None
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-Webcare-Signature": sign(WEBHOOK_SECRET, body)}
        async with self.http.post(self.base + "/webhooks/mentions", data=body, headers=headers) as r:
            return r.status, await r.json(content_type=None)

    async def slack_interactive(self, payload: dict[str, Any]) -> tuple[int, str]:
        assert self.http is not None
        body = form_encode_payload(payload)
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   **sign_slack_request(SIGNING_SECRET, body)}
        async with self.http.post(self.base + "/slack/events", data=body, headers=headers) as r:
            return r.status, await r.text()


def write_config(path: Path, reply_url: str) -> Path:
    cfg = base_config(
        outbox={"lease": "1s", "poll": "50ms", "backoff_base": "100ms"},
        slack={"post_interval": "100ms"},
        integrations={"webhook": {"reply_url": reply_url, "timeout": "800ms"}},
    )
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
async def server(db_url: str, fake_slack: FakeSlack, receiver: ReplyReceiver,
                 tmp_path: Path) -> AsyncIterator[Server]:
    srv = Server(db_url=db_url, config=write_config(tmp_path / "app.yaml", receiver.url),
                 fake=fake_slack, tmp=tmp_path)
    try:
        yield srv
    finally:
        await srv.close()
        print(srv.report())  # pytest shows it when the test failed


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[AsyncEngine]:
    """A read-only view of the server's database from the test process."""
    engine = create_engine(db_url)
    yield engine
    await engine.dispose()


# --- helpers ---




async def outbox_rows(db: AsyncEngine) -> list[OutboxItem]:
    async with db.connect() as conn:
        rows = (await conn.execute(select(OutboxItem))).all()
    return rows  # type: ignore[return-value]


async def open_rows(db: AsyncEngine) -> list[Any]:
    return [r for r in await outbox_rows(db) if r.status in OPEN_OUTBOX]


async def drained(db: AsyncEngine) -> bool:
    return not await open_rows(db)


async def cases(db: AsyncEngine) -> list[Any]:
    async with db.connect() as conn:
        return list((await conn.execute(select(Case.id, Case.ref, Case.card_channel, Case.card_ts)))
                    .all())






def case_of(message: dict[str, Any]) -> str | None:
    """The case reference a card's buttons carry ({"case": "..."})."""
    refs = {json.loads(v)["case"] for v in card_actions(message).values()}
    assert len(refs) <= 1, f"one card carries several cases: {refs}"
    return next(iter(refs), None)


def top_level(fake: FakeSlack) -> list[dict[str, Any]]:
    return [m for m in fake.messages[CHANNEL] if m.get("thread_ts", m["ts"]) == m["ts"]]


def marker(message: dict[str, Any]) -> str | None:
    meta = message.get("metadata") or {}
    if meta.get("event_type") != MARKER_EVENT:
        return None
    return (meta.get("event_payload") or {}).get("key")


# --- the scenarios ---


async def test_cards_survive_a_crash_exactly_once(server: Server, fake_slack: FakeSlack,
                                                  db: AsyncEngine) -> None:
    await server.start()
    # Slack stores each post, then answers late: the bot cannot know it was posted.
    fake_slack.response_delay = 2.0
    status, body = await server.post_mentions([mention(n) for n in range(1, N_MENTIONS + 1)])
    assert status == 202 and body["accepted"] == N_MENTIONS, body

    await fake_slack.wait_for(lambda: len(fake_slack.calls_to("chat.postMessage")) >= 3,
                              timeout=15, what="a few cards posted (answers still on their way)")
    server.kill()
    posted_before_kill = len(fake_slack.messages[CHANNEL])

    at_kill = Counter(r.status for r in await outbox_rows(db) if r.kind == CARD_POST)
    assert at_kill["inflight"] >= 1, f"no card post was in flight at the kill: {at_kill}"
    assert at_kill["pending"] >= 1, f"no card post was still waiting at the kill: {at_kill}"
    assert posted_before_kill >= 3

    fake_slack.response_delay = 0
    await server.start()
    await wait_until(lambda: drained(db), what="the outbox to drain after the restart")

    rows = [r for r in await outbox_rows(db) if r.kind == CARD_POST]
    assert len(rows) == N_MENTIONS and all(r.status == "done" for r in rows), Counter(
        r.status for r in rows)

    # Every outbox key reached Slack at most once (each message carries its row's key) ...
    keys = Counter(marker(m) for m in fake_slack.messages[CHANNEL] if marker(m))
    duplicated = {k: n for k, n in keys.items() if n > 1}
    assert not duplicated, f"messages posted twice for one outbox row: {duplicated}"

    # ... and every mention has exactly one card, the one its case points at.
    cards = top_level(fake_slack)
    assert len(cards) == N_MENTIONS, f"{len(cards)} cards for {N_MENTIONS} mentions"
    per_case = Counter(case_of(m) for m in cards)
    assert all(n == 1 for n in per_case.values()), per_case
    by_ts = {m["ts"]: m for m in cards}
    all_cases = await cases(db)
    assert len(all_cases) == N_MENTIONS
    assert set(per_case) == {c.ref for c in all_cases}
    for c in all_cases:
        assert c.card_channel == CHANNEL and c.card_ts in by_ts, f"case {c.ref} has card_ts {c.card_ts}"
        assert case_of(by_ts[c.card_ts]) == c.ref
    for row in rows:
        card = next(m for m in cards if marker(m) == row.key)
        assert row.provider_ref == card["ts"]


async def test_reply_survives_a_crash_exactly_once(server: Server, fake_slack: FakeSlack,
                                                   receiver: ReplyReceiver, db: AsyncEngine) -> None:
    await server.start()
    status, body = await server.post_mentions(mention(1))
    assert status == 202 and body["accepted"] == 1, body
    card = await fake_slack.wait_for(lambda: top_level(fake_slack)[0], what="the card")
    await wait_until(lambda: drained(db), what="the card to be recorded")
    value = card_actions(card)["case.reply"]

    # The agent opens the reply modal and sends; the receiver takes its time to answer.
    status, _ = await server.slack_interactive(block_action_body(
        action_id="case.reply", value=value, user_id=AGENT, channel_id=CHANNEL,
        message_ts=card["ts"], trigger_id=fake_slack.issue_trigger_id()))
    assert status == 200
    view = await fake_slack.wait_for(
        lambda: next(v for v in fake_slack.views.values() if "Waar blijft" in json.dumps(v)),
        what="the reply modal")
    receiver.delay = 2.0
    status, _ = await server.slack_interactive(view_submission_body(
        callback_id="case.reply", private_metadata=view["private_metadata"],
        values={"reply": {"text": "Wat vervelend! Ik zoek het voor je uit."}}, user_id=AGENT))
    assert status == 200

    await receiver.wait_for(lambda: receiver.requests)
    server.kill()
    replies = [r for r in await outbox_rows(db) if r.kind == REPLY_KIND]
    assert [r.status for r in replies] == ["inflight"], replies
    assert not receiver.delivered  # the first call is still waiting in the receiver

    receiver.delay = 0
    await server.start()
    await receiver.wait_for(lambda: len(receiver.requests) >= 2)
    await fake_slack.wait_for(lambda: SENT in card_text(card), timeout=15,
                              what="the card to show the reply as sent")
    await wait_until(lambda: drained(db), what="the outbox to drain after the restart")
    await asyncio.sleep(2.5)  # let the killed process's call finish in the receiver too

    assert len(receiver.delivered) == 1, receiver.delivered
    (delivered,) = receiver.delivered.values()
    assert delivered["text"] == "Wat vervelend! Ik zoek het voor je uit."
    assert delivered["idempotency_key"] == replies[0].key
    assert {r["idempotency_key"] for r in receiver.requests} == {replies[0].key}
    assert receiver.bad_signatures == 0
    async with db.connect() as conn:
        statuses = (await conn.execute(select(Reply.status))).scalars().all()
    assert statuses == ["sent"]
    assert len(top_level(fake_slack)) == 1  # still one card, updated in place
    notes = [m for m in fake_slack.messages[CHANNEL]
             if m.get("thread_ts") == card["ts"] and "antwoordde" in m["text"]]
    assert len(notes) == 1, [m["text"] for m in notes]  # the reply was recorded as sent once
