"""Shared benchmark plumbing: a real `webcare serve` subprocess against a FakeSlack, plus helpers.

The server runs as its own process (exactly as in production: `webcare serve --config app.yaml`),
so its CPU time and peak RSS can be measured apart from the load generator. FakeSlack runs in the
benchmark process, paced like real Slack (chat.postMessage: 1/s per channel, burst 3).

Nothing here asserts on timings: benchmarks print figures, they never fail on a slow machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import resource
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # allow `python bench/x.py` as well as `python -m bench.x`
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import yaml  # noqa: E402

from bot.signing import sign  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402

WEBHOOK_SECRET = "bench-webhook-secret"
SIGNING_SECRET = "bench-slack-signing-secret"
BOT_TOKEN = "xoxb-test"
CHANNEL = "C0WEBCARE"
AGENT = "U0AGENT1"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"  # maintenance db; never `test` (tests reset it)
PG_BENCH_DB = "bench"
VENV_BIN = ROOT / ".venv" / "bin"


# --- small utilities ---------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    data = sorted(values)
    k = (len(data) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def ms(seconds: float) -> str:
    """Seconds as a millisecond figure for a table."""
    return "n/a" if seconds != seconds else f"{seconds * 1000:.1f}"  # NaN check


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def mention(n: int | str, run: str) -> dict[str, Any]:
    """A valid, unique mention in the ingest schema (as tests/harness.py `mention()`)."""
    return {
        "source": "forum-x", "id": f"{run}-m{n}", "venue": "own", "url": f"https://example.org/p/{n}",
        "author": {"id": f"{run}-a{n}", "handle": f"klant{n}", "name": f"Klant {n}",
                   "followers": 120, "verified": False},
        "text": f"Waar blijft mijn pakket? ({n})", "created_at": "2026-11-22T09:15:00Z", "lang": "nl",
    }


def signed_mentions(payload: Any) -> tuple[bytes, dict[str, str]]:
    """Body and headers of a signed POST /webhooks/mentions."""
    body = json.dumps(payload).encode()
    return body, {"Content-Type": "application/json",
                  "X-Webcare-Signature": sign(WEBHOOK_SECRET, body)}


def self_cpu_seconds() -> float:
    """CPU seconds (user + system) used by this (load-generator) process so far."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs from /proc/stat, for machine-wide utilisation."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])
    return float(total - idle), float(total)


@dataclass
class CpuWindow:
    """CPU use of the server, the load generator and the machine over one measured window."""

    server: Server
    _t0: float = 0.0
    _srv0: float = 0.0
    _me0: float = 0.0
    _m0: tuple[float, float] = (0.0, 0.0)
    result: dict[str, float] = field(default_factory=dict)

    def start(self) -> None:
        self._t0, self._srv0, self._me0 = time.monotonic(), self.server.cpu_seconds(), self_cpu_seconds()
        self._m0 = machine_cpu()

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self._t0
        busy, total = machine_cpu()
        self.result = {
            "server_cores": (self.server.cpu_seconds() - self._srv0) / wall,
            "loadgen_cores": (self_cpu_seconds() - self._me0) / wall,
            "machine_pct": 100 * (busy - self._m0[0]) / max(1.0, total - self._m0[1]),
        }
        return self.result


