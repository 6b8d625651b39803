"""`webcare export mentions`: run as a subprocess against a real database stocked through the pipeline."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from bot.db import create_engine, create_sessionmaker, upgrade
from bot.exporter import CSV_COLUMNS, ExportFilter, export_mentions
from bot.models import Case, Mention, Reply, ReplyStatus
from bot.pipeline import apply_changes, ingest
from bot.ports import MentionChange
from bot.schemas import MentionIn
from bot.triage.service import build_triage
from tests.harness import CHANNEL, base_config, make_settings, mention

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
THREAT = "Ik weet waar je woont, ik maak je af"
MENTION_FIELDS = ("source", "id", "thread_id", "in_reply_to", "venue", "url", "author", "text", "created_at",
                  "lang")


def webcare(*args: str, db_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WEBCARE_", "DATABASE_"))}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**clean, "DATABASE_URL": db_url, "PYTHONPATH": str(REPO)})


async def export(db: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(webcare, "export", "mentions", *args, db_url=db, cwd=cwd)


def lines(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.fixture
async def db(db_url: str) -> dict[str, Any]:
    """A migrated database with five mentions stored through the pipeline (triaged), one reply, one
    deletion, and a case with an evidence hold whose deleted post keeps its text."""
    engine = create_engine(db_url)
    await upgrade(engine)
    maker = create_sessionmaker(engine)
    triage = build_triage(make_settings(db_url=db_url, slack=None).config)
    jan = {"id": "a1", "handle": "jan", "name": "Jan", "followers": 120, "verified": False}
    items = [
        mention(1, thread_id="t1", author=jan, created_at="2026-11-20T09:00:00Z",
                text="Waar blijft mijn pakket?"),
        mention(2, thread_id="t1", author=jan, created_at="2026-11-21T09:00:00Z", text="Nog steeds niets!"),
        mention(3, thread_id="t2", created_at="2026-11-21T10:00:00Z", text=THREAT),
        mention(4, created_at="2026-11-21T11:00:00Z", text="Dit verwijder ik zo weer"),
        mention(5, author={"id": "p9", "handle": "PietJ"}, created_at="2026-11-22T08:00:00+01:00",
                text="Jullie zijn oplichters"),
    ]
    async with maker.begin() as session:
        await ingest(session, [MentionIn.model_validate(m) for m in items], now=NOW, channel=CHANNEL,
                     triage=triage)
        rows = {m.external_id: m for m in await session.scalars(select(Mention))}
        cases = {c.id: c for c in await session.scalars(select(Case))}
        cases[rows["m5"].case_id].evidence_hold = True
        session.add(Reply(case_id=rows["m1"].case_id, mention_id=rows["m1"].id, agent="U0AGENT1",
                          text="Hoi Jan, we zoeken het uit.", status=ReplyStatus.SENT.value, created_at=NOW,
                          sent_at=NOW))
        await apply_changes(session, [MentionChange(source="forum-x", mention_id="m4", deleted=True),
                                      MentionChange(source="forum-x", mention_id="m5", deleted=True)], now=NOW)
    async with maker() as session:
        refs = {m.external_id: (await session.get(Case, m.case_id)).ref for m in rows.values()}  # type: ignore[union-attr]
    await engine.dispose()
    return {"url": db_url, "refs": refs}


async def test_jsonl_has_every_mention_with_its_case_state(db: dict[str, Any], tmp_path: Path) -> None:
    done = await export(db["url"], tmp_path)
    rows = lines(done)
    assert done.stderr.strip() == "exported 5 mentions"
    assert [r["id"] for r in rows] == ["m1", "m2", "m3", "m4", "m5"]
    first, second, threat, deleted, kept = rows
    assert first["author"] == {"id": "a1", "handle": "jan", "name": "Jan", "followers": 120, "verified": False}
    assert first["created_at"] == "2026-11-20T09:00:00Z" and first["received_at"] == "2026-11-22T12:00:00Z"
    assert (first["thread_id"], first["venue"], first["url"], first["lang"]) == (
        "t1", "own", "https://example.org/p/1", "nl")
    assert first["case"]["ref"] == second["case"]["ref"] == db["refs"]["m1"]  # one conversation, one case
    assert first["case"]["status"] == "open" and first["case"]["evidence_hold"] is False
    assert first["replies"] == [{"created_at": "2026-11-22T12:00:00Z", "sent_at": "2026-11-22T12:00:00Z",
                                 "agent": "U0AGENT1", "status": "sent", "text": "Hoi Jan, we zoeken het uit."}]
    assert second["replies"] == []
    assert threat["triage"]["threat"] is True and threat["triage"]["intent"] == "threat"
    assert set(threat["triage"]) == {"language", "intent", "sentiment", "threat", "topics", "decision",
                                     "priority", "needs_approval"}
    # deleted at the source: the text is gone (GDPR) ... unless its case holds evidence
    assert deleted["text"] is None and deleted["deleted_at"] == "2026-11-22T12:00:00Z"
    assert kept["text"] == "Jullie zijn oplichters" and kept["deleted_at"] and kept["case"]["evidence_hold"]
    assert "sha256" not in first


async def test_filters_for_gdpr_requests(db: dict[str, Any], tmp_path: Path) -> None:
    by_handle = lines(await export(db["url"], tmp_path, "--author", "@PIETJ"))
    by_id = lines(await export(db["url"], tmp_path, "--author", "a1"))
    by_case = lines(await export(db["url"], tmp_path, "--case", db["refs"]["m1"]))
    since = lines(await export(db["url"], tmp_path, "--since", "2026-11-21T10:00:00Z", "--until", "2026-11-22"))
    assert [r["id"] for r in by_handle] == ["m5"]
    assert [r["id"] for r in by_id] == [r["id"] for r in by_case] == ["m1", "m2"]
    assert [r["id"] for r in since] == ["m3", "m4"]  # m5 is 07:00Z on the 22nd
    nobody = await export(db["url"], tmp_path, "--author", "onbekend")
    assert nobody.stdout == "" and nobody.stderr.strip() == "exported 0 mentions"


async def test_evidence_export(db: dict[str, Any], tmp_path: Path) -> None:
    rows = lines(await export(db["url"], tmp_path, "--evidence"))
    assert [r["id"] for r in rows] == ["m3", "m5"]  # a threat, and a case with an evidence hold
    threat, held = rows
    assert threat["sha256"] == hashlib.sha256(THREAT.encode()).hexdigest()
    assert threat["threat_evidence"] and held["sha256"] == hashlib.sha256(b"Jullie zijn oplichters").hexdigest()
    out = tmp_path / "evidence.csv"
    done = await export(db["url"], tmp_path, "--evidence", "--format", "csv", "--output", str(out))
    assert done.returncode == 0 and done.stdout == "", done.stderr
    table = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["sha256"] for r in table] == [threat["sha256"], held["sha256"]]


async def test_csv_flattens_nested_fields(db: dict[str, Any], tmp_path: Path) -> None:
    done = await export(db["url"], tmp_path, "--format", "csv")
    assert done.returncode == 0, done.stderr
    reader = csv.DictReader(io.StringIO(done.stdout))
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    rows = {r["id"]: r for r in reader}
    assert (rows["m1"]["author.handle"], rows["m1"]["author.verified"], rows["m1"]["case.status"]) == (
        "jan", "false", "open")
    assert json.loads(rows["m1"]["replies"])[0]["agent"] == "U0AGENT1" and rows["m2"]["replies"] == ""
    assert rows["m3"]["triage.threat"] == "true" and rows["m4"]["text"] == ""
    assert rows["m4"]["deleted_at"] == "2026-11-22T12:00:00Z"


async def test_jsonl_round_trips_through_import(db: dict[str, Any], tmp_path: Path) -> None:
    first = await export(db["url"], tmp_path)
    path = tmp_path / "export.jsonl"
    path.write_text(first.stdout, encoding="utf-8")
    cfg = tmp_path / "app.yaml"
    cfg.write_text(yaml.safe_dump(base_config()), encoding="utf-8")

    # into the same database: every mention is already there
    same = await asyncio.to_thread(webcare, "import", str(path), "--config", str(cfg), db_url=db["url"],
                                   cwd=tmp_path)
    assert same.returncode == 0, same.stderr
    assert same.stdout.strip() == "imported 0, duplicates 4, rejected 1"
    assert same.stderr.strip() == "line 4: deleted at the source and its text not kept: not imported"

    # into a fresh database: the same mentions, field for field (the dropped text stays dropped)
    other = f"sqlite+aiosqlite:///{tmp_path / 'other.db'}"
    assert (await asyncio.to_thread(webcare, "db", "upgrade", db_url=other, cwd=tmp_path)).returncode == 0
    fresh = await asyncio.to_thread(webcare, "import", str(path), "--config", str(cfg), db_url=other,
                                    cwd=tmp_path)
    assert fresh.stdout.strip() == "imported 4, duplicates 0, rejected 1", fresh.stderr
    before = [{k: r[k] for k in MENTION_FIELDS} for r in lines(first) if r["text"] is not None]
    after = lines(await export(other, tmp_path))
    assert [{k: r[k] for k in MENTION_FIELDS} for r in after] == before
    assert {r["case"]["status"] for r in after} == {"imported"}

    # CSV too: dotted columns are read back by name
    table = await export(db["url"], tmp_path, "--format", "csv", "--author", "jan")
    csv_path = tmp_path / "export.csv"
    csv_path.write_text(table.stdout, encoding="utf-8")
    third = f"sqlite+aiosqlite:///{tmp_path / 'third.db'}"
    assert (await asyncio.to_thread(webcare, "db", "upgrade", db_url=third, cwd=tmp_path)).returncode == 0
    done = await asyncio.to_thread(webcare, "import", str(csv_path), "--config", str(cfg), db_url=third,
                                   cwd=tmp_path)
    assert done.stdout.strip() == "imported 2, duplicates 0, rejected 0", done.stderr
    assert [{k: r[k] for k in MENTION_FIELDS} for r in lines(await export(third, tmp_path))] == before[:2]


async def test_keyset_batches_return_every_row_once(db: dict[str, Any]) -> None:
    engine = create_engine(db["url"])
    try:
        out = io.StringIO()
        summary = await export_mentions(create_sessionmaker(engine), out, ExportFilter(), batch=2)
    finally:
        await engine.dispose()
    assert summary.mentions == 5
    assert [json.loads(line)["id"] for line in out.getvalue().splitlines()] == ["m1", "m2", "m3", "m4", "m5"]


async def test_usage_errors(tmp_path: Path) -> None:
    never = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    bad_date = await asyncio.to_thread(webcare, "export", "mentions", "--since", "gisteren", db_url=never,
                                       cwd=tmp_path)
    assert bad_date.returncode == 2 and "not an ISO-8601 date" in bad_date.stderr
    unmigrated = await asyncio.to_thread(webcare, "export", "mentions", db_url=never, cwd=tmp_path)
    assert unmigrated.returncode == 1 and "webcare db upgrade" in unmigrated.stderr
