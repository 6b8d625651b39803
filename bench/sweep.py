"""Deadline sweeps against a large history: one `Sweeper.sweep` with k clocks due, and `/webcare`.

Issue requirement: with 1,000,000 stored mentions and 10,000 open cases/promises, one sweep takes
under 50 ms and its cost does not grow with history (measured at 10k and 1M stored mentions).

For each database and each history size a fresh database is created and migrated (`bot.db.upgrade`),
then bulk-loaded with SQLAlchemy core `executemany` batches (no ORM, explicit ids):

* history: `--sizes` mentions in closed cases (answered / ignored, 1-3 mentions each) spread over
  the past at a constant rate (`--per-day`, so "today" holds the same volume at every size), each
  with its stopped first-response clock, done outbox rows (card post, card update, reply), an
  audit event, and now and then a settled promise with its stopped promise clock;
* the open work, the same at every size: 10,000 open cases (70 % claimed by one of 500 agents, the
  bench user `U0BENCH` owns exactly 20) with running first-response clocks, 2,000 open promises
  with running promise clocks, `next_at` spread over the coming days; some cases overdue with their
  ladder done or halfway; and a pool of 200 clocks (150 first-response, 50 promise) due right now.

A run with k due clocks (k = 0, 1, 50, 200) re-arms the first k clocks of the pool (the rest are
pushed 30 days out), times one sweep exactly as `bot.scheduler.sweep_clocks` runs it (one
transaction, committed), then puts the pool back and deletes the outbox rows and audit events the
sweep wrote, so every run sees the same state. The `/webcare` queries (`reports.mine` for
U0BENCH, `reports.overdue`, `reports.stats`) are timed the same way (read-only, rolled back).

Every statement the sweep and the reports send is captured and EXPLAINed (SQLite: EXPLAIN QUERY
PLAN; PostgreSQL: EXPLAIN after VACUUM ANALYZE, as autovacuum would have done), and any plan that
scans a table is flagged.

    .venv/bin/python -m bench.sweep                              # SQLite and PostgreSQL, 10k and 1M
    .venv/bin/python -m bench.sweep --db sqlite --sizes 10000    # one quick run
    .venv/bin/python -m bench.sweep --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench_sweep
    .venv/bin/python -m bench.sweep --json > sweep.json

PostgreSQL: database `bench_sweep` (or the one named in --database-url) is dropped and created through
the maintenance database `postgres`, and dropped again afterwards; `test` and `postgres` are refused.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

if __package__ in (None, ""):  # `python bench/sweep.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import bindparam, delete, event, func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.common import machine_info, markdown_table, percentile
from bot.db import create_engine, create_sessionmaker, upgrade
from bot.models import Case, CaseEvent, Clock, Mention, OutboxItem, Promise
from bot.services import reports
from bot.services.clocks import ladder
from bot.services.coord import build_coord
from bot.settings import AppConfig

TARGET_MS = 50.0
PG_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
PG_DEFAULT_DB = "bench_sweep"
FORBIDDEN_DBS = {"test", "postgres", "template0", "template1"}
BENCH_USER = "U0BENCH"
CHANNEL = "C0WEBCARE"
TZ = ZoneInfo("Europe/Amsterdam")
LOADED_TABLES = ("cases", "mentions", "clocks", "promises", "outbox", "case_events")

SOURCES = (("x", "own", "voorbeeld"), ("facebook", "own", "1234"), ("instagram", "own", "5678"),
           ("forum-x", "third_party", None))
TEXTS = (
    "Waar blijft mijn pakket? Al {d} dagen niks gehoord van de bezorger.",
    "Hoe laat gaat de winkel in {city} open op zondag?",
    "Top geholpen door jullie collega in {city}, dank je wel!",
    "Mijn bestelling {n} is beschadigd aangekomen, wat moet ik nu doen?",
    "Waarom krijg ik nog steeds mails terwijl ik me {d} weken geleden heb afgemeld?",
    "Is de storing in {city} al opgelost? Al sinds vanochtend geen verbinding.",
    "Ik wacht al {d} dagen op een reactie op mijn klacht, dit is echt niet oké.",
    "Kunnen jullie mijn gegevens verwijderen? Klantnummer {n}.",
)
CITIES = ("Utrecht", "Gent", "Amsterdam", "Antwerpen", "Zwolle", "Leuven", "Breda", "Brugge")
INTENTS = ("complaint", "question", "compliment", "question", "complaint", "other")
TOPICS: tuple[list[str], ...] = (["levering"], ["openingstijden"], [], ["levering", "schade"], ["privacy"], [])


def bench_config() -> AppConfig:
    """The team of the benchmark: 500 agents, coordinators and managers (default ladder and SLA)."""
    return AppConfig.model_validate({
        "locale": "nl", "timezone": "Europe/Amsterdam",
        "organisation": {"name": "Voorbeeld BV", "accounts": {"x": "voorbeeld"}},
        "slack": {"channel": CHANNEL, "approvals_channel": "C0APPROVE", "alerts_channel": "C0ALERTS"},
        "roles": {"agents": [BENCH_USER, *agents(499)], "coordinators": ["U0COORD1", "U0COORD2"],
                  "spokespersons": ["U0SPOKE1"], "managers": ["U0MGR1"],
                  "experts": {"levering": ["U0EXP1"]}},
        "sla": {"first_response": "2h"},
    })


def agents(n: int) -> list[str]:
    return [f"U0AG{i:04d}" for i in range(n)]


# --- the data set ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What one database is loaded with."""

    history: int
    """Mentions in closed cases."""
    open_cases: int = 10_000
    open_promises: int = 2_000
    due_fr: int = 150
    """First-response clocks of the due pool (due right now)."""
    due_promise: int = 50
    agents: int = 500
    bench_cases: int = 20
    """Open cases owned by BENCH_USER (reports.mine)."""
    bench_promises: int = 3
    per_day: int = 2_700
    """History rate: mentions per day, the same at every size (so "today" is the same size)."""
    batch: int = 20_000
    """Rows per executemany statement (at most)."""
    seed: int = 7

    @property
    def pool(self) -> int:
        return self.due_fr + self.due_promise


