"""The Teams app package: a manifest Teams accepts for our bot, and the two icons it requires."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from bot.cli import main
from handlers.teams.package import manifest, package

APP_ID = "11111111-2222-3333-4444-555555555555"


def test_package_holds_manifest_and_icons_of_the_required_sizes() -> None:
    zipped = package(app_id=APP_ID, name="Voorbeeld BV", host="webcare.voorbeeld.nl")
    with zipfile.ZipFile(io.BytesIO(zipped)) as zf:
        assert sorted(zf.namelist()) == ["color.png", "manifest.json", "outline.png"]
        data = json.loads(zf.read("manifest.json"))
        color = Image.open(io.BytesIO(zf.read("color.png")))
        outline = Image.open(io.BytesIO(zf.read("outline.png"))).convert("RGBA")
    assert data["bots"][0]["botId"] == APP_ID and set(data["bots"][0]["scopes"]) == {"team", "personal"}
    assert data["validDomains"] == ["webcare.voorbeeld.nl"]
    assert len(data["name"]["short"]) <= 30 and len(data["description"]["short"]) <= 80
    assert color.size == (192, 192) and outline.size == (32, 32)
    # the outline icon is white on transparent, as Teams requires
    pixels = [outline.getpixel((x, y)) for x in range(32) for y in range(32)]
    assert {px[:3] for px in pixels if px[3]} == {(255, 255, 255)}  # type: ignore[index]
    assert any(px[3] == 0 for px in pixels)  # type: ignore[index]


def test_rebuilt_package_is_the_same_teams_app() -> None:
    first = manifest(app_id=APP_ID, name="A", host=None, version="1.0.0")
    again = manifest(app_id=APP_ID, name="B", host=None, version="1.0.1")
    other = manifest(app_id="99999999-2222-3333-4444-555555555555", name="A", host=None, version="1.0.0")
    assert first["id"] == again["id"] != other["id"]


def test_cli_writes_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "webcare-teams.zip"
    monkeypatch.delenv("MICROSOFT_APP_ID", raising=False)
    assert main(["teams-package", "--output", str(out)]) == 2 and not out.exists()
    monkeypatch.setenv("MICROSOFT_APP_ID", APP_ID)
    assert main(["teams-package", "--name", "Voorbeeld BV", "--output", str(out)]) == 0
    with zipfile.ZipFile(out) as zf:
        assert json.loads(zf.read("manifest.json"))["bots"][0]["botId"] == APP_ID


def test_cli_says_when_it_cannot_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MICROSOFT_APP_ID", APP_ID)
    missing = tmp_path / "nope" / "webcare-teams.zip"
    assert main(["teams-package", "--output", str(missing)]) == 2
    assert f"webcare: {missing}: No such file or directory" in capsys.readouterr().err
    assert main(["teams-package", "--output", str(tmp_path)]) == 2  # a directory
    assert str(tmp_path) in capsys.readouterr().err