def machine_info(postgres_url: str | None = None) -> dict[str, str]:
    """What the figures were measured on: date, CPU, memory, Python, SQLite, PostgreSQL, libraries, commit."""
    import datetime as _dt
    import platform
    import sqlite3
    import subprocess
    from importlib import metadata

    info: dict[str, str] = {"date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")}
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    info["CPU"] = f"{os.cpu_count()} vCPUs, {model or platform.processor() or '?'}"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:", 1)[1].split()[0])
        info["memory"] = f"{kib / 2**20:.0f} GiB"
    info["Python"] = platform.python_version()
    info["SQLite"] = sqlite3.sqlite_version
    if postgres_url:
        async def _pg() -> str:
            import asyncpg

            conn = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
            try:
                return str(await conn.fetchval("SHOW server_version"))
            finally:
                await conn.close()
        try:
            info["PostgreSQL"] = asyncio.run(_pg()) + " (same machine)"
        except Exception as exc:  # noqa: BLE001 - informative only
            info["PostgreSQL"] = f"? ({exc.__class__.__name__})"
    libs = []
    for name in ("SQLAlchemy", "aiosqlite", "asyncpg"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            libs.append(f"{name} {metadata.version(name)}")
    info["libraries"] = ", ".join(libs)
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        info["code"] = f"commit {rev}" + (" (with uncommitted changes)" if dirty else "")
    return info


# --- databases ---------------------------------------------------------------------------------


@dataclass
class Database:
    """One benchmark database: its SQLAlchemy URL and how to count rows in it."""

    kind: str  # "sqlite" | "postgres"
    url: str

    async def count(self, table: str) -> int:
        """Rows in `table` (a fixed, known table name)."""
        if self.kind == "sqlite":
            import sqlite3

            path = self.url.split("///", 1)[1]
            with contextlib.closing(sqlite3.connect(path)) as conn:
                return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        import asyncpg

        conn = await asyncpg.connect(self.url.replace("+asyncpg", ""))
        try:
            return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
        finally:
            await conn.close()

    async def outbox_due(self, within: float = 0.0) -> int:
        """Outbox rows in flight or due within `within` seconds (a row queued for later, e.g. a fading
        storm's ten-minute card update, is not)."""
        where = "status = 'inflight' OR (status = 'pending' AND not_before <= {now})"
        if self.kind == "sqlite":
            import sqlite3
            from datetime import UTC, datetime, timedelta

            path = self.url.split("///", 1)[1]
            now = (datetime.now(UTC) + timedelta(seconds=within)).strftime("%Y-%m-%d %H:%M:%S.%f")
            with contextlib.closing(sqlite3.connect(path)) as conn:
                return int(conn.execute(f"SELECT count(*) FROM outbox WHERE {where.format(now='?')}",
                                        (now,)).fetchone()[0])
        import asyncpg

        conn = await asyncpg.connect(self.url.replace("+asyncpg", ""))
        try:
            due = where.format(now="now() + make_interval(secs => $1)")
            return int(await conn.fetchval(f"SELECT count(*) FROM outbox WHERE {due}", within))
        finally:
            await conn.close()

    async def outbox_summary(self) -> dict[str, int]:
        """Outbox rows per status (how far the dispatcher got)."""
        query = "SELECT status, count(*) FROM outbox GROUP BY status"
        if self.kind == "sqlite":
            import sqlite3

            path = self.url.split("///", 1)[1]
            with contextlib.closing(sqlite3.connect(path)) as conn:
                return {s: int(n) for s, n in conn.execute(query).fetchall()}
        import asyncpg

        conn = await asyncpg.connect(self.url.replace("+asyncpg", ""))
        try:
            return {r[0]: int(r[1]) for r in await conn.fetch(query)}
        finally:
            await conn.close()


@contextlib.asynccontextmanager
async def database(kind: str, workdir: Path, admin_url: str = PG_ADMIN_URL,
                   name: str = PG_BENCH_DB) -> AsyncIterator[Database]:
    """A fresh, empty database: a SQLite file in `workdir`, or PostgreSQL database `name` (default
    `bench`; created here, dropped afterwards). The server migrates it at start."""
    if kind == "sqlite":
        yield Database("sqlite", f"sqlite+aiosqlite:///{workdir / 'webcare.db'}")
        return
    if kind != "postgres":
        raise ValueError(f"unknown database kind {kind!r}")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or name in ("test", "postgres", "template0", "template1"):
        raise ValueError(f"refusing to create/drop database {name!r}")
    import asyncpg

    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield Database("postgres", f"{base}/{name}")
    finally:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()


def db_kinds(choice: str) -> list[str]:
    """`--db sqlite|postgres|both` as a list."""
    return ["sqlite", "postgres"] if choice == "both" else [choice]


# --- the server --------------------------------------------------------------------------------


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `overrides` into `base` (nested mappings merge, everything else replaces)."""
    out = dict(base)
    for key, value in overrides.items():
        nested = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if nested else value
    return out


def write_config(workdir: Path, reply_port: int, overrides: dict[str, Any] | None = None) -> Path:
    """An app.yaml like the repository's (channel C0WEBCARE, default pacing and outbox);
    `overrides` are deep-merged into it."""
    cfg = {
        "locale": "nl",
        "timezone": "Europe/Amsterdam",
        "organisation": {"name": "Voorbeeld BV", "accounts": {"x": "voorbeeld"}},
        "slack": {"channel": CHANNEL, "approvals_channel": "C0APPROVE", "alerts_channel": "C0ALERTS"},
        "roles": {"agents": [AGENT], "coordinators": ["U0COORD1"], "spokespersons": ["U0SPOKE1"],
                  "managers": ["U0MGR1"], "experts": {"levering": ["U0EXP1"]}},
        "integrations": {"webhook": {"reply_url": f"http://127.0.0.1:{reply_port}/replies"}},
        "sla": {"first_response": "2h"},
    }
    cfg = _merge(cfg, overrides or {})
    path = workdir / "app.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


class Server:
    """`webcare serve` as a subprocess on a free loopback port."""

    def __init__(self, *, db: Database, slack: FakeSlack, workdir: Path,
                 profile: Path | None = None, code: Path | None = None,
                 config: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> None:
        self.db, self.slack, self.workdir, self.profile = db, slack, workdir, profile
        self.config = config  # app.yaml overrides (deep-merged into write_config's)
        self.extra_env = env or {}  # more environment (e.g. the Microsoft variables for Teams)
        self.code = code or ROOT  # the source tree the server imports (A/B a patched copy)
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.stderr_path = workdir / "server.stderr.log"
        self._peak_kib = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 60.0) -> None:
        """Start the process and wait until /readyz answers 200 (migrations done)."""
        config = write_config(self.workdir, free_port(), self.config)
        env = {
            **os.environ,
            "DATABASE_URL": self.db.url, "PORT": str(self.port), "HOST": "127.0.0.1",
            "WEBCARE_WEBHOOK_SECRET": WEBHOOK_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": self.slack.api_url,
            "LOG_LEVEL": "WARNING",
            # The venv's editable install (setuptools 65) maps `bot` as a namespace package, which
            # breaks importlib.resources.files("bot"); the repo root first on the path avoids it.
            "PYTHONPATH": os.pathsep.join(p for p in (str(self.code), os.environ.get("PYTHONPATH")) if p),
        }
        env.pop("SLACK_APP_TOKEN", None)
        env.update(self.extra_env)
        serve = [str(VENV_BIN / "webcare"), "serve", "--config", str(config)]
        if self.profile is not None:  # cProfile writes the file when the server exits on SIGINT
            serve = [str(VENV_BIN / "python"), "-m", "cProfile", "-o", str(self.profile), *serve]
        self._stderr = self.stderr_path.open("wb")
        self.proc = await asyncio.create_subprocess_exec(
            *serve, cwd=self.workdir, env=env, stdout=self._stderr, stderr=self._stderr)
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while True:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.stderr_tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(self.url + "/readyz") as r:
                        if r.status == 200:
                            return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server not ready after {timeout}s:\n{self.stderr_tail()}")
                await asyncio.sleep(0.1)

    def _status(self) -> dict[str, int]:
        assert self.proc is not None
        out = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                m = re.match(r"(VmHWM|VmRSS):\s+(\d+) kB", line)
                if m:
                    out[m.group(1)] = int(m.group(2))
        return out

    def peak_rss_mib(self) -> float:
        """Peak resident set of the server process so far (VmHWM), in MiB."""
        self._peak_kib = max(self._peak_kib, self._status().get("VmHWM", 0))
        return self._peak_kib / 1024

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) the server process has used so far."""
        assert self.proc is not None
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def metrics(self) -> str:
        """The Prometheus exposition from /metrics."""
        async with aiohttp.ClientSession() as http, http.get(self.url + "/metrics") as r:
            return await r.text()

    def stderr_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def stop(self) -> None:
        """SIGINT (graceful shutdown, and cProfile writes its file), then SIGKILL if it hangs."""
        if self.proc is None or self.proc.returncode is not None:
            return
        self.peak_rss_mib()  # last reading while the process still exists
        self.proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout=20)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self._stderr.close()


