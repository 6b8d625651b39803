"""Teams: how fast `POST /api/messages` answers card clicks while mentions stream in.

A real `webcare serve` runs with `chat: teams` against FakeBotFramework (token endpoint, signing keys,
Bot Connector, paced like Teams: 7 posts/s per conversation). One task posts signed mentions at a
steady rate; once cards are in the fake Teams channel, another sends card clicks (`case.claim` by an
agent: the first claims the case, later ones are refused as already claimed, or are no-ops), each an
`Action.Submit` activity signed the way the Bot Framework signs it (RS256 JWT). Unlike Slack, the
bot handles the click (token check, one transaction) before it answers; Teams allows about 15 s.

Latency is measured client-side, from just before the POST until the answer is read; the server's
own histogram (`webcare_slack_ack_seconds{kind="teams.message"}`) is read from /metrics at the end.

    .venv/bin/python -m bench.teams_ack                      # both databases, 1,000 clicks over ~30 s
    .venv/bin/python -m bench.teams_ack --quick --db sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/teams_ack.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench.common import (
    CpuWindow,
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
from tests.fakes.bot_framework import FakeBotFramework

AGENTS = ["6b703ce3-6d14-4fe6-b90c-dc5f03657ae4", "0c0ffee0-1234-4abc-8def-0123456789ab"]
TARGET_P99_S = 0.100


def teams_config(fake: FakeBotFramework) -> dict[str, Any]:
    """app.yaml overrides: the team works in Teams."""
    return {"chat": "teams", "teams": {"channel": fake.channel_id, "service_url": fake.service_url},
            "roles": {"teams": {"agents": AGENTS}}}


def teams_env(fake: FakeBotFramework) -> dict[str, str]:
    """The Microsoft variables, pointed at the fake."""
    return {"MICROSOFT_APP_ID": fake.app_id, "MICROSOFT_APP_PASSWORD": fake.app_password,
            "MICROSOFT_APP_TENANT_ID": fake.tenant_id, "MICROSOFT_LOGIN_URL": fake.login_url,
            "BOT_OPENID_METADATA_URL": fake.openid_url}


def _submits(node: Any) -> list[dict[str, Any]]:
    """The data of every Action.Submit in a card, wherever it sits (actions, action sets, forms)."""
    if isinstance(node, list):
        return [d for n in node for d in _submits(n)]
    if not isinstance(node, dict):
        return []
    own = [node["data"]] if node.get("type") == "Action.Submit" and isinstance(node.get("data"), dict) else []
    return own + [d for k, v in node.items() if k != "data" for d in _submits(v)]


def claim_buttons(fake: FakeBotFramework) -> list[tuple[Any, str]]:
    """(post, claim value) of every card in the channel so far."""
    return [(post, data["value"]) for post in list(fake.threads.get(fake.channel_id, []))
            for data in _submits(post.activity.get("attachments") or []) if data.get("action") == "case.claim"]


async def stream_mentions(url: str, *, rate: float, batch: int, stop: asyncio.Event) -> int:
    """Post signed mentions open-loop at `rate`/s in requests of `batch` until `stop`; how many accepted."""
    run, accepted, n = uuid.uuid4().hex[:8], 0, 0
    async with aiohttp.ClientSession() as http:
        start = time.monotonic()
        while not stop.is_set():
            delay = start + n * batch / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            body, headers = signed_mentions([mention(i, run) for i in range(n * batch, (n + 1) * batch)])
            with contextlib.suppress(aiohttp.ClientError):
                async with http.post(url + "/webhooks/mentions", data=body, headers=headers) as r:
                    if r.status == 202:
                        accepted += int((await r.json())["accepted"])
            n += 1
    return accepted


async def run_one(kind: str, *, samples: int, click_rate: float, mention_rate: float) -> dict[str, Any]:
    """One database: stream mentions, click cards, and return the figures."""
    async with FakeBotFramework() as fake, \
            running(kind, config=teams_config(fake), env=teams_env(fake)) as (server, _slack, _db):
        stop = asyncio.Event()
        mentions = asyncio.create_task(stream_mentions(server.url, rate=mention_rate, batch=10, stop=stop))
        await fake.wait_for(lambda: len(claim_buttons(fake)) >= 5, timeout=60, what="the first cards")
        latencies: list[float] = []
        bad = 0
        seen: dict[str, tuple[Any, str]] = {}  # a card's claim button, kept after it was claimed
        cpu = CpuWindow(server)
        cpu.start()
        start = time.monotonic()
        async with aiohttp.ClientSession() as http:
            for n in range(samples):
                delay = start + n / click_rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                seen.update({post.id: (post, value) for post, value in claim_buttons(fake)})
                post, value = random.choice(list(seen.values()))
                agent = random.choice(AGENTS)
                activity = fake.card_submit({"action": "case.claim", "value": value}, reply_to_id=post.id,
                                            conversation_id=post.conversation_id,
                                            user={"id": f"29:{agent[:8]}", "name": f"Agent {agent[:4]}",
                                                  "aadObjectId": agent})
                headers = {"Authorization": fake.inbound_auth(activity),
                           "Content-Type": "application/json; charset=utf-8"}
                t0 = time.perf_counter()
                async with http.post(server.url + "/api/messages", json=activity, headers=headers) as r:
                    await r.read()
                    latencies.append(time.perf_counter() - t0)
                    bad += r.status != 200
        seconds = time.monotonic() - start
        window = cpu.stop()
        stop.set()
        accepted = await mentions
        hist = histogram(await server.metrics(), "webcare_slack_ack_seconds").get("teams.message", {})
        return {"db": kind, "samples": len(latencies), "bad": bad, "seconds": seconds,
                "p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                "p99": percentile(latencies, 99), "max": max(latencies), "mentions": accepted,
                "cards": len(fake.threads.get(fake.channel_id, [])),
                "server_p99": bucket_quantile(hist.get("buckets", {}), 0.99), "cpu": window,
                "rss": server.peak_rss_mib()}


def report(results: list[dict[str, Any]]) -> str:
    """The figures as a Markdown table."""
    rows = [[r["db"], r["samples"], r["bad"], f"{r['samples'] / r['seconds']:.0f}/s", ms(r["p50"]),
             ms(r["p95"]), ms(r["p99"]), ms(r["max"]), r["server_p99"], r["mentions"], r["cards"],
             f"{r['rss']:.0f} MiB", f"{r['cpu'].get('server_cores', float('nan')):.2f}"] for r in results]
    verdict = all(r["p99"] < TARGET_P99_S and not r["bad"] for r in results)
    return markdown_table(["db", "clicks", "non-200", "rate", "p50", "p95", "p99", "max", "server p99 ≤",
                           "mentions stored", "cards", "peak RSS", "server cores"], rows) + (
        f"\n\nclient p99 < {ms(TARGET_P99_S)} and no errors: {'yes' if verdict else 'NO'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--click-rate", type=float, default=33.0, help="clicks per second")
    parser.add_argument("--mention-rate", type=float, default=100.0, help="mentions per second meanwhile")
    parser.add_argument("--quick", action="store_true", help="200 clicks")
    args = parser.parse_args()
    samples = 200 if args.quick else args.samples
    results = [asyncio.run(run_one(kind, samples=samples, click_rate=args.click_rate,
                                   mention_rate=args.mention_rate)) for kind in db_kinds(args.db)]
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
