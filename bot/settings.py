"""Settings: app.yaml (behaviour, validated at start) and the environment (secrets and endpoints).

A wrong or missing value raises `ConfigError` with one line per problem, each naming the key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.config_types import Duration, Strict
from bot.ids import ENTRA_ID, OWNER_ID, is_entra_id
from bot.office_hours import OfficeHours
from bot.sla import AutoAck, Sla
from bot.surge.config import SurgeConfig

SlackChannelId = Annotated[str, Field(pattern=r"^[CGD][A-Z0-9]{2,}$")]
SlackUserId = Annotated[str, Field(pattern=r"^[UWS][A-Z0-9]{2,}$")]
TeamsConversationId = Annotated[str, Field(pattern=r"^19:[^;\s]+@thread\.(tacv2|skype)$")]
"""A Teams channel's conversation id (`19:…@thread.tacv2`); group and meeting chats (`@thread.v2`) have
no threads to put cards in."""
TeamsUserId = Annotated[str, Field(pattern=rf"^{ENTRA_ID}$")]
"""A person's Microsoft Entra (Azure AD) object id: stable, and what an admin finds in the directory."""


class ConfigError(Exception):
    """Configuration is invalid; `problems` holds one line per problem, each naming its key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Organisation(Strict):
    name: str = Field(min_length=1)
    accounts: dict[str, str] = Field(default_factory=dict)


class SlackConfig(Strict):
    channel: SlackChannelId
    approvals_channel: SlackChannelId | None = None
    alerts_channel: SlackChannelId | None = None
    post_interval: Duration = Field(default=timedelta(seconds=1), description="per channel")
    update_interval: Duration = Field(default=timedelta(seconds=1), description="per workspace")
    charts: bool = Field(default=True, description="surge alert cards show the rate as an uploaded image")


class TeamsConfig(Strict):
    """Microsoft Teams as the team's chat (`chat: teams`): the channels, by their conversation ids."""

    channel: TeamsConversationId
    approvals_channel: TeamsConversationId | None = None
    alerts_channel: TeamsConversationId | None = None
    tenant_id: TeamsUserId | None = Field(
        default=None, description="the organisation's Microsoft Entra tenant: activities from any other "
                                  "are refused (default: MICROSOFT_APP_TENANT_ID)")
    service_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://smba.trafficmanager.net/emea/"),
        description="the Bot Connector of the tenant's region; every activity from Teams updates it")
    post_interval: Duration = Field(default=timedelta(seconds=1), description="per channel")
    update_interval: Duration = Field(default=timedelta(milliseconds=250), description="per tenant")


class TeamsRoles(Strict):
    """The roles by Microsoft Entra object ids, for `chat: teams` (`roles.teams` in app.yaml).

    Ids are kept in lower case, as Teams sends them (`from.aadObjectId`)."""

    agents: list[TeamsUserId] = Field(default_factory=list)
    coordinators: list[TeamsUserId] = Field(default_factory=list)
    spokespersons: list[TeamsUserId] = Field(default_factory=list)
    backup_spokespersons: list[TeamsUserId] = Field(default_factory=list)
    managers: list[TeamsUserId] = Field(default_factory=list)
    experts: dict[str, list[TeamsUserId]] = Field(default_factory=dict)

    @field_validator("agents", "coordinators", "spokespersons", "backup_spokespersons", "managers")
    @classmethod
    def _lower_case(cls, ids: list[str]) -> list[str]:
        return [i.lower() for i in ids]

    @field_validator("experts")
    @classmethod
    def _lower_case_experts(cls, experts: dict[str, list[str]]) -> dict[str, list[str]]:
        return {topic: [i.lower() for i in ids] for topic, ids in experts.items()}


class Roles(Strict):
    agents: list[SlackUserId] = Field(default_factory=list)
    coordinators: list[SlackUserId] = Field(default_factory=list)
    spokespersons: list[SlackUserId] = Field(default_factory=list)
    backup_spokespersons: list[SlackUserId] = Field(
        default_factory=list, description="get approvals nobody decided within approvals.timeout")
    managers: list[SlackUserId] = Field(default_factory=list)
    experts: dict[str, list[SlackUserId]] = Field(default_factory=dict)
    teams: TeamsRoles = Field(default_factory=TeamsRoles, description="the same roles by Teams ids")


@dataclass(frozen=True)
class Channels:
    """Where cards, approvals and alerts go in the chat the team uses (Slack or Teams)."""

    transport: Literal["slack", "teams"]
    cards: str
    approvals: str
    alerts: str
    post_interval: timedelta
    update_interval: timedelta


