"""Install Meta: the webhook routes always, a reply sink per network whose id and token are set.

app.yaml `integrations.meta` holds our ids (`page_id`, `instagram_id`, `whatsapp_phone_id`); the
environment holds `META_APP_SECRET`, `META_VERIFY_TOKEN` (webhooks in), `META_PAGE_TOKEN` (Facebook and
Instagram out), `META_WHATSAPP_TOKEN` (WhatsApp out) and `META_GRAPH_URL`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from bot.ports import DeliveryError
from bot.runtime import RUNTIME, Runtime
from bot.settings import MetaIntegration, Settings
from integrations.meta.parse import FACEBOOK, INSTAGRAM, WHATSAPP
from integrations.meta.sink import GraphClient, MetaReplySink, Network
from integrations.meta.webhook import deliver, handshake

log = logging.getLogger(__name__)
ROUTE = "/webhooks/meta"


def _secret(value: SecretStr | None) -> str | None:
    """A secret's value, treating an empty one as unset."""
    text = value.get_secret_value() if value is not None else ""
    return text or None


@dataclass(frozen=True)
class _Network:
    network: Network
    account: str
    token: str


def _plan(settings: Settings) -> tuple[list[_Network], list[str]]:
    """The networks that can send (id and token set), and what those half set up still miss.

    A network whose id is not in app.yaml is simply not used (the page token alone serves Facebook and
    Instagram, so it does not make Instagram "half set up"); nothing is missing when nothing is used.
    """
    meta = settings.config.integrations.meta or MetaIntegration()
    env = settings.env
    page_token, wa_token = _secret(env.meta_page_token), _secret(env.meta_whatsapp_token)
    networks: tuple[tuple[Network, str | None, str | None, str, str], ...] = (
        (FACEBOOK, meta.page_id, page_token, "META_PAGE_TOKEN", "page_id"),
        (INSTAGRAM, meta.instagram_id, page_token, "META_PAGE_TOKEN", "instagram_id"),
        (WHATSAPP, meta.whatsapp_phone_id, wa_token, "META_WHATSAPP_TOKEN", "whatsapp_phone_id"),
    )
    ready: list[_Network] = []
    missing: list[str] = []
    for network, account, token, token_name, key in networks:
        if account and token:
            ready.append(_Network(network, account, token))
        elif account or (network == WHATSAPP and token):
            need = token_name if account else f"integrations.meta.{key}"
            missing.append(f"{network} (set {need})")
    if not ready and not missing:
        missing.append("every network (set integrations.meta.page_id, instagram_id or "
                       "whatsapp_phone_id, and their tokens)")
    return ready, missing


def _configured(settings: Settings) -> bool:
    """Whether anything of Meta is set up (app.yaml ids or META_* secrets)."""
    meta = settings.config.integrations.meta
    env = settings.env
    ids = meta is not None and any((meta.page_id, meta.instagram_id, meta.whatsapp_phone_id))
    secrets = (env.meta_app_secret, env.meta_verify_token, env.meta_page_token, env.meta_whatsapp_token)
    return ids or any(_secret(s) for s in secrets)


def _timeout(settings: Settings) -> float:
    """The Graph call timeout, kept below the outbox lease so a slow call is never sent twice."""
    meta = settings.config.integrations.meta or MetaIntegration()
    lease = settings.config.outbox.lease.total_seconds()
    timeout = meta.timeout.total_seconds()
    if timeout >= lease:
        log.warning("integrations.meta.timeout (%gs) is not shorter than outbox.lease (%gs): "
                    "using %gs", timeout, lease, lease / 2)
        return lease / 2
    return timeout


def install(app: web.Application, rt: Runtime) -> None:
    """Mount GET/POST /webhooks/meta; register the sinks of the networks that are configured."""
    app.router.add_get(ROUTE, handshake)
    app.router.add_post(ROUTE, deliver)
    settings = rt.settings
    if not _configured(settings):
        log.info("Meta is not configured (integrations.meta and META_* are unset)")
        return
    env = settings.env
    unset = [name for name, value in (("META_APP_SECRET", env.meta_app_secret),
                                       ("META_VERIFY_TOKEN", env.meta_verify_token)) if not _secret(value)]
    if unset:
        log.warning("Meta webhooks refuse every request: set %s", " and ".join(unset))
    ready, missing = _plan(settings)
    if missing:
        log.warning("Meta replies are off for %s", "; ".join(missing))
    if not ready:
        return
    base_url, timeout = env.meta_graph_url, _timeout(settings)

    async def sinks(app: web.Application) -> AsyncIterator[None]:
        runtime = app[RUNTIME]
        http = runtime.http_client()
        for n in ready:
            graph = GraphClient(base_url=base_url, token=n.token, http=http, timeout=timeout)
            runtime.reply_sinks[n.network] = MetaReplySink(n.network, graph=graph, account=n.account)
        yield

    app.cleanup_ctx.append(sinks)


async def check(settings: Settings) -> list[str]:
    """`webcare check`: secrets set, and the page and WhatsApp number readable with their tokens."""
    if not _configured(settings):
        return []
    env = settings.env
    problems = [f"meta: {name} is not set: {what}" for name, value, what in (
        ("META_APP_SECRET", env.meta_app_secret, "webhook deliveries cannot be verified"),
        ("META_VERIFY_TOKEN", env.meta_verify_token, "Meta cannot subscribe the webhook"),
    ) if not _secret(value)]
    ready, missing = _plan(settings)
    problems += [f"meta: replies are off for {m}" for m in missing]
    fields = {FACEBOOK: "id,name", INSTAGRAM: "id,username",
              WHATSAPP: "id,display_phone_number,verified_name"}
    async with aiohttp.ClientSession() as http:
        for n in ready:
            graph = GraphClient(base_url=env.meta_graph_url, token=n.token, http=http,
                                timeout=_timeout(settings))
            try:
                await graph.call("GET", n.account, params={"fields": fields[n.network]})
            except DeliveryError as exc:
                problems.append(f"meta: {n.network} account {n.account} is not readable with its "
                                f"token: {exc}")
    return problems
