"""Bolt listeners of coordination: promises, experts, assignment, snooze, approvals and `/webcare`.

Same habits as `listeners.py`: acknowledge first (modals open with the 3-second trigger_id before
any database work), call one service in one transaction, let the renderers render.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import phrasing
from bot.clock import utcnow
from bot.errors import InvalidInput, NotAllowed, WebcareError
from bot.runtime import Runtime
from bot.services import approvals, cases, experts, ownership, promises, reports, surges
from bot.triage.rules import topic_names
from bot.views import StormGroup
from handlers.slack.blocks import SLACK, unavailable_modal
from handlers.slack.coord_blocks import (
    approval_edit_modal,
    approval_reject_modal,
    ask_expert_modal,
    expert_answer_modal,
    promise_modal,
    snooze_modal,
)
from handlers.slack.ids import (
    Action,
    ApprovalAction,
    Block,
    Callback,
    ClusterAction,
    Command,
    ExpertAction,
    SurgeAction,
)
from handlers.slack.refusals import audit_refusal, refusal_text
from handlers.slack.reports import render_mine, render_overdue, render_stats
from handlers.slack.surge_blocks import (
    cluster_messages_modal,
    statement_modal,
    storm_groups_modal,
)

Listener = Callable[[AsyncAck, dict[str, Any], AsyncWebClient, dict[str, Any]], Awaitable[None]]
Guard = Callable[[Listener], Listener]


def _values(view: dict[str, Any]) -> dict[str, Any]:
    return view.get("state", {}).get("values", {})


def _text(values: dict[str, Any], block: str) -> str:
    return (values.get(block, {}).get(Block.TEXT, {}).get("value") or "").strip()


def _when(values: dict[str, Any], block: str) -> datetime | None:
    raw = values.get(block, {}).get(Block.WHEN, {}).get("selected_date_time")
    return datetime.fromtimestamp(int(raw), UTC) if raw else None


async def submit(ack: AsyncAck, t: Any, work: Callable[[], Awaitable[object]], *, default: str,
                 fields: dict[str, str] | None = None) -> None:
    """Run a modal submission's service call; show a refusal on the field it is about (or `default`).

    A refusal for lack of a role is raised on after the modal is answered, so the guard audits it.
    """
    try:
        await work()
    except WebcareError as exc:
        block = (fields or {}).get(str(exc.params.get("field", "")), default)
        await ack(response_action="errors", errors={block: t(exc.key, **exc.params)})
        if isinstance(exc, NotAllowed):
            raise
        return
    await ack()


def register(app: AsyncApp, rt: Runtime, guarded: Guard) -> None:
    """Map every coordination id to its listener."""
    t = rt.t

    def actor(body: dict[str, Any]) -> str:
        return str(body["user"]["id"])

    # --- promises ---------------------------------------------------------------------------
    async def open_promise(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                           payload: dict[str, Any]) -> None:
        await ack()
        ref = cases.parse_ref(payload.get("value"))
        due = utcnow() + rt.settings.config.promises.default_due
        await client.views_open(trigger_id=body["trigger_id"],
                                view=promise_modal(t, metadata=cases.ref_value(ref.case), due=due))

    async def submit_promise(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                             payload: dict[str, Any]) -> None:
        values = _values(payload)

        async def work() -> None:
            ref = cases.parse_ref(payload.get("private_metadata"))
            due = _when(values, Block.PROMISE_DUE)
            if due is None:
                raise InvalidInput(field="due", reason="empty")
            async with rt.uow() as session:
                await promises.make(session=session, ref=ref, actor=actor(body), due_at=due, now=utcnow(),
                                    what=_text(values, Block.PROMISE_WHAT), coord=rt.coord)

        await submit(ack, t, work, default=Block.PROMISE_WHAT,
                     fields={"what": Block.PROMISE_WHAT, "due": Block.PROMISE_DUE})

    # --- experts ----------------------------------------------------------------------------
    async def open_ask_expert(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                              payload: dict[str, Any]) -> None:
        await ack()
        ref = cases.parse_ref(payload.get("value"))
        metadata = cases.ref_value(ref.case)
        opened = await client.views_open(trigger_id=body["trigger_id"],
                                         view=ask_expert_modal(t, metadata=metadata, experts=[], topic=None))
        async with rt.maker() as session:
            topic, chosen = await experts.suggested(session=session, ref=ref, coord=rt.coord)
        if chosen:
            view = opened["view"]
            await client.views_update(view_id=view["id"], hash=view.get("hash"),
                                      view=ask_expert_modal(t, metadata=metadata, experts=chosen, topic=topic))

    async def submit_ask_expert(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                                payload: dict[str, Any]) -> None:
        values = _values(payload)
        chosen = values.get(Block.EXPERT_WHO, {}).get(Block.USERS, {}).get("selected_users") or []

        async def work() -> None:
            ref = cases.parse_ref(payload.get("private_metadata"))
            async with rt.uow() as session:
                await experts.ask(session=session, ref=ref, actor=actor(body), now=utcnow(), coord=rt.coord,
                                  question=_text(values, Block.EXPERT_QUESTION), experts=list(chosen))

        await submit(ack, t, work, default=Block.EXPERT_WHO, fields={"question": Block.EXPERT_QUESTION})

    async def open_answer(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                          payload: dict[str, Any]) -> None:
        await ack()
        ref = experts.parse_expert(payload.get("value"))
        metadata = experts.expert_value(ref.question)
        question = ""
        for block in (body.get("message") or {}).get("blocks", [])[1:2]:
            question = (block.get("text") or {}).get("text", "").removeprefix("> ")
        await client.views_open(trigger_id=body["trigger_id"],
                                view=expert_answer_modal(t, metadata=metadata, question=question or "…"))

    async def submit_answer(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                            payload: dict[str, Any]) -> None:
        async def work() -> None:
            ref = experts.parse_expert(payload.get("private_metadata"))
            async with rt.uow() as session:
                await experts.answer(session=session, ref=ref.question, actor=actor(body), now=utcnow(),
                                     coord=rt.coord, text=_text(_values(payload), Block.EXPERT_ANSWER))

        await submit(ack, t, work, default=Block.EXPERT_ANSWER)

    # --- ownership --------------------------------------------------------------------------
    async def assign(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                     payload: dict[str, Any]) -> None:
        await ack()
        assignee = payload.get("selected_user")
        container = body.get("container") or {}
        if not assignee:
            return
        async with rt.uow() as session:
            ref = await cases.ref_for_card(session, channel=container.get("channel_id", ""),
                                           ts=container.get("message_ts", ""))
            await ownership.assign(session=session, ref=ref, actor=actor(body), assignee=assignee, now=utcnow(),
                                   coord=rt.coord)

    async def open_snooze(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                          payload: dict[str, Any]) -> None:
        await ack()
        ref = cases.parse_ref(payload.get("value"))
        steps = rt.settings.config.escalation.steps
        until = utcnow().replace(second=0, microsecond=0) + (steps[0] if steps else timedelta(hours=1))
        await client.views_open(trigger_id=body["trigger_id"],
                                view=snooze_modal(t, metadata=cases.ref_value(ref.case), until=until))

    async def submit_snooze(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                            payload: dict[str, Any]) -> None:
        values = _values(payload)

        async def work() -> None:
            ref = cases.parse_ref(payload.get("private_metadata"))
            until = _when(values, Block.SNOOZE_UNTIL)
            if until is None:
                raise InvalidInput(field="until", reason="empty")
            async with rt.uow() as session:
                await ownership.snooze(session=session, ref=ref, actor=actor(body), until=until, now=utcnow(),
                                       reason=_text(values, Block.SNOOZE_REASON), coord=rt.coord)

        await submit(ack, t, work, default=Block.SNOOZE_REASON,
                     fields={"until": Block.SNOOZE_UNTIL, "reason": Block.SNOOZE_REASON})

    # --- approvals --------------------------------------------------------------------------
    async def approve(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                      payload: dict[str, Any]) -> None:
        await ack()
        ref = approvals.parse_approval(payload.get("value"))
        async with rt.uow() as session:
            await approvals.approve(session=session, ref=ref.approval, actor=actor(body), now=utcnow(),
                                    coord=rt.coord)

    def open_decision(edit: bool) -> Listener:
        async def open_modal(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                             payload: dict[str, Any]) -> None:
            await ack()
            ref = approvals.parse_approval(payload.get("value"))
            metadata = approvals.approval_value(ref.approval)
            view = (approval_edit_modal(t, metadata=metadata, text="") if edit
                    else approval_reject_modal(t, metadata=metadata))
            opened = (await client.views_open(trigger_id=body["trigger_id"], view=view))["view"]
            try:
                async with rt.maker() as session:
                    text = await approvals.may_decide(session=session, ref=ref.approval, actor=actor(body),
                                                      coord=rt.coord, action="approval.edit" if edit
                                                      else "approval.reject")
            except WebcareError as exc:
                await client.views_update(view_id=opened["id"],
                                          view=unavailable_modal(t, t(exc.key, **exc.params)))
                raise
            if edit:
                await client.views_update(view_id=opened["id"], hash=opened.get("hash"),
                                          view=approval_edit_modal(t, metadata=metadata, text=text))

        open_modal.__name__ = "open_edit" if edit else "open_reject"
        return open_modal

    async def submit_edit(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                          payload: dict[str, Any]) -> None:
        async def work() -> None:
            ref = approvals.parse_approval(payload.get("private_metadata"))
            async with rt.uow() as session:
                await approvals.approve(session=session, ref=ref.approval, actor=actor(body), now=utcnow(),
                                        coord=rt.coord, text=_text(_values(payload), Block.APPROVAL_TEXT))

        await submit(ack, t, work, default=Block.APPROVAL_TEXT)

    async def submit_reject(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                            payload: dict[str, Any]) -> None:
        async def work() -> None:
            ref = approvals.parse_approval(payload.get("private_metadata"))
            async with rt.uow() as session:
                await approvals.reject(session=session, ref=ref.approval, actor=actor(body), now=utcnow(),
                                       coord=rt.coord, reason=_text(_values(payload), Block.APPROVAL_REASON))

        await submit(ack, t, work, default=Block.APPROVAL_REASON)

    # --- surges -----------------------------------------------------------------------------
    def surge_listener(decide: Callable[..., Awaitable[object]], name: str) -> Listener:
        async def listener(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                           payload: dict[str, Any]) -> None:
            await ack()
            ref = surges.parse_surge(payload.get("value"))
            async with rt.uow() as session:
                await decide(session=session, ref=ref.surge, actor=actor(body), now=utcnow(), coord=rt.coord)

        listener.__name__ = name
        return listener

    async def open_statement(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                             payload: dict[str, Any]) -> None:
        await ack()
        ref = surges.parse_surge(payload.get("value"))
        metadata = surges.surge_value(ref.surge)
        opened = (await client.views_open(trigger_id=body["trigger_id"], view=statement_modal(
            t, metadata=metadata, text=t("statement.draft"))))["view"]
        async with rt.maker() as session:
            current = await surges.current_statement(session=session, ref=ref.surge)
        if current:
            await client.views_update(view_id=opened["id"], hash=opened.get("hash"),
                                      view=statement_modal(t, metadata=metadata, text=current, fresh=True))

    async def submit_statement(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                               payload: dict[str, Any]) -> None:
        values = _values(payload)
        block = next((b for b in values if b.startswith(Block.STATEMENT.value)), Block.STATEMENT.value)

        async def work() -> None:
            ref = surges.parse_surge(payload.get("private_metadata"))
            async with rt.uow() as session:
                await surges.approve_statement(session=session, ref=ref.surge, actor=actor(body),
                                               text=_text(values, block), now=utcnow(), coord=rt.coord)

        await submit(ack, t, work, default=block)

    def cluster_listener(decide: Callable[..., Awaitable[object]], name: str, sinks: bool) -> Listener:
        async def listener(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                           payload: dict[str, Any]) -> None:
            await ack()
            ref = surges.parse_cluster(payload.get("value"))
            extra = {"sinks": rt.sinks} if sinks else {}
            async with rt.uow() as session:
                await decide(session=session, cluster_id=ref.cluster, actor=actor(body), now=utcnow(),
                             coord=rt.coord, **extra)

        listener.__name__ = name
        return listener

    async def show_cluster(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                           payload: dict[str, Any]) -> None:
        await ack()
        ref = surges.parse_cluster(payload.get("value"))
        loading = cluster_messages_modal(t, count=None, messages=[])
        if body.get("view"):  # from the storm's list of groups: on top of it
            opened = (await client.views_push(trigger_id=body["trigger_id"], view=loading))["view"]
        else:
            opened = (await client.views_open(trigger_id=body["trigger_id"], view=loading))["view"]
        try:
            async with rt.maker() as session:
                cluster, mentions = await surges.cluster_messages(session=session, cluster_id=ref.cluster,
                                                                  actor=actor(body), coord=rt.coord)
        except WebcareError as exc:
            await client.views_update(view_id=opened["id"], view=unavailable_modal(t, t(exc.key, **exc.params)))
            raise
        rows = [(m.author_handle or m.author_name or "?", m.text, m.threat) for m in mentions]
        await client.views_update(view_id=opened["id"],
                                  view=cluster_messages_modal(t, count=cluster.count, messages=rows))

    async def show_groups(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                          payload: dict[str, Any]) -> None:
        await ack()
        ref = surges.parse_surge(payload.get("value"))
        opened = (await client.views_open(trigger_id=body["trigger_id"],
                                          view=cluster_messages_modal(t, count=None, messages=[])))["view"]
        try:
            async with rt.maker() as session:
                surge, groups, total = await surges.storm_groups(session=session, ref=ref.surge,
                                                                 actor=actor(body), coord=rt.coord)
        except WebcareError as exc:
            await client.views_update(view_id=opened["id"], view=unavailable_modal(t, t(exc.key, **exc.params)))
            raise
        lines = [StormGroup(cluster_id=g.id, sample=g.sample, count=g.count, threats=g.threats,
                            handled_by=g.handled_by) for g in groups]
        await client.views_update(view_id=opened["id"], view=storm_groups_modal(
            t, label=surge.label or surge.key, groups=lines, total=total))

    # --- /webcare ---------------------------------------------------------------------------
    async def command(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        word = (body.get("text") or "").strip().lower().split(" ")[0] or "help"
        user = str(body.get("user_id", ""))
        async with rt.maker() as session:
            if word in ("mine", "mijn"):
                text = render_mine(await reports.mine(session, user=user), t)
            elif word in ("overdue", "telaat", "laat"):
                items, total = await reports.overdue(session, now=utcnow())
                text = render_overdue(items, total, t)
            elif word in ("stats", "cijfers"):
                text = render_stats(await reports.stats(session, now=utcnow(), tz=rt.settings.config.tz), t)
            elif word == "crisis":
                text = None
            elif word in ("help", "hulp"):
                text = t("command.help")
            else:
                text = t("command.unknown", text=word[:40]) + "\n" + t("command.help")
        if text is None:
            text = await crisis_command(user, (body.get("text") or "").strip()[len(word):].strip())
        await respond(text=text, response_type="ephemeral")

    async def crisis_command(user: str, arg: str) -> str:
        """`/webcare crisis`: list the open surges; `crisis N`: crisis mode on one; `crisis TOPIC`: declare."""
        try:
            async with rt.uow() as session:
                outcome = await surges.crisis_command(
                    session=session, arg=arg, actor=user, now=utcnow(), coord=rt.coord,
                    known_topics=topic_names(rt.settings.config.triage.topics))
            return phrasing.crisis(t, SLACK, outcome, "\n")
        except WebcareError as exc:
            if isinstance(exc, NotAllowed):
                await audit_refusal(rt, exc, {})
            return refusal_text(t, exc)

    app.action(Action.PROMISE.value)(guarded(open_promise))
    app.view(Callback.PROMISE.value)(guarded(submit_promise))
    app.action(Action.ASK_EXPERT.value)(guarded(open_ask_expert))
    app.view(Callback.ASK_EXPERT.value)(guarded(submit_ask_expert))
    app.action(ExpertAction.ANSWER.value)(guarded(open_answer))
    app.view(Callback.EXPERT_ANSWER.value)(guarded(submit_answer))
    app.action(Action.ASSIGN.value)(guarded(assign))
    app.action(Action.SNOOZE.value)(guarded(open_snooze))
    app.view(Callback.SNOOZE.value)(guarded(submit_snooze))
    app.action(ApprovalAction.APPROVE.value)(guarded(approve))
    app.action(ApprovalAction.EDIT.value)(guarded(open_decision(edit=True)))
    app.action(ApprovalAction.REJECT.value)(guarded(open_decision(edit=False)))
    app.view(Callback.APPROVAL_EDIT.value)(guarded(submit_edit))
    app.view(Callback.APPROVAL_REJECT.value)(guarded(submit_reject))
    app.command(Command.WEBCARE.value)(command)
    for action, decide in ((SurgeAction.ACK, surges.acknowledge), (SurgeAction.ESCALATE, surges.escalate),
                           (SurgeAction.RESOLVE, surges.resolve), (SurgeAction.CRISIS, surges.crisis)):
        app.action(action.value)(guarded(surge_listener(decide, action.value.replace(".", "_"))))
    app.action(SurgeAction.STATEMENT.value)(guarded(open_statement))
    app.action(ClusterAction.SHOW.value)(guarded(show_cluster))
    app.action(SurgeAction.GROUPS.value)(guarded(show_groups))
    app.view(Callback.STATEMENT.value)(guarded(submit_statement))
    for c_action, c_decide, with_sinks in ((ClusterAction.REPLY, surges.reply_cluster, True),
                                           (ClusterAction.HIDE, surges.hide_cluster, True),
                                           (ClusterAction.HANDLED, surges.cluster_handled, False)):
        app.action(c_action.value)(guarded(cluster_listener(c_decide, c_action.value.replace(".", "_"),
                                                            with_sinks)))