@contextlib.asynccontextmanager
async def running(kind: str, *, profile: Path | None = None, code: Path | None = None,
                  keep_workdir: bool = False, config: dict[str, Any] | None = None,
                  pg_admin_url: str = PG_ADMIN_URL, pg_db: str = PG_BENCH_DB,
                  env: dict[str, str] | None = None,
                  ) -> AsyncIterator[tuple[Server, FakeSlack, Database]]:
    """A fresh database, a FakeSlack paced like Slack (1 post/s per channel, burst 3) and the server.

    `config`: app.yaml overrides; `pg_admin_url`/`pg_db`: where PostgreSQL runs are created."""
    with _workdir(keep_workdir) as workdir:
        async with database(kind, workdir, pg_admin_url, pg_db) as db, \
                FakeSlack(bot_token=BOT_TOKEN, post_rate_per_s=1.0, post_burst=3) as slack:
            server = Server(db=db, slack=slack, workdir=workdir, profile=profile, code=code, config=config,
                            env=env)
            await server.start()
            try:
                yield server, slack, db
            finally:
                await server.stop()


@contextlib.contextmanager
def _workdir(keep: bool) -> Iterator[Path]:
    if keep:
        path = Path(tempfile.mkdtemp(prefix="webcare-bench-"))
        print(f"(work directory kept: {path})", file=sys.stderr)
        yield path
    else:
        with tempfile.TemporaryDirectory(prefix="webcare-bench-") as tmp:
            yield Path(tmp)


# --- Prometheus ------------------------------------------------------------------------------


def histogram(exposition: str, name: str) -> dict[str, dict[str, Any]]:
    """A Prometheus histogram per `kind` label: count, sum and cumulative buckets (le -> count)."""
    out: dict[str, dict[str, Any]] = {}
    pattern = re.compile(rf'^{name}_(bucket|count|sum)\{{([^}}]*)\}}\s+(\S+)$')
    for line in exposition.splitlines():
        m = pattern.match(line)
        if not m:
            continue
        part, labels, value = m.group(1), dict(re.findall(r'(\w+)="([^"]*)"', m.group(2))), float(m.group(3))
        h = out.setdefault(labels.get("kind", ""), {"buckets": {}, "count": 0.0, "sum": 0.0})
        if part == "bucket":
            h["buckets"][float(labels["le"])] = value
        else:
            h[part] = value
    return out


def bucket_quantile(buckets: dict[float, float], q: float) -> str:
    """The upper bound of the bucket holding quantile q (as Prometheus' bucket resolution allows)."""
    total = buckets.get(float("inf"), 0.0)
    if not total:
        return "n/a"
    for le in sorted(buckets):
        if buckets[le] >= q * total:
            return "> 5000" if le == float("inf") else f"≤ {le * 1000:g}"
    return "n/a"
