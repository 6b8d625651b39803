"""Pure renderers: neutral view models to Adaptive Cards 1.4 for Teams (no I/O, no state).

Each card shows what its Slack twin shows (handlers/slack/*_blocks.py), in the same words (bot.phrasing,
the same catalog keys). A Slack button is an `Action.Submit` whose data is {"action": <the Slack action
id>, "value": <the Slack button's value>}; what Slack asks in a modal is an `Action.ShowCard` with the
inputs and one submit (Teams merges the inputs' values into the submit's data, under the ids in
`INPUTS`). `summary()` gives the plain text for an activity's `summary` (the feed and notifications).
"""

from __future__ import annotations

from typing import Any

from bot import phrasing
from bot.i18n import Translator
from bot.phrasing import LEVEL_EMOJI, SOURCE_EMOJI, author_name, cut, source_label
from bot.services.approvals import approval_value
from bot.services.cases import IGNORE_REASONS, ref_value
from bot.services.experts import expert_value
from bot.services.surges import cluster_value, surge_value
from bot.triage.service import explain
from bot.views import (
    ApprovalCard,
    CardAction,
    CaseCard,
    CaseSummary,
    ClusterCard,
    PersonMessage,
    ReplyForm,
    StormCard,
    SurgeAlert,
    ThreadNote,
)
from handlers.teams.markdown import TEAMS, emoji, escape, lines, markdown, paragraphs, plain, user

ADAPTIVE = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.4"
ROW = 5
"""Buttons per row: Teams shows at most 6 actions in a set and silently drops the rest."""
TEXT_LIMIT = 2900
PEOPLE_PICKER = {"type": "Data.Query", "dataset": "graph.microsoft.com/users"}
"""Teams' people picker on an Input.ChoiceSet: the values arrive as Entra object ids (comma-separated)."""

SUGGEST = "craft.suggest"
"""Teams only: the reply form's button that sends the agent the answer library's wordings for the case
(Slack shows them in its reply modal); its value is the case reference, like the reply's."""

INPUTS: dict[str, tuple[str, ...]] = {
    CardAction.REPLY: ("text", "approval", "field"),
    CardAction.IGNORE: ("choice", "note"),
    CardAction.PROMISE: ("what", "due", "when"),
    CardAction.SNOOZE: ("until", "until_when", "reason"),
    CardAction.ASK_EXPERT: ("experts", "question"),
    CardAction.ASSIGN: ("users",),
    "expert.answer": ("answer",),
    "approval.edit": ("text",),
    "approval.reject": ("reason",),
    "surge.statement": ("statement",),
}
"""Per action id, the input ids its submit sends besides "action" and "value" (every other action sends
none). text/question/answer/statement/reason/what/note: text; choice: an ignore reason (IGNORE_REASONS);
approval: "yes" when the agent asks the spokesperson first; field: the id of the input that holds the
reply's text when it is not "text" (the wordings card has one form per wording); due/until: YYYY-MM-DD
and when/until_when: HH:MM in the team's time zone; experts/users: Entra object ids from the people
picker."""


def attachment(content: dict[str, Any]) -> dict[str, Any]:
    """An activity attachment holding the card."""
    return {"contentType": ADAPTIVE, "content": content}


