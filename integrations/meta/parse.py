"""Meta webhook deliveries turned into mentions and changes: pure functions, no I/O.

One delivery is `{"object": ..., "entry": [...]}`; each entry holds `changes[]` of one account:

- `object: "page"`, `field: "feed"`, `value.item: "comment"`: a comment on our Facebook Page, with
  `verb` `add` (new), `edited` or `remove`. Other items (reactions, posts, shares) are ignored.
- `object: "instagram"`, `field: "comments"` (or `live_comments`): a comment on our Instagram media,
  `value: {id, text, from: {id, username}, media: {id}, parent_id?}`.
- `object: "whatsapp_business_account"`, `field: "messages"`: `value.messages[]` from customers with
  `value.contacts[]` (profile names) and `value.metadata.phone_number_id` (our number);
  `value.statuses[]` are receipts of what *we* sent (failed ones are reported), `value.errors[]` too.

What we posted ourselves (the page's or account's own comments, echoes) never becomes a mention.
Messenger and Instagram Direct (`entry.messaging[]`) are not handled and are counted as ignored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import ValidationError

from bot.ports import MentionChange
from bot.schemas import MentionIn

FACEBOOK: Final = "facebook"
INSTAGRAM: Final = "instagram"
WHATSAPP: Final = "whatsapp"
SOURCES = (FACEBOOK, INSTAGRAM, WHATSAPP)

_MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
_DELETE_VERBS = frozenset({"remove", "delete", "deleted"})


class NotADelivery(ValueError):
    """The body is JSON, but not a Meta webhook delivery (`{"object", "entry": [...]}`)."""


@dataclass
class Parsed:
    """What one delivery holds for us."""

    mentions: list[MentionIn] = field(default_factory=list)
    changes: list[MentionChange] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)
    """Change kinds we do not handle, counted (e.g. `facebook:feed:reaction:add`)."""
    rejected: list[str] = field(default_factory=list)
    """Items that look like ours but cannot be used, one line each."""
    reports: list[str] = field(default_factory=list)
    """What Meta tells us went wrong: failed WhatsApp deliveries, `errors[]` entries."""


@dataclass(frozen=True)
class _Ctx:
    entry: dict[str, Any]
    received: datetime
    own: frozenset[str]
    out: Parsed

    @property
    def account(self) -> str | None:
        value = self.entry.get("id")
        return str(value) if value not in (None, "") else None

    def is_own(self, author_id: object) -> bool:
        return author_id is not None and str(author_id) in self.own | {self.account}

    def entry_time(self) -> datetime:
        return to_datetime(self.entry.get("time")) or self.received


def parse_delivery(data: Any, *, received: datetime, own_ids: Collection[str] = ()) -> Parsed:
    """Everything in one delivery: new mentions, edits/deletions, and what was ignored or wrong.

    `received` stands in for missing timestamps; `own_ids` are our page/Instagram ids, whose
    comments are ours (the entry's own id always counts as ours too).
    """
    if not isinstance(data, dict) or not isinstance(data.get("entry"), list):
        raise NotADelivery('expected {"object": ..., "entry": [...]}')
    obj = data.get("object")
    handlers = _HANDLERS.get(obj) if isinstance(obj, str) else None
    out = Parsed()
    own = frozenset(str(i) for i in own_ids if i)
    for entry in data["entry"]:
        if not isinstance(entry, dict):
            out.rejected.append(f"{obj}: entry is not an object")
            continue
        if entry.get("messaging") or entry.get("standby"):
            out.ignored[f"{obj}:messaging"] += len(entry.get("messaging") or entry.get("standby") or [])
        changes = entry.get("changes") or []
        if not isinstance(changes, list):
            out.rejected.append(f"{obj}: entry.changes is not a list")
            continue
        ctx = _Ctx(entry=entry, received=received, own=own, out=out)
        for change in changes:
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                out.rejected.append(f"{obj}: change without a value object")
                continue
            fld = str(change.get("field"))
            handler = handlers.get(fld) if handlers else None
            if handler is None:
                out.ignored[f"{obj}:{fld}"] += 1
                continue
            handler(ctx, change["value"])
    return out


def to_datetime(value: object) -> datetime | None:
    """A Meta timestamp (unix seconds or milliseconds, as number or digits, or ISO 8601) in UTC."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int | float):
        seconds = float(value) / 1000 if value > 100_000_000_000 else float(value)
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"):
            try:
                return datetime.strptime(value.replace("Z", "+0000"), fmt).astimezone(UTC)
            except ValueError:
                continue
    return None


def _id(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    text = str(value).strip()
    return text or None


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _without_none(data: dict[str, Any]) -> dict[str, Any]:
    """Leave unset fields out (MentionIn's length limits on optional ids refuse an explicit None)."""
    return {k: _without_none(v) if isinstance(v, dict) else v for k, v in data.items() if v is not None}


def _add(ctx: _Ctx, source: str, data: dict[str, Any]) -> None:
    try:
        ctx.out.mentions.append(MentionIn.model_validate(_without_none(data)))
    except ValidationError as exc:
        problems = ", ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        ctx.out.rejected.append(f"{source} {data.get('id')}: {problems}")


# --- Facebook Page -------------------------------------------------------------------------------

def _facebook_text(value: dict[str, Any]) -> str:
    text = value.get("message")
    parts = [text] if isinstance(text, str) and text else []
    for kind in ("photo", "video"):
        if value.get(kind):
            parts.append(f"[{kind}]")
    return " ".join(parts)


def _facebook_feed(ctx: _Ctx, value: dict[str, Any]) -> None:
    item, verb = value.get("item"), value.get("verb")
    if item != "comment":
        ctx.out.ignored[f"{FACEBOOK}:feed:{item}:{verb}"] += 1
        return
    comment_id = _id(value.get("comment_id"))
    if comment_id is None:
        ctx.out.rejected.append(f"{FACEBOOK}: comment {verb} without comment_id")
        return
    if verb == "edited":
        ctx.out.changes.append(MentionChange(source=FACEBOOK, mention_id=comment_id,
                                             text=_facebook_text(value), at=ctx.entry_time()))
        return
    if verb in _DELETE_VERBS:
        ctx.out.changes.append(MentionChange(source=FACEBOOK, mention_id=comment_id, deleted=True,
                                             at=ctx.entry_time()))
        return
    if verb != "add":
        ctx.out.ignored[f"{FACEBOOK}:feed:comment:{verb}"] += 1
        return
    author = _obj(value.get("from"))
    if ctx.is_own(author.get("id")):
        ctx.out.ignored[f"{FACEBOOK}:own_comment"] += 1
        return
    post_id = _id(value.get("post_id"))
    parent_id = _id(value.get("parent_id"))
    _add(ctx, FACEBOOK, {
        "source": FACEBOOK,
        "id": comment_id,
        "thread_id": post_id,
        "in_reply_to": parent_id if parent_id and parent_id != post_id else None,
        "venue": "own",
        "url": value.get("permalink_url") or f"https://www.facebook.com/{comment_id}",
        # Without `from` (an author who shared nothing with the app) each comment is its own
        # author, so that unknown people on one post are not merged into one case.
        "author": {"id": _id(author.get("id")) or f"unknown:{comment_id}", "name": author.get("name")},
        "text": _facebook_text(value),
        "created_at": to_datetime(value.get("created_time")) or ctx.entry_time(),
        "account": ctx.account,
    })


# --- Instagram -----------------------------------------------------------------------------------

def _instagram_comment(ctx: _Ctx, value: dict[str, Any]) -> None:
    comment_id = _id(value.get("id"))
    if comment_id is None:
        ctx.out.rejected.append(f"{INSTAGRAM}: comment without id")
        return
    verb = value.get("verb")
    if verb in _DELETE_VERBS or value.get("deleted") is True:
        ctx.out.changes.append(MentionChange(source=INSTAGRAM, mention_id=comment_id, deleted=True,
                                             at=ctx.entry_time()))
        return
    if verb == "edited":
        ctx.out.changes.append(MentionChange(source=INSTAGRAM, mention_id=comment_id,
                                             text=str(value.get("text") or ""), at=ctx.entry_time()))
        return
    author = _obj(value.get("from"))
    if ctx.is_own(author.get("id")):
        ctx.out.ignored[f"{INSTAGRAM}:own_comment"] += 1
        return
    parent_id = _id(value.get("parent_id"))
    _add(ctx, INSTAGRAM, {
        "source": INSTAGRAM,
        "id": comment_id,
        "thread_id": _id(_obj(value.get("media")).get("id")),
        "in_reply_to": parent_id,
        "venue": "own",
        "url": value.get("permalink") or None,
        "author": {"id": _id(author.get("id")) or f"unknown:{comment_id}",
                   "handle": author.get("username")},
        "text": str(value.get("text") or ""),
        "created_at": (to_datetime(value.get("timestamp")) or to_datetime(value.get("created_time"))
                       or ctx.entry_time()),
        "account": ctx.account,
    })


# --- WhatsApp ------------------------------------------------------------------------------------

def whatsapp_text(message: dict[str, Any]) -> str:
    """The text of a WhatsApp message: the body, or a short placeholder like `[image] caption`."""
    kind = str(message.get("type") or "unknown")
    body = _obj(message.get(kind))
    if kind == "text":
        return str(body.get("body") or "")
    if kind in _MEDIA_TYPES:
        label = "voice message" if kind == "audio" and body.get("voice") else kind
        extra = body.get("caption") or (body.get("filename") if kind == "document" else None)
        return f"[{label}] {extra}" if extra else f"[{label}]"
    if kind == "location":
        where = ", ".join(str(body[k]) for k in ("name", "address") if body.get(k))
        coords = f"({body.get('latitude')}, {body.get('longitude')})"
        return f"[location] {where} {coords}" if where else f"[location] {coords}"
    if kind == "contacts":
        names = [str(_obj(c.get("name")).get("formatted_name") or "")
                 for c in message.get("contacts") or [] if isinstance(c, dict)]
        return "[contact] " + ", ".join(n for n in names if n) if any(names) else "[contact]"
    if kind == "interactive":
        choice = _obj(body.get("button_reply")) or _obj(body.get("list_reply"))
        return str(choice.get("title") or "[interactive]")
    if kind == "button":
        return str(body.get("text") or "[button]")
    if kind == "reaction":
        emoji = body.get("emoji")
        return f"[reaction] {emoji}" if emoji else "[reaction removed]"
    return f"[{kind}]"


def _error_line(error: dict[str, Any]) -> str:
    details = _obj(error.get("error_data")).get("details")
    text = f"{error.get('code')} {error.get('title') or error.get('message') or ''}".strip()
    return f"{text}: {details}" if details else text


def _whatsapp_messages(ctx: _Ctx, value: dict[str, Any]) -> None:
    meta = _obj(value.get("metadata"))
    phone_id = _id(meta.get("phone_number_id"))
    our_number = _id(meta.get("display_phone_number"))
    for error in value.get("errors") or []:
        if isinstance(error, dict):
            ctx.out.reports.append(f"{WHATSAPP} {phone_id}: {_error_line(error)}")
    for status in value.get("statuses") or []:
        if not isinstance(status, dict):
            continue
        ctx.out.ignored[f"{WHATSAPP}:status:{status.get('status')}"] += 1
        if status.get("status") == "failed":
            errors = "; ".join(_error_line(e) for e in status.get("errors") or [] if isinstance(e, dict))
            ctx.out.reports.append(f"{WHATSAPP} message {status.get('id')} to "
                                   f"{status.get('recipient_id')} failed: {errors or 'no reason given'}")
    contacts = [c for c in value.get("contacts") or [] if isinstance(c, dict)]
    names = {_id(c.get("wa_id")): _obj(c.get("profile")).get("name") for c in contacts}
    for message in value.get("messages") or []:
        if not isinstance(message, dict):
            continue
        kind = message.get("type")
        sender = _id(message.get("from"))
        if kind == "system" or (sender is not None and sender == our_number):
            ctx.out.ignored[f"{WHATSAPP}:message:{kind}"] += 1
            continue
        for error in message.get("errors") or []:
            if isinstance(error, dict):
                ctx.out.reports.append(f"{WHATSAPP} message {message.get('id')}: {_error_line(error)}")
        name = names.get(sender)
        if name is None and len(contacts) == 1:
            name = _obj(contacts[0].get("profile")).get("name")
        reply_to = (_obj(message.get("reaction")).get("message_id") if kind == "reaction"
                    else _obj(message.get("context")).get("id"))
        _add(ctx, WHATSAPP, {
            "source": WHATSAPP,
            "id": message.get("id"),
            "thread_id": sender,
            "in_reply_to": _id(reply_to),
            "venue": "own",
            "url": None,
            "author": {"id": sender, "handle": sender, "name": name},
            "text": whatsapp_text(message),
            "created_at": to_datetime(message.get("timestamp")) or ctx.received,
            "account": phone_id,
        })


_Handler = Callable[[_Ctx, dict[str, Any]], None]
_HANDLERS: dict[str, dict[str, _Handler]] = {
    "page": {"feed": _facebook_feed},
    "instagram": {"comments": _instagram_comment, "live_comments": _instagram_comment},
    "whatsapp_business_account": {"messages": _whatsapp_messages},
}