@dataclass
class Ids:
    case: int = 0
    mention: int = 0
    clock: int = 0
    promise: int = 0
    outbox: int = 0
    event: int = 0

    def next(self, name: str) -> int:
        value = getattr(self, name) + 1
        setattr(self, name, value)
        return value


@dataclass
class Chunk:
    cases: list[dict[str, Any]] = field(default_factory=list)
    mentions: list[dict[str, Any]] = field(default_factory=list)
    clocks: list[dict[str, Any]] = field(default_factory=list)
    promises: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> list[tuple[Any, list[dict[str, Any]]]]:
        """In foreign-key order."""
        return [(Case.__table__, self.cases), (Mention.__table__, self.mentions),
                (Clock.__table__, self.clocks), (Promise.__table__, self.promises),
                (OutboxItem.__table__, self.outbox), (CaseEvent.__table__, self.events)]

    def size(self) -> int:
        return max(len(rows) for _, rows in self.tables())


class Generator:
    """Realistic rows, deterministic for a seed. `now` is the sweep's clock."""

    def __init__(self, plan: Plan, now: datetime) -> None:
        self.plan, self.now, self.rng, self.ids = plan, now, random.Random(plan.seed), Ids()
        self.agents = [BENCH_USER, *agents(plan.agents - 1)]
        self.pool: list[dict[str, Any]] = []
        """The due clocks: {"id", "step", "next_at"} as loaded."""
        self.remind = timedelta(minutes=15)

    # rows

    def _case(self, *, cid: int, source: tuple[str, str, str | None], opened: datetime, status: str,
              owner: str | None, mentions: int, last: datetime, first_response: datetime | None,
              updated: datetime, decision: str) -> dict[str, Any]:
        return {
            "id": cid, "ref": f"W{cid:08d}", "source": source[0], "venue": source[1],
            "thread_key": f"t{cid}", "author_key": f"a{cid % 400_000}", "status": status, "owner": owner,
            "ignored_reason": "geen reactie nodig" if status == "ignored" else None,
            "mention_count": mentions, "opened_at": opened, "last_mention_at": last,
            "first_response_at": first_response, "updated_at": updated, "card_channel": CHANNEL,
            "card_ts": f"{int(opened.timestamp())}.{cid % 1_000_000:06d}", "card_error": None,
            "notice": None, "evidence_hold": False, "decision": decision, "priority": "normal",
            "needs_approval": False, "snoozed_until": None, "snooze_reason": None,
        }

    def _mention(self, *, cid: int, source: tuple[str, str, str | None], at: datetime) -> dict[str, Any]:
        rng = self.rng
        mid = self.ids.next("mention")
        kind = mid % len(TEXTS)
        author = cid % 400_000
        return {
            "id": mid, "source": source[0], "external_id": f"{source[0]}-{mid}", "thread_id": f"t{cid}",
            "in_reply_to": None, "venue": source[1], "url": f"https://example.org/{source[0]}/{mid}",
            "author_id": f"a{author}", "author_handle": f"klant{author}", "author_name": f"Klant {author}",
            "author_followers": rng.randint(0, 5000), "author_verified": False,
            "text": TEXTS[kind].format(d=rng.randint(2, 14), city=CITIES[mid % len(CITIES)], n=mid),
            "lang": "nl", "account": source[2], "created_at": at, "received_at": at + timedelta(seconds=2),
            "edited_at": None, "deleted_at": None, "liked_at": None, "hidden": False, "language": "nl",
            "intent": INTENTS[kind % len(INTENTS)], "sentiment": round(rng.uniform(-1, 1), 2),
            "threat": False, "topics": TOPICS[kind % len(TOPICS)], "decision": "respond",
            "priority": "normal", "needs_approval": False,
            "triage": {"version": "rules/3", "reasons": [f"intent:{INTENTS[kind % len(INTENTS)]}"]},
            "case_id": cid,
        }

    def _clock(self, *, cid: int, kind: str, owner: str | None, started: datetime, due: datetime,
               step: int, next_at: datetime | None, stopped: datetime | None = None,
               outcome: str | None = None, subject: int | None = None) -> dict[str, Any]:
        return {"id": self.ids.next("clock"), "case_id": cid, "kind": kind, "subject_id": subject,
                "owner": owner, "started_at": started, "due_at": due, "step": step, "next_at": next_at,
                "stopped_at": stopped, "outcome": outcome, "office_time": False}

    def _promise(self, *, cid: int, owner: str, created: datetime, due: datetime, state: str,
                 settled: datetime | None) -> dict[str, Any]:
        return {"id": self.ids.next("promise"), "case_id": cid,
                "what": "We zoeken het uit en komen erop terug.", "due_at": due, "created_at": created,
                "created_by": owner, "origin": "reply",
                "reply_id": None, "state": state, "settled_at": settled, "settled_by_reply_id": None}

    def _outbox(self, *, cid: int, kind: str, lane: str, at: datetime,
                payload: dict[str, Any]) -> dict[str, Any]:
        oid = self.ids.next("outbox")
        return {"id": oid, "key": f"bench-{oid}", "kind": kind, "lane": lane, "case_id": cid,
                "payload": payload, "status": "done", "attempts": 1, "not_before": at, "claimed_by": None,
                "created_at": at, "finished_at": at + timedelta(seconds=1),
                "provider_ref": f"{int(at.timestamp())}.{oid % 1_000_000:06d}", "last_error": None}

    def _event(self, *, cid: int, at: datetime, actor: str, action: str) -> dict[str, Any]:
        return {"id": self.ids.next("event"), "case_id": cid, "at": at, "actor": actor, "action": action,
                "detail": {}}

    # history

    def history(self) -> Iterator[Chunk]:
        """Closed cases with 1-3 mentions each, oldest first, up to `plan.history` mentions."""
        plan, rng, now = self.plan, self.rng, self.now
        span = timedelta(days=plan.history / plan.per_day)
        start = now - span - timedelta(hours=1)
        chunk = Chunk()
        while self.ids.mention < plan.history:
            cid = self.ids.next("case")
            n = min(rng.choice((1, 1, 2, 2, 2, 3)), plan.history - self.ids.mention)
            opened = start + span * (self.ids.mention / plan.history)
            source = SOURCES[cid % len(SOURCES)]
            times = [opened + timedelta(minutes=7 * i) for i in range(n)]
            chunk.mentions.extend(self._mention(cid=cid, source=source, at=t) for t in times)
            owner = self.agents[rng.randrange(len(self.agents))]
            due = opened + timedelta(hours=2)
            chunk.outbox.append(self._outbox(cid=cid, kind="card.post", lane=f"chat.post:{CHANNEL}", at=opened,
                                             payload={}))
            if rng.random() < 0.75:  # answered
                answered = opened + timedelta(minutes=rng.randint(5, 180))
                chunk.cases.append(self._case(
                    cid=cid, source=source, opened=opened, status="answered", owner=owner, mentions=n,
                    last=times[-1], first_response=answered, updated=answered, decision="respond"))
                chunk.clocks.append(self._clock(
                    cid=cid, kind="first_response", owner=owner, started=opened, due=due, step=1, next_at=None,
                    stopped=answered, outcome="met" if answered <= due else "late"))
                chunk.outbox.append(self._outbox(cid=cid, kind="reply.send", lane=f"reply:{source[0]}",
                                                 at=answered, payload={"reply_id": cid}))
                chunk.outbox.append(self._outbox(cid=cid, kind="card.update", lane="chat.update", at=answered,
                                                 payload={}))
                chunk.events.append(self._event(cid=cid, at=answered, actor=owner, action="case.replied"))
                if rng.random() < 0.08:  # a promise, settled long ago
                    pdue = answered + timedelta(days=1)
                    kept = rng.random() < 0.9
                    settled = answered + timedelta(hours=rng.randint(2, 30))
                    promise = self._promise(cid=cid, owner=owner, created=answered, due=pdue,
                                            state="kept" if kept else "broken", settled=settled)
                    chunk.promises.append(promise)
                    outcome = ("met" if settled <= pdue else "late") if kept else "cancelled"
                    chunk.clocks.append(self._clock(
                        cid=cid, kind="promise", owner=owner, started=answered, due=pdue, step=1, next_at=None,
                        stopped=settled, outcome=outcome, subject=promise["id"]))
            else:  # ignored
                closed = opened + timedelta(minutes=rng.randint(2, 60))
                chunk.cases.append(self._case(
                    cid=cid, source=source, opened=opened, status="ignored", owner=None, mentions=n,
                    last=times[-1], first_response=None, updated=closed, decision="skip"))
                chunk.clocks.append(self._clock(
                    cid=cid, kind="first_response", owner=None, started=opened, due=due, step=0, next_at=None,
                    stopped=closed, outcome="cancelled"))
                chunk.events.append(self._event(cid=cid, at=closed, actor=owner, action="case.ignored"))
            if chunk.size() >= plan.batch:
                yield chunk
                chunk = Chunk()
        if chunk.size():
            yield chunk

    # open work

    def open_work(self) -> Iterator[Chunk]:
        """The open cases, their running clocks and open promises (the same at every size)."""
        plan, rng, now = self.plan, self.rng, self.now
        rungs = len(ladder("first_response", bench_config()))
        chunk = Chunk()
        owned: list[tuple[int, str, datetime]] = []
        bench_left = plan.bench_cases
        for j in range(plan.open_cases):
            cid = self.ids.next("case")
            source = SOURCES[cid % len(SOURCES)]
            opened = now - timedelta(seconds=rng.randint(60, 48 * 3600))
            n = rng.choice((1, 1, 1, 2))
            times = [min(now, opened + timedelta(minutes=3 * i)) for i in range(n)]
            in_pool = j < plan.due_fr
            if bench_left and not in_pool:
                owner: str | None = BENCH_USER
                bench_left -= 1
            elif in_pool or rng.random() < 0.7:
                owner = self.agents[1 + rng.randrange(len(self.agents) - 1)]
            else:
                owner = None
            chunk.cases.append(self._case(
                cid=cid, source=source, opened=opened, status="claimed" if owner else "open", owner=owner,
                mentions=n, last=times[-1], first_response=None, updated=times[-1], decision="respond"))
            chunk.mentions.extend(self._mention(cid=cid, source=source, at=t) for t in times)
            chunk.outbox.append(self._outbox(cid=cid, kind="card.post", lane=f"chat.post:{CHANNEL}", at=opened,
                                             payload={}))
            if owner:
                chunk.events.append(self._event(cid=cid, at=times[-1], actor=owner, action="case.claimed"))
                owned.append((cid, owner, opened))
            r = rng.random()
            if in_pool:  # due right now: the "due" rung
                next_at = now - timedelta(seconds=rng.randint(1, 600))
                clock = self._clock(cid=cid, kind="first_response", owner=owner, started=opened,
                                    due=next_at, step=1, next_at=next_at)
                self.pool.append({"id": clock["id"], "step": 1, "next_at": next_at})
            elif r < 0.85:  # due in the coming days: the reminder is next
                due = now + timedelta(seconds=rng.randint(16 * 60, 3 * 86400))
                clock = self._clock(cid=cid, kind="first_response", owner=owner, started=opened, due=due,
                                    step=0, next_at=due - self.remind)
            elif r < 0.95:  # overdue, ladder done
                due = now - timedelta(seconds=rng.randint(3 * 3600, 2 * 86400))
                clock = self._clock(cid=cid, kind="first_response", owner=owner, started=opened,
                                    due=max(due, opened + timedelta(minutes=1)), step=rungs, next_at=None)
            else:  # overdue, coordinators told next
                due = now - timedelta(seconds=rng.randint(60, 29 * 60))
                clock = self._clock(cid=cid, kind="first_response", owner=owner, started=opened,
                                    due=due, step=2, next_at=due + timedelta(minutes=30))
            chunk.clocks.append(clock)
            if chunk.size() >= plan.batch:
                yield chunk
                chunk = Chunk()
        # open promises on claimed cases: BENCH_USER's first, then the due pool, then the rest
        bench = [o for o in owned if o[1] == BENCH_USER][: plan.bench_promises]
        others = [o for o in owned if o[1] != BENCH_USER]
        rng.shuffle(others)
        chosen = bench + others[: max(0, plan.open_promises - len(bench))]
        for i, (cid, owner, opened) in enumerate(chosen):
            created = min(now, opened + timedelta(minutes=20))
            in_pool = len(bench) <= i < len(bench) + plan.due_promise
            if in_pool:
                due = now - timedelta(seconds=rng.randint(1, 600))
                step, next_at = 1, due
            else:
                due = now + timedelta(seconds=rng.randint(3600, 5 * 86400))
                step, next_at = 0, due - self.remind
            promise = self._promise(cid=cid, owner=owner, created=created, due=due, state="open", settled=None)
            chunk.promises.append(promise)
            clock = self._clock(cid=cid, kind="promise", owner=owner, started=created, due=due, step=step,
                                next_at=next_at, subject=promise["id"])
            chunk.clocks.append(clock)
            if in_pool:
                self.pool.append({"id": clock["id"], "step": step, "next_at": next_at})
            if chunk.size() >= plan.batch:
                yield chunk
                chunk = Chunk()
        if chunk.size():
            yield chunk


