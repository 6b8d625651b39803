"""A HEMA-style storm through the real server and the fake Slack (the surge issue's benchmark).

A real `webcare serve` subprocess (bench.common.Server: `create_app` with an app.yaml written here)
runs on loopback against FakeSlack with Slack's pacing (chat.postMessage 1/s per channel, burst 3;
HTTP 429 + Retry-After beyond it). The load generator sends, through signed POST /webhooks/mentions:

- **normal traffic** for the whole run: one mention every 5–10 s on other threads and sources;
- **a storm**: `--storm` mentions (default 7,000) on one Facebook post within `--minutes` (default 10),
  ramping up linearly over the first fifth of the run (at most 2 minutes), then steady; batches every
  1–2 s, as Meta delivers them; every mention from another author; mostly negative Dutch texts built
  from a few dozen templates with variations, ~1 % threats;
- **clicks** at ~2/s during the storm (signed block_actions to /slack/events): `case.claim` on cards
  the server really posted, and `surge.ack` by the manager on the alert card once it is there.

Then it waits for the outbox to drain and measures (targets from the issue):

- (a) every mention stored: the `mentions` table against what was sent;
- (b) visibility latency per mention, from `mentions.received_at` (server clock) to the moment it is
  visible in Slack: for a mention with a card of its own, the card's post (FakeSlack's message `ts`,
  the fake's wall clock; both run on this machine); for a mention counted in a cluster
  (`mentions.cluster_id`), the first post or update whose count covers it of that cluster's card
  (matched through `surge_clusters.card_ts`) or of the surge's storm card (which counts every
  clustered message of the surge; matched through `surges.storm_ts`), whichever came first, taking
  the mentions in id order (the runner clusters them in id order; the few cards taken back from
  the outbox when the alarm is raised are counted in id order too). Never visible = infinitely late;
- (c) chat.postMessage per channel: the most successful posts in any sliding 1 s and 10 s window;
  HTTP 429s; outbox rows that failed for good (`dead`);
- (d) all Slack Web API calls (every method, 429s included) per mention;
- (e) client-side time to the HTTP response of the clicks;
- (f) storm start (first storm batch sent) to the first DM to the manager and to the alert card.

    .venv/bin/python -m bench.surge_storm                            # 10 minutes, 7,000 storm mentions, SQLite
    .venv/bin/python -m bench.surge_storm --minutes 2 --storm 1400   # a quick run
    .venv/bin/python -m bench.surge_storm --database-url postgresql://postgres@127.0.0.1:5432/bench_storm
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import random
import re
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/surge_storm.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench.common import (
    CHANNEL,
    PG_ADMIN_URL,
    SIGNING_SECRET,
    CpuWindow,
    Database,
    Server,
    machine_info,
    markdown_table,
    percentile,
    running,
    signed_mentions,
)
from tests.fakes.slack_api import FakeSlack, block_action_body, form_encode_payload, sign_slack_request

ALERTS = "C0ALERTS"
MANAGER, SPOKESPERSON, AGENT = "U0MGR1", "U0SPOKE1", "U0AGENT1"
STORM_SOURCE, STORM_THREAD = "facebook", "hema-post-1"

TARGET_VISIBLE_P99_S = 30.0
TARGET_POSTS_PER_S = 1.0
TARGET_CALLS_SHARE = 0.05
TARGET_ACK_P99_S = 0.100
TARGET_ALERT_S = 120.0

CONFIG: dict[str, Any] = {
    # production-like: Slack's pace (1 post/s per channel), updates a little under Slack's ~50/min
    "slack": {"channel": CHANNEL, "alerts_channel": ALERTS, "post_interval": "1s", "update_interval": "1200ms"},
    "roles": {
        "agents": [AGENT, "U0AGENT2"],
        "coordinators": ["U0COORD1"],
        "spokespersons": [SPOKESPERSON],
        "managers": [MANAGER],
    },
    "surge": {},  # the defaults: check 5s, card_every 10s, ack_within 10m, collapse true
}

# --- texts ---------------------------------------------------------------------------------------

STORM_TEMPLATES = [
    "Schaam je {hema}, weg met die campagne!",
    "Walgelijk dit, {hema}. Ik kom nooit meer in jullie winkel.",
    "Boycot {hema}! Schandalig wat jullie doen",
    "Wat een schandalige actie van {hema}, echt walgelijk",
    "Ik zeg mijn klantenkaart op. Dit is niet normaal {hema}",
    "Hoe durven jullie dit te plaatsen? Haal het weg!",
    "Nooit meer {hema}. Jullie zijn me als klant kwijt",
    "Dit is toch niet te geloven. Wie heeft dit bedacht bij {hema}?",
    "Diep teleurgesteld in {hema}, ik dacht dat jullie beter wisten",
    "Excuses zijn op zijn plaats {hema}, en snel ook",
    "Wat een smakeloze reclame. Schaam je diep",
    "Ik ga nooit meer bij {hema} kopen na deze post",
    "Jullie marketingafdeling moet zich kapot schamen",
    "Hier word ik echt misselijk van {hema}",
    "Trek die campagne in, {hema}. Nu!",
    "Onbegrijpelijk dat een bedrijf als {hema} dit doet",
    "Ik heb mijn bestelling geannuleerd. Dag {hema}",
    "Jullie verliezen zoveel klanten hiermee, besef je dat wel?",
    "Wie keurt zoiets goed? Ontslaan die mensen",
    "Weg met {hema}! Iedereen boycotten",
    "Zo kwetsend dit. Ik ben echt boos op jullie",
    "Wat een domme actie van {hema}, ongelooflijk",
    "Ik deel dit overal zodat iedereen ziet wat {hema} doet",
    "Verwijder deze post en bied je excuses aan",
    "Jarenlang trouwe klant geweest, maar nu is het klaar",
    "{hema} heeft het weer eens verpest. Dag rookworst",
    "Belachelijk. Mijn kinderen krijgen niks meer van de {hema}",
    "Geen cent meer van mij, {hema}",
    "Echt zo respectloos. Jullie moeten je schamen",
    "Wanneer komen jullie met een reactie {hema}? Het blijft stil",
    "Zijn jullie nou helemaal gek geworden bij {hema}?",
    "Ik snap de ophef wel, dit kan echt niet {hema}",
    "Ik vind het eerlijk gezegd wel meevallen, maar goed",
    "Hebben jullie hier überhaupt over nagedacht?",
    "Wat is dit nou weer voor onzin van {hema}",
    "Op naar de Action dan maar, jammer {hema}",
]
THREAT_TEMPLATES = [
    "Ik weet waar jullie wonen {hema}, wacht maar",
    "Als dit niet weg is steek ik die winkel in de fik",
    "Jullie directeur moet oppassen, ik ga hem vinden",
]
PREFIXES = ["", "", "", "Echt, ", "@HEMA ", "Serieus? ", "Pff. ", "Nou nou. ", "Sorry maar ", "Lol. "]
SUFFIXES = [
    "",
    "",
    "!",
    "!!",
    "!!!",
    " 😡",
    " 🤮",
    " #boycothema",
    " #hema",
    " Nooit meer.",
    " Bah.",
    " Echt waar.",
    " 👎👎",
    " Dit moet iedereen weten.",
    " Schande!",
]
HEMA = ["HEMA", "Hema", "hema", "@HEMA", "de HEMA"]

NORMAL_TEXTS = [
    ("x", "Waar blijft mijn pakket? Besteld op maandag, nog steeds niks ({n})"),
    ("instagram", "Hebben jullie de rode tompoucen weer op voorraad? ({n})"),
    ("facebook", "Hoe laat is de winkel in Utrecht open op zondag? ({n})"),
    ("forum-x", "Mijn retour is nog niet verwerkt, kan iemand kijken? Order {n}"),
    ("x", "Top service vandaag in de winkel in Gent, dank jullie wel! ({n})"),
    ("facebook", "Kan ik mijn bestelling nog wijzigen? Ordernummer {n}"),
]


def storm_text(rng: random.Random, threat: bool) -> str:
    base = rng.choice(THREAT_TEMPLATES if threat else STORM_TEMPLATES).format(hema=rng.choice(HEMA))
    return f"{rng.choice(PREFIXES)}{base}{rng.choice(SUFFIXES)}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def storm_mention(i: int, run: str, rng: random.Random, threat: bool) -> dict[str, Any]:
    return {
        "source": STORM_SOURCE,
        "id": f"{run}-s{i}",
        "venue": "own",
        "thread_id": STORM_THREAD,
        "in_reply_to": STORM_THREAD,
        "url": f"https://facebook.com/hema/posts/1?comment={i}",
        "author": {
            "id": f"{run}-fb{i}",
            "handle": f"fbfan{i}",
            "name": f"Fan {i}",
            "followers": rng.randint(5, 900),
            "verified": False,
        },
        "text": storm_text(rng, threat),
        "created_at": now_iso(),
        "lang": "nl",
    }


def normal_mention(i: int, run: str) -> dict[str, Any]:
    source, text = NORMAL_TEXTS[i % len(NORMAL_TEXTS)]
    return {
        "source": source,
        "id": f"{run}-n{i}",
        "venue": "own",
        "thread_id": f"{run}-t{i}",
        "url": f"https://example.org/{source}/{i}",
        "author": {
            "id": f"{run}-na{i}",
            "handle": f"klant{i}",
            "name": f"Klant {i}",
            "followers": 150,
            "verified": False,
        },
        "text": text.format(n=i),
        "created_at": now_iso(),
        "lang": "nl",
    }


# --- the plan --------------------------------------------------------------------------------------


def storm_schedule(total: int, seconds: float, rng: random.Random) -> list[tuple[float, int]]:
    """(offset s, mentions) of the storm's batches: a linear ramp over the first fifth (≤ 120 s), then
    steady, every 1–2 s, `total` mentions in all, the last batch at `seconds`."""
    ramp = min(120.0, seconds / 5)

    def share(t: float) -> float:  # cumulative share of the storm sent by time t
        t = min(max(t, 0.0), seconds)
        area = ramp / 2 + (seconds - ramp)
        done = t * t / (2 * ramp) if t <= ramp else ramp / 2 + (t - ramp)
        return done / area

    out, sent, t = [], 0, 0.0
    while t < seconds:
        t = min(seconds, t + rng.uniform(1.0, 2.0))
        n = round(total * share(t)) - sent
        if n > 0:
            out.append((t, n))
            sent += n
    return out


@dataclass
class Result:
    """What one run measured (the raw lists are left out of --json)."""

    db: str
    minutes: float
    storm: int
    normal_sent: int = 0
    storm_sent: int = 0
    batches: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    ingest_errors: int = 0
    ingest_latencies: list[float] = field(default_factory=list)
    storm_start: float = 0.0  # wall clock (time.time()) of the first storm batch
    storm_end: float = 0.0
    drained_after_s: float = float("nan")
    stored: int = -1
    stored_storm: int = -1
    threats_stored: int = 0
    visibility: dict[str, Any] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list, repr=False)
    posts: dict[str, Any] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    ratelimited: int = 0
    outbox: dict[str, int] = field(default_factory=dict)
    dead: list[str] = field(default_factory=list)
    outbox_waits: dict[str, dict[str, float]] = field(default_factory=dict)
    clicks: dict[str, list[float]] = field(default_factory=dict)
    click_errors: int = 0
    alert: dict[str, Any] = field(default_factory=dict)
    surges: list[dict[str, Any]] = field(default_factory=list)
    clusters: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    peak_rss_mib: float = 0.0
    server_log_errors: list[str] = field(default_factory=list)


# --- load ------------------------------------------------------------------------------------------


async def _post(
    http: aiohttp.ClientSession, server: Server, result: Result, items: list[dict[str, Any]]
) -> None:
    body, headers = signed_mentions(items if len(items) > 1 else items[0])
    t0 = time.perf_counter()
    try:
        async with http.post(server.url + "/webhooks/mentions", data=body, headers=headers) as r:
            await r.read()
            if r.status != 202:
                result.ingest_errors += 1
    except (aiohttp.ClientError, TimeoutError):
        result.ingest_errors += 1
    result.ingest_latencies.append(time.perf_counter() - t0)


async def _storm(
    http: aiohttp.ClientSession,
    server: Server,
    result: Result,
    schedule: list[tuple[float, int]],
    run: str,
    seed: int,
    start: float,
    threat_share: float,
) -> None:
    rng = random.Random(seed)
    tasks = []
    i = 0
    for offset, n in schedule:
        delay = start + offset - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        items = [storm_mention(i + k, run, rng, rng.random() < threat_share) for k in range(n)]
        i += n
        if not result.storm_start:
            result.storm_start = time.time()
        tasks.append(asyncio.create_task(_post(http, server, result, items)))
        result.storm_sent += n
        result.batches += 1
        result.batch_sizes.append(n)
    await asyncio.gather(*tasks)
    result.storm_end = time.time()


async def _normal(
    http: aiohttp.ClientSession,
    server: Server,
    result: Result,
    run: str,
    seed: int,
    stop: asyncio.Event,
    every: tuple[float, float],
) -> None:
    rng = random.Random(seed + 1)
    tasks = []
    i = 0
    while not stop.is_set():
        tasks.append(asyncio.create_task(_post(http, server, result, [normal_mention(i, run)])))
        result.normal_sent += 1
        i += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), rng.uniform(*every))
    await asyncio.gather(*tasks)


def _buttons(message: dict[str, Any], action: str) -> str | None:
    for block in message.get("blocks", []):
        if block.get("type") == "actions":
            for el in block.get("elements", []):
                if el.get("action_id") == action:
                    return str(el.get("value", ""))
    return None


async def _clicks(
    http: aiohttp.ClientSession,
    server: Server,
    slack: FakeSlack,
    result: Result,
    stop: asyncio.Event,
    rate: float,
    seed: int,
) -> None:
    """~`rate` clicks/s: claims on posted cards (by one agent, so a repeat claim is a no-op, as in
    bench.ack_latency), every 10th a surge.ack by the manager on the alert card."""
    rng = random.Random(seed + 2)
    tasks = []
    n = 0

    async def click(action: str, value: str, user: str, channel: str, ts: str) -> None:
        payload = block_action_body(
            action_id=action,
            value=value,
            user_id=user,
            channel_id=channel,
            message_ts=ts,
            trigger_id=slack.issue_trigger_id(),
        )
        body = form_encode_payload(payload)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            **sign_slack_request(SIGNING_SECRET, body),
        }
        t0 = time.perf_counter()
        try:
            async with http.post(server.url + "/slack/events", data=body, headers=headers) as r:
                await r.read()
                ok = r.status == 200
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        if ok:
            result.clicks.setdefault(action, []).append(time.perf_counter() - t0)
        else:
            result.click_errors += 1

    start = time.monotonic()
    while not stop.is_set():
        n += 1
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                break
        alerts = slack.messages.get(ALERTS, [])
        if n % 10 == 0 and alerts:
            value = _buttons(alerts[0], "surge.ack")
            if value:
                tasks.append(asyncio.create_task(click("surge.ack", value, MANAGER, ALERTS, alerts[0]["ts"])))
                continue
        cards = [
            m
            for m in slack.messages.get(CHANNEL, [])[-200:]
            if m.get("thread_ts", m["ts"]) == m["ts"] and _buttons(m, "case.claim")
        ]
        if not cards:
            continue
        card = rng.choice(cards)
        tasks.append(
            asyncio.create_task(
                click(
                    "case.claim",
                    _buttons(card, "case.claim") or "",
                    AGENT,
                    CHANNEL,
                    card["ts"],
                )
            )
        )
    await asyncio.gather(*tasks)


# --- measuring -------------------------------------------------------------------------------------


async def _query(db: Database, sql: str) -> list[tuple[Any, ...]]:
    if db.kind == "sqlite":
        import sqlite3

        with contextlib.closing(sqlite3.connect(db.url.split("///", 1)[1])) as conn:
            return [tuple(r) for r in conn.execute(sql).fetchall()]
    import asyncpg

    conn = await asyncpg.connect(db.url.replace("+asyncpg", ""))
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


def _epoch(value: Any) -> float:
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


CLUSTER_COUNT = re.compile(r"(\d+) (?:vergelijkbare berichten|similar messages)")


STORM_COUNT = re.compile(r"^Storm(?: voorbij| over)?: (\d+) (?:berichten|messages)")


def _storm_count(message: dict[str, Any]) -> int | None:
    m = STORM_COUNT.search(message.get("text", ""))
    return int(m.group(1)) if m else None


def _cluster_count(message: dict[str, Any]) -> int | None:
    m = CLUSTER_COUNT.search(json.dumps(message.get("blocks", []), ensure_ascii=False)) or CLUSTER_COUNT.search(
        message.get("text", "")
    )
    return int(m.group(1)) if m else None


DUE_WITHIN = 120.0


async def _wait_drained(db: Database, timeout: float) -> float:
    """Seconds until the outbox has nothing in flight or due within `DUE_WITHIN` (NaN: not within
    `timeout`): the coalesced card updates (10 s, the alert card's minute) are waited for, a fading
    storm's ten-minute alert-card update is not."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if not await db.outbox_due(DUE_WITHIN):
            return time.monotonic() - t0
        await asyncio.sleep(1.0)
    return float("nan")


def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def measure(result: Result, db: Database, slack: FakeSlack, run: str) -> None:
    """Everything after the run: stored rows, visibility, pacing, calls, alert times."""
    rows = await _query(
        db,
        "SELECT m.id, m.external_id, m.received_at, m.cluster_id, m.threat, c.card_ts, "
        "c.card_channel, c.status FROM mentions m LEFT JOIN cases c ON c.id = m.case_id",
    )
    result.stored = len(rows)
    storm_rows = [r for r in rows if str(r[1]).startswith(f"{run}-s")]
    result.stored_storm = len(storm_rows)
    result.threats_stored = sum(1 for r in storm_rows if r[4])
    cluster_rows = await _query(db, "SELECT id, card_ts, count, surge_id FROM surge_clusters")
    clusters = {int(cid): ts for cid, ts, _n, _s in cluster_rows}
    db_counts = {int(cid): int(n) for cid, _ts, n, _s in cluster_rows}
    surge_of = {int(cid): int(sid) for cid, _ts, _n, sid in cluster_rows}
    storm_ts = {int(sid): ts for sid, ts in await _query(db, "SELECT id, storm_ts FROM surges") if ts}
    uncovered: list[dict[str, Any]] = []
    result.clusters = len(clusters)

    # when each Slack message became visible, and the cluster cards' counts over time
    posted_at = {m["ts"]: float(m["ts"]) for m in slack.messages.get(CHANNEL, [])}
    versions: dict[str, list[tuple[float, int]]] = defaultdict(list)  # card ts -> (time, count)
    for m in slack.messages.get(CHANNEL, []):
        first = m.get("_first_count")
        if first is not None:
            versions[m["ts"]].append((float(m["ts"]), first))
    for m in slack.messages.get(CHANNEL, []):
        first = m.get("_first_storm")
        if first is not None:
            versions[m["ts"]].append((float(m["ts"]), first))
    for u in slack.updates:
        if u.get("channel") == CHANNEL:
            count = _cluster_count(u)
            if count is None:
                count = _storm_count(u)
            if count is not None:
                versions[u["ts"]].append((float(u["edited"]["ts"]), count))
    by_cluster: dict[int, list[tuple[int, float]]] = defaultdict(list)
    own: dict[int, float] = {}
    via_cluster: dict[int, float] = {}
    for mid, _ext, received, cluster_id, _thr, card_ts, _ch, _status in rows:
        t_in = _epoch(received)
        own[int(mid)] = posted_at[card_ts] - t_in if card_ts and card_ts in posted_at else float("inf")
        if cluster_id is not None:
            by_cluster[int(cluster_id)].append((int(mid), t_in))
    def first_showing(card: str | None, members: list[tuple[int, float]]) -> list[tuple[int, float, int]]:
        """(mention, latency, rank) for a card that counts `members` in id order."""
        times, counts, peak = [], [], 0
        for t, c in sorted(versions.get(card or "", [])):
            peak = max(peak, c)
            times.append(t)
            counts.append(peak)
        out = []
        for k, (mid, t_in) in enumerate(sorted(members), start=1):
            j = bisect.bisect_left(counts, k)
            out.append((mid, times[j] - t_in if j < len(times) else float("inf"), k))
        return out

    by_surge: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for cid, members in by_cluster.items():
        by_surge[surge_of[cid]].extend(members)
    via_storm: dict[int, float] = {}
    by_card: dict[int, float] = {}
    for sid, members in by_surge.items():  # the storm card counts every clustered message of its surge
        for mid, late, _k in first_showing(storm_ts.get(sid), members):
            via_storm[mid] = late
    for cid, members in by_cluster.items():
        for mid, late, k in first_showing(clusters.get(cid), members):
            by_card[mid] = late
            via_cluster[mid] = min(late, via_storm.get(mid, float("inf")))
            if via_cluster[mid] == float("inf"):
                uncovered.append({"mention": mid, "cluster": cid, "rank": k, "members": len(members),
                                  "db_count": db_counts.get(cid)})
    latency: dict[int, float] = {}
    kinds: Counter[str] = Counter()
    for mid, t_own in own.items():
        t_cluster = via_cluster.get(mid, float("inf"))
        latency[mid] = min(t_own, t_cluster)
        how = (
            "own card" if t_own <= t_cluster
            else "cluster card" if by_card.get(mid, float("inf")) <= via_storm.get(mid, float("inf"))
            else "storm card"
        )
        kinds["never" if latency[mid] == float("inf") else how] += 1
    values = list(latency.values())
    storm_ids = {int(r[0]) for r in storm_rows}
    storm_values = [latency[i] for i in storm_ids]
    normal_values = [v for i, v in latency.items() if i not in storm_ids]
    result.latencies = values
    result.visibility = {
        "all": _summary(values),
        "storm": _summary(storm_values),
        "normal": _summary(normal_values),
        "how": dict(kinds),
        "clustered_mentions": sum(len(v) for v in by_cluster.values()),
        "uncovered": uncovered[:10],
    }

    # pacing of chat.postMessage per channel (successful posts only), 429s
    per_channel: dict[str, list[float]] = defaultdict(list)
    for call in slack.calls_to("chat.postMessage"):
        if call.status == 200 and not call.error:
            per_channel[str(call.args.get("channel"))].append(call.at)
    result.posts = {
        ch: {
            "posts": len(ts),
            "max_1s": _max_in_window(ts, 1.0),
            "max_10s_per_s": _max_in_window(ts, 10.0) / 10,
            "max_60s_per_s": _max_in_window(ts, 60.0) / 60,
        }
        for ch, ts in sorted(per_channel.items())
    }
    result.calls = dict(Counter(c.method for c in slack.calls))
    result.ratelimited = sum(1 for c in slack.calls if c.status == 429)
    result.outbox = await db.outbox_summary()
    waits: dict[str, list[float]] = defaultdict(list)
    for kind, created, finished in await _query(
        db, "SELECT kind, created_at, finished_at FROM outbox WHERE status = 'done'"
    ):
        waits[str(kind)].append(_epoch(finished) - _epoch(created))
    result.outbox_waits = {
        k: {"n": len(v), "p50_s": percentile(v, 50), "p99_s": percentile(v, 99), "max_s": max(v)}
        for k, v in sorted(waits.items())
    }
    result.dead = [
        f"{k}: {e}" for k, e in await _query(db, "SELECT kind, last_error FROM outbox WHERE status = 'dead'")
    ]

    # the alert
    dms = slack.dm_messages(MANAGER)
    alerts = slack.messages.get(ALERTS, [])
    start = result.storm_start
    result.alert = {
        "first_dm_s": float(dms[0]["ts"]) - start if dms else float("nan"),
        "first_dm_text": dms[0]["text"][:140] if dms else "",
        "alert_level_dm_s": next(
            (float(m["ts"]) - start for m in dms if "Alarm" in m.get("text", "")), float("nan")
        ),
        "alert_card_s": float(alerts[0]["ts"]) - start if alerts else float("nan"),
        "dms": len(dms),
    }
    result.surges = [
        {
            "scope": s,
            "key": k,
            "level": lv,
            "started_after_s": _epoch(st) - start,
            "raised_after_s": _epoch(ra) - start,
            "messages": msgs,
            "acked_by": ack,
        }
        for s, k, lv, st, ra, msgs, ack in await _query(
            db, "SELECT scope, key, level, started_at, raised_at, messages, acked_by FROM surges ORDER BY id"
        )
    ]


def _pct(values: list[float], p: float) -> float:
    """percentile() that keeps never-visible (infinite) latencies infinite instead of NaN."""
    big = 1e12
    v = percentile([min(x, big) for x in values], p)
    return float("inf") if v >= big else v


def _summary(values: list[float]) -> dict[str, Any]:
    finite = [v for v in values if v != float("inf")]
    return {
        "n": len(values),
        "never": len(values) - len(finite),
        "p50_s": _pct(values, 50),
        "p99_s": _pct(values, 99),
        "max_s": max(values) if values else float("nan"),
        "within_30s": sum(1 for v in values if v <= TARGET_VISIBLE_P99_S),
    }


# --- one run ---------------------------------------------------------------------------------------


def _record_first_counts(slack: FakeSlack) -> None:
    """Cluster and storm cards' count at their post (kept on the fake's message before updates change it)."""
    for m in slack.messages.get(CHANNEL, []):
        if "_first_count" not in m:
            m["_first_count"] = _cluster_count(m)
            m["_first_storm"] = _storm_count(m)


async def _watch_posts(slack: FakeSlack, stop: asyncio.Event) -> None:
    while not stop.is_set():
        _record_first_counts(slack)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)
    _record_first_counts(slack)


