"""Pure renderers of surges: the alert card (with a text chart of the rate) and the cluster cards."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.i18n import Translator
from bot.phrasing import LEVEL_EMOJI, cluster_lines, sparkline, surge_figures, surge_what
from bot.phrasing import cut as _cut
from bot.services.surges import cluster_value, surge_value
from bot.views import ClusterCard, StormCard, StormGroup, SurgeAlert
from handlers.slack.blocks import SLACK, _plain, escape, quote, slack_date
from handlers.slack.coord_blocks import card_link
from handlers.slack.ids import Block, Callback, ClusterAction, SurgeAction


def _when(t: Translator, at: datetime) -> str:
    return slack_date(at, "{date_short_pretty} {time}", t.datetime(at))


@dataclass(frozen=True)
class ChartImage:
    """A chart image uploaded to Slack: its file id, and what it shows in words (it may be older
    than the card's figures: a new one is drawn at most every five minutes)."""

    file_id: str
    alt: str


def chart_alt(history: Sequence[tuple[datetime, float]], expected: float, t: Translator) -> str:
    """What the chart of `history` shows, in words (for screen readers and when images are off)."""
    if not history:
        return t("surge.chart_title")
    return t("surge.chart_alt", start=t.datetime(history[0][0]), end=t.datetime(history[-1][0]),
             rate=f"{history[-1][1]:.0f}", expected=f"{expected:.1f}")


def render_surge(
    a: SurgeAlert, t: Translator, *, chart: ChartImage | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """The alert: what, since when, rate against normal, clusters, threats, next steps, buttons.

    `chart` is the rate's chart image, when one was uploaded."""
    what = surge_what(t, SLACK, a)
    head = t(
        "surge.title",
        emoji=SLACK.emoji(LEVEL_EMOJI.get(a.level, "rotating_light")),
        level=t(f"surge.level.{a.level}"),
        what=what,
    )
    if a.state == "resolved":
        head = t("surge.title_resolved", what=what)
    figures = surge_figures(t, SLACK, a)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{head}\n{figures}"}},
    ]
    if chart:
        blocks.append({"type": "image", "slack_file": {"id": chart.file_id}, "alt_text": chart.alt[:2000],
                       "title": _plain(t("surge.chart_title"))})
    line = sparkline([v for _, v in a.history])  # kept beside the image, and instead of it
    if line:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": t("surge.chart", chart=line)}]}
        )
    if a.threats:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": t("surge.threats", count=a.threats)}}
        )
    if a.clusters:
        lines = cluster_lines(t, SLACK, a.clusters)
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": t("surge.clusters") + "\n" + "\n".join(lines)},
            }
        )
    if a.small_messages:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": t("surge.small", messages=a.small_messages, groups=a.small_groups),
                    }
                ],
            }
        )
    state = []
    if a.acked_by:
        state.append(t("surge.acked", actor=f"<@{a.acked_by}>"))
    if a.crisis and a.crisis_at:
        state.append(t("surge.crisis_on", since=_when(t, a.crisis_at)))
    if a.resolved_at:
        state.append(t("surge.resolved", at=_when(t, a.resolved_at)))
    if a.statement_at and a.statement_by:
        minutes = int((a.statement_at - a.started_at).total_seconds() // 60)
        state.append(t("surge.statement_done", actor=f"<@{a.statement_by}>", minutes=minutes))
    elif a.state != "resolved":  # the clock everyone watches: how long without a public word
        state.append(
            t("surge.statement_waiting", since=slack_date(a.started_at, "{ago}", t.datetime(a.started_at)))
        )
    if state:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(state)}]})
    if a.state != "resolved":
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": t("surge.next_steps")}})
        value = surge_value(a.ref)
        buttons = []
        if not a.acked_by:
            buttons.append(_button(t("button.surge_ack"), SurgeAction.ACK, value, "primary"))
        buttons.append(_button(t("button.surge_escalate"), SurgeAction.ESCALATE, value))
        if not a.crisis:
            buttons.append(_button(t("button.surge_crisis"), SurgeAction.CRISIS, value, "danger"))
        buttons.append(
            _button(
                t("button.surge_statement" if not a.statement_at else "button.surge_statement_edit"),
                SurgeAction.STATEMENT,
                value,
            )
        )
        buttons.append(_button(t("button.surge_resolve"), SurgeAction.RESOLVE, value))
        blocks.append({"type": "actions", "block_id": Block.SURGE_ACTIONS.value, "elements": buttons})
    return f"{t(f'surge.level.{a.level}')}: {what}"[:150], blocks


