"""app.yaml and the environment: validated at start, one clear line per problem naming the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from bot.durations import format_duration, parse_duration
from bot.i18n import LOCALES, Translator, catalog_keys
from bot.settings import ConfigError, load_config, load_env, load_settings

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def example() -> dict:
    return yaml.safe_load((REPO / "app.yaml").read_text(encoding="utf-8"))


def problems(tmp_path: Path, data: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, data))
    return info.value.problems


def test_the_shipped_example_is_valid() -> None:
    cfg = load_config(REPO / "app.yaml")
    assert cfg.locale == "nl" and cfg.slack.channel == "C0WEBCARE"
    assert cfg.escalation.steps == [timedelta(minutes=30), timedelta(hours=2)]
    assert cfg.approvals.timeout == timedelta(minutes=15)
    assert cfg.roles.experts == {"levering": ["U0EXP1"]}


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("250ms", 0.25),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds
    assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)


@pytest.mark.parametrize("bad", ["30", "15 minutes", "m", "-5m", "", 30])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_each_problem_is_one_line_naming_the_key(tmp_path: Path) -> None:
    data = example()
    data["sla"]["first_response"] = "twee uur"
    data["slack"]["channel"] = "webcare"
    data["locale"] = "de"
    data["escalaton"] = {"steps": ["1h"]}
    del data["organisation"]["name"]
    lines = problems(tmp_path, data)
    assert len(lines) == 5
    joined = "\n".join(lines)
    for key in ("sla.first_response", "slack.channel", "locale", "escalaton", "organisation.name"):
        assert f"app.yaml: {key}:" in joined
    assert "unknown key" in joined and "'twee uur'" in joined


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert "file not found" in info.value.problems[0]
    assert "not valid YAML" in problems(tmp_path, "slack: [unclosed")[0]
    assert "mapping" in problems(tmp_path, "- a list")[0]


def test_reply_timeout_must_be_below_the_outbox_lease(tmp_path: Path) -> None:
    data = example()
    data["outbox"] = {"lease": "5s"}
    data["integrations"]["webhook"]["timeout"] = "5s"
    assert "outbox.lease" in problems(tmp_path, data)[0]


def test_environment_secrets_and_endpoints() -> None:
    env = load_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "", "PORT": "8080",
                    "SLACK_API_URL": "http://127.0.0.1:9/api"})
    assert env.port == 8080 and env.slack_api_url == "http://127.0.0.1:9/api/"
    assert env.slack_signing_secret is None  # empty means unset, never a secret of ""
    assert "xoxb-1" not in repr(env)
    assert env.database_url == "sqlite+aiosqlite:///./webcare.db"
    assert env.slack_missing() == ["SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode)"]
    with pytest.raises(ConfigError) as info:
        load_env({"PORT": "eighty"})
    assert info.value.problems[0].startswith("environment: PORT:")


def test_config_path_from_webcare_config(tmp_path: Path) -> None:
    path = write(tmp_path, example())
    assert load_settings(None, {"WEBCARE_CONFIG": str(path)}).config_path == path


def test_catalogs_are_complete_and_formattable() -> None:
    nl, en = catalog_keys("nl"), catalog_keys("en")
    assert nl == en
    for locale in LOCALES:
        t = Translator(locale)
        assert t("status.open") and t.count(1200) in ("1,2K", "1.2K")
    assert Translator("nl").ago(timedelta(minutes=5)) == "5 minuten"
    with pytest.raises(ValueError):
        Translator("de")


def test_answers_are_validated_at_start(tmp_path: Path) -> None:
    cfg = load_config(REPO / "app.yaml")
    assert cfg.answers.rotation == timedelta(days=7)
    assert {s.topic for s in cfg.answers.library} == {"levering", "retour", "openingstijden"}
    data = example()
    data["answers"]["rotation"] = "een week"
    data["answers"]["checks"] = ["apology", "sarcasm"]
    data["answers"]["library"] = [
        {"topic": "levering", "owner": "jan", "variants": ["Hoi {naam}!"]},
        {"topic": "retour", "owner": "U0EXP1", "variants": ["Hoi {name}!", "hoi  {name}!"]},
        {"topic": "retour", "owner": "U0EXP1", "variants": []},
    ]
    joined = "\n".join(problems(tmp_path, data))
    for key in ("answers.rotation", "answers.checks.1", "answers.library.0.owner", "answers.library.0.variants",
                "answers.library.1.variants", "answers.library.2.variants"):
        assert f"app.yaml: {key}:" in joined
    assert "{name}" in joined and "listed twice" in joined


@pytest.mark.parametrize(("chat", "person", "refused"), [
    ("slack", "U0SEC1", False), ("slack", "6b703ce3-6d14-4fe6-b90c-dc5f03657ae4", True),
    ("teams", "6B703CE3-6D14-4FE6-B90C-DC5F03657AE4", False), ("teams", "U0SEC1", True),
])
def test_people_named_in_app_yaml_belong_to_its_chat(tmp_path: Path, chat: str, person: str,
                                                     refused: bool) -> None:
    data = example()
    data["chat"] = chat
    data["surge"] = {**data.get("surge", {}), "security": [person]}
    data["answers"] = {**data.get("answers", {}), "library": []}
    if chat == "teams":
        data["teams"] = {"channel": "19:abc@thread.tacv2"}
        data["roles"] = {"teams": {"agents": ["6b703ce3-6d14-4fe6-b90c-dc5f03657ae4"]}}
    if refused:
        assert any(f"chat is {chat}, so people are" in p for p in problems(tmp_path, data))
    else:
        assert load_config(write(tmp_path, data)).surge.security == [person]