async def run(
    db_kind: str,
    *,
    minutes: float,
    storm: int,
    seed: int = 1,
    clicks_per_s: float = 2.0,
    normal_every: tuple[float, float] = (5.0, 10.0),
    threat_share: float = 0.01,
    drain: float = 180.0,
    pg_admin_url: str = PG_ADMIN_URL,
    pg_db: str = "bench_storm",
    code: Path | None = None,
    keep: bool = False,
) -> Result:
    result = Result(db=db_kind, minutes=minutes, storm=storm)
    run_id = uuid.uuid4().hex[:6]
    schedule = storm_schedule(storm, minutes * 60, random.Random(seed))
    async with running(
        db_kind, config=CONFIG, pg_admin_url=pg_admin_url, pg_db=pg_db, code=code, keep_workdir=keep
    ) as (
        server,
        slack,
        db,
    ):
        stop_normal, stop_clicks, stop_watch = asyncio.Event(), asyncio.Event(), asyncio.Event()
        cpu = CpuWindow(server)
        cpu.start()
        watcher = asyncio.create_task(_watch_posts(slack, stop_watch))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
            normal = asyncio.create_task(_normal(http, server, result, run_id, seed, stop_normal, normal_every))
            await asyncio.sleep(min(15.0, minutes * 6))  # a little normal traffic before the storm
            clicks = asyncio.create_task(_clicks(http, server, slack, result, stop_clicks, clicks_per_s, seed))
            await _storm(http, server, result, schedule, run_id, seed, time.monotonic(), threat_share)
            stop_clicks.set()
            await clicks
            t_end = time.monotonic()
            await asyncio.sleep(
                min(10.0, drain)
            )  # the runner clusters the last mentions (check 5 s + settle 1 s)
            await _wait_drained(db, drain)
            result.drained_after_s = time.monotonic() - t_end
            stop_normal.set()
            await normal
            await asyncio.sleep(2.0)
            await _wait_drained(db, min(drain, 30.0))
        stop_watch.set()
        await watcher
        result.cpu = cpu.stop()
        result.peak_rss_mib = server.peak_rss_mib()
        await measure(result, db, slack, run_id)
    with contextlib.suppress(OSError):
        log = server.stderr_path.read_text(errors="replace") if server.stderr_path.exists() else ""
        result.server_log_errors = [
            line[:300] for line in log.splitlines()
            if '"level": "error"' in line or '"level": "warning"' in line or "Traceback" in line
        ][:20]
    return result


