"""Slack interaction acknowledgement latency while mentions stream in.

One task posts signed mentions at a steady rate (default 200/s in requests of 10; `--mention-batch 1`
sends them one per request, which this server cannot sustain on 2 cores: an overload test); once the
first cards are in (Fake)Slack, another task sends signed `block_actions` requests to /slack/events at
a steady rate: `case.claim` (by U0AGENT1, so after the first claim of a case it is an idempotent
no-op) and `case.reply` (which opens a modal through views.open with a fresh trigger_id, then fills
it through views.update). The button values are taken from cards the server really posted.

Latency is measured client-side, from just before the POST until the response is read. Slack needs
an answer within 3 s; the target here is p99 < 100 ms. Both sides run on one machine, so the load
generator's own event-loop lag is measured and reported too (it inflates client-side figures).

    .venv/bin/python -m bench.ack_latency                 # both databases, ~2,000 clicks over 30 s
    .venv/bin/python -m bench.ack_latency --quick --db postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/ack_latency.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench.common import (
    AGENT,
    CHANNEL,
    SIGNING_SECRET,
    CpuWindow,
    Server,
    bucket_quantile,
    db_kinds,
    histogram,
    markdown_table,
    mention,
    ms,
    percentile,
    running,
    signed_mentions,
)
from tests.fakes.slack_api import (
    FakeSlack,
    block_action_body,
    form_encode_payload,
    sign_slack_request,
)

TARGET_P99_S = 0.100
CLAIM, REPLY = "case.claim", "case.reply"


@dataclass
class RunResult:
    """What one database's run measured."""

    db: str
    mention_batch: int = 1
    latencies: dict[str, list[float]] = field(default_factory=lambda: {CLAIM: [], REPLY: []})
    bad_status: dict[str, int] = field(default_factory=lambda: {CLAIM: 0, REPLY: 0})
    mentions_sent: int = 0
    mentions_accepted: int = 0
    mention_errors: int = 0
    mention_seconds: float = 0.0
    mention_latencies: list[float] = field(default_factory=list)
    rows: int = -1
    cards_seen: int = 0
    click_seconds: float = 0.0
    loop_lag: list[float] = field(default_factory=list)
    server_hist: dict[str, dict[str, Any]] = field(default_factory=dict)
    views_opened: int = 0
    views_open_failed: int = 0
    views_updated: int = 0
    claimed_cases: int = -1
    cpu: dict[str, float] = field(default_factory=dict)
    peak_rss_mib: float = 0.0


class Cards:
    """The button values of the cards FakeSlack received, discovered incrementally."""

    def __init__(self, slack: FakeSlack) -> None:
        self.slack = slack
        self.values: list[tuple[str, str]] = []  # (message ts, button value)
        self._scanned = 0

    def refresh(self) -> int:
        messages = self.slack.messages[CHANNEL]
        for message in messages[self._scanned:]:
            if message.get("thread_ts", message["ts"]) != message["ts"]:
                continue  # a history note in a card's thread
            for block in message.get("blocks", []):
                if block.get("type") == "actions" and block.get("elements"):
                    self.values.append((message["ts"], block["elements"][0]["value"]))
                    break
        self._scanned = len(messages)
        return len(self.values)


async def _stream_mentions(server: Server, result: RunResult, *, rate: float, batch: int,
                           stop: asyncio.Event) -> None:
    """Post mentions open-loop at `rate` mentions/s (requests of `batch`) until `stop` is set."""
    run = uuid.uuid4().hex[:8]
    url = server.url + "/webhooks/mentions"
    interval = batch / rate
    tasks: set[asyncio.Task[None]] = set()
    last_done = [0.0]

    async def post(http: aiohttp.ClientSession, n: int) -> None:
        items = [mention(i, run) for i in range(n * batch, (n + 1) * batch)]
        body, headers = signed_mentions(items[0] if batch == 1 else items)
        t0 = time.perf_counter()
        try:
            async with http.post(url, data=body, headers=headers) as r:
                data = await r.json(content_type=None)
                if r.status == 202:
                    result.mentions_accepted += int(data["accepted"])
                else:
                    result.mention_errors += 1
        except (aiohttp.ClientError, TimeoutError):
            result.mention_errors += 1
        result.mention_latencies.append(time.perf_counter() - t0)
        last_done[0] = time.monotonic()

    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as http:
        start = time.monotonic()
        n = 0
        while not stop.is_set():
            delay = start + n * interval - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                continue
            task = asyncio.create_task(post(http, n))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            result.mentions_sent += batch
            n += 1
        if tasks:
            await asyncio.wait(tasks, timeout=30)
        # accepted / (first send .. last answer): below `rate` when the server falls behind
        result.mention_seconds = max(last_done[0], start) - start


