"""Pure renderers: neutral view models to Block Kit JSON (no I/O, no state)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot import phrasing
from bot.i18n import Translator
from bot.phrasing import SOURCE_EMOJI, DateKind, Markup, author_name, source_label
from bot.services.cases import IGNORE_REASONS, ref_value
from bot.services.replies import answer_ref_value
from bot.views import CardAction, CaseCard, CoordinationView, ReplyForm, ReplyReview, ThreadNote, TriageView
from handlers.slack.ids import Block, Callback, ModalAction

SECTION_LIMIT = 2900
PLAIN_LIMIT = 150
DATE_TOKENS = {"ago": "{ago}", "time": "{time}", "datetime": "{date_short_pretty} {time}"}


def escape(text: str) -> str:
    """Escape user text for mrkdwn so it cannot ping @channel or fake links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quote(text: str, limit: int = SECTION_LIMIT) -> str:
    """Quote user text as a mrkdwn block quote, cut at `limit` characters."""
    body = escape(text if len(text) <= limit else text[: limit - 1] + "…")
    return "\n".join("> " + line for line in (body.splitlines() or [""]))


def safe_url(url: str) -> str:
    """A URL that cannot break out of Slack's `<url|text>` link syntax."""
    return url.replace("<", "%3C").replace(">", "%3E").replace("|", "%7C").replace(" ", "%20")


def user(uid: str | None) -> str:
    """A Slack user mention for ids, the text itself otherwise."""
    if uid and uid[:1] in "UW" and uid.isalnum():
        return f"<@{uid}>"
    return escape(uid or "?")


def slack_date(value: Any, token: str, fallback: str) -> str:
    """A date Slack renders in each reader's own time zone (`{ago}`, `{date_short_pretty}`...)."""
    return f"<!date^{int(value.timestamp())}^{token}|{escape(fallback)}>"


def _date(t: Translator, value: datetime, kind: DateKind) -> str:
    return slack_date(value, DATE_TOKENS[kind], t.datetime(value))


SLACK = Markup(escape=escape, bold=lambda text: f"*{text}*", user=user, date=_date,
               emoji=lambda name: f":{name}:" if name else "")
"""Slack's mrkdwn for the shared phrasing (bot.phrasing)."""

def author_line(t: Translator, card: CaseCard) -> str:
    """Handle, name, followers and verified state of the author."""
    return phrasing.author_line(t, SLACK, card.author)


def _button(text: str, action: CardAction, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action.value,
        "text": {"type": "plain_text", "text": text[:75], "emoji": True},
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def render_compact(card: CaseCard, t: Translator) -> tuple[str, list[dict[str, Any]]]:
    """A skipped mention in one line, with the reasons and a way to pick it up anyway."""
    src = source_label(t, card.source)
    author = author_name(card.author)
    text = card.text if len(card.text) <= 200 else card.text[:199] + "…"
    line = f":white_circle: {escape(src)} · {escape(author)}: {escape(text)}"
    blocks: list[dict[str, Any]] = [{"type": "context", "elements": [{"type": "mrkdwn", "text": line}]}]
    if card.triage is not None:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": triage_line(card.triage, t)}]}
        )
    blocks.append(
        {
            "type": "actions",
            "block_id": Block.ACTIONS.value,
            "elements": [_button(t("button.pick_up"), CardAction.CLAIM, ref_value(card.ref))],
        }
    )
    return t("card.fallback", author=author, source=src, text=card.text[:PLAIN_LIMIT]), blocks


