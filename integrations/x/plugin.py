"""Install X: one mentions poller per account in organisation.accounts.x, and the reply sink for "x".

Reads (polling) need X_BEARER_TOKEN; writes (replies, likes) need the four OAuth 1.0a values. What
cannot work is named in one warning and left out: without the bearer token nothing is polled,
without the OAuth values replies to X go to the generic reply webhook, if one is configured.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable

from aiohttp import web

from bot.ports import DeliveryError
from bot.runtime import Runtime
from bot.settings import Env, Settings
from integrations.x.client import XAnswer, XClient, XHTTPError, XUnauthorized
from integrations.x.sink import XReplySink
from integrations.x.source import XMentionsPoller, parse_handles

log = logging.getLogger(__name__)

SOURCE = "x"
WRITE_VARS = ("X_API_KEY", "X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_SECRET")


def make_client(env: Env, timeout: float) -> XClient:
    """An X client from the environment (not yet open)."""

    def secret(name: str) -> str | None:
        value = getattr(env, name.lower())
        return (value.get_secret_value() or None) if value is not None else None

    return XClient(base_url=env.x_api_url, timeout=timeout, bearer_token=secret("X_BEARER_TOKEN"),
                   consumer_key=secret("X_API_KEY"), consumer_secret=secret("X_API_SECRET"),
                   access_token=secret("X_ACCESS_TOKEN"), access_token_secret=secret("X_ACCESS_SECRET"))


def missing_variables(client: XClient) -> list[str]:
    """The X variables that are not set."""
    missing = [] if client.can_read else ["X_BEARER_TOKEN"]
    values = (client.consumer_key, client.consumer_secret, client.access_token, client.access_token_secret)
    return missing + [name for name, value in zip(WRITE_VARS, values, strict=True) if not value]


def install(app: web.Application, rt: Runtime) -> None:
    """Register the pollers and the sink when integrations.x is configured and credentials allow."""
    cfg = rt.settings.config.integrations.x
    if cfg is None:
        return
    client = make_client(rt.settings.env, cfg.timeout.total_seconds())
    handles = parse_handles(rt.settings.config.organisation.accounts.get("x"))
    missing = missing_variables(client)
    if missing:
        off = ([] if client.can_read else ["X_BEARER_TOKEN (to poll mentions)"]) + (
            [] if client.can_write else [f"{', '.join(m for m in missing if m in WRITE_VARS)} "
                                         "(to reply and like)"])
        log.warning("X integration: not set: %s", "; ".join(off))
    if client.can_read and not handles:
        log.warning("X: organisation.accounts.x names no account, so no mentions are polled")
    pollers = [XMentionsPoller(client=client, handle=handle, interval=cfg.poll, backfill=cfg.backfill, t=rt.t)
               for handle in handles] if client.can_read else []
    if not pollers and not client.can_write:
        return
    rt.pollers.extend(pollers)
    if client.can_write:
        rt.reply_sinks[SOURCE] = XReplySink(client=client, quota=cfg.reply_quota, window=cfg.quota_window)

    async def connection(app: web.Application) -> AsyncIterator[None]:
        await client.open()
        yield
        await client.close()

    app.cleanup_ctx.append(connection)


async def check(settings: Settings) -> list[str]:
    """`webcare check`: when X is configured, the variables are set and X accepts them."""
    cfg = settings.config.integrations.x
    if cfg is None:
        return []
    client = make_client(settings.env, cfg.timeout.total_seconds())
    problems = [f"x: {name} is not set" for name in missing_variables(client)]
    handles = parse_handles(settings.config.organisation.accounts.get("x"))
    if not handles:
        problems.append("x: organisation.accounts.x names no account to poll")
    await client.open()
    try:
        if client.can_write:
            problems += await _problem("X_API_KEY/X_API_SECRET/X_ACCESS_TOKEN/X_ACCESS_SECRET",
                                       "GET /2/users/me", client.me())
        if client.can_read:
            for handle in handles:
                found = await _problem("X_BEARER_TOKEN", f"looking up @{handle}",
                                       client.user_by_username(handle), account=handle)
                problems += found
                if any("rejected" in line for line in found):
                    break
    finally:
        await client.close()
    return problems


async def _problem(names: str, what: str, call: Awaitable[XAnswer], account: str | None = None
                   ) -> list[str]:
    """One line per problem with one call: credentials refused, request refused, X unreachable."""
    try:
        answer = await call
    except XUnauthorized as exc:
        return [f"x: {names} rejected ({exc.status})"]
    except XHTTPError as exc:
        return [f"x: {what} refused ({exc.status}): {exc.detail or exc.title}"]
    except DeliveryError as exc:
        return [f"x: {what} failed: {exc}"]
    if account is not None and not isinstance(answer.data, dict):
        return [f"x: account @{account} (organisation.accounts.x) not found on X"]
    return []
