"""The Slack manifest asks for exactly what the code uses: scopes, events, interactivity, route."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
# Web API methods the bot calls, and the bot scopes they need (views.* and auth.test need none).
SCOPES = {
    "chat_postMessage": {"chat:write"}, "chat_update": {"chat:write"},
    "chat_postEphemeral": {"chat:write"}, "conversations_history": {"channels:history", "groups:history"},
    "conversations_replies": {"channels:history", "groups:history"}, "views_open": set(),
    "views_update": set(), "views_push": set(), "auth_test": set(), "apps_connections_open": set(),
    "conversations_open": {"im:write"}, "usergroups_users_list": {"usergroups:read"},
    # files.getUploadURLExternal, the upload URL and files.completeUploadExternal
    "files_upload_v2": {"files:write"},
    "files_delete": {"files:write"},
}


def test_manifest_matches_the_code() -> None:
    manifest = yaml.safe_load((REPO / "slack-manifest.yaml").read_text(encoding="utf-8"))
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    source = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "handlers" / "slack").glob("*.py"))
    calls = (r"\b(chat_\w+|conversations_\w+|views_\w+|usergroups_\w+|files_\w+|auth_test"
             r"|apps_connections_open)\(")
    used = set(re.findall(calls, source)) | set(re.findall(r'_call\("(\w+)"', source))
    assert used, "no Web API calls found"
    for method in used:
        assert method in SCOPES, f"add {method} and its scopes to this test and the manifest"
        assert SCOPES[method] <= scopes, f"{method} needs {SCOPES[method] - scopes}"
    settings = manifest["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["interactivity"]["request_url"].endswith("/slack/events")
    assert settings["event_subscriptions"]["request_url"].endswith("/slack/events")
    events = set(settings["event_subscriptions"]["bot_events"])
    assert {"message.channels", "message.groups", "message.im"} <= events
    assert {"im:history", "commands"} <= scopes  # experts answer in our direct message's thread; /webcare
    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    assert commands["/webcare"]["url"].endswith("/slack/events")