def render_card(card: CaseCard, t: Translator) -> tuple[str, list[dict[str, Any]]]:
    """The fallback text and blocks of a mention card."""
    if card.compact:
        return render_compact(card, t)
    src = source_label(t, card.source)
    author = author_name(card.author)
    shown = t("card.threat_hidden") if card.threat else card.text[:PLAIN_LIMIT]  # notifications show no threat
    fallback = t("card.fallback", author=author, source=src, text=shown)
    head = (
        f"{SLACK.emoji(SOURCE_EMOJI.get(card.source, 'globe_with_meridians'))} *{escape(src)}* · "
        f"{t(f'venue.{card.venue}')} · {author_line(t, card)}"
    )
    flags = [t(f"card.{flag}") for flag in ("deleted", "edited", "hidden", "liked") if getattr(card, flag)]
    body = quote(card.text) if card.text else ("_" + t("card.text_removed") + "_" if card.deleted else "> …")
    if card.threat and card.text:
        body = t("card.content_warning")  # staff protection: the text only on request (button below)
    if flags:
        body += "\n_" + " · ".join(flags) + "_"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": head}},
        {"type": "section", "text": {"type": "mrkdwn", "text": body}},
    ]
    meta = phrasing.case_meta(t, SLACK, card)
    if card.url and card.url.startswith(("https://", "http://")):
        meta.append(f"<{safe_url(card.url)}|{t('card.open_original')}>")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(meta)}]})
    if card.last_reply is not None:
        text = f"{phrasing.reply_line(t, SLACK, card.last_reply)}\n{quote(card.last_reply.text, 1500)}"
        if card.replies_sent > 1:
            text += "\n" + t("card.replies_sent", count=card.replies_sent)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    if card.ignored_reason:
        ignored = phrasing.ignored_line(t, SLACK, card.ignored_reason)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": ignored}]})
    if card.triage is not None:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": triage_line(card.triage, t, hide_words=card.threat)}],
            }
        )
    if card.coordination is not None:
        lines = coordination_lines(card.coordination, t)
        if lines:
            text = "\n".join(lines)[:2900]
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]})
    if card.notice:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": ":information_source: " + t("card.notice", notice=escape(card.notice[:500])),
                    }
                ],
            }
        )
    if card.problem:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": ":warning: " + t("card.problem", problem=escape(card.problem[:500])),
                },
            }
        )
    value = ref_value(card.ref)
    buttons = []
    if CardAction.CLAIM in card.actions:
        buttons.append(_button(t("button.claim"), CardAction.CLAIM, value, "primary"))
    if CardAction.REPLY in card.actions:
        buttons.append(
            _button(
                t("button.reply"),
                CardAction.REPLY,
                value,
                None if CardAction.CLAIM in card.actions else "primary",
            )
        )
    if CardAction.OPEN in card.actions and card.url:
        link = _button(
            t("button.open"), CardAction.OPEN, value, None if CardAction.CLAIM in card.actions else "primary"
        )
        link["url"] = safe_url(card.url)
        buttons.append(link)
    for action, label in (
        (CardAction.PROMISE, "button.promise"),
        (CardAction.ASK_EXPERT, "button.ask_expert"),
        (CardAction.LIKE, "button.like"),
        (CardAction.HIDE, "button.hide"),
        (CardAction.UNHIDE, "button.unhide"),
        (CardAction.SNOOZE, "button.snooze"),
        (CardAction.IGNORE, "button.ignore"),
    ):
        if action in card.actions:
            buttons.append(_button(t(label), action, value))
    if card.threat and card.text:
        buttons.append(_button(t("button.show"), CardAction.SHOW, value))
    if CardAction.ASSIGN in card.actions:
        picker: dict[str, Any] = {"type": "users_select", "action_id": CardAction.ASSIGN.value,
                                  "placeholder": _plain(t("button.assign"))}
        if card.owner and card.owner[:1] in "UW":
            picker["initial_user"] = card.owner
        buttons.append(picker)
    if (
        card.status != "ignored"
        and CardAction.REPLY not in card.actions
        and CardAction.OPEN not in card.actions
        and not card.window_closed
    ):
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": t("card.no_reply_channel")}]})
    if buttons:
        blocks.append({"type": "actions", "block_id": Block.ACTIONS.value, "elements": buttons})
    return fallback, blocks