# --- databases ---------------------------------------------------------------------------------


@dataclass
class Target:
    kind: str  # sqlite | postgres
    url: str


@contextlib.asynccontextmanager
async def fresh_database(kind: str, url: str | None, workdir: Path, tag: str) -> AsyncIterator[Target]:
    """A new, empty database; dropped (PostgreSQL) or deleted (SQLite) afterwards."""
    if kind == "sqlite":
        path = Path(make_url(url).database or "") if url else workdir / f"sweep-{tag}.db"
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)
        try:
            yield Target("sqlite", f"sqlite+aiosqlite:///{path}")
        finally:
            for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                p.unlink(missing_ok=True)
        return
    parsed = make_url(url or f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_DEFAULT_DB}")
    name = parsed.database or PG_DEFAULT_DB
    if name in FORBIDDEN_DBS or not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing to drop and create database {name!r}; name a dedicated one (bench_sweep)")
    admin_url = parsed.set(database="postgres")
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield Target("postgres", parsed.render_as_string(hide_password=False))
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def load(engine: AsyncEngine, gen: Generator) -> dict[str, float]:
    """Bulk-load the history and the open work; return seconds per phase."""
    out: dict[str, float] = {}
    for phase, chunks in (("history", gen.history()), ("open", gen.open_work())):
        t0 = time.perf_counter()
        for chunk in chunks:
            async with engine.begin() as conn:
                for table, rows in chunk.tables():
                    for i in range(0, len(rows), gen.plan.batch):
                        await conn.execute(insert(table), rows[i:i + gen.plan.batch])
        out[phase] = time.perf_counter() - t0
    t0 = time.perf_counter()
    async with engine.connect() as conn:
        if engine.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            for table in LOADED_TABLES:
                await conn.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"))
            await conn.commit()
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(text("VACUUM ANALYZE"))
        else:
            await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    out["finish"] = time.perf_counter() - t0
    return out