# --- report ----------------------------------------------------------------------------------------


def _s(v: float) -> str:
    return "never" if v == float("inf") else "n/a" if v != v else f"{v:.1f}"


def _ms(v: float) -> str:
    return "n/a" if v != v else f"{v * 1000:.1f}"


def targets(r: Result) -> list[list[str]]:
    sent = r.storm_sent + r.normal_sent
    vis = r.visibility.get("all", {})
    worst_1s = max((p["max_1s"] for p in r.posts.values()), default=0)
    worst_10s = max((p["max_10s_per_s"] for p in r.posts.values()), default=0.0)
    total_calls = sum(r.calls.values())
    by_clicks = r.calls.get("chat.postEphemeral", 0) + sum(
        w["n"] for k, w in r.outbox_waits.items() if k in ("card.update", "note.post"))
    acks = [v for vs in r.clicks.values() for v in vs]
    ack_p99 = percentile(acks, 99)
    alert_s = r.alert.get("first_dm_s", float("nan"))
    yes = lambda ok: "met" if ok else "**not met**"  # noqa: E731
    return [
        ["every mention stored", "stored = sent", f"{r.stored} of {sent}", yes(r.stored == sent)],
        [
            "visible in Slack (own card or cluster count)",
            "p99 ≤ 30 s",
            f"p50 {_s(vis.get('p50_s', float('nan')))} s, p99 {_s(vis.get('p99_s', float('nan')))} s, "
            f"max {_s(vis.get('max_s', float('nan')))} s; {vis.get('never', '?')} never",
            yes(vis.get("p99_s", float("inf")) <= TARGET_VISIBLE_P99_S),
        ],
        [
            "chat.postMessage per channel",
            "≤ 1/s",
            f"max {worst_1s} in any 1 s window, {worst_10s:.1f}/s over 10 s "
            "(burst 3 allowed by Slack and the fake)",
            yes(worst_10s <= TARGET_POSTS_PER_S + 1e-9),
        ],
        [
            "no unhandled 429",
            "0 dead outbox rows",
            f"{r.ratelimited} × 429, {r.outbox.get('dead', 0)} dead",
            yes(not r.outbox.get("dead")),
        ],
        [
            "all Slack calls",
            "< 5 % of mentions",
            f"{total_calls} calls = {100 * total_calls / max(1, sent):.1f} %; without what the clicks caused "
            f"(ephemerals, card updates, history notes: {by_clicks}) "
            f"{100 * (total_calls - by_clicks) / max(1, sent):.1f} %",
            yes(total_calls < TARGET_CALLS_SHARE * sent),
        ],
        [
            "interaction acks during the storm",
            "p99 < 100 ms",
            f"p50 {_ms(percentile(acks, 50))} ms, p99 {_ms(ack_p99)} ms "
            f"({len(acks)} clicks, {r.click_errors} errors)",
            yes(ack_p99 < TARGET_ACK_P99_S),
        ],
        [
            "manager's alert",
            "≤ 2 min after the storm starts",
            f"DM after {_s(alert_s)} s, alert card after {_s(r.alert.get('alert_card_s', float('nan')))} s",
            yes(alert_s <= TARGET_ALERT_S),
        ],
    ]