def triage_line(v: TriageView, t: Translator, *, hide_words: bool = False) -> str:
    """Decision, priority, intent, sentiment and the reasons, in one compact line (bot.phrasing)."""
    return phrasing.triage_line(t, SLACK, v, hide_words=hide_words)


def format_params(t: Translator, params: dict[str, str]) -> dict[str, str]:
    """Catalog parameters made safe: people as mentions, times as Slack dates, the rest escaped."""
    return phrasing.format_params(t, SLACK, params)


def coordination_lines(v: CoordinationView, t: Translator) -> list[str]:
    """The card's deadline lines: response SLA, promises, approval, expert, snooze."""
    return phrasing.coordination_lines(t, SLACK, v)


def render_note(note: ThreadNote, t: Translator) -> str:
    """A line of history for the card's thread."""
    line = phrasing.note_line(t, SLACK, note)
    return f"{line}\n{quote(note.text, 2500)}" if note.text else line


def render_notice(note: ThreadNote, t: Translator) -> str:
    """A notice for the channel (a source failing or recovering, a gap in polling)."""
    return phrasing.notice_line(t, SLACK, note)


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:PLAIN_LIMIT], "emoji": True}


def reply_modal(
    t: Translator, *, metadata: str, form: ReplyForm | None, with_input: bool = True
) -> dict[str, Any]:
    """The reply modal; without `form` it shows a loading line (opened before any slow work).

    With `form.suggestions` it offers answer-library wordings, each with a button that opens it in a
    stacked modal with the text filled in (`form.draft`); with `form.review` it lists the tone warnings
    on the submitted draft and its submit button sends anyway. `with_input=False` (a stacked modal
    while it loads) leaves out the text input, so that the update that fills it in adds the input anew
    and Slack applies its initial value (it keeps the typed state of an input whose block_id stays).
    """
    blocks: list[dict[str, Any]]
    if form is None:
        blocks = [{"type": "context", "elements": [{"type": "mrkdwn", "text": t("modal.reply.loading")}]}]
    else:
        who = f"@{form.author.handle}" if form.author.handle else (form.author.name or "?")
        src = source_label(t, form.source)
        hint = t("modal.reply.hint", source=src)
        if form.max_length:
            hint += " " + t("modal.reply.limit", limit=form.max_length, source=src)
        blocks = [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": (f"{t('modal.reply.context', author=escape(who))}\n{quote(form.text, 2500)}"),
                },
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": hint}]},
        ]
        if form.review is not None:
            blocks += _review_blocks(t, form.review, src)
        elif form.draft is not None:
            based = t("modal.reply.based_on", topic=escape(form.draft.topic), owner=user(form.draft.owner))
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": based}]})
        elif form.suggestions:
            blocks += _suggestion_blocks(t, form)
    text_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": Block.REPLY_TEXT.value,
        "multiline": True,
        "placeholder": _plain(t("modal.reply.placeholder")),
        "focus_on_load": True,
    }
    if form is not None and form.max_length:
        text_input["max_length"] = form.max_length
    initial = form.review.text if form and form.review else (
        form.draft.text if form and form.draft else (form.expert_draft if form else None))
    if initial:
        text_input["initial_value"] = initial[: form.max_length] if form and form.max_length else initial
    modal: dict[str, Any] = {
        "type": "modal",
        "callback_id": Callback.REPLY.value,
        "private_metadata": metadata,
        "title": _plain(t("modal.reply.title")[:24]),
        "close": _plain(t("modal.cancel")),
        "blocks": blocks,
    }
    if with_input or form is not None:
        submit = (
            "modal.reply.send_anyway" if form is not None and form.review is not None else "modal.reply.submit"
        )
        modal["submit"] = _plain(t(submit))
        blocks.append(
            {
                "type": "input",
                "block_id": Block.REPLY.value,
                "label": _plain(t("modal.reply.label")),
                "element": text_input,
            }
        )
        blocks += _approval_choice(t, form)
    return modal