def render_cluster(c: ClusterCard, t: Translator) -> tuple[str, list[dict[str, Any]]]:
    """Near-duplicate messages as one card: how many, a sample (threats behind a warning), since when."""
    head = t("cluster.title", count=c.count, label=escape(_cut(c.surge_label, 80)))
    # staff protection: a cluster with threats does not show its text by default
    body = t("cluster.hidden", threats=c.threats) if c.threats else quote(_cut(c.sample, 600))
    meta = [t("cluster.span", first=_when(t, c.first_at), last=_when(t, c.last_at))]
    if c.counted_at is not None:
        meta.append(t("cluster.counted", at=_when(t, c.counted_at)))
    if c.words:
        meta.append(t("cluster.words", words=escape(", ".join(c.words[:5]))))
    if c.negative:
        meta.append(t("cluster.negative", count=c.negative))
    if c.handled_by:
        meta.append(t("cluster.handled", actor=f"<@{c.handled_by}>"))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{head}\n{body}"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(meta)}]},
    ]
    if not c.handled_by:
        value = cluster_value(c.cluster_id)
        buttons = []
        if c.statement_ready:
            buttons.append(_button(t("button.cluster_reply"), ClusterAction.REPLY, value, "primary"))
        if c.threats or c.negative:
            buttons.append(_button(t("button.cluster_hide"), ClusterAction.HIDE, value))
        buttons.append(_button(t("button.cluster_handled"), ClusterAction.HANDLED, value))
        buttons.append(_button(t("button.cluster_show"), ClusterAction.SHOW, value))
        blocks.append({"type": "actions", "block_id": Block.CLUSTER_ACTIONS.value, "elements": buttons})
    return t("cluster.fallback", count=c.count), blocks


def render_storm(c: StormCard, t: Translator) -> tuple[str, list[dict[str, Any]]]:
    """The storm in the mention channel: every collapsed message counted, the largest groups.

    Each group line has a "show messages" button (the same action as a cluster card's), so every
    group is reachable from Slack; the largest groups also have a card with the bulk actions.
    """
    label = escape(_cut(c.label, 80))
    title = "storm.title_resolved" if c.state == "resolved" else "storm.title"
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": t(title, count=c.collapsed, label=label) + "\n" + t("storm.intro", groups=c.groups),
            },
        }
    ]
    shown = 0
    for g in c.top:
        shown += g.count
        line = (
            t("storm.group_hidden", count=g.count, threats=g.threats)
            if g.threats
            else t("storm.group", count=g.count, sample=escape(_cut(g.sample, 200)))
        )
        notes = []
        link = card_link(g.card_channel, g.card_ts)
        if link:
            notes.append(t("storm.group_carded", link=link))
        if g.handled_by:
            notes.append(t("storm.group_handled", actor=f"<@{g.handled_by}>"))
        if notes:
            line += f"\n_{' · '.join(notes)}_"
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": line},
                "accessory": _button(t("button.cluster_show"), ClusterAction.SHOW, cluster_value(g.cluster_id)),
            }
        )
    rest_groups = c.groups - len(c.top)
    if rest_groups > 0:
        rest = t("storm.rest", messages=c.collapsed - shown, groups=rest_groups)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": rest}]})
        blocks.append({"type": "actions", "block_id": Block.STORM_ACTIONS.value,
                       "elements": [_button(t("button.storm_groups"), SurgeAction.GROUPS, surge_value(c.ref))]})
    state = [t("storm.state", since=_when(t, c.started_at))]
    if c.crisis:
        state.append(t("storm.crisis"))
    state.append(t("storm.statement") if c.statement_at else t("storm.no_statement"))
    link = card_link(c.alert_channel, c.alert_ts)
    if link:
        state.append(t("storm.alert", link=link))
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(state)}]})
    return t("storm.fallback", count=c.collapsed, label=_cut(c.label, 80))[:150], blocks


