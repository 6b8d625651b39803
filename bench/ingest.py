"""Sustained ingest throughput: signed POST /webhooks/mentions over HTTP into the database.

For each database (SQLite file, PostgreSQL) and each mode (one mention per request, batches of 50)
a fresh database and a fresh `webcare serve` process are started; N concurrent connections post
unique mentions for a fixed duration (or count). Afterwards the `mentions` table is counted and
compared with what the server said it accepted.

The load generator runs on the same machine as the server (and PostgreSQL): its CPU use is
reported next to the server's so the figures can be read honestly.

    .venv/bin/python -m bench.ingest                 # both databases, 20 s per run
    .venv/bin/python -m bench.ingest --quick --db sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # `python bench/ingest.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench.common import (
    CpuWindow,
    Server,
    db_kinds,
    markdown_table,
    mention,
    ms,
    percentile,
    running,
    signed_mentions,
)

TARGET_PER_S = 1000


@dataclass
class RunResult:
    """What one (database, batch size) run measured."""

    db: str
    batch: int
    concurrency: int
    seconds: float = 0.0
    requests: int = 0
    accepted: int = 0
    duplicates: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    rows: int = -1
    cases: int = -1
    outbox: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    peak_rss_mib: float = 0.0
    first_error: str = ""

    @property
    def per_s(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0


async def _load(server: Server, result: RunResult, *, duration: float, count: int | None) -> None:
    """Post unique mentions from `concurrency` workers until the duration or count is reached."""
    run = uuid.uuid4().hex[:8]
    numbers = itertools.count()
    deadline = time.monotonic() + duration
    url = server.url + "/webhooks/mentions"
    batch = result.batch

    def next_payload() -> object | None:
        if count is not None:
            start = next(numbers) * batch
            if start >= count:
                return None
            size = min(batch, count - start)
        else:
            if time.monotonic() >= deadline:
                return None
            start, size = next(numbers) * batch, batch
        items = [mention(n, run) for n in range(start, start + size)]
        return items[0] if batch == 1 else items

    async def worker(http: aiohttp.ClientSession) -> None:
        while (payload := next_payload()) is not None:
            body, headers = signed_mentions(payload)
            t0 = time.perf_counter()
            try:
                async with http.post(url, data=body, headers=headers) as r:
                    data = await r.json(content_type=None)
                    status = r.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                result.errors += 1
                result.first_error = result.first_error or repr(exc)
                continue
            result.latencies.append(time.perf_counter() - t0)
            result.requests += 1
            if status == 202:
                result.accepted += int(data["accepted"])
                result.duplicates += int(data["duplicates"])
            else:
                result.errors += 1
                result.first_error = result.first_error or f"HTTP {status}: {str(data)[:200]}"

    connector = aiohttp.TCPConnector(limit=result.concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        cpu = CpuWindow(server)
        cpu.start()
        t0 = time.monotonic()
        await asyncio.gather(*(worker(http) for _ in range(result.concurrency)))
        result.seconds = time.monotonic() - t0
        result.cpu = cpu.stop()


async def run_one(db: str, batch: int, *, concurrency: int, duration: float, count: int | None,
                  profile_dir: Path | None, code: Path | None = None) -> RunResult:
    """One fresh database + server, loaded with one batch size, then verified."""
    result = RunResult(db=db, batch=batch, concurrency=concurrency)
    profile = profile_dir / f"ingest-{db}-b{batch}.prof" if profile_dir else None
    async with running(db, profile=profile, code=code) as (server, _slack, database):
        await _load(server, result, duration=duration, count=count)
        result.peak_rss_mib = server.peak_rss_mib()
        result.rows = await database.count("mentions")
        result.cases = await database.count("cases")
        result.outbox = await database.outbox_summary()
    return result


def report(results: list[RunResult]) -> str:
    """The Markdown table of all runs."""
    headers = ["DB", "mentions/request", "conns", "seconds", "requests", "accepted", "mentions/s",
               f"≥ {TARGET_PER_S}/s", "p50 ms", "p99 ms", "errors", "rows = accepted",
               "server CPU (cores)", "load-gen CPU (cores)", "machine CPU %", "server peak RSS MiB"]
    rows = []
    for r in results:
        rows.append([
            r.db, r.batch, r.concurrency, f"{r.seconds:.1f}", r.requests, r.accepted,
            f"{r.per_s:,.0f}", "yes" if r.per_s >= TARGET_PER_S else "no",
            ms(percentile(r.latencies, 50)), ms(percentile(r.latencies, 99)), r.errors,
            f"{'yes' if r.rows == r.accepted else 'NO'} ({r.rows})",
            f"{r.cpu.get('server_cores', 0):.2f}", f"{r.cpu.get('loadgen_cores', 0):.2f}",
            f"{r.cpu.get('machine_pct', 0):.0f}", f"{r.peak_rss_mib:.0f}",
        ])
    return markdown_table(headers, rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Sustained ingest throughput of POST /webhooks/mentions into SQLite/PostgreSQL.")
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both",
                   help="database(s) to run against (default: both)")
    p.add_argument("--batch", type=int, nargs="+", default=[1, 50],
                   help="mentions per request, one run each (default: 1 50)")
    p.add_argument("--concurrency", type=int, default=8,
                   help="concurrent connections of the load generator (default: 8)")
    p.add_argument("--duration", type=float, default=20.0,
                   help="seconds of load per run (default: 20)")
    p.add_argument("--count", type=int, default=None,
                   help="post exactly this many mentions per run instead of a fixed duration")
    p.add_argument("--quick", action="store_true", help="5 s per run (a smoke test of the bench)")
    p.add_argument("--profile", type=Path, default=None, metavar="DIR",
                   help="run the server under cProfile and write DIR/ingest-<db>-b<batch>.prof "
                        "(slows the server: figures of such a run are not the benchmark's)")
    p.add_argument("--code", type=Path, default=None, metavar="DIR",
                   help="run the server from this source tree instead of this repository "
                        "(to compare a patched scratch copy; it is put first on PYTHONPATH)")
    args = p.parse_args(argv)
    if args.quick:
        args.duration = 5.0
    return args


async def main_async(args: argparse.Namespace) -> list[RunResult]:
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    results = []
    for db in db_kinds(args.db):
        for batch in args.batch:
            what = f"{args.count} mentions" if args.count else f"{args.duration:g} s"
            print(f"… {db}, {batch} mention(s)/request, {args.concurrency} connections, {what}",
                  file=sys.stderr)
            r = await run_one(db, batch, concurrency=args.concurrency, duration=args.duration,
                              count=args.count, profile_dir=args.profile, code=args.code)
            if r.first_error:
                print(f"  first error: {r.first_error}", file=sys.stderr)
            print(f"  {r.per_s:,.0f} mentions/s; outbox {r.outbox}; cases {r.cases}", file=sys.stderr)
            results.append(r)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = asyncio.run(main_async(args))
    print(report(results))
    print(f"\nLoad generator, server and database share this machine's CPUs; target ≥ "
          f"{TARGET_PER_S} mentions/s sustained.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
