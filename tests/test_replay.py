"""`webcare replay`: the pipeline over an export in simulated time, without Slack."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import random
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text

from bot.cli import main
from bot.replay import read_export, replay
from bot.replay.engine import create_replay_engine
from bot.replay.sim import Writes
from bot.settings import Settings
from tests.harness import base_config, make_settings

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("make_storm", REPO / "examples" / "make_storm.py")
assert _spec is not None and _spec.loader is not None
make_storm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_storm)
STORM_KEY = f"thread:facebook:{make_storm.STORM_POST}"


def write(path: Path, rows: list[Any]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write((row if isinstance(row, str) else json.dumps(row, ensure_ascii=False)) + "\n")
    return path


def settings() -> Settings:
    return make_settings(db_url="sqlite+aiosqlite:///unused.db", slack=None)


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def storm_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A small storm (300 comments ramping over 3 minutes) with a little ordinary traffic, replayed once."""
    rng = random.Random(3)
    rows = make_storm.storm(rng, 300, ramp=3.0)
    start = when(rows[0]["created_at"])
    rows += [
        {**r, "created_at": (start - timedelta(minutes=20) + timedelta(minutes=i)).isoformat()}
        for i, r in enumerate(make_storm.normal_day(rng, 15)[:15])
    ]
    path = write(tmp_path_factory.mktemp("replay") / "storm.jsonl", rows)
    s = settings()
    mentions, rejected = read_export(path, s)
    began = asyncio.get_event_loop_policy().new_event_loop()
    try:
        report = began.run_until_complete(replay(s, mentions, rejected, tail=timedelta(minutes=10)))
    finally:
        began.close()
    return report, rows


def test_replay_has_the_contract_keys_and_finishes_in_seconds(storm_report: Any) -> None:
    report, rows = storm_report
    assert {"mentions", "alerts", "clusters", "slack_calls", "sla"} <= set(report)
    assert report["mentions"]["valid"] == len(rows) and report["mentions"]["stored"] == len(rows)
    assert report["run"]["wall_seconds"] < 60
    json.dumps(report)  # serialisable as is


def test_the_storm_thread_raises_an_alert_within_the_storm(storm_report: Any) -> None:
    report, rows = storm_report
    storm = [when(r["created_at"]) for r in rows if r.get("thread_id") == make_storm.STORM_POST]
    alerts = [a for a in report["alerts"] if a["key"] == STORM_KEY]
    assert alerts, report["alerts"]
    for a in alerts:
        assert {"at", "scope", "key", "severity", "level"} <= set(a)
        assert min(storm) <= when(a["at"]) <= max(storm) + timedelta(minutes=1)
    assert alerts[0]["scope"] == "thread"
    assert [a["level"] for a in alerts][-1] == "crisis"


def test_clusters_and_far_fewer_slack_calls_than_mentions(storm_report: Any) -> None:
    report, rows = storm_report
    clusters = {c["surge"]: c for c in report["clusters"]}
    assert clusters[STORM_KEY]["messages"] > 100
    calls = report["slack_calls"]
    # the storm does not become one card per comment: clusters, a few cards before the alert
    assert calls["sent"].get("card.post", 0) < len(rows) / 10, calls
    assert calls["sent_total"] < len(rows) * 0.9, calls
    assert calls["queued_total"] >= calls["sent_total"]
    assert calls["by_method"]["chat.postMessage"] > 0
    assert calls["max_post_wait_seconds"] >= 0
    assert not calls["pending_at_end"].get("note.post"), calls  # nothing waits for a card that never comes
    assert report["sla"]["clocks_started"] > 0


def test_cli_replay_writes_json_and_html_and_reports_bad_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(5)
    rows: list[Any] = make_storm.storm(rng, 40, ramp=1.0)
    rows.insert(3, "{not json")
    rows.insert(7, json.dumps({"source": "x", "id": "no-date", "text": "hoi"}))
    path = write(tmp_path / "mix.jsonl", rows)
    cfg = tmp_path / "app.yaml"
    cfg.write_text(yaml.safe_dump(base_config()), encoding="utf-8")
    html = tmp_path / "out.html"
    code = main(["replay", str(path), "--config", str(cfg), "--json", "--html", str(html), "--tail", "5m"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert report["mentions"]["valid"] == 41 and report["mentions"]["rejected"] == 2
    assert [r["line"] for r in report["mentions"]["rejected_lines"]] == [4, 8]
    assert "line 4: not JSON" in err and "line 8:" in err
    page = html.read_text(encoding="utf-8")
    assert (
        "<svg" in page
        and "<script" not in page
        and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )

    code = main(["replay", str(path), "--config", str(cfg), "--tail", "1m"])
    out, _ = capsys.readouterr()
    assert code == 0 and out.startswith("replayed 41 mentions")


def test_cli_replay_refuses_a_file_without_valid_mentions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "bad.jsonl", ["[]", "{}"])
    cfg = tmp_path / "app.yaml"
    cfg.write_text(yaml.safe_dump(base_config()), encoding="utf-8")
    assert main(["replay", str(path), "--config", str(cfg)]) == 1
    assert "no valid mention" in capsys.readouterr().err


async def test_the_replay_engine_runs_on_this_thread_with_transactions_as_usual(tmp_path: Path) -> None:
    threads = threading.active_count()
    engine = create_replay_engine(tmp_path / "replay.db")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE clocks (id INTEGER PRIMARY KEY, next_at TEXT)"))
            await conn.execute(text("INSERT INTO clocks (next_at) VALUES ('a'), ('b')"))
        assert threading.active_count() == threads  # no worker thread behind the connection
        with pytest.raises(RuntimeError):
            async with engine.begin() as conn:
                await conn.execute(text("DELETE FROM clocks"))
                raise RuntimeError("rolled back")
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM clocks"))).scalar() == 2
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await engine.dispose()


async def test_writes_says_which_tables_changed_since_they_were_read(tmp_path: Path) -> None:
    engine = create_replay_engine(tmp_path / "replay.db")
    writes = Writes(engine)

    async def sql(statement: str) -> None:
        async with engine.begin() as conn:
            await conn.execute(text(statement))

    try:
        await sql("CREATE TABLE clocks (id INTEGER PRIMARY KEY, next_at TEXT)")
        await sql("CREATE TABLE outbox (id INTEGER PRIMARY KEY)")
        assert writes.take("clocks")  # never read: may be anything
        assert not writes.take("clocks")
        await sql("SELECT * FROM clocks")
        await sql("INSERT INTO outbox (id) VALUES (1)")
        assert not writes.take("clocks") and writes.take("outbox", "lanes")
        await sql("UPDATE clocks SET next_at = 'x'")
        assert writes.take("clocks") and not writes.take("clocks") and not writes.take("outbox", "lanes")
        await sql("DELETE FROM outbox")  # may cascade anywhere
        assert writes.take("clocks")
    finally:
        await engine.dispose()
