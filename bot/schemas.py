"""The mention schema of the ingest contract (CONTRACT.md), validated with pydantic."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

THIRD_PARTY_SOURCES = frozenset({"web", "blog", "forum", "news", "review"})


def _id_text(value: object) -> object:
    """Accept numeric ids (as some tools send) but store them as text."""
    if isinstance(value, bool):
        return value
    return str(value) if isinstance(value, int) else value


ExternalId = Annotated[str, BeforeValidator(_id_text), Field(min_length=1, max_length=200)]
OptionalId = Annotated[str, BeforeValidator(_id_text), Field(max_length=200)] | None


class AuthorIn(BaseModel):
    """The author of a mention, as far as the source knows."""

    model_config = ConfigDict(extra="ignore")

    id: OptionalId = None
    handle: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=300)
    followers: int | None = Field(default=None, ge=0)
    verified: bool = False


class MentionIn(BaseModel):
    """One mention as integrations and listening tools send it."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    source: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    id: ExternalId
    thread_id: OptionalId = None
    in_reply_to: OptionalId = None
    venue: Literal["own", "third_party"] | None = None
    url: str | None = Field(default=None, max_length=4000)
    author: AuthorIn = AuthorIn()
    text: str = Field(max_length=40_000)
    created_at: AwareDatetime
    lang: str | None = Field(default=None, max_length=16)
    account: str | None = Field(default=None, max_length=200)
    """Which of our accounts received it (X handle, page/Instagram/WhatsApp id), when known."""

    @property
    def resolved_venue(self) -> str:
        """The venue, defaulting by source: blogs, forums, news and reviews are third-party."""
        if self.venue is not None:
            return self.venue
        return "third_party" if self.source in THIRD_PARTY_SOURCES else "own"

    @property
    def author_key(self) -> str:
        """A stable key for the author within the source (id, else handle, else unknown)."""
        return self.author.id or (self.author.handle or "").lower() or "?"


class Rejected(BaseModel):
    """One invalid item of a batch, with its position and readable errors."""

    index: int
    errors: list[str]


def validate_items(items: list[object]) -> tuple[list[MentionIn], list[Rejected]]:
    """Validate each item on its own: valid items are kept even when others in the batch fail."""
    valid: list[MentionIn] = []
    rejected: list[Rejected] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            rejected.append(Rejected(index=index, errors=["expected a JSON object"]))
            continue
        try:
            valid.append(MentionIn.model_validate(item))
        except ValidationError as exc:
            rejected.append(Rejected(index=index, errors=[_describe(e) for e in exc.errors()]))
    return valid, rejected


def _describe(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]


__all__ = ["AuthorIn", "MentionIn", "Rejected", "validate_items"]
