"""The `webcare` command: check, db upgrade, and serve's guidance when Slack is not connected."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from handlers.slack.plugin import BOT_SCOPES, missing_scopes
from tests.fakes.slack_api import BOT_SCOPES as FAKE_GRANTS
from tests.fakes.slack_api import FakeSlack
from tests.harness import base_config

REPO = Path(__file__).resolve().parent.parent


def run(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WEBCARE_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def config(tmp_path: Path) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(yaml.safe_dump(base_config()), encoding="utf-8")
    return path


async def test_check_reports_each_problem_then_passes(tmp_path: Path, db_url: str) -> None:
    cfg = config(tmp_path)
    async with FakeSlack(bot_token="xoxb-test") as fake:
        env = {"DATABASE_URL": db_url, "SLACK_API_URL": fake.api_url, "PYTHONPATH": str(REPO)}
        bad = await asyncio.to_thread(
            run,
            ["check", "--config", str(cfg)],
            {**env, "SLACK_BOT_TOKEN": "xoxb-wrong", "SLACK_SIGNING_SECRET": "s"},
            tmp_path,
        )
        lines = bad.stdout.strip().splitlines()
        assert bad.returncode == 1
        assert any(line.startswith("database: schema is not up to date") for line in lines)
        assert "slack: SLACK_BOT_TOKEN rejected by auth.test: invalid_auth" in lines
        assert any(line.startswith("webhook: WEBCARE_WEBHOOK_SECRET is not set") for line in lines)

        upgraded = await asyncio.to_thread(run, ["db", "upgrade"], env, tmp_path)
        assert upgraded.returncode == 0, upgraded.stderr
        good = await asyncio.to_thread(
            run,
            ["check", "--config", str(cfg)],
            {**env, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s", "WEBCARE_WEBHOOK_SECRET": "w"},
            tmp_path,
        )
        assert good.returncode == 0 and good.stdout.strip() == "all good", good.stdout + good.stderr

        # an app installed before the chart images: the token lacks files:write
        fake.scopes.remove("files:write")
        old = await asyncio.to_thread(
            run,
            ["check", "--config", str(cfg)],
            {**env, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s", "WEBCARE_WEBHOOK_SECRET": "w"},
            tmp_path,
        )
        assert old.returncode == 1
        assert "slack: the bot token lacks files:write: add to the app's scopes (slack-manifest.yaml) and " \
               "reinstall it" in old.stdout.splitlines()


def test_the_scopes_check_knows_the_manifest() -> None:
    assert BOT_SCOPES == FAKE_GRANTS  # what check() asks for is what the manifest installs
    assert missing_scopes("chat:write, commands", charts=False)[:1] == ["channels:history"]
    assert "files:write" not in missing_scopes("chat:write", charts=False)
    assert missing_scopes(None, charts=True) == []  # not said (a proxy): nothing to report


def test_check_names_bad_config_keys(tmp_path: Path) -> None:
    data = base_config()
    data["slack"]["channel"] = "#webcare"
    cfg = tmp_path / "app.yaml"
    cfg.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = run(["check", "--config", str(cfg)], {"PYTHONPATH": str(REPO)}, tmp_path)
    assert result.returncode == 1
    assert result.stdout.strip() == "app.yaml: slack.channel: '#webcare' is not a valid id"


def test_serve_with_a_bad_config_stops_with_the_key(tmp_path: Path) -> None:
    data = base_config()
    data["sla"] = {"first_response": "2 uur"}
    cfg = tmp_path / "app.yaml"
    cfg.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = run(["serve", "--config", str(cfg)], {"PYTHONPATH": str(REPO)}, tmp_path)
    assert result.returncode == 2
    assert "webcare: app.yaml: sla.first_response:" in result.stderr


def test_serve_without_slack_says_what_to_set(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    env = {
        "PYTHONPATH": str(REPO),
        "PORT": "0",
        "HOST": "127.0.0.1",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'w.db'}",
    }
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WEBCARE_", "DATABASE_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--config", str(cfg)],
        env={**clean, **env},
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first_lines = [proc.stderr.readline() for _ in range(3)]  # type: ignore[union-attr]
    finally:
        proc.kill()
        proc.wait()
    text = "".join(first_lines)
    assert "SLACK_BOT_TOKEN" in text and "SLACK_SIGNING_SECRET" in text
    assert "slack-manifest.yaml" in text


async def test_rejected_lists_refused_bodies(tmp_path: Path, bot_factory) -> None:
    bot = await bot_factory(slack=None)
    await bot.post_mentions(None, raw=b"{broken")
    db_url = bot.rt.settings.env.database_url
    result = await asyncio.to_thread(run, ["rejected", "--limit", "5"],
                                     {"DATABASE_URL": db_url, "PYTHONPATH": str(REPO)}, tmp_path)
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout.strip().splitlines()[0])
    assert line["body"] == "{broken" and line["route"] == "webhooks.mentions"
    assert "not JSON" in line["reason"]