class WebhookIntegration(Strict):
    reply_url: AnyHttpUrl | None = None
    timeout: Duration = timedelta(seconds=10)


class XIntegration(Strict):
    """X (Twitter): mentions of organisation.accounts.x, polled; replies and likes."""

    poll: Duration = timedelta(seconds=60)
    backfill: Duration = Field(default=timedelta(days=7), description="how far back to catch up")
    reply_quota: int = Field(default=100, ge=1, description="replies per quota_window per account")
    quota_window: Duration = timedelta(minutes=15)
    timeout: Duration = timedelta(seconds=10)


class MetaIntegration(Strict):
    """Facebook Page comments, Instagram comments, WhatsApp messages (webhooks in, Graph API out)."""

    page_id: str | None = None
    instagram_id: str | None = None
    whatsapp_phone_id: str | None = None
    timeout: Duration = timedelta(seconds=10)


class Feed(Strict):
    """One RSS/Atom feed (blog, forum, news comments): third-party, read-only."""

    url: AnyHttpUrl
    source: str = Field(default="web", pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=32)
    name: str | None = None


class Feeds(Strict):
    poll: Duration = timedelta(minutes=15)
    timeout: Duration = timedelta(seconds=15)
    urls: list[Feed] = Field(default_factory=list)


class Integrations(Strict):
    webhook: WebhookIntegration = WebhookIntegration()
    x: XIntegration | None = None
    meta: MetaIntegration | None = None
    feeds: Feeds | None = None


class Triage(Strict):
    """How mentions are judged: the response policy (Oxfam Novib checklist) and sensitivity."""

    topics: dict[str, list[str]] = Field(default_factory=dict, description="topic -> words/phrases")
    sensitive_topics: list[str] = Field(default_factory=list, description="replies need a spokesperson")
    silent_topics: list[str] = Field(default_factory=list, description="topics we do not speak on: skip")
    no_go_venues: list[str] = Field(
        default_factory=list, description="hosts or sources where joining never helps: skip")
    authorities: list[str] = Field(
        default_factory=list, description="press, VIP and authority handles (lowercase, no @)")
    authority_followers: int = Field(default=50_000, ge=0, description="from this many followers up")
    legal_words: list[str] = Field(default_factory=list, description="extra legal words (approval)")
    skipped: Literal["compact", "card", "none"] = "compact"
    """How skipped mentions appear: a one-line card, a full card, or not at all (always stored)."""


class Promises(Strict):
    default_due: Duration = timedelta(days=1)


class Escalation(Strict):
    """The ladder of every deadline: remind the owner, nudge at due, then coordinator, then manager."""

    steps: list[Duration] = Field(
        default_factory=lambda: [timedelta(minutes=30), timedelta(hours=2)],
        description="late by this much: coordinators, then managers", max_length=2)
    remind_before: Duration = Field(default=timedelta(minutes=15), description="0s: no early reminder")
    sweep: Duration = Field(default=timedelta(seconds=15), description="how often deadlines are checked")


class Experts(Strict):
    answer_within: Duration = Field(default=timedelta(hours=2), description="then nudge and escalate")


class Approvals(Strict):
    timeout: Duration = timedelta(minutes=15)


class AnswerSet(Strict):
    """Approved wordings for one topic (and optionally one language), owned by a content owner."""

    topic: str = Field(min_length=1, max_length=64, description="a triage topic (shipped or triage.topics)")
    owner: Annotated[str, Field(pattern=OWNER_ID)] = Field(
        description="content owner (Slack or Entra id): asked when the answer is out of date")
    language: Literal["nl", "en"] | None = Field(default=None, description="absent: any language")
    variants: list[Annotated[str, Field(min_length=1, max_length=1900)]] = Field(min_length=1)

    @field_validator("variants")
    @classmethod
    def _placeholders(cls, variants: list[str]) -> list[str]:
        for text in variants:
            try:
                text.format(name="x")
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"only the {{name}} placeholder is known, in {text[:40]!r}…: {exc}") from None
        if len({" ".join(v.split()).lower() for v in variants}) != len(variants):
            raise ValueError("a variant is listed twice")
        return variants


ToneCheck = Literal["apology", "defensive", "too_long", "duplicate", "no_addressee"]