async def _click(http: aiohttp.ClientSession, server: Server, slack: FakeSlack, result: RunResult,
                 *, action: str, message_ts: str, value: str) -> None:
    """One signed block_actions request; records the client-side time to the HTTP response."""
    payload = block_action_body(action_id=action, value=value, user_id=AGENT, channel_id=CHANNEL,
                                message_ts=message_ts, trigger_id=slack.issue_trigger_id())
    body = form_encode_payload(payload)
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               **sign_slack_request(SIGNING_SECRET, body)}
    t0 = time.perf_counter()
    try:
        async with http.post(server.url + "/slack/events", data=body, headers=headers) as r:
            await r.read()
            status = r.status
    except (aiohttp.ClientError, TimeoutError):
        status = 0
    elapsed = time.perf_counter() - t0
    if status == 200:
        result.latencies[action].append(elapsed)
    else:
        result.bad_status[action] += 1


async def _clicks(server: Server, slack: FakeSlack, result: RunResult, *, samples: int,
                  seconds: float, reply_every: int) -> None:
    """`samples` clicks spread evenly over `seconds`; every `reply_every`-th one is a reply."""
    cards = Cards(slack)
    deadline = time.monotonic() + 60
    while cards.refresh() == 0:
        if time.monotonic() > deadline:
            raise RuntimeError("no card was posted within 60 s: is the dispatcher running?")
        await asyncio.sleep(0.05)
    interval = seconds / samples
    tasks = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as http:
        start = time.monotonic()
        for i in range(samples):
            delay = start + i * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            cards.refresh()
            ts, value = cards.values[i % len(cards.values)]
            action = REPLY if reply_every and i % reply_every == reply_every - 1 else CLAIM
            tasks.append(asyncio.create_task(
                _click(http, server, slack, result, action=action, message_ts=ts, value=value)))
        await asyncio.gather(*tasks)
        result.click_seconds = time.monotonic() - start
    result.cards_seen = cards.refresh()