async def counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {t: int((await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one())
                for t in LOADED_TABLES}


async def db_size_mib(engine: AsyncEngine, target: Target) -> float:
    if target.kind == "sqlite":
        return Path(make_url(target.url).database or "").stat().st_size / 2**20
    async with engine.connect() as conn:
        size = (await conn.execute(text("SELECT pg_database_size(current_database())"))).scalar_one()
        return float(size) / 2**20


# --- measuring ---------------------------------------------------------------------------------


class Bench:
    """Sweeps and reports against one loaded database."""

    def __init__(self, engine: AsyncEngine, gen: Generator) -> None:
        self.engine, self.gen, self.now = engine, gen, gen.now
        self.maker = create_sessionmaker(engine)
        self.sweeper = build_coord(bench_config()).sweeper()
        table = Clock.__table__
        self._arm = (update(table).where(table.c.id == bindparam("b_id"))  # type: ignore[arg-type]
                     .values(step=bindparam("b_step"), next_at=bindparam("b_next")))

    async def marks(self) -> tuple[int, int]:
        async with self.engine.connect() as conn:
            o = (await conn.execute(select(func.coalesce(func.max(OutboxItem.id), 0)))).scalar_one()
            e = (await conn.execute(select(func.coalesce(func.max(CaseEvent.id), 0)))).scalar_one()
        return int(o), int(e)

    async def arm(self, k: int) -> None:
        """The first k clocks of the pool due (as loaded), the others 30 days out."""
        later = self.now + timedelta(days=30)
        rows = [{"b_id": c["id"], "b_step": c["step"], "b_next": c["next_at"] if i < k else later}
                for i, c in enumerate(self.gen.pool)]
        async with self.engine.begin() as conn:
            await conn.execute(self._arm, rows)

    async def reset(self, marks: tuple[int, int]) -> None:
        """Delete what a sweep wrote (the pool is re-armed by the next `arm`)."""
        async with self.engine.begin() as conn:
            await conn.execute(delete(OutboxItem).where(OutboxItem.id > marks[0]))
            await conn.execute(delete(CaseEvent).where(CaseEvent.id > marks[1]))

    async def sweep_once(self, k: int, marks: tuple[int, int]) -> tuple[float, int]:
        await self.arm(k)
        t0 = time.perf_counter()
        async with self.maker.begin() as session:  # as bot.scheduler.sweep_clocks: one batch, committed
            taken = await self.sweeper.sweep(session, now=self.now)
        elapsed = time.perf_counter() - t0
        await self.reset(marks)
        return elapsed, taken

    async def sweeps(self, ks: Sequence[int], repeats: int, warmup: int) -> list[dict[str, Any]]:
        marks = await self.marks()
        out = []
        for k in ks:
            times, taken = [], set()
            for i in range(warmup + repeats):
                elapsed, n = await self.sweep_once(k, marks)
                taken.add(n)
                if i >= warmup:
                    times.append(elapsed)
            out.append({"k": k, "taken": sorted(taken), "runs": len(times),
                        "median_ms": statistics.median(times) * 1000,
                        "p95_ms": percentile(times, 95) * 1000, "max_ms": max(times) * 1000})
        await self.arm(len(self.gen.pool))  # back to the loaded state
        return out

    async def report(self, name: str) -> Any:
        async with self.maker() as session:
            try:
                if name == "mine":
                    return await reports.mine(session, user=BENCH_USER)
                if name == "overdue":
                    return await reports.overdue(session, now=self.now)
                return await reports.stats(session, now=self.now, tz=TZ)
            finally:
                await session.rollback()

    async def reports(self, repeats: int, warmup: int) -> list[dict[str, Any]]:
        out = []
        for name in ("mine", "overdue", "stats"):
            times = []
            result: Any = None
            for i in range(warmup + repeats):
                t0 = time.perf_counter()
                result = await self.report(name)
                if i >= warmup:
                    times.append(time.perf_counter() - t0)
            out.append({"query": name, "runs": len(times), "median_ms": statistics.median(times) * 1000,
                        "p95_ms": percentile(times, 95) * 1000, "result": summarise(name, result)})
        return out

    async def capture(self, what: str) -> list[tuple[str, Any]]:
        """The statements (and parameters) one sweep of the full pool, or one report, sends."""
        seen: list[tuple[str, Any]] = []

        def listener(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, many: bool) -> None:
            if not many and statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
                seen.append((statement, parameters))

        if what == "sweep":
            marks = await self.marks()
            await self.arm(len(self.gen.pool))
        event.listen(self.engine.sync_engine, "before_cursor_execute", listener)
        try:
            if what == "sweep":
                async with self.maker.begin() as session:
                    await self.sweeper.sweep(session, now=self.now)
            else:
                await self.report(what)
        finally:
            event.remove(self.engine.sync_engine, "before_cursor_execute", listener)
        if what == "sweep":
            await self.reset(marks)
            await self.arm(len(self.gen.pool))
        unique: dict[str, Any] = {}
        for statement, params in seen:
            unique.setdefault(statement, params)
        return list(unique.items())

    async def explain(self, statement: str, params: Any) -> list[str]:
        async with self.engine.connect() as conn:
            if self.engine.dialect.name == "sqlite":
                rows = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)).all()
                return [str(r[3]) for r in rows]  # type: ignore[misc]
            rows = (await conn.exec_driver_sql("EXPLAIN " + statement, params)).all()
            await conn.rollback()
            return [str(r[0]) for r in rows]

    async def plans(self) -> list[dict[str, Any]]:
        out = []
        for what in ("sweep", "mine", "overdue", "stats"):
            for statement, params in await self.capture(what):
                plan = await self.explain(statement, params)
                out.append({"from": what, "sql": " ".join(statement.split()), "plan": plan,
                            "scans": [line.strip() for line in plan if is_scan(line)]})
        return out


