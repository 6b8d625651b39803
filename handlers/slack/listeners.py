"""Bolt listeners: acknowledge first, call one service in one transaction, let renderers render."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import utcnow
from bot.errors import NotAllowed, WebcareError
from bot.i18n import Translator
from bot.logs import correlation_id
from bot.runtime import Runtime
from bot.services import cases, experts, replies
from bot.services.inbound import first_time
from handlers.slack import coord_listeners
from handlers.slack.blocks import ignore_modal, reply_modal, text_modal, unavailable_modal
from handlers.slack.ids import Action, Block, Callback, ModalAction
from handlers.slack.refusals import audit_refusal, refusal_text

log = logging.getLogger(__name__)


def register(app: AsyncApp, rt: Runtime) -> None:
    """Map every Slack id to its listener (the one place where that happens)."""
    t = rt.t

    def guarded(listener: Listener) -> Listener:
        return guard(rt, listener)

    async def claim(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                    payload: dict[str, Any]) -> None:
        await ack()
        ref = cases.parse_ref(payload.get("value"))
        async with rt.uow() as session:
            await cases.claim(session=session, ref=ref, actor=body["user"]["id"], now=utcnow(),
                              coord=rt.coord)

    async def like(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                   payload: dict[str, Any]) -> None:
        await ack()
        ref = cases.parse_ref(payload.get("value"))
        async with rt.uow() as session:
            await cases.like(session=session, ref=ref, actor=body["user"]["id"], sinks=rt.sinks,
                             now=utcnow(), coord=rt.coord)

    def hide_listener(hidden: bool) -> Listener:
        async def hide(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                       payload: dict[str, Any]) -> None:
            await ack()
            ref = cases.parse_ref(payload.get("value"))
            async with rt.uow() as session:
                await cases.hide(session=session, ref=ref, actor=body["user"]["id"], hidden=hidden,
                                 sinks=rt.sinks, now=utcnow(), coord=rt.coord)

        hide.__name__ = "unhide" if not hidden else "hide"
        return hide

    async def open_reply(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                         payload: dict[str, Any]) -> None:
        await ack()
        ref = replies.parse_reply_ref(payload.get("value"))
        metadata = replies.reply_ref_value(ref.case)
        # The trigger_id lives 3 s: open the modal before touching the database.
        opened = await client.views_open(trigger_id=body["trigger_id"],
                                         view=reply_modal(t, metadata=metadata, form=None))
        view = opened["view"]
        try:
            async with rt.maker() as session:
                form = await replies.reply_form(session=session, ref=ref, sinks=rt.sinks, craft=rt.craft,
                                                now=utcnow())
            new_view = reply_modal(t, metadata=metadata, form=form)
        except WebcareError as exc:
            new_view = unavailable_modal(t, t(exc.key, **exc.params))
        await client.views_update(view_id=view["id"], hash=view.get("hash"), view=new_view)

    async def use_answer(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                         payload: dict[str, Any]) -> None:
        await ack()
        ref = replies.parse_answer_ref(payload.get("value"))
        metadata = replies.reply_ref_value(ref.case)
        # A stacked modal without the input first (trigger_id: 3 s); the update adds the input with the
        # wording as its initial value (Slack applies initial_value only to an input that is new).
        pushed = await client.views_push(trigger_id=body["trigger_id"],
                                         view=reply_modal(t, metadata=metadata, form=None, with_input=False))
        view = pushed["view"]
        try:
            async with rt.maker() as session:
                form = await replies.draft_form(session=session, ref=ref, sinks=rt.sinks, craft=rt.craft)
            new_view = reply_modal(t, metadata=metadata, form=form)
        except WebcareError as exc:
            new_view = unavailable_modal(t, t(exc.key, **exc.params))
        await client.views_update(view_id=view["id"], hash=view.get("hash"), view=new_view)

    async def submit_reply(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                           payload: dict[str, Any]) -> None:
        view = payload
        values = view["state"]["values"]
        text = (values.get(Block.REPLY, {}).get(Block.REPLY_TEXT, {}).get("value") or "").strip()
        if not text:
            await ack(response_action="errors", errors={Block.REPLY.value: t("error.reply_empty")})
            return
        try:
            ref = replies.parse_reply_ref(view.get("private_metadata"))
            async with rt.uow() as session:
                outcome = await replies.submit_reply(session=session, ref=ref, actor=body["user"]["id"],
                                                     text=text, sinks=rt.sinks, craft=rt.craft, now=utcnow(),
                                                     coord=rt.coord, ask_approval=ask_approval(values))
        except WebcareError as exc:
            await ack(response_action="errors", errors={Block.REPLY.value: t(exc.key, **exc.params)})
            if isinstance(exc, NotAllowed):
                raise  # audited and explained by the guard
            return
        if isinstance(outcome, replies.Review):
            metadata = replies.reply_ref_value(ref.case, outcome.warned)
            await ack(response_action="update", view=reply_modal(t, metadata=metadata, form=outcome.form))
            return
        await ack(response_action="clear")  # closes a stacked modal and the one below it

    async def show(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                   payload: dict[str, Any]) -> None:
        await ack()
        ref = cases.parse_ref(payload.get("value"))
        # The trigger_id lives 3 s: open the modal before touching the database.
        opened = (await client.views_open(trigger_id=body["trigger_id"], view=text_modal(
            t, t("modal.show.title"), t("modal.reply.loading"))))["view"]
        try:
            async with rt.uow() as session:
                text = await cases.show_text(session=session, ref=ref, actor=body["user"]["id"], now=utcnow(),
                                             coord=rt.coord)
        except WebcareError as exc:
            await client.views_update(view_id=opened["id"], view=unavailable_modal(t, t(exc.key, **exc.params)))
            raise
        await client.views_update(view_id=opened["id"], view=text_modal(t, t("modal.show.title"), text))

    async def open_ignore(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                          payload: dict[str, Any]) -> None:
        await ack()
        ref = cases.parse_ref(payload.get("value"))
        await client.views_open(trigger_id=body["trigger_id"],
                                view=ignore_modal(t, metadata=cases.ref_value(ref.case)))

    async def submit_ignore(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                            payload: dict[str, Any]) -> None:
        view = payload
        values = view["state"]["values"]
        choice = (values.get(Block.IGNORE_REASON, {}).get(Block.IGNORE_REASON_SELECT, {})
                  .get("selected_option") or {}).get("value", "")
        note = (values.get(Block.IGNORE_NOTE, {}).get(Block.IGNORE_NOTE_TEXT, {})
                .get("value") or "").strip() or None
        try:
            ref = cases.parse_ref(view.get("private_metadata"))
            async with rt.uow() as session:
                await cases.ignore(session=session, ref=ref, actor=body["user"]["id"],
                                   reason=choice, note=note, now=utcnow(), coord=rt.coord)
        except WebcareError as exc:
            await ack(response_action="errors",
                      errors={Block.IGNORE_REASON.value: t(exc.key, **exc.params)})
            return
        await ack()

    async def thread_message(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                             payload: dict[str, Any]) -> None:
        event = payload
        thread_ts, ts = event.get("thread_ts"), event.get("ts")
        if (not thread_ts or thread_ts == ts or event.get("bot_id") or event.get("subtype")
                or not event.get("user")):
            return
        async with rt.uow() as session:
            if await first_time(session, key=f"slack:{body.get('event_id') or ts}", now=utcnow()):
                await experts.thread_message(session=session, channel=event.get("channel", ""),
                                             thread_ts=thread_ts, user=event["user"],
                                             text=event.get("text", ""), now=utcnow(), coord=rt.coord)
            else:
                rt.metrics.slack_retries_dropped.inc()

    async def on_error(error: Exception, body: dict[str, Any], client: AsyncWebClient) -> None:
        await report(t, client, body, error)


    app.action(Action.CLAIM.value)(guarded(claim))
    app.action(Action.REPLY.value)(guarded(open_reply))
    app.action(ModalAction.USE_ANSWER.value)(guarded(use_answer))
    app.action(Action.IGNORE.value)(guarded(open_ignore))
    app.action(Action.LIKE.value)(guarded(like))
    app.action(Action.HIDE.value)(guarded(hide_listener(True)))
    app.action(Action.UNHIDE.value)(guarded(hide_listener(False)))
    app.action(Action.OPEN.value)(_ack_link)
    app.action(Action.SHOW.value)(guarded(show))
    app.view(Callback.REPLY.value)(guarded(submit_reply))
    app.view(Callback.IGNORE.value)(guarded(submit_ignore))
    app.event("message")(guarded(thread_message))
    app.error(on_error)
    coord_listeners.register(app, rt, guarded)


Listener = Callable[[AsyncAck, dict[str, Any], AsyncWebClient, dict[str, Any]], Awaitable[None]]


def guard(rt: Runtime, listener: Listener) -> Listener:
    """Turn refusals and failures after ack() into a message to the user, in one place.

    Raising after ack() is unsafe in Bolt's async runner (it resets the acknowledgement, so Slack
    waits 3 s and gets a 404), so listeners report here instead of leaving it to `app.error`.
    A click refused for lack of a role is also written to the audit trail (its own transaction:
    the refused one was rolled back).
    """

    async def run(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                  payload: dict[str, Any]) -> None:
        try:
            await listener(ack, body, client, payload)
        except Exception as exc:  # every failure is reported to the user and logged, once
            if isinstance(exc, NotAllowed):
                await audit_refusal(rt, exc, payload)
            await report(rt.t, client, body, exc)

    run.__name__ = listener.__name__
    return run


def ask_approval(values: dict[str, Any]) -> bool:
    """Whether the reply modal's "ask the spokesperson" box is ticked."""
    chosen = values.get(Block.ASK_APPROVAL, {}).get(Block.ASK_APPROVAL_BOX, {}).get("selected_options") or []
    return any(o.get("value") == "yes" for o in chosen)


async def report(t: Translator, client: AsyncWebClient, body: dict[str, Any], error: Exception) -> None:
    """Log the failure and show the user a safe message (the refusal, or a reference id)."""
    if isinstance(error, WebcareError):
        log.info("refused: %s", error)
        message = refusal_text(t, error)
    else:
        log.error("unexpected error in a Slack listener", exc_info=error)
        message = t("error.unexpected", cid=correlation_id.get())
    try:
        await tell_user(client, body, message)
    except Exception:  # the user cannot be told; the log above has the cause
        log.exception("could not tell the user about a failure")


async def _ack_link(ack: AsyncAck) -> None:
    """A link button opens the browser; Slack still expects an acknowledgement."""
    await ack()


async def tell_user(client: AsyncWebClient, body: dict[str, Any], message: str) -> None:
    """Show `message` to the user who acted: ephemeral in the channel, else a direct message."""
    user = (body.get("user") or {}).get("id") or body.get("user_id")
    channel = ((body.get("channel") or {}).get("id") or body.get("channel_id")
               or (body.get("container") or {}).get("channel_id"))
    if not user:
        return
    if channel:
        await client.chat_postEphemeral(channel=channel, user=user, text=message)
    else:
        await client.chat_postMessage(channel=user, text=message)