async def _loop_lag(result: RunResult, stop: asyncio.Event, period: float = 0.01) -> None:
    """How late this (load-generator) process' event loop wakes a 10 ms timer."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        t0 = loop.time()
        await asyncio.sleep(period)
        result.loop_lag.append(loop.time() - t0 - period)


async def run_one(db: str, *, rate: float, batch: int, samples: int, seconds: float,
                  reply_every: int, code: Path | None = None) -> RunResult:
    """One fresh database + server: stream mentions, click cards, then collect figures."""
    result = RunResult(db=db, mention_batch=batch)
    async with running(db, code=code) as (server, slack, database):
        stop = asyncio.Event()
        cpu = CpuWindow(server)
        cpu.start()
        stream = asyncio.create_task(
            _stream_mentions(server, result, rate=rate, batch=batch, stop=stop))
        lag = asyncio.create_task(_loop_lag(result, stop))
        try:
            await _clicks(server, slack, result, samples=samples, seconds=seconds,
                          reply_every=reply_every)
            await asyncio.sleep(1.0)  # let the last listeners (views.open/update) finish
        finally:
            stop.set()
            await asyncio.gather(stream, lag)
        result.cpu = cpu.stop()
        result.server_hist = histogram(await server.metrics(), "webcare_slack_ack_seconds")
        result.peak_rss_mib = server.peak_rss_mib()
        result.rows = await database.count("mentions")
        opens = slack.calls_to("views.open")
        result.views_opened = sum(1 for c in opens if c.status == 200 and not c.error)
        result.views_open_failed = len(opens) - result.views_opened
        result.views_updated = sum(1 for c in slack.calls_to("views.update") if not c.error)
    return result


def report(results: list[RunResult]) -> str:
    """Markdown tables: client-side latency per action, then the server's histogram."""
    rows = []
    for r in results:
        for action, values in r.latencies.items():
            p99 = percentile(values, 99)
            rows.append([r.db, action, len(values), ms(percentile(values, 50)),
                         ms(percentile(values, 90)), ms(p99), ms(max(values) if values else float("nan")),
                         r.bad_status[action], "yes" if p99 < TARGET_P99_S else "no"])
    out = [markdown_table(["DB", "action", "samples", "p50 ms", "p90 ms", "p99 ms", "max ms",
                           "non-200", "p99 < 100 ms"], rows)]

    rows = []
    for r in results:
        for kind, h in sorted(r.server_hist.items()):
            count = h["count"]
            within = h["buckets"].get(0.1, 0.0)
            rows.append([r.db, kind, int(count), ms(h["sum"] / count if count else float("nan")),
                         bucket_quantile(h["buckets"], 0.5), bucket_quantile(h["buckets"], 0.99),
                         f"{100 * within / count:.1f} %" if count else "n/a"])
    out.append("\nServer side (`webcare_slack_ack_seconds`, from /metrics at the end):\n")
    out.append(markdown_table(["DB", "kind", "count", "mean ms", "p50 bucket ms", "p99 bucket ms",
                               "≤ 100 ms"], rows))

    rows = []
    for r in results:
        rows.append([
            r.db, r.mention_batch,
            f"{r.mentions_accepted / r.mention_seconds if r.mention_seconds else 0:.0f}",
            r.mention_errors, ms(percentile(r.mention_latencies, 50)),
            ms(percentile(r.mention_latencies, 99)),
            f"{'yes' if r.rows == r.mentions_accepted else 'NO'} ({r.rows})", r.cards_seen,
            f"{r.views_opened}/{r.views_opened + r.views_open_failed}", r.views_updated,
            ms(percentile(r.loop_lag, 99)), f"{r.cpu.get('server_cores', 0):.2f}",
            f"{r.cpu.get('loadgen_cores', 0):.2f}", f"{r.cpu.get('machine_pct', 0):.0f}",
            f"{r.peak_rss_mib:.0f}",
        ])
    out.append("\nBackground load and sanity checks:\n")
    out.append(markdown_table(
        ["DB", "mentions/request", "mentions/s accepted", "mention errors", "mention p50 ms", "mention p99 ms",
         "rows = accepted", "cards posted", "modals opened", "modals filled (views.update)",
         "load-gen loop lag p99 ms", "server CPU (cores)", "load-gen CPU (cores)",
         "machine CPU %", "server peak RSS MiB"], rows))
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Ack latency of Slack button clicks while mentions stream in.")
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both",
                   help="database(s) to run against (default: both)")
    p.add_argument("--rate", type=float, default=200.0,
                   help="background mentions per second (default: 200)")
    p.add_argument("--mention-batch", type=int, default=10,
                   help="mentions per background request (default: 10, i.e. 20 requests/s; "
                        "1 overloads the server on a 2-core machine, see docs/BENCHMARKS.md)")
    p.add_argument("--samples", type=int, default=2000, help="clicks per database (default: 2000)")
    p.add_argument("--seconds", type=float, default=30.0,
                   help="spread the clicks over this many seconds (default: 30)")
    p.add_argument("--reply-every", type=int, default=4,
                   help="every N-th click is case.reply, the rest case.claim (default: 4; 0: none)")
    p.add_argument("--quick", action="store_true", help="~330 clicks over 5 s")
    p.add_argument("--code", type=Path, default=None, metavar="DIR",
                   help="run the server from this source tree (to compare a patched scratch copy)")
    args = p.parse_args(argv)
    if args.quick:
        args.seconds = 5.0
        args.samples = max(1, round(args.samples * 5 / 30))
    return args


async def main_async(args: argparse.Namespace) -> list[RunResult]:
    results = []
    for db in db_kinds(args.db):
        print(f"… {db}: {args.rate:g} mentions/s ({args.mention_batch}/request), "
              f"{args.samples} clicks over {args.seconds:g} s", file=sys.stderr)
        results.append(await run_one(db, rate=args.rate, batch=args.mention_batch,
                                     samples=args.samples, seconds=args.seconds,
                                     reply_every=args.reply_every, code=args.code))
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = asyncio.run(main_async(args))
    print(report(results))
    print(f"\nClient-side latency, measured on the same machine as the server; background load "
          f"{args.rate:g} mentions/s in requests of {args.mention_batch}. Target p99 < 100 ms.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