def is_scan(line: str) -> bool:
    """A plan line that reads a whole table (or a whole index) instead of searching it."""
    s = line.strip().lstrip("->").strip()
    return s.startswith("SCAN ") or s.startswith("Seq Scan")


def summarise(name: str, result: Any) -> dict[str, Any]:
    if name == "mine":
        return {"cases": len(result.cases), "total_cases": result.total_cases, "promises": len(result.promises)}
    if name == "overdue":
        return {"lines": len(result[0]), "total": result[1]}
    return {k: (str(v) if isinstance(v, timedelta) else v) for k, v in asdict(result).items()}


# --- one run -----------------------------------------------------------------------------------


async def run_size(kind: str, url: str | None, plan: Plan, *, ks: Sequence[int], repeats: int, warmup: int,
                   report_repeats: int, workdir: Path, log: Any = None) -> dict[str, Any]:
    """Create, load and measure one database of one history size."""
    say = log or (lambda _msg: None)
    now = datetime.now(UTC).replace(microsecond=0)
    async with fresh_database(kind, url, workdir, f"{plan.history}") as target:
        engine = create_engine(target.url)
        try:
            await upgrade(engine)
            gen = Generator(plan, now)
            say(f"… {kind}, {plan.history:,} history mentions: loading")
            t0 = time.perf_counter()
            phases = await load(engine, gen)
            load_s = time.perf_counter() - t0
            rows = await counts(engine)
            size = await db_size_mib(engine, target)
            say(f"  loaded {sum(rows.values()):,} rows in {load_s:.0f} s ({size:,.0f} MiB); measuring")
            bench = Bench(engine, gen)
            plans = await bench.plans()
            sweeps = await bench.sweeps(ks, repeats, warmup)
            rep = await bench.reports(report_repeats, warmup)
            async with engine.connect() as conn:
                running = int((await conn.execute(
                    select(func.count()).select_from(Clock).where(Clock.stopped_at.is_(None)))).scalar_one())
                scheduled = int((await conn.execute(
                    select(func.count()).select_from(Clock).where(Clock.next_at.is_not(None)))).scalar_one())
        finally:
            await engine.dispose()
    return {"db": kind, "history": plan.history, "rows": rows, "running_clocks": running,
            "scheduled_clocks": scheduled, "pool": plan.pool, "load_seconds": load_s, "load_phases": phases,
            "db_mib": size, "sweeps": sweeps, "reports": rep, "plans": plans, "now": now.isoformat()}