class Answers(Strict):
    """Reply craft: the answer library, rotation of its wordings, and the tone check before sending."""

    rotation: Duration = Field(default=timedelta(days=7),
                               description="one wording goes to one person within this period")
    suggestions: int = Field(default=3, ge=0, le=10, description="suggestions shown in the Reply modal")
    length: dict[str, Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: {"default": 600, "x": 280, "instagram": 400, "whatsapp": 800},
        description="soft length per source (`default` for the rest): longer gets a warning")
    checks: list[ToneCheck] = Field(default_factory=lambda: list(get_args(ToneCheck)),
                                    description="which tone checks run (all by default)")
    library: list[AnswerSet] = Field(default_factory=list)


class Outbox(Strict):
    lease: Duration = Field(default=timedelta(seconds=30), description="in-flight time before reconcile")
    max_attempts: int = Field(default=12, ge=1)
    max_age: Duration = timedelta(days=1)
    backoff_base: Duration = timedelta(seconds=2)
    backoff_max: Duration = timedelta(minutes=10)
    poll: Duration = timedelta(milliseconds=500)
    batch: int = Field(default=50, ge=1, le=1000)


class Ingest(Strict):
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_batch: int = Field(default=1000, ge=1)
    keep_rejected_bytes: int = Field(default=64 * 1024, ge=0)


class Retention(Strict):
    rejected_payloads: Duration = timedelta(days=14)
    inbound_dedupe: Duration = timedelta(days=2)
    outbox_done: Duration = timedelta(days=7)
    sweep: Duration = timedelta(hours=1)


class AppConfig(Strict):
    """The validated contents of app.yaml."""

    locale: Literal["nl", "en"] = "nl"
    timezone: str = "Europe/Amsterdam"
    organisation: Organisation
    chat: Literal["slack", "teams"] = Field(default="slack", description="where the team works")
    slack: SlackConfig | None = None
    teams: TeamsConfig | None = None
    roles: Roles = Roles()
    integrations: Integrations = Integrations()
    triage: Triage = Triage()
    sla: Sla = Sla()
    promises: Promises = Promises()
    answers: Answers = Answers()
    escalation: Escalation = Escalation()
    experts: Experts = Experts()
    approvals: Approvals = Approvals()
    office_hours: OfficeHours | None = None
    """Absent: always open."""
    auto_ack: AutoAck = AutoAck()
    surge: SurgeConfig = SurgeConfig()
    outbox: Outbox = Outbox()
    ingest: Ingest = Ingest()
    retention: Retention = Retention()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _timeouts_below_lease(self) -> AppConfig:
        for name in ("webhook", "x", "meta"):
            integration = getattr(self.integrations, name)
            if integration is not None and integration.timeout >= self.outbox.lease:
                raise ValueError(
                    f"integrations.{name}.timeout must be shorter than outbox.lease, or a reply "
                    "still in flight could be taken over and sent again")
        return self

    @model_validator(mode="after")
    def _auto_ack_needs_office_hours(self) -> AppConfig:
        if self.auto_ack.enabled and self.office_hours is None:
            raise ValueError("auto_ack.enabled needs office_hours: without them the team is always in "
                             "and no acknowledgement would ever be sent")
        return self

    @model_validator(mode="after")
    def _chat_configured(self) -> AppConfig:
        if getattr(self, self.chat) is None:
            raise ValueError(f"chat is {self.chat}, so the {self.chat} section (its channel) is required")
        return self

    @model_validator(mode="after")
    def _people_of_the_chat(self) -> AppConfig:
        teams = self.chat == "teams"
        wrong = [f"{key}: {who}" for key, who in (
            [("surge.security", p) for p in self.surge.security]
            + [("answers.library.owner", a.owner) for a in self.answers.library])
            if is_entra_id(who) != teams]
        if wrong:
            kind = "Microsoft Entra object ids" if teams else "Slack user ids"
            raise ValueError(f"chat is {self.chat}, so people are {kind}; not: {', '.join(wrong)}")
        slack_roles = any(v for k, v in self.roles if k != "teams")
        teams_roles = any(v for _, v in self.roles.teams)
        if teams and slack_roles and not teams_roles:  # else everyone in Teams could act: an open team
            raise ValueError("chat is teams but the roles are Slack ids: list Entra object ids under "
                             "roles.teams")
        if not teams and teams_roles and not slack_roles:
            raise ValueError("chat is slack but only roles.teams is set: list Slack user ids under roles")
        return self

    @property
    def channels(self) -> Channels:
        """The channels of the chat the team uses (`chat`)."""
        chat = self.teams if self.chat == "teams" else self.slack
        assert chat is not None  # the validator above
        return Channels(transport=self.chat, cards=chat.channel,
                        approvals=chat.approvals_channel or chat.channel,
                        alerts=chat.alerts_channel or chat.channel,
                        post_interval=chat.post_interval, update_interval=chat.update_interval)

    @property
    def people(self) -> Roles | TeamsRoles:
        """The roles by the ids of the chat the team uses."""
        return self.roles.teams if self.chat == "teams" else self.roles

    @property
    def tz(self) -> ZoneInfo:
        """The configured time zone."""
        return ZoneInfo(self.timezone)