def report(r: Result, machine: dict[str, str]) -> str:
    sent = r.storm_sent + r.normal_sent
    out = [
        f"### {r.db}: {r.storm_sent} storm mentions in {r.minutes:g} min ({r.batches} batches, "
        f"{min(r.batch_sizes, default=0)}–{max(r.batch_sizes, default=0)} per batch) + {r.normal_sent} normal\n"
    ]
    out.append(markdown_table(["requirement", "target", "measured", ""], targets(r)))
    vis = r.visibility
    rows = [
        [k, v["n"], _s(v["p50_s"]), _s(v["p99_s"]), _s(v["max_s"]), v["within_30s"], v["never"]]
        for k, v in ((k, vis.get(k)) for k in ("storm", "normal", "all"))
        if v
    ]
    out.append("\nVisibility (received → visible in Slack), seconds:\n")
    out.append(markdown_table(["mentions", "n", "p50", "p99", "max", "≤ 30 s", "never"], rows))
    out.append(
        f"\nHow they became visible: {vis.get('how')}; counted in clusters: {vis.get('clustered_mentions')} "
        f"in {r.clusters} clusters; threats stored: {r.threats_stored}; "
        f"clustered but not covered by their card's count: {vis.get('uncovered')}."
    )
    out.append("\nchat.postMessage per channel (successful):\n")
    out.append(
        markdown_table(
            ["channel", "posts", "max in 1 s", "max /s over 10 s", "max /s over 60 s"],
            [
                [ch, p["posts"], p["max_1s"], f"{p['max_10s_per_s']:.1f}", f"{p['max_60s_per_s']:.2f}"]
                for ch, p in r.posts.items()
            ],
        )
    )
    out.append(
        f"\nSlack calls by method: {dict(sorted(r.calls.items()))}; 429s: {r.ratelimited}; "
        f"outbox: {r.outbox}; dead: {r.dead[:5]}"
    )
    out.append("\nOutbox jobs done, created → finished (seconds; updates include their `card_every` delay):\n")
    out.append(
        markdown_table(
            ["kind", "n", "p50", "p99", "max"],
            [[k, w["n"], _s(w["p50_s"]), _s(w["p99_s"]), _s(w["max_s"])] for k, w in r.outbox_waits.items()],
        )
    )
    out.append(
        "\nClicks: "
        + ", ".join(
            f"{a}: n={len(v)} p50 {_ms(percentile(v, 50))} ms p99 {_ms(percentile(v, 99))} "
            f"ms max {_ms(max(v))} ms"
            for a, v in r.clicks.items()
            if v
        )
    )
    out.append(f"\nAlert: {r.alert}")
    out.append(f"\nSurges: {r.surges}")
    out.append(
        f"\nIngest: {sent} sent, {r.ingest_errors} errors, "
        f"request p50 {_ms(percentile(r.ingest_latencies, 50))} ms "
        f"p99 {_ms(percentile(r.ingest_latencies, 99))} ms; outbox drained "
        f"{_s(r.drained_after_s)} s after the storm's last batch; "
        f"server CPU {r.cpu.get('server_cores', 0):.2f} "
        f"cores, load-gen {r.cpu.get('loadgen_cores', 0):.2f}, machine {r.cpu.get('machine_pct', 0):.0f} %, "
        f"server peak RSS {r.peak_rss_mib:.0f} MiB"
    )
    if r.server_log_errors:
        out.append(f"\nServer log errors: {r.server_log_errors}")
    out.append("\nMachine: " + "; ".join(f"{k}: {v}" for k, v in machine.items()))
    return "\n".join(out)


