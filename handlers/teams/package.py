"""The Teams app package: what an admin uploads to Teams to add the bot (`webcare teams-package`).

A zip of manifest.json (Teams app manifest 1.17) and the two icons Teams requires (192×192 colour,
32×32 white outline on transparent), drawn here so that nothing has to be downloaded or designed.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from typing import Any

from PIL import Image, ImageDraw

MANIFEST_VERSION = "1.17"
SCHEMA = ("https://developer.microsoft.com/en-us/json-schemas/teams/"
          f"v{MANIFEST_VERSION}/MicrosoftTeams.schema.json")
ACCENT = "#0B6E4F"
APP_NAMESPACE = uuid.UUID("9b1f2d1e-3c4a-4f7e-8a55-0e1d2c3b4a59")
"""The Teams app id is derived from the bot's app id, so a rebuilt package updates the same app."""


def manifest(*, app_id: str, name: str, host: str | None, version: str) -> dict[str, Any]:
    """The Teams app manifest for our bot (`app_id`: MICROSOFT_APP_ID) in channels and 1:1 chats."""
    short = f"webcare {name}"[:30]
    return {
        "$schema": SCHEMA,
        "manifestVersion": MANIFEST_VERSION,
        "version": version,
        "id": str(uuid.uuid5(APP_NAMESPACE, app_id)),
        "developer": {"name": name[:32], "websiteUrl": "https://github.com/webcare-bot/webcare-bot",
                      "privacyUrl": "https://github.com/webcare-bot/webcare-bot#privacy",
                      "termsOfUseUrl": "https://github.com/webcare-bot/webcare-bot#license"},
        "name": {"short": short, "full": f"webcare-bot voor {name}"[:100]},
        "description": {
            "short": "Webcare vanuit Teams: sociale vermeldingen als kaarten, antwoorden met één klik."[:80],
            "full": ("Elke vermelding op X, Facebook, Instagram, WhatsApp, fora en blogs komt als kaart in "
                     "het webcarekanaal. Claimen, antwoorden, een expert of woordvoerder vragen, beloftes "
                     "bijhouden en stormen zien aankomen, zonder Teams te verlaten."),
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": ACCENT,
        "bots": [{"botId": app_id, "scopes": ["team", "personal"], "supportsFiles": False,
                  "isNotificationOnly": False}],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [host] if host else [],
        # Without this the bot only hears thread messages that @mention it (agents' notes, experts'
        # answers in a card's thread); with it the team's owner grants it the team's channel messages.
        "webApplicationInfo": {"id": app_id, "resource": f"api://botid-{app_id}"},
        "authorization": {"permissions": {"resourceSpecific": [
            {"name": "ChannelMessage.Read.Group", "type": "Application"}]}},
    }


def _icon(size: int, *, outline: bool) -> bytes:
    """A speech balloon: white on the accent colour, or a white outline on transparent."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0) if outline else ACCENT)
    draw = ImageDraw.Draw(image)
    pad, width = size // 6, max(1, size // 16)
    box = (pad, pad, size - pad, size - pad - size // 6)
    tail = [(size // 3, box[3] - 1), (size // 3, size - pad), (size // 2, box[3] - 1)]
    if outline:
        draw.rounded_rectangle(box, radius=size // 8, outline="white", width=width)
        draw.line(tail[:2] + [tail[2]], fill="white", width=width)
    else:
        draw.rounded_rectangle(box, radius=size // 8, fill="white")
        draw.polygon(tail, fill="white")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def package(*, app_id: str, name: str, host: str | None = None, version: str = "1.0.0") -> bytes:
    """The zip to upload in Teams (Apps → Manage your apps → Upload an app)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest(app_id=app_id, name=name, host=host, version=version),
                                                ensure_ascii=False, indent=2))
        zf.writestr("color.png", _icon(192, outline=False))
        zf.writestr("outline.png", _icon(32, outline=True))
    return out.getvalue()