def _suggestion_blocks(t: Translator, form: ReplyForm) -> list[dict[str, Any]]:
    """Answer-library wordings, freshest first, each with its owner and a button to start from it."""
    blocks: list[dict[str, Any]] = [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": t("modal.reply.suggestions")}]}
    ]
    for s in form.suggestions:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": quote(s.text, 1500)},
                "accessory": {
                    "type": "button",
                    "action_id": ModalAction.USE_ANSWER.value,
                    "text": _plain(t("modal.reply.use")),
                    "value": answer_ref_value(form.ref, s.key),
                },
            }
        )
        about = t("modal.reply.owner", topic=escape(s.topic), owner=user(s.owner))
        if s.recent_at is not None:
            about += " · " + t(
                "modal.reply.recent",
                at=slack_date(s.recent_at, "{date_short_pretty} {time}", t.datetime(s.recent_at)),
            )
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": about}]})
    return blocks


def _review_blocks(t: Translator, review: ReplyReview, source: str) -> list[dict[str, Any]]:
    lines = "\n".join(f"• {phrasing.tone_line(t, SLACK, w, source)}" for w in review.warnings)
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"{t('modal.reply.review')}\n{lines}"[:SECTION_LIMIT]},
        }
    ]
    if review.promise is not None:
        p = review.promise
        due = slack_date(p.due_at, "{date_short_pretty} {time}", t.datetime(p.due_at))
        phrase = escape(p.phrases[0])
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": t("modal.reply.promise", phrase=phrase, due=due)}],
            }
        )
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": t("modal.reply.review_hint")}]})
    return blocks


def _approval_choice(t: Translator, form: ReplyForm | None) -> list[dict[str, Any]]:
    """Sensitive replies say they go to the spokesperson; others offer to send them there."""
    if form is None:
        return []
    if form.needs_approval:
        return [{"type": "context", "elements": [{"type": "mrkdwn", "text": t("modal.reply.needs_approval")}]}]
    return [{
        "type": "input", "block_id": Block.ASK_APPROVAL.value, "optional": True,
        "label": _plain(t("modal.reply.approval_label")),
        "element": {"type": "checkboxes", "action_id": Block.ASK_APPROVAL_BOX.value,
                    "options": [{"text": _plain(t("modal.reply.ask_approval")), "value": "yes"}]},
    }]


def text_modal(t: Translator, title: str, text: str) -> dict[str, Any]:
    """A modal that only shows a text (a message behind a content warning)."""
    return {
        "type": "modal",
        "title": _plain(title[:24]),
        "close": _plain(t("modal.cancel")),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": quote(text, 2900)}}],
    }


def unavailable_modal(t: Translator, message: str) -> dict[str, Any]:
    """A modal that only explains why the action cannot be done."""
    return {
        "type": "modal",
        "title": _plain(t("modal.unavailable.title")[:24]),
        "close": _plain(t("modal.cancel")),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": escape(message)}}],
    }


def ignore_modal(t: Translator, *, metadata: str) -> dict[str, Any]:
    """The modal that asks why a mention is ignored."""
    options = [{"text": _plain(t(f"ignore.{r}")), "value": r} for r in IGNORE_REASONS]
    return {
        "type": "modal",
        "callback_id": Callback.IGNORE.value,
        "private_metadata": metadata,
        "title": _plain(t("modal.ignore.title")[:24]),
        "submit": _plain(t("modal.ignore.submit")),
        "close": _plain(t("modal.cancel")),
        "blocks": [
            {
                "type": "input",
                "block_id": Block.IGNORE_REASON.value,
                "label": _plain(t("modal.ignore.reason")),
                "element": {
                    "type": "static_select",
                    "action_id": Block.IGNORE_REASON_SELECT.value,
                    "options": options,
                },
            },
            {
                "type": "input",
                "block_id": Block.IGNORE_NOTE.value,
                "optional": True,
                "label": _plain(t("modal.ignore.note")),
                "element": {
                    "type": "plain_text_input",
                    "action_id": Block.IGNORE_NOTE_TEXT.value,
                    "max_length": 500,
                },
            },
        ],
    }