# --- output ------------------------------------------------------------------------------------


def _fmt(x: float) -> str:
    return f"{x:.1f}" if x >= 1 else f"{x:.2f}"


def render(results: list[dict[str, Any]], machine: dict[str, str]) -> str:
    out = ["### Sweep (one `Sweeper.sweep` batch, committed)", ""]
    rows = []
    by = {(r["db"], r["history"]): r for r in results}
    sizes = sorted({r["history"] for r in results})
    for r in results:
        for s in r["sweeps"]:
            small = by.get((r["db"], sizes[0]))
            base = next((x for x in small["sweeps"] if x["k"] == s["k"]), None) if small else None
            growth = f"{s['median_ms'] / base['median_ms']:.2f}×" if base and r["history"] != sizes[0] else "—"
            rows.append([r["db"], f"{r['history']:,}", f"{r['rows']['mentions']:,}", f"{r['running_clocks']:,}",
                         s["k"], "/".join(map(str, s["taken"])), s["runs"], _fmt(s["median_ms"]),
                         _fmt(s["p95_ms"]), "yes" if s["p95_ms"] < TARGET_MS else "**no**", growth])
    out.append(markdown_table(["DB", "history mentions", "stored mentions", "running clocks", "due k",
                               "rungs taken", "runs", "median ms", "p95 ms", f"p95 < {TARGET_MS:g} ms",
                               "median vs smallest size"], rows))
    out += ["", "### `/webcare` queries", ""]
    rows = []
    for r in results:
        for q in r["reports"]:
            small = by.get((r["db"], sizes[0]))
            base = next((x for x in small["reports"] if x["query"] == q["query"]), None) if small else None
            growth = f"{q['median_ms'] / base['median_ms']:.2f}×" if base and r["history"] != sizes[0] else "—"
            rows.append([r["db"], f"{r['history']:,}", q["query"], q["runs"], _fmt(q["median_ms"]),
                         _fmt(q["p95_ms"]), growth, json.dumps(q["result"], ensure_ascii=False)])
    out.append(markdown_table(["DB", "history mentions", "query", "runs", "median ms", "p95 ms",
                               "median vs smallest size", "answer"], rows))
    out += ["", "### Data sets", ""]
    rows = []
    for r in results:
        c = r["rows"]
        rows.append([r["db"], f"{r['history']:,}", f"{c['mentions']:,}", f"{c['cases']:,}", f"{c['clocks']:,}",
                     f"{r['running_clocks']:,}", f"{r['scheduled_clocks']:,}", f"{c['promises']:,}",
                     f"{c['outbox']:,}", f"{c['case_events']:,}", f"{r['load_seconds']:.0f}",
                     f"{r['db_mib']:,.0f}"])
    out.append(markdown_table(["DB", "history mentions", "mentions", "cases", "clocks", "running",
                               "next_at set", "promises", "outbox", "case_events", "load s", "size MiB"], rows))
    out += ["", "### Query plans (largest size)", ""]
    largest: dict[str, dict[str, Any]] = {}
    for r in results:
        if r["history"] >= largest.get(r["db"], {"history": -1})["history"]:
            largest[r["db"]] = r
    for db, r in largest.items():
        out.append(f"**{db}, {r['history']:,} history mentions**")
        out.append("")
        for p in r["plans"]:
            flag = "  ← SCAN" if p["scans"] else ""
            out.append(f"- `{p['from']}`: `{p['sql'][:160]}{'…' if len(p['sql']) > 160 else ''}`{flag}")
            out.extend(f"    - `{line.strip()}`" for line in p["plan"])
        out.append("")
    scans = [(r["db"], r["history"], p) for r in results for p in r["plans"] if p["scans"]]
    out.append("Plans that scan: " + ("none" if not scans else "; ".join(
        f"{db} {h:,} `{p['from']}`: {', '.join(p['scans'])} in `{p['sql'][:100]}`" for db, h, p in scans)))
    out += ["", "### Machine", "", markdown_table(["", ""], list(machine.items()))]
    return "\n".join(out)