def storm_groups_modal(t: Translator, *, label: str, groups: list[StormGroup], total: int) -> dict[str, Any]:
    """Every group of a storm (the largest first), each with its messages a click away."""
    blocks: list[dict[str, Any]] = [
        {"type": "context", "elements": [
            {"type": "mrkdwn", "text": t("storm.groups_head", shown=len(groups), total=total,
                                         label=escape(_cut(label, 80)))}]}
    ]
    for g in groups[:48]:
        line = (
            t("storm.group_hidden", count=g.count, threats=g.threats)
            if g.threats
            else t("storm.group", count=g.count, sample=escape(_cut(g.sample, 200)))
        )
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": line},
                       "accessory": _button(t("button.cluster_show"), ClusterAction.SHOW,
                                            cluster_value(g.cluster_id))})
    return {
        "type": "modal",
        "title": _plain(t("storm.groups_title")[:24]),
        "close": _plain(t("modal.cancel")),
        "blocks": blocks,
    }


def _button(
    text: str, action: SurgeAction | ClusterAction, value: str, style: str | None = None
) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "action_id": action.value, "text": _plain(text), "value": value}
    if style:
        button["style"] = style
    return button


def statement_modal(t: Translator, *, metadata: str, text: str, fresh: bool = False) -> dict[str, Any]:
    """The holding statement to approve (`fresh`: a new block id, so Slack shows the given text)."""
    return {
        "type": "modal",
        "callback_id": Callback.STATEMENT.value,
        "private_metadata": metadata,
        "title": _plain(t("modal.statement.title")[:24]),
        "submit": _plain(t("modal.statement.submit")[:24]),
        "close": _plain(t("modal.cancel")),
        "blocks": [
            {"type": "context", "elements": [{"type": "mrkdwn", "text": t("modal.statement.hint")}]},
            {
                "type": "input",
                "block_id": Block.STATEMENT.value + ("_current" if fresh else ""),
                "label": _plain(t("modal.statement.label")),
                "element": {
                    "type": "plain_text_input",
                    "action_id": Block.TEXT.value,
                    "multiline": True,
                    "max_length": 1000,
                    "initial_value": text[:1000],
                },
            },
        ],
    }


def cluster_messages_modal(
    t: Translator, *, count: int | None, messages: list[tuple[str, str, bool]]
) -> dict[str, Any]:
    """The newest messages of a cluster: (author, text, threat); threats stay behind their warning.

    `count` None: the modal opened at once (Slack's trigger expires in 3 s) while they are read.
    """
    lines = [
        f"*@{escape(author)}*: " + (t("card.threat_hidden") if threat else escape(_cut(text, 280)))
        for author, text, threat in messages
    ]
    head = t("cluster.loading") if count is None else t("cluster.listing", shown=len(messages), count=count)
    blocks: list[dict[str, Any]] = [{"type": "context", "elements": [{"type": "mrkdwn", "text": head}]}]
    for i in range(0, len(lines), 10):
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines[i : i + 10])[:2900]}}
        )
    return {
        "type": "modal",
        "title": _plain(t("cluster.listing_title")[:24]),
        "close": _plain(t("modal.cancel")),
        "blocks": blocks,
    }