def _card(body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body, actions = list(body), list(actions or [])
    rows = [actions[i : i + ROW] for i in range(0, len(actions), ROW)]
    for row in rows[:-1]:  # rows above the card's own actions
        body.append({"type": "ActionSet", "actions": row})
    return {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION, "msteams": {"width": "Full"},
            "body": body, "actions": rows[-1] if rows else []}


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _small(text: str) -> dict[str, Any]:
    return _text(text, isSubtle=True, size="Small", spacing="Small")


def _quote(text: str, limit: int = TEXT_LIMIT) -> dict[str, Any]:
    """User text set apart (Adaptive Card Markdown has no block quote)."""
    return {"type": "Container", "style": "emphasis", "items": [_text(paragraphs(cut(text, limit)))]}


def _submit(title: str, action: str, value: str, style: str | None = None) -> dict[str, Any]:
    submit: dict[str, Any] = {"type": "Action.Submit", "title": title[:75], "data": {"action": action,
                                                                                    "value": value}}
    if style:
        submit["style"] = style
    return submit


def _form(title: str, action: str, value: str, submit: str, items: list[dict[str, Any]],
          style: str | None = None) -> dict[str, Any]:
    """What Slack asks in a modal: inputs shown on the card, sent with one submit."""
    return {"type": "Action.ShowCard", "title": title[:75], "card": {
        "type": "AdaptiveCard", "body": items, "actions": [_submit(submit, action, value, style)]}}


def _input(kind: str, id_: str, label: str, **props: Any) -> dict[str, Any]:
    return {"type": f"Input.{kind}", "id": id_, "label": label, **props}


def _link(url: str | None, title: str) -> dict[str, Any] | None:
    if not url or not url.startswith(("https://", "http://")):
        return None
    return {"type": "Action.OpenUrl", "title": title[:75], "url": url}


def _md_link(url: str | None, text: str) -> str | None:
    if not url or not url.startswith(("https://", "http://")):
        return None
    for char, code in ((" ", "%20"), ("(", "%28"), (")", "%29"), ("<", "%3C"), (">", "%3E")):
        url = url.replace(char, code)
    return f"[{text}]({url})"


def case_card(t: Translator, card: CaseCard, *, max_length: int | None = None,
              library: bool = False) -> dict[str, Any]:
    """A mention card; `max_length` is the network's reply limit (the reply input's maxLength);
    `library`: the reply form offers the answer library's wordings."""
    md = markdown(t)
    if card.compact:
        return _compact(t, card)
    src = source_label(t, card.source)
    head = (f"{emoji(SOURCE_EMOJI.get(card.source, 'globe_with_meridians'))} **{escape(src)}** · "
            f"{md(f'venue.{card.venue}')} · {phrasing.author_line(md, TEAMS, card.author)}")
    body: list[dict[str, Any]] = [_text(head)]
    if card.threat and card.text:
        body.append(_text(md("card.content_warning"), color="Attention"))  # the text only on request
    elif card.text:
        body.append(_quote(card.text))
    else:
        body.append(_text("_" + md("card.text_removed") + "_" if card.deleted else "…"))
    flags = [md(f"card.{flag}") for flag in ("deleted", "edited", "hidden", "liked") if getattr(card, flag)]
    if flags:
        body.append(_small("_" + " · ".join(flags) + "_"))
    meta = phrasing.case_meta(md, TEAMS, card)
    original = _md_link(card.url, md("card.open_original"))
    body.append(_small(" · ".join([*meta, original] if original else meta)))
    if card.last_reply is not None:
        reply = [_text(phrasing.reply_line(md, TEAMS, card.last_reply)), _quote(card.last_reply.text, 1500)]
        if card.replies_sent > 1:
            reply.append(_small(md("card.replies_sent", count=card.replies_sent)))
        body.append({"type": "Container", "separator": True, "items": reply})
    if card.ignored_reason:
        body.append(_small(phrasing.ignored_line(md, TEAMS, card.ignored_reason)))
    if card.triage is not None:
        body.append(_small(phrasing.triage_line(md, TEAMS, card.triage, hide_words=card.threat)))
    if card.coordination is not None and (coord := phrasing.coordination_lines(md, TEAMS, card.coordination)):
        body.append(_small(lines(*coord)[:TEXT_LIMIT]))
    if card.notice:
        info = md("card.notice", notice=escape(card.notice[:500]))
        body.append(_small(emoji("information_source") + " " + info))
    if card.problem:
        body.append(_text(emoji("warning") + " " + md("card.problem", problem=escape(card.problem[:500])),
                          color="Attention"))
    answerable = CardAction.REPLY in card.actions or CardAction.OPEN in card.actions
    if card.status != "ignored" and not answerable and not card.window_closed:
        body.append(_small(md("card.no_reply_channel")))
    return _card(body, _case_actions(t, card, max_length, library))


def _compact(t: Translator, card: CaseCard) -> dict[str, Any]:
    """A skipped mention in one line, with the reasons and a way to pick it up anyway."""
    md = markdown(t)
    src = source_label(t, card.source)
    author = escape(author_name(card.author))
    line = f"{emoji('white_circle')} {escape(src)} · {author}: {escape(cut(card.text, 200))}"
    body = [_small(line)]
    if card.triage is not None:
        body.append(_small(phrasing.triage_line(md, TEAMS, card.triage)))
    return _card(body, [_submit(t("button.pick_up"), CardAction.CLAIM, ref_value(card.ref))])


def _case_actions(t: Translator, card: CaseCard, max_length: int | None,
                  library: bool) -> list[dict[str, Any]]:
    """The case's buttons, in Slack's order; modals become forms on the card."""
    value, has = ref_value(card.ref), set(card.actions)
    actions: list[dict[str, Any]] = []
    if CardAction.CLAIM in has:
        actions.append(_submit(t("button.claim"), CardAction.CLAIM, value, "positive"))
    if CardAction.REPLY in has:
        actions.append(_reply_form(t, card, value, max_length, library))
    if CardAction.OPEN in has and (link := _link(card.url, t("button.open"))):
        actions.append(link)
    if CardAction.PROMISE in has:
        actions.append(_form(t("button.promise"), CardAction.PROMISE, value, t("modal.promise.submit"), [
            _small(t("modal.promise.hint")),
            _input("Text", "what", t("modal.promise.what"), maxLength=500, isRequired=True),
            _input("Date", "due", t("modal.promise.due"), isRequired=True),
            _input("Time", "when", t("modal.promise.due"), isRequired=True)]))
    if CardAction.ASK_EXPERT in has:
        actions.append(_form(t("button.ask_expert"), CardAction.ASK_EXPERT, value, t("modal.expert.submit"), [
            _small(t("modal.expert.hint_default")),
            _input("ChoiceSet", "experts", t("modal.expert.who"), placeholder=t("modal.expert.pick"),
                   isMultiSelect=True, choices=[], **{"choices.data": PEOPLE_PICKER}),
            _input("Text", "question", t("modal.expert.question"), isMultiline=True, maxLength=3000,
                   isRequired=True)]))
    for action, label in ((CardAction.LIKE, "button.like"), (CardAction.HIDE, "button.hide"),
                          (CardAction.UNHIDE, "button.unhide")):
        if action in has:
            actions.append(_submit(t(label), action, value))
    if CardAction.SNOOZE in has:
        actions.append(_form(t("button.snooze"), CardAction.SNOOZE, value, t("modal.snooze.submit"), [
            _input("Date", "until", t("modal.snooze.until"), isRequired=True),
            _input("Time", "until_when", t("modal.snooze.until"), isRequired=True),
            _input("Text", "reason", t("modal.snooze.reason"), maxLength=500)]))
    if CardAction.IGNORE in has:
        choices = [{"title": t(f"ignore.{r}"), "value": r} for r in IGNORE_REASONS]
        actions.append(_form(t("button.ignore"), CardAction.IGNORE, value, t("modal.ignore.submit"), [
            _input("ChoiceSet", "choice", t("modal.ignore.reason"), choices=choices, style="compact",
                   isRequired=True),
            _input("Text", "note", t("modal.ignore.note"), maxLength=500)]))
    if card.threat and card.text:
        actions.append(_submit(t("button.show"), CardAction.SHOW, value))
    if CardAction.ASSIGN in has:
        actions.append(_form(t("button.assign"), CardAction.ASSIGN, value, t("button.assign_submit"), [
            _input("ChoiceSet", "users", t("button.assign"), choices=[], **{"choices.data": PEOPLE_PICKER})]))
    return actions


def _reply_form(t: Translator, card: CaseCard, value: str, max_length: int | None,
                library: bool) -> dict[str, Any]:
    """The reply modal as a form: where it goes, the limit, the text, and the spokesperson choice; with
    `library`, a button that sends the agent the answer library's wordings (privately)."""
    src = source_label(t, card.source)
    hint = t("modal.reply.hint", source=src)
    if max_length:
        hint += " " + t("modal.reply.limit", limit=max_length, source=src)
    text = _input("Text", "text", t("modal.reply.label"), placeholder=t("modal.reply.placeholder"),
                  isMultiline=True, isRequired=True)
    if max_length:
        text["maxLength"] = max_length
    draft = card.coordination.expert_draft if card.coordination else None
    if draft:  # as Slack's reply modal: the expert's answer is where the reply starts
        text["value"] = draft
        hint += " " + t("modal.reply.expert_draft")
    items = [_small(escape(hint)), text]
    if card.triage is not None and card.triage.needs_approval:
        items.append(_small(markdown(t)("modal.reply.needs_approval")))
    else:
        items.append(_input("Toggle", "approval", t("modal.reply.approval_label"),
                            title=t("modal.reply.ask_approval"), valueOn="yes", valueOff=""))
    style = None if CardAction.CLAIM in card.actions else "positive"
    form = _form(t("button.reply"), CardAction.REPLY, value, t("modal.reply.submit"), items, style)
    if library:  # sends no inputs: the empty (required) text must not hold it back
        form["card"]["actions"].append({**_submit(t("teams.suggestions"), SUGGEST, value),
                                        "associatedInputs": "none"})
    return form


def suggestions_card(t: Translator, form: ReplyForm, *, value: str) -> dict[str, Any]:
    """The answer library's wordings for a case (Slack lists them in its reply modal), for the agent
    alone: each in its own text box, filled in and editable, with its own send button (the submit's
    `field` names the box: text_1…); one spokesperson choice for all. The customer's text is not
    repeated (the card in the channel shows it, or keeps it behind a content warning). `value` is the
    case's reply reference."""
    md = markdown(t)
    src = source_label(t, form.source)
    body: list[dict[str, Any]] = [_text(f"**{escape(src)}** · {phrasing.author_line(md, TEAMS, form.author)}")]
    if not form.suggestions:
        return _card([*body, _text(md("teams.no_suggestions"))])
    hint = md("modal.reply.suggestions")
    if form.max_length:
        hint += " " + escape(t("modal.reply.limit", limit=form.max_length, source=src))
    body.append(_text(hint))
    if form.needs_approval:
        body.append(_small(md("modal.reply.needs_approval")))
    else:
        body.append(_input("Toggle", "approval", t("modal.reply.approval_label"),
                           title=t("modal.reply.ask_approval"), valueOn="yes", valueOff=""))
    for n, s in enumerate(form.suggestions, start=1):
        about = md("modal.reply.owner", topic=escape(s.topic), owner=user(s.owner))
        if s.recent_at is not None:
            about += " · " + md("modal.reply.recent", at=t.datetime(s.recent_at))
        field = f"text_{n}"
        text = _input("Text", field, t("modal.reply.label"), value=s.text, isMultiline=True)
        if form.max_length:
            text["maxLength"], text["value"] = form.max_length, s.text[:form.max_length]
        send = _submit(t("modal.reply.submit"), CardAction.REPLY, value, "positive")
        send["data"]["field"] = field
        body.append({"type": "Container", "separator": True, "items": [
            _small(f"**{n}.** {about}"), text, {"type": "ActionSet", "actions": [send]}]})
    return _card(body)


def reply_done(t: Translator) -> dict[str, Any]:
    """What a private card (the tone check, the wordings) becomes once a reply was sent from it."""
    return _card([_text(markdown(t)("teams.reply_done"))])


def thread_note(t: Translator, note: ThreadNote) -> dict[str, Any]:
    """A line of history in the card's thread (with the text it quotes)."""
    body = [_text(phrasing.note_line(markdown(t), TEAMS, note))]
    if note.text:
        body.append(_quote(note.text, 2500))
    return _card(body)


def notice(t: Translator, note: ThreadNote) -> dict[str, Any]:
    """A notice for the channel (a source failing or recovering, a gap in polling)."""
    return _card([_text(phrasing.notice_line(markdown(t), TEAMS, note))])


def _case_context(t: Translator, case: CaseSummary) -> list[dict[str, Any]]:
    """The case in a few lines: network, venue, author, text and the link to the original."""
    md = markdown(t)
    src, who = escape(source_label(t, case.source)), escape(author_name(case.author))
    line = f"**{src}** · {md(f'venue.{case.venue}')} · {who}"
    items = [_text(line), _quote(case.text, 1500)]
    if link := _md_link(case.url, md("card.open_original")):
        items.append(_small(link))
    return [{"type": "Container", "separator": True, "items": items}]


def person_message(t: Translator, message: PersonMessage) -> dict[str, Any]:
    """A nudge, an escalation or an expert's question (with a form to answer it)."""
    md = markdown(t)
    params = phrasing.format_params(md, TEAMS, message.params) | {"link": ""}  # no permalink in Teams
    body = [_text(md(f"message.{message.event}", **params).rstrip())]
    if message.text:
        body.append(_quote(message.text, 2500))
    if message.case is not None:
        body += _case_context(t, message.case)
    actions = []
    if message.answer_ref:
        body.append(_small(md("message.expert_how_to_answer")))
        actions.append(_form(t("button.expert_answer"), "expert.answer", expert_value(message.answer_ref),
                             t("modal.answer.submit"), [
                                 _input("Text", "answer", t("modal.answer.label"), isMultiline=True,
                                        maxLength=3000, isRequired=True)], "positive"))
    return _card(body, actions)


def approval_card(t: Translator, card: ApprovalCard) -> dict[str, Any]:
    """The approval card: mention, draft, why, who asked, and the decision (or the forms to make it)."""
    md = markdown(t)
    body = [_text(md("approval.title", requester=TEAMS.user(card.requested_by)))]
    body += _case_context(t, card.case)
    body += [_text(f"**{md('approval.draft')}**", separator=True), _quote(card.text, 2500)]
    why = explain(md, list(card.reasons))
    meta = [md("approval.why", reasons=escape("; ".join(why)) if why else "-")]
    if card.state == "pending" and card.due is not None:
        meta.append(md("approval.due", due=TEAMS.date(t, card.due, "time")))
    body.append(_small(" · ".join(meta)))
    actions = []
    if card.state == "pending":
        value = approval_value(card.ref)
        actions = [
            _submit(t("button.approve"), "approval.approve", value, "positive"),
            _form(t("button.approve_edit"), "approval.edit", value, t("modal.approval_edit.submit"), [
                _input("Text", "text", t("modal.approval_edit.label"), value=card.text[:3000], isMultiline=True,
                       maxLength=3000, isRequired=True)], "positive"),
            _form(t("button.reject"), "approval.reject", value, t("modal.approval_reject.submit"), [
                _input("Text", "reason", t("modal.approval_reject.label"), isMultiline=True, maxLength=3000,
                       isRequired=True)], "destructive"),
        ]
    else:
        when = TEAMS.date(t, card.decided_at, "time") if card.decided_at else "-"
        key = "approval.rejected" if card.state == "rejected" else (
            "approval.approved_edited" if card.edited else "approval.approved")
        body.append(_text(md(key, actor=TEAMS.user(card.decided_by), at=when), separator=True))
        if card.note:
            body.append(_quote(card.note, 1000))
    return _card(body, actions)


def surge_alert(t: Translator, alert: SurgeAlert) -> dict[str, Any]:
    """The alert: what, since when, rate against normal, groups, threats, next steps, buttons."""
    md, a = markdown(t), alert
    what = phrasing.surge_what(md, TEAMS, a)
    head = md("surge.title", emoji=emoji(LEVEL_EMOJI.get(a.level, "rotating_light")),
              level=md(f"surge.level.{a.level}"), what=what)
    if a.state == "resolved":
        head = md("surge.title_resolved", what=what)
    body = [_text(head, size="Medium"), _text(phrasing.surge_figures(md, TEAMS, a))]
    if chart := phrasing.sparkline([v for _, v in a.history]):
        body.append(_small(md("surge.chart", chart=chart)))
    if a.threats:
        body.append(_text(md("surge.threats", count=a.threats), color="Attention"))
    if a.clusters:
        body.append(_text(lines(md("surge.clusters"), *phrasing.cluster_lines(md, TEAMS, a.clusters))))
    if a.small_messages:
        body.append(_small(md("surge.small", messages=a.small_messages, groups=a.small_groups)))
    state = []
    if a.acked_by:
        state.append(md("surge.acked", actor=TEAMS.user(a.acked_by)))
    if a.crisis and a.crisis_at:
        state.append(md("surge.crisis_on", since=TEAMS.date(t, a.crisis_at, "datetime")))
    if a.resolved_at:
        state.append(md("surge.resolved", at=TEAMS.date(t, a.resolved_at, "datetime")))
    if a.statement_at and a.statement_by:
        minutes = int((a.statement_at - a.started_at).total_seconds() // 60)
        state.append(md("surge.statement_done", actor=TEAMS.user(a.statement_by), minutes=minutes))
    elif a.state != "resolved":  # the clock everyone watches: how long without a public word
        state.append(md("surge.statement_waiting", since=TEAMS.date(t, a.started_at, "ago")))
    if state:
        body.append(_small(" · ".join(state)))
    actions: list[dict[str, Any]] = []
    if a.state != "resolved":
        body.append(_text(md("surge.next_steps")))
        value = surge_value(a.ref)
        if not a.acked_by:
            actions.append(_submit(t("button.surge_ack"), "surge.ack", value, "positive"))
        actions.append(_submit(t("button.surge_escalate"), "surge.escalate", value))
        if not a.crisis:
            actions.append(_submit(t("button.surge_crisis"), "surge.crisis", value, "destructive"))
        statement = _input("Text", "statement", t("modal.statement.label"), isMultiline=True, maxLength=1000,
                           isRequired=True)
        if not a.statement_at:  # Slack loads the current statement; the card does not carry it
            statement["value"] = t("statement.draft")[:1000]
        label = t("button.surge_statement" if not a.statement_at else "button.surge_statement_edit")
        actions.append(_form(label, "surge.statement", value, t("modal.statement.submit"),
                             [_small(md("modal.statement.hint")), statement]))
        actions.append(_submit(t("button.surge_resolve"), "surge.resolve", value))
    return _card(body, actions)


def cluster_card(t: Translator, card: ClusterCard) -> dict[str, Any]:
    """Near-duplicate messages as one card: how many, a sample (threats behind a warning), since when."""
    md, c = markdown(t), card
    body = [_text(md("cluster.title", count=c.count, label=escape(cut(c.surge_label, 80))))]
    # staff protection: a cluster with threats does not show its text by default
    body.append(_text(md("cluster.hidden", threats=c.threats), color="Attention") if c.threats
                else _quote(c.sample, 600))
    first, last = TEAMS.date(t, c.first_at, "datetime"), TEAMS.date(t, c.last_at, "datetime")
    meta = [md("cluster.span", first=first, last=last)]
    if c.counted_at is not None:
        meta.append(md("cluster.counted", at=TEAMS.date(t, c.counted_at, "datetime")))
    if c.words:
        meta.append(md("cluster.words", words=escape(", ".join(c.words[:5]))))
    if c.negative:
        meta.append(md("cluster.negative", count=c.negative))
    if c.handled_by:
        meta.append(md("cluster.handled", actor=TEAMS.user(c.handled_by)))
    body.append(_small(" · ".join(meta)))
    actions = []
    if not c.handled_by:
        value = cluster_value(c.cluster_id)
        if c.statement_ready:
            actions.append(_submit(t("button.cluster_reply"), "cluster.reply", value, "positive"))
        if c.threats or c.negative:
            actions.append(_submit(t("button.cluster_hide"), "cluster.hide", value))
        actions.append(_submit(t("button.cluster_handled"), "cluster.handled", value))
        actions.append(_submit(t("button.cluster_show"), "cluster.show", value))
    return _card(body, actions)


def storm_card(t: Translator, card: StormCard) -> dict[str, Any]:
    """The storm in the mention channel: every collapsed message counted, the largest groups.

    Each group has a "show messages" button (as on Slack); a group with its own card says so by name
    (Teams has no permalink to give)."""
    md, c = markdown(t), card
    title = "storm.title_resolved" if c.state == "resolved" else "storm.title"
    body = [_text(md(title, count=c.collapsed, label=escape(cut(c.label, 80))), size="Medium"),
            _small(md("storm.intro", groups=c.groups))]
    shown = 0
    for g in c.top:
        shown += g.count
        line = (md("storm.group_hidden", count=g.count, threats=g.threats) if g.threats
                else md("storm.group", count=g.count, sample=escape(cut(g.sample, 200))))
        notes = []
        if g.card_channel and g.card_ts:
            notes.append(md.unlinked("storm.group_carded", link=""))
        if g.handled_by:
            notes.append(md("storm.group_handled", actor=TEAMS.user(g.handled_by)))
        items = [_text(line)]
        if notes:
            items.append(_small("_" + " · ".join(notes) + "_"))
        items.append({"type": "ActionSet", "actions": [
            _submit(t("button.cluster_show"), "cluster.show", cluster_value(g.cluster_id))]})
        body.append({"type": "Container", "separator": True, "items": items})
    actions = []
    if (rest_groups := c.groups - len(c.top)) > 0:
        body.append(_small(md("storm.rest", messages=c.collapsed - shown, groups=rest_groups)))
        actions.append(_submit(t("button.storm_groups"), "surge.groups", surge_value(c.ref)))
    state = [md("storm.state", since=TEAMS.date(t, c.started_at, "datetime"))]
    if c.crisis:
        state.append(md("storm.crisis"))
    state.append(md("storm.statement") if c.statement_at else md("storm.no_statement"))
    if c.alert_channel and c.alert_ts:
        state.append(md.unlinked("storm.alert", link=""))
    body.append(_small(" · ".join(state)))
    return _card(body, actions)


Renderable = CaseCard | ThreadNote | PersonMessage | ApprovalCard | SurgeAlert | StormCard | ClusterCard


def summary(t: Translator, item: Renderable, *, channel_notice: bool = False) -> str:
    """Plain text for the activity's `summary` (feed, notifications): what Slack's fallback text says.

    A threat's text never shows here; `channel_notice`: a ThreadNote rendered by `notice`.
    """
    md = markdown(t)
    if isinstance(item, CaseCard):
        shown = t("card.threat_hidden") if item.threat else item.text[:150]
        src = source_label(t, item.source)
        text = t("card.fallback", author=author_name(item.author), source=src, text=shown)
    elif isinstance(item, ThreadNote):
        say = phrasing.notice_line if channel_notice else phrasing.note_line
        text = plain(say(md, TEAMS, item))
    elif isinstance(item, PersonMessage):
        params = phrasing.format_params(md, TEAMS, item.params) | {"link": ""}
        text = plain(md(f"message.{item.event}", **params))
    elif isinstance(item, ApprovalCard):
        text = t("approval.fallback", author=author_name(item.case.author), requester=item.requested_by)
    elif isinstance(item, SurgeAlert):
        text = f"{t(f'surge.level.{item.level}')}: {plain(phrasing.surge_what(md, TEAMS, item))}"
    elif isinstance(item, StormCard):
        text = t("storm.fallback", count=item.collapsed, label=cut(item.label, 80))
    else:
        text = t("cluster.fallback", count=item.count)
    return " ".join(text.split())[:150]


def cluster_messages_text(t: Translator, *, count: int, rows: list[tuple[str, str]]) -> str:
    """A cluster's messages (author, text) as plain text, for the person who asked (in their 1:1 chat)."""
    return "\n".join([t("teams.cluster_messages", count=count), *(f"• {who}: {text}" for who, text in rows)])


def storm_groups_text(t: Translator, *, label: str, total: int, groups: list[tuple[int, str]]) -> str:
    """A storm's groups (count, sample) as plain text, for the person who asked (in their 1:1 chat)."""
    return "\n".join([t("teams.storm_groups", label=label, total=total),
                      *(f"• {count}× {sample}" for count, sample in groups)])


def review_card(t: Translator, form: ReplyForm, *, value: str, max_length: int | None = None,
                approval: str = "") -> dict[str, Any]:
    """The tone check of a reply (Slack shows it in the reply modal): the warnings, then the text to
    send anyway or change. `value` is the reply reference that carries the warnings already shown;
    `approval` ("yes": the agent asked for the spokesperson) goes along with the send."""
    md = markdown(t)
    review = form.review
    assert review is not None
    src = source_label(t, form.source)
    body: list[dict[str, Any]] = [_text(md("modal.reply.review"), weight="Bolder")]
    body += [_text(f"• {phrasing.tone_line(md, TEAMS, w, src)}") for w in review.warnings]
    if review.promise is not None:
        p = review.promise
        body.append(_small(md("modal.reply.promise", phrase=escape(p.phrases[0]), due=t.datetime(p.due_at))))
    body.append(_small(md("modal.reply.review_hint")))
    text = _input("Text", "text", t("modal.reply.label"), value=review.text, isMultiline=True, isRequired=True)
    if max_length:
        text["maxLength"] = max_length
    body.append(text)
    send = _submit(t("modal.reply.send_anyway"), CardAction.REPLY, value, "positive")
    if approval == "yes":
        send["data"]["approval"] = "yes"
        body.append(_small(markdown(t)("modal.reply.needs_approval")))
    return _card(body, [send])