# --- entry point -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Deadline sweep and /webcare query cost at 10k and 1M stored mentions.")
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--database-url", default=None,
                   help="sqlite+aiosqlite:///FILE or postgresql+asyncpg://postgres@127.0.0.1:5432/bench_sweep "
                        "(dropped and re-created!); sets --db to its kind")
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000], help="history mentions")
    p.add_argument("--k", type=int, nargs="+", default=[0, 1, 50, 200], help="due clocks per sweep (≤ 200)")
    p.add_argument("--repeats", type=int, default=30, help="timed sweeps per k (default 30)")
    p.add_argument("--report-repeats", type=int, default=30, help="timed runs per /webcare query")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--open-cases", type=int, default=10_000)
    p.add_argument("--open-promises", type=int, default=2_000)
    p.add_argument("--batch", type=int, default=20_000, help="rows per executemany (default 20,000)")
    p.add_argument("--json", nargs="?", const="-", default=None, metavar="FILE",
                   help="the results as JSON: on stdout instead of Markdown, or (with FILE) written there too")
    args = p.parse_args(argv)
    if args.database_url:
        args.db = "sqlite" if make_url(args.database_url).get_backend_name() == "sqlite" else "postgres"
    if max(args.k) > 200:
        p.error("--k: at most 200 (the sweep's batch and the due pool)")
    return args


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    with tempfile.TemporaryDirectory(prefix="webcare-sweep-") as tmp:
        for kind in kinds:
            for size in args.sizes:
                plan = Plan(history=size, open_cases=args.open_cases, open_promises=args.open_promises,
                            batch=args.batch)
                r = await run_size(kind, args.database_url, plan, ks=args.k, repeats=args.repeats,
                                   warmup=args.warmup, report_repeats=args.report_repeats, workdir=Path(tmp),
                                   log=lambda m: print(m, file=sys.stderr, flush=True))
                print("  " + ", ".join(f"k={s['k']}: {s['median_ms']:.1f} ms" for s in r["sweeps"]),
                      file=sys.stderr, flush=True)
                results.append(r)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    results = asyncio.run(main_async(args))
    pg = "postgres" in {r["db"] for r in results}
    machine = machine_info(postgres_url=PG_ADMIN_URL if pg and not args.database_url else args.database_url)
    machine["bench wall time"] = f"{time.perf_counter() - t0:.0f} s"
    doc = json.dumps({"machine": machine, "results": results}, indent=2, default=str)
    if args.json == "-":
        print(doc)
        return 0
    if args.json:
        Path(args.json).write_text(doc + "\n", encoding="utf-8")
    print(render(results, machine))
    return 0


if __name__ == "__main__":
    sys.exit(main())