class Env(BaseSettings):
    """Secrets and endpoints, from the environment only (never from app.yaml)."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///./webcare.db"
    host: str = "0.0.0.0"
    port: int = Field(default=3000, ge=0, le=65535)
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    x_bearer_token: SecretStr | None = None
    x_api_key: SecretStr | None = None
    x_api_secret: SecretStr | None = None
    x_access_token: SecretStr | None = None
    x_access_secret: SecretStr | None = None
    x_api_url: str = "https://api.twitter.com"
    meta_app_secret: SecretStr | None = None
    meta_verify_token: SecretStr | None = None
    meta_page_token: SecretStr | None = None
    meta_whatsapp_token: SecretStr | None = None
    meta_graph_url: str = "https://graph.facebook.com/v21.0"
    webcare_webhook_secret: SecretStr | None = None
    microsoft_app_id: str | None = None
    microsoft_app_password: SecretStr | None = None
    microsoft_app_tenant_id: str | None = None
    microsoft_login_url: str = "https://login.microsoftonline.com"
    """Where the bot gets its Bot Connector token (tests point it at a fake)."""
    bot_openid_metadata_url: str = "https://login.botframework.com/v1/.well-known/openidconfiguration"
    """The Bot Framework's signing keys for requests to /api/messages (tests point it at a fake)."""
    webcare_config: str = "app.yaml"
    webcare_instance: str | None = None
    log_level: str = "INFO"

    @field_validator(
        "slack_bot_token", "slack_signing_secret", "slack_app_token", "webcare_webhook_secret",
        "x_bearer_token", "x_api_key", "x_api_secret", "x_access_token", "x_access_secret",
        "meta_app_secret", "meta_verify_token", "meta_page_token", "meta_whatsapp_token",
        "microsoft_app_id", "microsoft_app_password", "microsoft_app_tenant_id",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    def slack_missing(self) -> list[str]:
        """Names of the Slack variables that HTTP mode still needs."""
        missing = []
        if self.slack_bot_token is None:
            missing.append("SLACK_BOT_TOKEN")
        if self.slack_signing_secret is None and self.slack_app_token is None:
            missing.append("SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode)")
        return missing

    def teams_missing(self) -> list[str]:
        """Names of the Microsoft variables that Teams still needs."""
        names = ("microsoft_app_id", "microsoft_app_password")
        return [name.upper() for name in names if getattr(self, name) is None]


@dataclass(frozen=True)
class Settings:
    """Everything the app factory needs: the validated app.yaml and the environment."""

    config: AppConfig
    env: Env
    config_path: Path | None = None


def _format_errors(source: str, exc: ValidationError, *, env: bool = False) -> list[str]:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        key = key.upper() if env else key
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (misspelt?)"
        elif err["type"] == "string_pattern_mismatch":
            msg = f"{err['input']!r} is not a valid id"
        lines.append(f"{source}: {key}: {msg}")
    return lines


def load_config(path: Path) -> AppConfig:
    """Read and validate app.yaml; raise ConfigError naming each bad key."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found (set --config or WEBCARE_CONFIG)"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}".replace("\n", " ")]) from None
    if not isinstance(raw, dict):
        raise ConfigError([f"{path}: expected a mapping of keys at the top level"])
    try:
        return AppConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(path.name, exc)) from None


def load_env(environ: dict[str, str] | None = None) -> Env:
    """Read the environment; raise ConfigError naming each bad variable."""
    try:
        if environ is None:
            return Env()
        known = {k.lower(): v for k, v in environ.items() if k.lower() in Env.model_fields}
        return Env.model_validate(known)
    except ValidationError as exc:
        raise ConfigError(_format_errors("environment", exc, env=True)) from None


def load_settings(config_path: str | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Load the environment and app.yaml (path from the argument, WEBCARE_CONFIG, or ./app.yaml)."""
    env = load_env(environ)
    source = environ if environ is not None else os.environ
    path = Path(config_path or source.get("WEBCARE_CONFIG") or env.webcare_config)
    return Settings(config=load_config(path), env=env, config_path=path)