def to_json(r: Result, machine: dict[str, str]) -> dict[str, Any]:
    data = asdict(r)
    data.pop("latencies")
    data.pop("ingest_latencies")
    data["batch_sizes"] = {"min": min(r.batch_sizes, default=0), "max": max(r.batch_sizes, default=0)}
    data["clicks"] = {
        a: {"n": len(v), "p50_s": percentile(v, 50), "p99_s": percentile(v, 99)} for a, v in r.clicks.items()
    }
    data["ingest"] = {"p50_s": percentile(r.ingest_latencies, 50), "p99_s": percentile(r.ingest_latencies, 99)}
    data["targets"] = [
        dict(zip(["requirement", "target", "measured", "verdict"], t, strict=True)) for t in targets(r)
    ]
    data["machine"] = machine

    def clean(x: Any) -> Any:
        if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
            return None
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x

    return clean(data)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="A storm on one thread through the real server and FakeSlack.")
    p.add_argument("--minutes", type=float, default=10.0, help="length of the storm (default 10)")
    p.add_argument("--storm", type=int, default=7000, help="storm mentions (default 7000)")
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL: postgresql://postgres@127.0.0.1:5432/bench_storm (that database is "
        "dropped and created; `test` and `postgres` are refused)",
    )
    p.add_argument("--clicks", type=float, default=2.0, help="clicks per second during the storm (default 2)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--drain", type=float, default=180.0, help="wait at most this long for the outbox after the storm"
    )
    p.add_argument(
        "--json", nargs="?", const="-", default=None, metavar="FILE", help="also write JSON (- = stdout)"
    )
    p.add_argument(
        "--code", type=Path, default=None, metavar="DIR", help="run the server from this source tree"
    )
    p.add_argument("--keep", action="store_true", help="keep the work directory (server log, app.yaml)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    admin, pg_db = PG_ADMIN_URL, "bench_storm"
    if args.database_url:
        from sqlalchemy.engine import make_url

        url = make_url(args.database_url)
        if url.get_backend_name() != "postgresql":
            raise SystemExit("--database-url is for PostgreSQL (SQLite is the default)")
        args.db, pg_db = "postgres", url.database or pg_db
        admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    print(f"… {args.db}: {args.storm} storm mentions over {args.minutes:g} min", file=sys.stderr)
    machine = machine_info(postgres_url=admin if args.db == "postgres" else None)  # the code as it starts
    result = asyncio.run(
        run(
            args.db,
            minutes=args.minutes,
            storm=args.storm,
            seed=args.seed,
            clicks_per_s=args.clicks,
            drain=args.drain,
            pg_admin_url=admin,
            pg_db=pg_db,
            code=args.code,
            keep=args.keep,
        )
    )
    print(report(result, machine))
    if args.json:
        text = json.dumps(to_json(result, machine), indent=2, ensure_ascii=False)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
