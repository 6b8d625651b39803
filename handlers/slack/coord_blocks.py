"""Pure renderers of coordination: approval cards, messages to people, the card's deadline lines, modals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.i18n import Translator
from bot.services.approvals import approval_value
from bot.services.experts import expert_value
from bot.triage.service import explain
from bot.views import ApprovalCard, CaseSummary, PersonMessage
from handlers.slack.blocks import _plain, escape, format_params, quote, slack_date, source_label, user
from handlers.slack.ids import ApprovalAction, Block, Callback, ExpertAction


def card_link(channel: str | None, ts: str | None) -> str | None:
    """A link to a posted card (Slack resolves the workspace from the signed-in user)."""
    if not channel or not ts:
        return None
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def _case_context(t: Translator, case: CaseSummary) -> list[dict[str, Any]]:
    who = f"@{case.author.handle}" if case.author.handle else (case.author.name or "?")
    line = f"*{escape(source_label(t, case.source))}* · {t(f'venue.{case.venue}')} · {escape(who)}"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{line}\n{quote(case.text, 1500)}"}}]
    links = []
    link = card_link(case.card_channel, case.card_ts)
    if link:
        links.append(f"<{link}|{t('coord.open_card')}>")
    if case.url and case.url.startswith(("https://", "http://")):
        links.append(f"<{case.url.replace('>', '%3E').replace('|', '%7C')}|{t('card.open_original')}>")
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]})
    return blocks


def render_person_message(m: PersonMessage, t: Translator) -> tuple[str, list[dict[str, Any]]]:
    """A nudge, an escalation or an expert's question, as fallback text and blocks."""
    link = card_link(m.card_channel, m.card_ts)
    params = format_params(t, m.params) | {"link": f"<{link}|{t('coord.open_card')}>" if link else ""}
    head = t(f"message.{m.event}", **params)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": head}}]
    if m.text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": quote(m.text, 2500)}})
    if m.case is not None:
        blocks += _case_context(t, m.case)
    if m.answer_ref:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": t("message.expert_how_to_answer")}]})
        blocks.append({"type": "actions", "block_id": Block.EXPERT_ACTIONS.value, "elements": [{
            "type": "button", "action_id": ExpertAction.ANSWER.value, "style": "primary",
            "text": _plain(t("button.expert_answer")), "value": expert_value(m.answer_ref)}]})
    return head.replace("*", "")[:300], blocks


def render_approval(card: ApprovalCard, t: Translator) -> tuple[str, list[dict[str, Any]]]:
    """The approval card: mention, draft, why, who asked, and the buttons (or the decision)."""
    who = f"@{card.case.author.handle}" if card.case.author.handle else (card.case.author.name or "?")
    fallback = t("approval.fallback", author=who, requester=card.requested_by)
    head = t("approval.title", requester=user(card.requested_by))
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": head}}]
    blocks += _case_context(t, card.case)
    blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                               "text": f"*{t('approval.draft')}*\n{quote(card.text, 2500)}"}})
    why = explain(t, list(card.reasons))
    meta = [t("approval.why", reasons=escape("; ".join(why)) if why else "-")]
    if card.state == "pending" and card.due is not None:
        meta.append(t("approval.due", due=slack_date(card.due, "{time}", t.datetime(card.due))))
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(meta)}]})
    if card.state == "pending":
        value = approval_value(card.ref)
        blocks.append({"type": "actions", "block_id": Block.APPROVAL_ACTIONS.value, "elements": [
            {"type": "button", "action_id": ApprovalAction.APPROVE.value, "style": "primary",
             "text": _plain(t("button.approve")), "value": value},
            {"type": "button", "action_id": ApprovalAction.EDIT.value,
             "text": _plain(t("button.approve_edit")), "value": value},
            {"type": "button", "action_id": ApprovalAction.REJECT.value, "style": "danger",
             "text": _plain(t("button.reject")), "value": value},
        ]})
    else:
        at = card.decided_at
        when = slack_date(at, "{time}", t.datetime(at)) if at else "-"
        key = "approval.rejected" if card.state == "rejected" else (
            "approval.approved_edited" if card.edited else "approval.approved")
        text = t(key, actor=user(card.decided_by), at=when)
        if card.note:
            text += "\n" + quote(card.note, 1000)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    return fallback, blocks


