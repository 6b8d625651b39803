"""`webcare import FILE`: run as a subprocess against a real database, then check what was stored."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from bot.models import Case, Mention, OutboxItem
from tests.harness import base_config

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "import"


def webcare(*args: str, db_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `webcare …` as a separate process, as an operator would."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WEBCARE_", "DATABASE_"))}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120,
                          env={**clean, "DATABASE_URL": db_url, "PYTHONPATH": str(REPO)})


@pytest.fixture
async def db(db_url: str, tmp_path: Path) -> str:
    """A migrated, empty database (via `webcare db upgrade`)."""
    done = await asyncio.to_thread(webcare, "db", "upgrade", db_url=db_url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return db_url


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(yaml.safe_dump(base_config()), encoding="utf-8")  # timezone: Europe/Amsterdam
    return path


async def run_import(db: str, tmp_path: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(webcare, "import", *args, "--config", str(config), db_url=db,
                                   cwd=tmp_path)


async def stored(db: str) -> dict[str, Any]:
    """What the database holds: mentions by (source, id), case statuses, outbox kinds."""
    engine = create_async_engine(db)
    try:
        async with engine.connect() as conn:
            mentions = {(m.source, m.external_id): m for m in await conn.execute(select(Mention))}
            statuses = [row[0] for row in await conn.execute(select(Case.status))]
            outbox = [row[0] for row in await conn.execute(select(OutboxItem.kind))]
            cases = int(await conn.scalar(select(func.count()).select_from(Case)) or 0)
    finally:
        await engine.dispose()
    return {"mentions": mentions, "statuses": statuses, "outbox": outbox, "cases": cases}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def test_jsonl_import_stores_mentions_without_cards(db: str, tmp_path: Path, config: Path) -> None:
    done = await run_import(db, tmp_path, config, str(FIXTURES / "mentions.jsonl"), "--source", "forum")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported 4, duplicates 1, rejected 0"
    assert done.stderr == ""

    got = await stored(db)
    assert set(got["mentions"]) == {("x", "1460323737035677698"), ("x", "1460323737035677699"),
                                    ("facebook", "987654321"), ("forum", "f-1")}
    first = got["mentions"][("x", "1460323737035677698")]
    assert (first.author_handle, first.author_followers, first.venue, first.lang) == ("jan", 120, "own", "nl")
    assert aware(first.created_at) == utc("2026-11-22T09:15:00Z")
    # a date without a zone is taken in app.yaml's timezone (Europe/Amsterdam: +01:00 in November)
    assert aware(got["mentions"][("facebook", "987654321")].created_at) == utc("2026-11-21T15:45:00Z")
    forum = got["mentions"][("forum", "f-1")]  # --source filled the missing source
    assert forum.venue == "third_party" and forum.text == ""
    # jan's follow-up in the same thread joined his case: 3 cases, all imported, and no cards queued
    assert got["cases"] == 3 and set(got["statuses"]) == {"imported"}
    assert got["outbox"] == []


async def test_csv_with_aliases_map_and_a_bad_row(db: str, tmp_path: Path, config: Path) -> None:
    done = await run_import(db, tmp_path, config, str(FIXTURES / "export.csv"), "--source", "forum",
                            "--map", "source=Kanaal")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported 4, duplicates 0, rejected 1"
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("line 5: created_at: ") and "'gisteren'" in line  # after a 2-line record

    got = await stored(db)
    assert set(got["mentions"]) == {("forum", "501"), ("forum", "502"), ("forum", "504"), ("review", "505")}
    a = got["mentions"][("forum", "501")]
    assert (a.author_handle, a.author_followers, a.url, a.lang) == (
        "klant_a", 1234, "https://forum.example.nl/t/501", "nl")
    assert a.text == "Mijn bestelling is kapot aangekomen"
    assert aware(a.created_at) == utc("2026-11-18T13:05:00Z")  # naive → Europe/Amsterdam
    assert got["mentions"][("forum", "502")].text == "Twee regels:\nde tweede; met puntkomma"
    assert aware(got["mentions"][("forum", "504")].created_at) == utc("2026-11-18T23:00:00Z")
    assert got["mentions"][("review", "505")].venue == "third_party"
    assert not [kind for kind in got["outbox"] if kind == "card.post"]


async def test_importing_twice_changes_nothing(db: str, tmp_path: Path, config: Path) -> None:
    args = (str(FIXTURES / "export.csv"), "--source", "forum", "--map", "source=Kanaal")
    first = await run_import(db, tmp_path, config, *args)
    before = await stored(db)
    again = await run_import(db, tmp_path, config, *args)
    assert first.returncode == 0 and again.returncode == 0, again.stderr
    assert again.stdout.strip() == "imported 0, duplicates 4, rejected 1"
    after = await stored(db)
    assert after["cases"] == before["cases"] and set(after["mentions"]) == set(before["mentions"])
    assert after["outbox"] == []


async def test_large_files_go_in_batches_and_ids_can_be_derived(db: str, tmp_path: Path,
                                                                config: Path) -> None:
    path = tmp_path / "groot.csv"
    rows = ["message,date,username"] + [
        f"Bericht nummer {n},2026-10-{1 + n % 28:02d}T12:00:00Z,klant{n}" for n in range(1234)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    done = await run_import(db, tmp_path, config, str(path), "--source", "web")
    assert done.stdout.strip() == "imported 1234, duplicates 0, rejected 0", done.stderr
    again = await run_import(db, tmp_path, config, str(path), "--source", "web")
    assert again.stdout.strip() == "imported 0, duplicates 1234, rejected 0"  # derived ids are stable
    got = await stored(db)
    assert len(got["mentions"]) == 1234 and got["outbox"] == []


async def test_dry_run_stores_nothing(db: str, tmp_path: Path, config: Path) -> None:
    done = await run_import(db, tmp_path, config, str(FIXTURES / "mentions.jsonl"), "--source", "forum",
                            "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported 4, duplicates 1, rejected 0 (dry run: nothing was stored)"
    got = await stored(db)
    assert got["mentions"] == {} and got["cases"] == 0


async def test_nothing_valid_is_exit_1(db: str, tmp_path: Path, config: Path) -> None:
    path = tmp_path / "slecht.jsonl"
    path.write_text("\n".join([
        json.dumps({"source": "x", "id": "1", "text": "hoi"}),
        "{niet json",
        json.dumps(["a", "list"]),
        json.dumps({"source": "X!", "id": "2", "text": "hoi", "created_at": "2026-01-01T00:00:00Z"}),
    ]) + "\n", encoding="utf-8")
    done = await run_import(db, tmp_path, config, str(path))
    assert done.returncode == 1
    assert done.stdout.strip() == "imported 0, duplicates 0, rejected 4"
    errors = done.stderr.strip().splitlines()
    assert errors[0] == "line 1: created_at: Field required"
    assert errors[1].startswith("line 2: not JSON")
    assert errors[2] == "line 3: expected a JSON object (one mention per line)"
    assert errors[3].startswith("line 4: source: String should match pattern")


@pytest.mark.parametrize(("setup", "args", "message"), [
    (None, ["missing.csv"], "missing.csv: no such file"),
    ("export.txt", ["export.txt"], "cannot tell the format"),
    ("export.csv", ["export.csv", "--map", "text=Nope"], "the file has no column 'Nope'"),
    ("export.csv", ["export.csv", "--map", "tekst=Bericht"], "unknown field 'tekst'"),
    ("export.csv", ["export.csv"], "no source column; use --source NAME"),
    ("plain.csv", ["plain.csv", "--source", "web"], "no column for text"),
    ("export.csv", ["export.csv", "--source", "Forum"], "--source Forum: a lowercase network name"),
])
async def test_usage_errors_are_exit_2(tmp_path: Path, config: Path, setup: str | None, args: list[str],
                                       message: str) -> None:
    if setup == "plain.csv":
        (tmp_path / setup).write_text("a,b\n1,2\n", encoding="utf-8")
    elif setup is not None:
        (tmp_path / setup).write_bytes((FIXTURES / "export.csv").read_bytes().replace(b"Kanaal", b"Chan"))
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'never.db'}"
    done = await asyncio.to_thread(webcare, "import", *args, "--config", str(config), db_url=db_url,
                                   cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr and done.stderr.startswith("webcare import: ")
    assert not (tmp_path / "never.db").exists()


async def test_an_unmigrated_database_is_refused(tmp_path: Path, config: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    done = await asyncio.to_thread(webcare, "import", str(FIXTURES / "mentions.jsonl"), "--config",
                                   str(config), db_url=db_url, cwd=tmp_path)
    assert done.returncode == 1 and "webcare db upgrade" in done.stderr


async def test_a_live_follow_up_to_an_imported_conversation_gets_a_card(
        db: str, tmp_path: Path, config: Path, bot_factory: Any, fake_slack: Any) -> None:
    from tests.harness import CHANNEL, mention

    path = tmp_path / "oud.jsonl"
    path.write_text(json.dumps(mention(1, thread_id="t1", created_at="2026-10-01T09:00:00Z")) + "\n",
                    encoding="utf-8")
    done = await run_import(db, tmp_path, config, str(path))
    assert done.returncode == 0, done.stderr
    bot = await bot_factory(slack=fake_slack)
    status, _ = await bot.post_mentions([mention(2, thread_id="t1", author=mention(1)["author"])])
    assert status == 202
    await fake_slack.wait_for(lambda: len(fake_slack.messages[CHANNEL]) >= 1, timeout=15)