def _datetime_input(block_id: str, action_id: str, label: str, initial: datetime) -> dict[str, Any]:
    return {"type": "input", "block_id": block_id, "label": _plain(label),
            "element": {"type": "datetimepicker", "action_id": action_id,
                        "initial_date_time": int(initial.timestamp())}}


def _text_input(block_id: str, action_id: str, label: str, *, initial: str | None = None,
                multiline: bool = True, optional: bool = False, max_length: int = 3000) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": action_id, "multiline": multiline,
                               "max_length": max_length}
    if initial:
        element["initial_value"] = initial[:max_length]
    return {"type": "input", "block_id": block_id, "label": _plain(label), "element": element,
            "optional": optional}


def _modal(t: Translator, callback: Callback, title: str, submit: str, metadata: str,
           blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "modal", "callback_id": callback.value, "private_metadata": metadata,
            "title": _plain(title[:24]), "submit": _plain(submit[:24]), "close": _plain(t("modal.cancel")),
            "blocks": blocks}


def promise_modal(t: Translator, *, metadata: str, due: datetime) -> dict[str, Any]:
    """What was promised to the author, and by when."""
    return _modal(t, Callback.PROMISE, t("modal.promise.title"), t("modal.promise.submit"), metadata, [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": t("modal.promise.hint")}]},
        _text_input(Block.PROMISE_WHAT, Block.TEXT, t("modal.promise.what"), multiline=False, max_length=500),
        _datetime_input(Block.PROMISE_DUE, Block.WHEN, t("modal.promise.due"), due),
    ])


def snooze_modal(t: Translator, *, metadata: str, until: datetime) -> dict[str, Any]:
    """Until when the case's nudges wait, and why."""
    return _modal(t, Callback.SNOOZE, t("modal.snooze.title"), t("modal.snooze.submit"), metadata, [
        _datetime_input(Block.SNOOZE_UNTIL, Block.WHEN, t("modal.snooze.until"), until),
        _text_input(Block.SNOOZE_REASON, Block.TEXT, t("modal.snooze.reason"), multiline=False,
                    max_length=500),
    ])


def ask_expert_modal(t: Translator, *, metadata: str, experts: list[str], topic: str | None,
                     question: str | None = None) -> dict[str, Any]:
    """The question for the experts (the topic's experts chosen already)."""
    picker: dict[str, Any] = {"type": "multi_users_select", "action_id": Block.USERS,
                              "placeholder": _plain(t("modal.expert.pick"))}
    if experts:
        picker["initial_users"] = experts
    hint = t("modal.expert.hint_topic", topic=escape(topic)) if topic else t("modal.expert.hint_none")
    return _modal(t, Callback.ASK_EXPERT, t("modal.expert.title"), t("modal.expert.submit"), metadata, [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": hint}]},
        {"type": "input", "block_id": Block.EXPERT_WHO, "label": _plain(t("modal.expert.who")),
         "element": picker},
        _text_input(Block.EXPERT_QUESTION, Block.TEXT, t("modal.expert.question"), initial=question),
    ])


def expert_answer_modal(t: Translator, *, metadata: str, question: str) -> dict[str, Any]:
    """The expert's answer (it becomes the agent's draft)."""
    return _modal(t, Callback.EXPERT_ANSWER, t("modal.answer.title"), t("modal.answer.submit"), metadata, [
        {"type": "section", "text": {"type": "mrkdwn", "text": quote(question, 2500)}},
        _text_input(Block.EXPERT_ANSWER, Block.TEXT, t("modal.answer.label")),
    ])


def approval_edit_modal(t: Translator, *, metadata: str, text: str) -> dict[str, Any]:
    """Edit the draft, then approve it."""
    return _modal(t, Callback.APPROVAL_EDIT, t("modal.approval_edit.title"), t("modal.approval_edit.submit"),
                  metadata, [_text_input(Block.APPROVAL_TEXT, Block.TEXT, t("modal.approval_edit.label"),
                                         initial=text)])


def approval_reject_modal(t: Translator, *, metadata: str) -> dict[str, Any]:
    """Why the draft may not go out (the agent reads it in the card's thread)."""
    return _modal(t, Callback.APPROVAL_REJECT, t("modal.approval_reject.title"),
                  t("modal.approval_reject.submit"), metadata,
                  [_text_input(Block.APPROVAL_REASON, Block.TEXT, t("modal.approval_reject.label"))])
